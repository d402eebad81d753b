//! Freezes one signature of a MetaGraph into a plain GraphDef: variables
//! become constants, calls are inlined, and only what the signature's
//! outputs need is kept (facts: savedmodel-facts §3.5, §4.1).
//!
//! The walk is demand-driven from the outputs, so save/restore functions,
//! initialisers and optimizer state are never visited.

use super::proto::MetaGraphDef;
use super::SavedModelError;
use crate::graphdef::parse_edge;
use crate::graphdef::proto::{
    attr_value::Value, AttrValue, FunctionDef, FunctionDefLibrary, GraphDef, NodeDef, OpDef, TensorProto,
    TensorShapeProto,
};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Nested calls deeper than this are refused (real exports nest 3–6 deep).
const MAX_CALL_DEPTH: usize = 64;
/// Producer chains deeper than this are refused, so the walk's stack stays bounded.
const MAX_NODE_DEPTH: usize = 20_000;

/// TF1 reference control flow: refused with advice, never lowered.
const TF1_CONTROL_FLOW: &[&str] = &["Switch", "Merge", "Enter", "Exit", "NextIteration", "LoopCond", "RefSwitch"];

/// A variable's value as the checkpoint holds it.
pub struct VarValue {
    pub dtype: i32,
    pub shape: Vec<i64>,
    pub data: bytes::Bytes,
}

/// Where a main-graph variable node's value comes from.
pub trait Variables {
    /// The value bound to main-graph variable node `node`.
    fn value(&self, node: &str) -> Result<VarValue, SavedModelError>;
}

/// A graph output or input: a node output (flat index) or a resource bound to a constant node.
#[derive(Clone, Debug)]
enum Ep {
    T(String, usize),
    Res(String),
    /// An input arg of the function body being written.
    Arg(String),
    /// No value (NoOp, TF1 control flow already reported).
    None,
}

#[derive(Clone, Debug)]
enum Val {
    /// An emitted node: output k is `name:k`.
    Node(String),
    /// Outputs known one by one (calls, identities, variables).
    List(Vec<Ep>),
    InProgress,
}

/// One function instance (or the main graph) being walked.
struct Scope<'a> {
    nodes: HashMap<&'a str, &'a NodeDef>,
    /// Function scopes: input-arg name → value.
    args: HashMap<&'a str, Ep>,
    /// Prefix for emitted node names; empty in the main graph.
    prefix: String,
    in_function: bool,
    memo: HashMap<&'a str, Val>,
}

pub struct Freezer<'a> {
    ops: HashMap<&'a str, &'a OpDef>,
    funcs: HashMap<&'a str, &'a FunctionDef>,
    strip_defaults: bool,
    vars: &'a dyn Variables,
    out: Vec<NodeDef>,
    names: HashSet<String>,
    calls: Vec<&'a str>,
    depth: usize,
    tf1_flow: BTreeMap<String, Vec<String>>,
    /// Frozen copies of control-flow bodies.
    library: Vec<FunctionDef>,
    /// Variable constants by name, to copy into bodies that read them.
    var_consts: HashMap<String, NodeDef>,
    /// Set while a body is written: node inputs use the `node:out_arg:k` form.
    body: Option<Body>,
    /// Output-arg names seen in function bodies, for ops the file has no OpDef for
    /// (TF leaves out ops used only inside loop bodies).
    seen_out_args: HashMap<String, String>,
}

/// The function body being written.
#[derive(Default)]
struct Body {
    /// Output args (name, tensor count) of each node written into it.
    outs: HashMap<String, Vec<(String, usize)>>,
    /// Variable constant → its copy inside this body.
    locals: HashMap<String, String>,
}

/// The frozen graph and the names of its boundary nodes.
pub struct Frozen {
    pub graph: GraphDef,
    /// (signature key, placeholder node), sorted by key.
    pub inputs: Vec<(String, String)>,
    /// (signature key, array name `node` or `node:k`), sorted by key.
    pub outputs: Vec<(String, String)>,
}

/// Freezes `signature` of `meta`. Variables are read through `vars`.
pub fn freeze(meta: &MetaGraphDef, signature: &str, vars: &dyn Variables) -> Result<Frozen, SavedModelError> {
    let graph = meta.graph_def.as_ref().ok_or(SavedModelError::NoGraph)?;
    let sig = &meta.signature_def[signature];
    let info = meta.meta_info_def.as_ref();
    let mut fz = Freezer {
        ops: info
            .and_then(|i| i.stripped_op_list.as_ref())
            .map(|l| l.op.iter().map(|o| (o.name.as_str(), o)).collect())
            .unwrap_or_default(),
        funcs: graph
            .library
            .iter()
            .flat_map(|l| &l.function)
            .filter_map(|f| f.signature.as_ref().map(|s| (s.name.as_str(), f)))
            .collect(),
        strip_defaults: info.is_some_and(|i| i.stripped_default_attrs),
        vars,
        out: Vec::new(),
        names: HashSet::new(),
        calls: Vec::new(),
        depth: 0,
        tf1_flow: BTreeMap::new(),
        library: Vec::new(),
        var_consts: HashMap::new(),
        body: None,
        seen_out_args: seen_out_args(graph),
    };
    let mut main = Scope {
        nodes: HashMap::new(),
        args: HashMap::new(),
        prefix: String::new(),
        in_function: false,
        memo: HashMap::new(),
    };
    for n in &graph.node {
        if main.nodes.insert(n.name.as_str(), n).is_some() {
            return Err(SavedModelError::Graph(format!("two nodes are named {:?}", super::cap(&n.name))));
        }
        fz.names.insert(n.name.clone());
    }
    let mut inputs = Vec::new();
    for (key, t) in &sig.inputs {
        if t.coo_sparse.is_some() || t.composite_tensor.is_some() || t.name.is_empty() {
            return Err(SavedModelError::SparseInput(key.clone()));
        }
        let (node, _, _) = parse_edge(&t.name);
        match main.nodes.get(node) {
            Some(n) if matches!(n.op.as_str(), "Placeholder" | "PlaceholderWithDefault") => {}
            Some(n) => {
                return Err(SavedModelError::Graph(format!(
                    "signature input {key:?} is node {:?} ({}), not a Placeholder",
                    super::cap(node),
                    n.op
                )))
            }
            None => return Err(SavedModelError::MissingNode { what: "signature input", name: t.name.clone() }),
        }
        inputs.push((key.clone(), node.to_string()));
    }
    // Signature inputs stay placeholders even where a default exists.
    for (_, node) in &inputs {
        let n = main.nodes[node.as_str()];
        let mut p = n.clone();
        p.op = "Placeholder".into();
        p.input.clear();
        p.device.clear();
        fz.emit_as_is(&mut main, n.name.as_str(), p);
    }
    let mut outputs = Vec::new();
    for (key, t) in &sig.outputs {
        if t.coo_sparse.is_some() || t.composite_tensor.is_some() || t.name.is_empty() {
            return Err(SavedModelError::SparseInput(key.clone()));
        }
        let (node, k, _) = parse_edge(&t.name);
        if !main.nodes.contains_key(node) {
            return Err(SavedModelError::MissingNode { what: "signature output", name: t.name.clone() });
        }
        let ep = fz.node_output(&mut main, node, k)?;
        if !fz.tf1_flow.is_empty() {
            break;
        }
        let array = match ep {
            Ep::T(n, 0) => n,
            Ep::T(n, k) => format!("{n}:{k}"),
            Ep::Res(_) | Ep::None | Ep::Arg(_) => {
                return Err(SavedModelError::Graph(format!("signature output {key:?} is not a tensor")));
            }
        };
        outputs.push((key.clone(), array));
    }
    if !fz.tf1_flow.is_empty() {
        // Name every such node, not only those reached before the walk stopped.
        for n in graph.node.iter().filter(|n| TF1_CONTROL_FLOW.contains(&n.op.as_str())) {
            let names = fz.tf1_flow.entry(n.op.clone()).or_default();
            let name = super::cap(&n.name);
            if !names.contains(&name) && names.len() < 5 {
                names.push(name);
            }
        }
        return Err(SavedModelError::Tf1ControlFlow(crate::graphdef::unsupported_message(&fz.tf1_flow)));
    }
    let library = (!fz.library.is_empty()).then(|| FunctionDefLibrary { function: fz.library });
    let graph = GraphDef { node: fz.out, versions: graph.versions.clone(), version: graph.version, library };
    Ok(Frozen { graph, inputs, outputs })
}

impl<'a> Freezer<'a> {
    /// A unique name for an emitted node.
    fn fresh(&mut self, want: String) -> String {
        if self.names.insert(want.clone()) {
            return want;
        }
        let mut i = 1;
        loop {
            let n = format!("{want}_{i}");
            if self.names.insert(n.clone()) {
                return n;
            }
            i += 1;
        }
    }

    fn emit_as_is(&mut self, scope: &mut Scope<'a>, key: &'a str, node: NodeDef) {
        scope.memo.insert(key, Val::Node(node.name.clone()));
        self.out.push(node);
    }

    /// Output `k` (flat) of node `name` in `scope`.
    fn node_output(&mut self, scope: &mut Scope<'a>, name: &'a str, k: usize) -> Result<Ep, SavedModelError> {
        match self.node(scope, name)? {
            Val::Node(n) => Ok(Ep::T(n, k)),
            Val::List(v) => v.get(k).cloned().ok_or_else(|| {
                SavedModelError::Graph(format!(
                    "{:?} has no output {k}",
                    super::cap(&format!("{}{name}", scope.prefix))
                ))
            }),
            Val::InProgress => unreachable!("node() never returns InProgress"),
        }
    }

    /// Resolves one input string of a node in `scope`; `None` for control inputs.
    fn input(&mut self, scope: &mut Scope<'a>, s: &'a str) -> Result<Option<Ep>, SavedModelError> {
        if s.starts_with('^') {
            return Ok(None);
        }
        if !scope.in_function {
            let (n, k, _) = parse_edge(s);
            if !scope.nodes.contains_key(n) {
                return Err(SavedModelError::MissingNode { what: "an input", name: s.to_string() });
            }
            return self.node_output(scope, n, k).map(Some);
        }
        let mut parts = s.splitn(3, ':');
        let first = parts.next().unwrap_or("");
        match (parts.next(), parts.next()) {
            (None, _) => match scope.args.get(first) {
                Some(ep) => Ok(Some(ep.clone())),
                None if scope.nodes.contains_key(first) => self.node_output(scope, first, 0).map(Some),
                None => Err(SavedModelError::MissingNode { what: "a function input", name: s.to_string() }),
            },
            (Some(k), None) => {
                let k = k.parse().map_err(|_| SavedModelError::Graph(format!("bad input {:?}", super::cap(s))))?;
                self.node_output(scope, first, k).map(Some)
            }
            (Some(arg), Some(k)) => {
                let k: usize =
                    k.parse().map_err(|_| SavedModelError::Graph(format!("bad input {:?}", super::cap(s))))?;
                let node = *scope
                    .nodes
                    .get(first)
                    .ok_or_else(|| SavedModelError::MissingNode { what: "a function input", name: s.to_string() })?;
                let base = self.output_offset(node, arg)?;
                self.node_output(scope, first, base + k).map(Some)
            }
        }
    }

    /// The flat index of output arg `arg`'s first tensor.
    fn output_offset(&self, node: &NodeDef, arg: &str) -> Result<usize, SavedModelError> {
        let mut at = 0usize;
        for (name, size) in self.output_args(node) {
            if name == arg {
                return Ok(at);
            }
            at = at.saturating_add(size);
        }
        // Only an op whose definition the file holds can lack the arg; any other is taken to
        // have one output arg, whatever its name.
        if self.def_of(&node.op).is_some() && !is_call_like(&node.op) {
            return Err(SavedModelError::Graph(format!(
                "node {:?} ({}) has no output {arg:?}",
                super::cap(&node.name),
                node.op
            )));
        }
        Ok(0)
    }

    /// The OpDef of an op, or the signature of a library function.
    fn def_of(&self, op: &str) -> Option<&'a OpDef> {
        self.ops.get(op).copied().or_else(|| self.funcs.get(op).and_then(|f| f.signature.as_ref()))
    }

    /// Output args (name, tensor count) of node `n`: from its OpDef or function signature, the
    /// type lists of calls and control flow, or, with neither, one arg named as bodies name it.
    fn output_args(&self, n: &NodeDef) -> Vec<(String, usize)> {
        let list_len = |def: &OpDef, name: &str| match attr(n, def, name).and_then(|a| a.value.as_ref()) {
            Some(Value::List(l)) => l.r#type.len(),
            _ => 1,
        };
        let empty = OpDef::default();
        match n.op.as_str() {
            "While" | "StatelessWhile" => return vec![("output".into(), list_len(&empty, "T"))],
            op if is_call_like(op) => return vec![("output".into(), list_len(&empty, "Tout"))],
            _ => {}
        }
        let Some(def) = self.def_of(&n.op) else {
            let arg = self.seen_out_args.get(&n.op).cloned().unwrap_or_else(|| "output".into());
            return vec![(arg, usize::MAX)];
        };
        def.output_arg
            .iter()
            .map(|a| {
                let size = if !a.number_attr.is_empty() {
                    match attr(n, def, &a.number_attr).and_then(|v| v.value.as_ref()) {
                        Some(Value::I(i)) => usize::try_from(*i).unwrap_or(0),
                        _ => 1,
                    }
                } else if !a.type_list_attr.is_empty() {
                    list_len(def, &a.type_list_attr)
                } else {
                    1
                };
                (a.name.clone(), size)
            })
            .collect()
    }

    /// The value of node `name`, emitting it (and what it needs) on first use.
    fn node(&mut self, scope: &mut Scope<'a>, name: &'a str) -> Result<Val, SavedModelError> {
        match scope.memo.get(name) {
            Some(Val::InProgress) => {
                return Err(SavedModelError::Graph(format!(
                    "the graph has a cycle through node {:?}",
                    super::cap(&format!("{}{name}", scope.prefix))
                )))
            }
            Some(v) => return Ok(v.clone()),
            None => {}
        }
        let node = *scope
            .nodes
            .get(name)
            .ok_or_else(|| SavedModelError::MissingNode { what: "a node", name: name.to_string() })?;
        self.depth += 1;
        if self.depth > MAX_NODE_DEPTH {
            return Err(SavedModelError::Graph(format!("the graph is deeper than {MAX_NODE_DEPTH} nodes")));
        }
        scope.memo.insert(name, Val::InProgress);
        let v = self.lower_node(scope, node);
        self.depth -= 1;
        let v = v?;
        scope.memo.insert(name, v.clone());
        Ok(v)
    }

    fn data_inputs(&mut self, scope: &mut Scope<'a>, node: &'a NodeDef) -> Result<Vec<Ep>, SavedModelError> {
        let mut v = Vec::new();
        for s in &node.input {
            if let Some(ep) = self.input(scope, s)? {
                v.push(ep);
            }
        }
        Ok(v)
    }

    fn lower_node(&mut self, scope: &mut Scope<'a>, node: &'a NodeDef) -> Result<Val, SavedModelError> {
        let op = node.op.as_str();
        if TF1_CONTROL_FLOW.contains(&op) {
            self.tf1_flow.entry(op.to_string()).or_default().push(super::cap(&node.name));
            return Ok(Val::List(vec![Ep::None; 8]));
        }
        match op {
            "VarHandleOp" | "VariableV2" | "Variable" => {
                if scope.in_function {
                    return Err(SavedModelError::Graph(format!(
                        "variable {:?} is created inside a function, which is not supported",
                        super::cap(&node.name)
                    )));
                }
                let v = self.vars.value(&node.name)?;
                let empty = OpDef::default();
                let want =
                    attr(node, self.ops.get(op).copied().unwrap_or(&empty), "dtype").and_then(|a| match a.value {
                        Some(Value::Type(t)) => Some(t % 100),
                        _ => None,
                    });
                if want.is_some_and(|t| t != v.dtype) {
                    return Err(SavedModelError::VariableMismatch {
                        node: node.name.clone(),
                        msg: format!("dtype {} in the checkpoint, {} in the graph", v.dtype, want.unwrap_or(0)),
                    });
                }
                let name = self.fresh(format!("{}/frozen", node.name));
                let c = const_node(&name, v);
                self.var_consts.insert(name.clone(), c.clone());
                self.out.push(c);
                Ok(if op == "VarHandleOp" { Val::List(vec![Ep::Res(name)]) } else { Val::Node(name) })
            }
            "ReadVariableOp" => {
                let ins = self.data_inputs(scope, node)?;
                match ins.first() {
                    Some(Ep::Res(c)) => {
                        let c = self.local_const(c);
                        Ok(Val::List(vec![Ep::T(c, 0)]))
                    }
                    Some(Ep::T(..)) | Some(Ep::Arg(_)) => Ok(Val::List(vec![ins[0].clone()])),
                    _ => Err(SavedModelError::Graph(format!("{:?} reads no variable", super::cap(&node.name)))),
                }
            }
            "Identity" | "IdentityN" | "StopGradient" | "Snapshot" => Ok(Val::List(self.data_inputs(scope, node)?)),
            "NoOp" => Ok(Val::List(Vec::new())),
            "StatefulPartitionedCall" | "PartitionedCall" => {
                let f = match node.attr.get("f").and_then(|a| a.value.as_ref()) {
                    Some(Value::Func(f)) => f.name.as_str(),
                    _ => {
                        return Err(SavedModelError::Graph(format!(
                            "call {:?} names no function",
                            super::cap(&node.name)
                        )))
                    }
                };
                let ins = self.data_inputs(scope, node)?;
                self.inline(scope, node, f, ins)
            }
            _ if self.funcs.contains_key(op) => {
                let ins = self.data_inputs(scope, node)?;
                self.inline(scope, node, op, ins)
            }
            "ResourceGather" => {
                let ins = self.data_inputs(scope, node)?;
                let (Some(Ep::Res(c)), Some(idx)) = (ins.first(), ins.get(1)) else {
                    return Err(SavedModelError::Graph(format!(
                        "{:?} gathers from no variable",
                        super::cap(&node.name)
                    )));
                };
                let c = self.local_const(c);
                let params = self.ep_string(&Ep::T(c, 0), node)?;
                let indices = self.ep_string(idx, node)?;
                let empty = OpDef::default();
                let def = self.ops.get(op).copied().unwrap_or(&empty);
                let batch_dims = match attr(node, def, "batch_dims").and_then(|a| a.value.as_ref()) {
                    Some(Value::I(b)) => *b,
                    _ => 0,
                };
                let axis = self.fresh(format!("{}{}/axis", scope.prefix, node.name));
                self.push(const_node(
                    &axis,
                    VarValue {
                        dtype: 3,
                        shape: vec![],
                        data: bytes::Bytes::from((batch_dims as i32).to_le_bytes().to_vec()),
                    },
                ));
                let axis = self.ep_string(&Ep::T(axis, 0), node)?;
                let name = self.fresh(format!("{}{}", scope.prefix, node.name));
                let mut attrs = BTreeMap::new();
                attrs.insert("batch_dims".into(), AttrValue { value: Some(Value::I(batch_dims)) });
                if let Some(t) = node.attr.get("dtype") {
                    attrs.insert("Tparams".into(), t.clone());
                }
                if let Some(t) = node.attr.get("Tindices") {
                    attrs.insert("Tindices".into(), t.clone());
                }
                attrs.insert("Taxis".into(), AttrValue { value: Some(Value::Type(3)) });
                self.push(NodeDef {
                    name: name.clone(),
                    op: "GatherV2".into(),
                    input: vec![params, indices, axis],
                    device: String::new(),
                    attr: attrs,
                });
                Ok(Val::Node(name))
            }
            "While" | "StatelessWhile" | "If" | "StatelessIf" => self.control_flow(scope, node),
            "AssignVariableOp"
            | "AssignAddVariableOp"
            | "AssignSubVariableOp"
            | "ResourceScatterUpdate"
            | "ResourceScatterAdd"
            | "ResourceApplyGradientDescent" => Err(SavedModelError::MutableVariable {
                node: format!("{}{}", scope.prefix, node.name),
                op: op.to_string(),
            }),
            _ => {
                let ins = self.data_inputs(scope, node)?;
                let mut input = Vec::with_capacity(ins.len());
                for ep in &ins {
                    input.push(self.ep_string(ep, node)?);
                }
                let name = self.fresh(format!("{}{}", scope.prefix, node.name));
                let mut attrs = node.attr.clone();
                if self.strip_defaults {
                    if let Some(def) = self.ops.get(op) {
                        for a in &def.attr {
                            if let Some(d) = &a.default_value {
                                attrs.entry(a.name.clone()).or_insert_with(|| d.clone());
                            }
                        }
                    }
                }
                self.push(NodeDef {
                    name: name.clone(),
                    op: op.to_string(),
                    input,
                    device: String::new(),
                    attr: attrs,
                });
                Ok(Val::Node(name))
            }
        }
    }

    /// Writes `n` into the graph or the body being written, noting its output args there.
    fn push(&mut self, n: NodeDef) {
        if self.body.is_some() {
            let outs = self.output_args(&n);
            if let Some(b) = self.body.as_mut() {
                b.outs.insert(n.name.clone(), outs);
            }
        }
        self.out.push(n);
    }

    /// How node `user` names the tensor `ep` as an input.
    fn ep_string(&self, ep: &Ep, user: &NodeDef) -> Result<String, SavedModelError> {
        match (ep, &self.body) {
            (Ep::T(n, k), None) => Ok(if *k == 0 { n.clone() } else { format!("{n}:{k}") }),
            (Ep::T(n, k), Some(b)) => {
                let mut k = *k;
                for (arg, size) in b.outs.get(n).map(Vec::as_slice).unwrap_or(&[]) {
                    if k < *size {
                        return Ok(format!("{n}:{arg}:{k}"));
                    }
                    k -= size;
                }
                Err(SavedModelError::Graph(format!(
                    "{:?} reads output {k} of {:?}, which it lacks",
                    super::cap(&user.name),
                    super::cap(n)
                )))
            }
            (Ep::Arg(a), Some(_)) => Ok(a.clone()),
            (Ep::Res(_), _) => Err(SavedModelError::Graph(format!(
                "node {:?} ({}) takes a variable handle, which is not supported",
                super::cap(&user.name),
                user.op
            ))),
            _ => Err(SavedModelError::Graph(format!(
                "node {:?} ({}) reads a value that does not exist",
                super::cap(&user.name),
                user.op
            ))),
        }
    }

    /// The variable constant `c` as seen where nodes are being written: itself in the graph,
    /// a copy inside a body.
    fn local_const(&mut self, c: &str) -> String {
        if self.body.is_none() {
            return c.to_string();
        }
        if let Some(l) = self.body.as_ref().and_then(|b| b.locals.get(c)) {
            return l.clone();
        }
        let Some(mut n) = self.var_consts.get(c).cloned() else { return c.to_string() };
        n.name = self.fresh(c.to_string());
        let name = n.name.clone();
        self.push(n);
        if let Some(b) = self.body.as_mut() {
            b.locals.insert(c.to_string(), name.clone());
        }
        name
    }

    /// While/If with frozen bodies: operands bound to variables are dropped and the bodies
    /// read the constants themselves (what TF's MLIR freezer does).
    fn control_flow(&mut self, scope: &mut Scope<'a>, node: &'a NodeDef) -> Result<Val, SavedModelError> {
        let is_while = node.op.ends_with("While");
        let ins = self.data_inputs(scope, node)?;
        // Function args start after the predicate of an If.
        let skip = usize::from(!is_while);
        if ins.len() < skip {
            return Err(SavedModelError::Graph(format!("{:?} has no predicate", super::cap(&node.name))));
        }
        let removed: BTreeMap<usize, String> = ins[skip..]
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match e {
                Ep::Res(c) => Some((i, c.clone())),
                _ => None,
            })
            .collect();
        let mut attrs = node.attr.clone();
        let fn_attrs: &[&str] = if is_while { &["cond", "body"] } else { &["then_branch", "else_branch"] };
        for &fa in fn_attrs {
            let f = match attrs.get(fa).and_then(|a| a.value.as_ref()) {
                Some(Value::Func(f)) => f.name.clone(),
                _ => return Err(SavedModelError::Graph(format!("{:?} has no {fa} function", super::cap(&node.name)))),
            };
            let frozen = self.freeze_body(node, &f, &removed, is_while && fa == "body")?;
            attrs.insert(
                fa.into(),
                AttrValue {
                    value: Some(Value::Func(crate::graphdef::proto::NameAttrList {
                        name: frozen,
                        ..Default::default()
                    })),
                },
            );
        }
        let drop = |v: &mut AttrValue| {
            if let Some(Value::List(l)) = v.value.as_mut() {
                let keep = |i: usize| !removed.contains_key(&i);
                l.r#type = std::mem::take(&mut l.r#type)
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| keep(*i))
                    .map(|(_, t)| t)
                    .collect();
                l.shape = std::mem::take(&mut l.shape)
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| keep(*i))
                    .map(|(_, t)| t)
                    .collect();
            }
        };
        for a in if is_while { &["T", "output_shapes"][..] } else { &["Tin"][..] } {
            if let Some(v) = attrs.get_mut(*a) {
                drop(v);
            }
        }
        if is_while {
            attrs.remove("output_shapes");
        }
        attrs.remove("_read_only_resource_inputs");
        let mut input = Vec::new();
        for (i, ep) in ins.iter().enumerate() {
            if i >= skip && removed.contains_key(&(i - skip)) {
                continue;
            }
            input.push(self.ep_string(ep, node)?);
        }
        let name = self.fresh(format!("{}{}", scope.prefix, node.name));
        let n_out = if is_while { ins.len() } else { usize::MAX };
        self.push(NodeDef { name: name.clone(), op: node.op.clone(), input, device: String::new(), attr: attrs });
        if !is_while {
            return Ok(Val::Node(name));
        }
        // While outputs: a dropped operand's output is the same variable.
        let mut outs = Vec::with_capacity(n_out);
        let mut k = 0;
        for i in 0..n_out {
            match removed.get(&i) {
                Some(c) => outs.push(Ep::Res(c.clone())),
                None => {
                    outs.push(Ep::T(name.clone(), k));
                    k += 1;
                }
            }
        }
        Ok(Val::List(outs))
    }

    /// A copy of function `f` without the input args in `removed` (and, for a While body, the
    /// outputs at the same places), whose nodes read those variables as constants.
    fn freeze_body(
        &mut self,
        user: &NodeDef,
        f: &str,
        removed: &BTreeMap<usize, String>,
        drop_outputs: bool,
    ) -> Result<String, SavedModelError> {
        let (func, f, sig) = self.enter(user, f)?;
        let mut inner = Scope {
            nodes: func.node_def.iter().map(|n| (n.name.as_str(), n)).collect(),
            args: HashMap::new(),
            prefix: String::new(),
            in_function: true,
            memo: HashMap::new(),
        };
        let mut new_sig =
            OpDef { name: String::new(), input_arg: Vec::new(), output_arg: Vec::new(), attr: sig.attr.clone() };
        for (i, a) in sig.input_arg.iter().enumerate() {
            match removed.get(&i) {
                Some(c) => {
                    inner.args.insert(a.name.as_str(), Ep::Res(c.clone()));
                }
                None => {
                    inner.args.insert(a.name.as_str(), Ep::Arg(a.name.clone()));
                    new_sig.input_arg.push(a.clone());
                }
            }
        }
        let outer_out = std::mem::take(&mut self.out);
        let outer_body = self.body.replace(Body::default());
        self.calls.push(f);
        let mut ret = BTreeMap::new();
        let result = (|| -> Result<(), SavedModelError> {
            for (j, a) in sig.output_arg.iter().enumerate() {
                if drop_outputs && removed.contains_key(&j) {
                    continue;
                }
                let r = func.ret.get(&a.name).ok_or_else(|| {
                    SavedModelError::Graph(format!("function {:?} returns nothing for {:?}", super::cap(f), a.name))
                })?;
                let ep = self.input(&mut inner, r)?.unwrap_or(Ep::None);
                ret.insert(a.name.clone(), self.ep_string(&ep, user)?);
                new_sig.output_arg.push(a.clone());
            }
            Ok(())
        })();
        self.calls.pop();
        let nodes = std::mem::replace(&mut self.out, outer_out);
        self.body = outer_body;
        result?;
        new_sig.name = self.fresh(format!("{f}_frozen"));
        let name = new_sig.name.clone();
        self.library.push(FunctionDef {
            signature: Some(new_sig),
            node_def: nodes,
            ret,
            attr: func.attr.clone(),
            control_ret: BTreeMap::new(),
        });
        Ok(name)
    }

    /// Library function `f` called by `user`: the function, its name and signature. Recursion
    /// and nesting past [`MAX_CALL_DEPTH`] are refused.
    fn enter(&self, user: &NodeDef, f: &str) -> Result<(&'a FunctionDef, &'a str, &'a OpDef), SavedModelError> {
        let func = *self.funcs.get(f).ok_or_else(|| SavedModelError::UnknownFunction {
            node: super::cap(&user.name),
            function: super::cap(f),
        })?;
        let sig = func
            .signature
            .as_ref()
            .ok_or(SavedModelError::Graph(format!("function {:?} has no signature", super::cap(f))))?;
        let name = sig.name.as_str();
        if self.calls.contains(&name) {
            return Err(SavedModelError::CyclicFunction(super::cap(name)));
        }
        if self.calls.len() >= MAX_CALL_DEPTH {
            return Err(SavedModelError::Graph(format!("calls nest deeper than {MAX_CALL_DEPTH} functions")));
        }
        Ok((func, name, sig))
    }

    /// Inlines a call of library function `f` with `args`: its outputs, by output-arg order.
    fn inline(
        &mut self,
        scope: &Scope<'a>,
        call: &'a NodeDef,
        f: &'a str,
        args: Vec<Ep>,
    ) -> Result<Val, SavedModelError> {
        let (func, f, sig) = self.enter(call, f)?;
        if sig.input_arg.len() != args.len() {
            return Err(SavedModelError::Graph(format!(
                "call {:?} passes {} inputs to {:?}, which takes {}",
                super::cap(&call.name),
                args.len(),
                super::cap(f),
                sig.input_arg.len()
            )));
        }
        let mut inner = Scope {
            nodes: HashMap::new(),
            args: sig.input_arg.iter().map(|a| a.name.as_str()).zip(args).collect(),
            prefix: format!("{}{}/", scope.prefix, call.name),
            in_function: true,
            memo: HashMap::new(),
        };
        for n in &func.node_def {
            if inner.nodes.insert(n.name.as_str(), n).is_some() {
                return Err(SavedModelError::Graph(format!(
                    "function {:?} has two nodes named {:?}",
                    super::cap(f),
                    super::cap(&n.name)
                )));
            }
        }
        self.calls.push(f);
        let mut outs = Vec::with_capacity(sig.output_arg.len());
        let result = (|| {
            for a in &sig.output_arg {
                let r = func.ret.get(&a.name).ok_or_else(|| {
                    SavedModelError::Graph(format!("function {:?} returns nothing for {:?}", super::cap(f), a.name))
                })?;
                outs.push(self.input(&mut inner, r)?.unwrap_or(Ep::None));
            }
            Ok(())
        })();
        self.calls.pop();
        result.map(|_| Val::List(outs))
    }
}

/// Op → the output-arg name function bodies use for it (`Less` → `z`).
fn seen_out_args(graph: &GraphDef) -> HashMap<String, String> {
    let mut seen = HashMap::new();
    for f in graph.library.iter().flat_map(|l| &l.function) {
        let ops: HashMap<&str, &str> = f.node_def.iter().map(|n| (n.name.as_str(), n.op.as_str())).collect();
        for s in f.node_def.iter().flat_map(|n| &n.input) {
            let mut parts = s.splitn(3, ':');
            if let (Some(node), Some(arg), Some(_)) = (parts.next(), parts.next(), parts.next()) {
                if let Some(op) = ops.get(node) {
                    seen.entry(op.to_string()).or_insert_with(|| arg.to_string());
                }
            }
        }
    }
    seen
}

/// Ops whose outputs are one `output` list typed by `Tout`.
fn is_call_like(op: &str) -> bool {
    matches!(op, "StatefulPartitionedCall" | "PartitionedCall" | "If" | "StatelessIf")
}

/// The attr `name` of `node`, or its OpDef default.
fn attr<'n>(node: &'n NodeDef, def: &'n OpDef, name: &str) -> Option<&'n AttrValue> {
    node.attr.get(name).or_else(|| def.attr.iter().find(|a| a.name == name).and_then(|a| a.default_value.as_ref()))
}

fn const_node(name: &str, v: VarValue) -> NodeDef {
    let shape = TensorShapeProto {
        dim: v.shape.iter().map(|&d| crate::graphdef::proto::Dim { size: d, name: String::new() }).collect(),
        unknown_rank: false,
    };
    let tensor =
        TensorProto { dtype: v.dtype, tensor_shape: Some(shape), tensor_content: v.data, ..Default::default() };
    let mut attr = BTreeMap::new();
    attr.insert("dtype".into(), AttrValue { value: Some(Value::Type(v.dtype)) });
    attr.insert("value".into(), AttrValue { value: Some(Value::Tensor(tensor)) });
    NodeDef { name: name.to_string(), op: "Const".into(), input: Vec::new(), device: String::new(), attr }
}
