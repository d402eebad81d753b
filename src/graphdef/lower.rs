//! Walks the nodes the outputs need, folds constants and lowers the rest to
//! TFLite operators (NHWC, TF's weight layouts).

use super::consts::{self, Bin, Const, Reduce};
use super::proto::{attr_value::Value, AttrValue, DataType, GraphDef, NodeDef};
use super::{parse_edge, unsupported_message, ImportError, ImportOptions, NodeMap, Op, G, T};
use crate::ir::Source;
use crate::schema::*;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The value of one node output while lowering.
#[derive(Clone, Debug)]
pub(crate) enum V {
    /// A constant, with the name it gets if it becomes a tensor.
    C(Const, String),
    T(usize),
    /// SpaceToBatchND output, only valid as the input of a conv (dilated-conv pattern).
    S2B {
        x: usize,
        block: [i64; 2],
        pads: [i64; 4],
    },
    /// A dilated conv's result awaiting its BatchToSpaceND: tensor, block, and
    /// the spatial size the conv has at the space-to-batch level.
    PendB2S {
        t: usize,
        block: [i64; 2],
        inner: [i64; 2],
    },
    /// Produced by an unsupported op.
    Unknown,
}

enum LErr {
    Msg(String),
    Unsupported,
}

impl From<String> for LErr {
    fn from(s: String) -> LErr {
        LErr::Msg(s)
    }
}
impl From<&str> for LErr {
    fn from(s: &str) -> LErr {
        LErr::Msg(s.to_string())
    }
}

type R<X> = Result<X, LErr>;

fn err<X>(s: impl Into<String>) -> R<X> {
    Err(LErr::Msg(s.into()))
}

// --- attrs -------------------------------------------------------------------

fn attr<'a>(n: &'a NodeDef, k: &str) -> Option<&'a Value> {
    n.attr.get(k).and_then(|a: &AttrValue| a.value.as_ref())
}
fn attr_i(n: &NodeDef, k: &str, d: i64) -> i64 {
    match attr(n, k) {
        Some(Value::I(i)) => *i,
        _ => d,
    }
}
fn attr_f(n: &NodeDef, k: &str, d: f32) -> f32 {
    match attr(n, k) {
        Some(Value::F(f)) => *f,
        _ => d,
    }
}
fn attr_b(n: &NodeDef, k: &str, d: bool) -> bool {
    match attr(n, k) {
        Some(Value::B(b)) => *b,
        _ => d,
    }
}
fn attr_s(n: &NodeDef, k: &str, d: &str) -> String {
    match attr(n, k) {
        Some(Value::S(s)) => String::from_utf8_lossy(s).into_owned(),
        _ => d.to_string(),
    }
}
fn attr_list_i(n: &NodeDef, k: &str) -> Option<Vec<i64>> {
    match attr(n, k) {
        Some(Value::List(l)) => Some(l.i.clone()),
        _ => None,
    }
}
fn attr_type(n: &NodeDef, k: &str) -> Option<DataType> {
    match attr(n, k) {
        Some(Value::Type(t)) => DataType::from_i32(*t),
        _ => None,
    }
}

fn act_none() -> ActivationFunctionType {
    ActivationFunctionType::NONE
}

fn norm_axis(axis: i64, rank: usize) -> R<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return err(format!("axis {axis} is out of range for rank {rank}"));
    }
    Ok(a as usize)
}

fn out_name(node: &str, k: usize) -> String {
    if k == 0 {
        node.to_string()
    } else {
        format!("{node}:{k}")
    }
}

/// Output size of a conv/pool along one dim.
fn conv_out(input: i64, k: i64, s: i64, d: i64, same: bool) -> R<i64> {
    if k < 1 || s < 1 || d < 1 {
        return err("kernel, stride and dilation must be positive");
    }
    let ek = (k - 1).checked_mul(d).and_then(|v| v.checked_add(1)).ok_or("kernel size overflows")?;
    if same {
        Ok(input.saturating_add(s - 1) / s)
    } else if input >= ek {
        Ok((input - ek) / s + 1)
    } else {
        err(format!("VALID window {ek} is larger than the input {input}"))
    }
}

fn padding(n: &NodeDef) -> R<Padding> {
    match attr_s(n, "padding", "").as_str() {
        "SAME" => Ok(Padding::SAME),
        "VALID" => Ok(Padding::VALID),
        "EXPLICIT" => Ok(Padding::VALID),
        p => err(format!("padding {p:?} is not supported")),
    }
}

fn nhwc(n: &NodeDef) -> R<()> {
    let f = attr_s(n, "data_format", "NHWC");
    if f != "NHWC" {
        return err(format!("data_format {f} is not supported (only NHWC)"));
    }
    Ok(())
}

/// [1, h, w, 1] list attrs (strides, dilations, ksize).
fn hw_attr(n: &NodeDef, k: &str) -> R<[i64; 2]> {
    match attr_list_i(n, k) {
        None => Ok([1, 1]),
        Some(v) if v.len() == 4 => {
            if v[0] != 1 || v[3] != 1 {
                return err(format!("{k} {v:?} on batch or channels is not supported"));
            }
            Ok([v[1], v[2]])
        }
        Some(v) => err(format!("{k} must have 4 values, has {v:?}")),
    }
}

pub(crate) struct Lowering<'a> {
    nodes: &'a [NodeDef],
    map: NodeMap<'a>,
    opts: &'a ImportOptions,
    pub g: G,
    pub warnings: Vec<String>,
    vals: HashMap<usize, Vec<V>>,
    cache: HashMap<String, usize>,
    /// (node, output) → the input array's index.
    input_arrays: Vec<(usize, usize, String)>,
    output_arrays: Vec<(usize, usize, String)>,
    unsupported: BTreeMap<String, Vec<String>>,
    /// The mapped input, when the constants are views of it: see [`Lowering::done_with`].
    pub source: Option<Arc<Source>>,
}

fn resolve<'a>(map: &NodeMap<'a>, what: &'static str, name: &str) -> Result<(usize, usize), ImportError> {
    let (n, k, _) = parse_edge(name);
    if let Some(&i) = map.get(name) {
        return Ok((i, 0));
    }
    match map.get(n) {
        Some(&i) if k > 0 => Ok((i, k)),
        _ => Err(ImportError::UnknownArray { what, name: name.to_string() }),
    }
}

impl<'a> Lowering<'a> {
    pub fn new(graph: &'a GraphDef, opts: &'a ImportOptions) -> Result<Lowering<'a>, ImportError> {
        let nodes = &graph.node[..];
        if nodes.is_empty() {
            return Err(ImportError::Empty);
        }
        let mut map = NodeMap::with_capacity(nodes.len());
        for (i, n) in nodes.iter().enumerate() {
            if map.insert(n.name.as_str(), i).is_some() {
                return Err(ImportError::DuplicateNode(n.name.clone()));
            }
        }
        for n in nodes {
            for inp in &n.input {
                let (src, _, _) = parse_edge(inp);
                if !map.contains_key(src) {
                    return Err(ImportError::MissingInput { node: n.name.clone(), input: inp.clone() });
                }
            }
        }
        let mut output_arrays = Vec::new();
        match &opts.output_arrays {
            Some(list) => {
                for name in list {
                    let (i, k) = resolve(&map, "--output-arrays name", name)?;
                    output_arrays.push((i, k, name.clone()));
                }
            }
            None => {
                let mut used = vec![false; nodes.len()];
                for n in nodes {
                    for inp in &n.input {
                        let (src, _, ctrl) = parse_edge(inp);
                        if !ctrl {
                            used[map[src]] = true;
                        }
                    }
                }
                for (i, n) in nodes.iter().enumerate() {
                    if !used[i] && !matches!(n.op.as_str(), "NoOp" | "Const" | "Placeholder" | "Assert" | "SaveV2") {
                        output_arrays.push((i, 0, n.name.clone()));
                    }
                }
            }
        }
        if output_arrays.is_empty() {
            return Err(ImportError::NoOutputs);
        }
        let mut input_arrays = Vec::new();
        if let Some(list) = &opts.input_arrays {
            for name in list {
                let (i, k) = resolve(&map, "--input-arrays name", name)?;
                input_arrays.push((i, k, name.clone()));
            }
        }
        Ok(Lowering {
            nodes,
            map,
            opts,
            g: G::default(),
            warnings: Vec::new(),
            vals: HashMap::new(),
            cache: HashMap::new(),
            input_arrays,
            output_arrays,
            unsupported: BTreeMap::new(),
            source: None,
        })
    }

    /// Called once a constant that is a view of the mapped input has been
    /// rewritten (e.g. transposed) into a new buffer: its pages leave the
    /// resident set. A later read faults them back in from the page cache.
    fn done_with(&self, c: &Const) {
        if let Some(src) = &self.source {
            src.release_view(&c.data);
        }
    }

    fn is_cut(&self, i: usize) -> bool {
        if self.opts.input_arrays.is_some() {
            self.input_arrays.iter().any(|&(n, _, _)| n == i)
        } else {
            self.nodes[i].op == "Placeholder"
        }
    }

    /// The nodes the outputs need, in topological order (iterative DFS).
    fn order(&self) -> Result<Vec<usize>, ImportError> {
        let mut state = vec![0u8; self.nodes.len()];
        let mut order = Vec::new();
        for &(root, _, _) in &self.output_arrays {
            let mut stack = vec![(root, 0usize)];
            while let Some((n, next)) = stack.pop() {
                if next == 0 {
                    if state[n] == 2 {
                        continue;
                    }
                    state[n] = 1;
                }
                let node = &self.nodes[n];
                let cut = self.is_cut(n);
                let mut pushed = false;
                if !cut {
                    for (j, inp) in node.input.iter().enumerate().skip(next) {
                        let (src, _, ctrl) = parse_edge(inp);
                        if ctrl {
                            continue;
                        }
                        let s = self.map[src];
                        match state[s] {
                            1 => return Err(ImportError::Cycle(self.nodes[s].name.clone())),
                            2 => {}
                            _ => {
                                stack.push((n, j + 1));
                                stack.push((s, 0));
                                pushed = true;
                                break;
                            }
                        }
                    }
                }
                if !pushed {
                    state[n] = 2;
                    order.push(n);
                }
            }
        }
        Ok(order)
    }

    pub fn run(&mut self) -> Result<(), ImportError> {
        let order = self.order()?;
        if self.opts.input_arrays.is_none() {
            let mut ph: Vec<usize> = order.iter().copied().filter(|&i| self.nodes[i].op == "Placeholder").collect();
            ph.sort_unstable();
            self.input_arrays = ph.into_iter().map(|i| (i, 0, self.nodes[i].name.clone())).collect();
        }
        if let Some(shapes) = &self.opts.input_shapes {
            if shapes.len() != self.input_arrays.len() {
                return Err(ImportError::ShapeCount { given: shapes.len(), inputs: self.input_arrays.len() });
            }
        }
        for idx in 0..self.input_arrays.len() {
            self.make_input(idx)?;
        }
        for &n in &order {
            if self.vals.contains_key(&n) {
                continue;
            }
            let node = &self.nodes[n];
            if node.op.starts_with("Variable") || node.op.ends_with("VariableOp") {
                return Err(ImportError::Variable(node.name.clone()));
            }
            let mut ins = Vec::new();
            for inp in &node.input {
                let (src, k, ctrl) = parse_edge(inp);
                if ctrl {
                    continue;
                }
                let s = self.map[src];
                let v = self.vals.get(&s).and_then(|v| v.get(k)).cloned().ok_or_else(|| ImportError::Node {
                    node: node.name.clone(),
                    op: node.op.clone(),
                    msg: format!("input {inp:?} has no output {k}"),
                })?;
                ins.push(v);
            }
            let unknown_in = ins.iter().any(|v| matches!(v, V::Unknown));
            let result = if unknown_in {
                match self.lower(node, vec![]) {
                    Err(LErr::Unsupported) => Err(LErr::Unsupported),
                    _ => Ok(vec![V::Unknown; 8]),
                }
            } else {
                self.lower(node, ins)
            };
            match result {
                Ok(vs) => {
                    self.vals.insert(n, vs);
                }
                Err(LErr::Unsupported) => {
                    self.unsupported.entry(node.op.clone()).or_default().push(node.name.clone());
                    self.vals.insert(n, vec![V::Unknown; 8]);
                }
                Err(LErr::Msg(msg)) => {
                    if unknown_in {
                        self.vals.insert(n, vec![V::Unknown; 8]);
                    } else {
                        return Err(ImportError::Node { node: node.name.clone(), op: node.op.clone(), msg });
                    }
                }
            }
        }
        if !self.unsupported.is_empty() {
            return Err(ImportError::Unsupported(unsupported_message(&self.unsupported)));
        }
        if let Some(t) = self.g.tensors.iter().find(|t| t.shape.iter().any(|&d| !(0..=i32::MAX as i64).contains(&d))) {
            return Err(ImportError::Node {
                node: t.name.clone(),
                op: "shape".into(),
                msg: format!("shape {:?} does not fit the TFLite format", t.shape),
            });
        }
        for (n, k, name) in self.output_arrays.clone() {
            let node = &self.nodes[n];
            let v = self.vals.get(&n).and_then(|v| v.get(k)).cloned().ok_or_else(|| ImportError::Node {
                node: node.name.clone(),
                op: node.op.clone(),
                msg: format!("has no output {k}"),
            })?;
            let t = self.tensor(&v).map_err(|e| ImportError::Node {
                node: node.name.clone(),
                op: node.op.clone(),
                msg: msg_of(&Err(e)),
            })?;
            self.g.outputs.push((name, t));
        }
        Ok(())
    }

    fn make_input(&mut self, idx: usize) -> Result<(), ImportError> {
        let (n, k, name) = self.input_arrays[idx].clone();
        let node = &self.nodes[n];
        let dtype = attr_type(node, "dtype")
            .or_else(|| attr_type(node, "T"))
            .ok_or_else(|| ImportError::UnknownInput(name.clone()))?;
        let given = self.opts.input_shapes.as_ref().map(|s| s[idx].clone());
        let shape: Vec<i64> = match given {
            Some(s) => s,
            None => {
                let proto = match attr(node, "shape") {
                    Some(Value::Shape(s)) => Some(s.clone()),
                    _ => match attr(node, "_output_shapes") {
                        Some(Value::List(l)) => l.shape.get(k).cloned(),
                        _ => None,
                    },
                };
                match proto {
                    None => {
                        if node.op == "Placeholder" {
                            return Err(ImportError::UnknownRank(name));
                        }
                        return Err(ImportError::UnknownInput(name));
                    }
                    Some(s) if s.unknown_rank => return Err(ImportError::UnknownRank(name)),
                    Some(s) => s.dim.iter().map(|d| d.size).collect(),
                }
            }
        };
        let mut fixed = Vec::with_capacity(shape.len());
        for (i, &d) in shape.iter().enumerate() {
            if d < 0 {
                if d != -1 {
                    return Err(ImportError::BadShape { name, shape });
                }
                let what = if i == 0 { "batch dimension" } else { "dimension" };
                self.warnings
                    .push(format!("input {name:?}: unknown {what} {i} set to 1 (use --input-shapes to choose)"));
                fixed.push(1);
            } else if d > i32::MAX as i64 {
                return Err(ImportError::BadShape { name, shape });
            } else {
                fixed.push(d);
            }
        }
        let t = self.g.add(T { name: name.clone(), dtype, shape: fixed, data: None });
        self.g.inputs.push(t);
        self.g.input_names.push(name);
        let entry = self.vals.entry(n).or_insert_with(|| vec![V::Unknown; 8]);
        if k < entry.len() {
            entry[k] = V::T(t);
        }
        Ok(())
    }

    // --- helpers -------------------------------------------------------------

    fn tensor(&mut self, v: &V) -> R<usize> {
        match v {
            V::T(t) => Ok(*t),
            V::C(c, name) => {
                if let Some(&t) = self.cache.get(name) {
                    if self.g.tensors[t].data.as_ref() == Some(c) {
                        return Ok(t);
                    }
                }
                let t = self.g.add_const(name.clone(), c.clone());
                self.cache.insert(name.clone(), t);
                Ok(t)
            }
            V::S2B { .. } => err("SpaceToBatchND is only supported as part of a dilated convolution"),
            V::PendB2S { .. } => err("a dilated convolution must end in BatchToSpaceND"),
            V::Unknown => Err(LErr::Unsupported),
        }
    }

    fn shape(&self, t: usize) -> Vec<i64> {
        self.g.tensors[t].shape.clone()
    }

    fn i32_const(&mut self, name: String, shape: Vec<i64>, vals: &[i64]) -> usize {
        self.g.add_const(name, Const::from_i64(DataType::Int32, shape, vals))
    }

    fn emit(
        &mut self,
        code: BuiltinOperator,
        inputs: Vec<i32>,
        outs: Vec<(String, DataType, Vec<i64>)>,
        opts: BuiltinOptionsT,
    ) -> Vec<usize> {
        let outputs: Vec<usize> =
            outs.into_iter().map(|(name, dtype, shape)| self.g.add(T { name, dtype, shape, data: None })).collect();
        self.g.ops.push(Op { code, version: 1, inputs, outputs: outputs.clone(), opts, dead: false });
        outputs
    }

    fn emit1(
        &mut self,
        code: BuiltinOperator,
        inputs: Vec<i32>,
        name: &str,
        dtype: DataType,
        shape: Vec<i64>,
        opts: BuiltinOptionsT,
    ) -> usize {
        self.emit(code, inputs, vec![(name.to_string(), dtype, shape)], opts)[0]
    }

    fn binary_v(&mut self, op: Bin, a: &V, b: &V, name: &str) -> R<V> {
        if let (V::C(x, _), V::C(y, _)) = (a, b) {
            let c = consts::binary(op, x, y).ok_or("operands do not broadcast")?;
            return Ok(V::C(c, name.to_string()));
        }
        let ta = self.tensor(a)?;
        let tb = self.tensor(b)?;
        let (sa, sb) = (self.shape(ta), self.shape(tb));
        let shape =
            consts::broadcast_shape(&sa, &sb).ok_or_else(|| format!("shapes {sa:?} and {sb:?} do not broadcast"))?;
        let dtype = self.g.tensors[ta].dtype;
        let (code, opts) = match op {
            Bin::Add => (BuiltinOperator::ADD, BuiltinOptionsT::AddOptions(Box::default())),
            Bin::Sub => (BuiltinOperator::SUB, BuiltinOptionsT::SubOptions(Box::default())),
            Bin::Mul => (BuiltinOperator::MUL, BuiltinOptionsT::MulOptions(Box::default())),
            Bin::Div => (BuiltinOperator::DIV, BuiltinOptionsT::DivOptions(Box::default())),
            Bin::Max => (BuiltinOperator::MAXIMUM, BuiltinOptionsT::MaximumMinimumOptions(Box::default())),
            Bin::Min => (BuiltinOperator::MINIMUM, BuiltinOptionsT::MaximumMinimumOptions(Box::default())),
            Bin::SqDiff => {
                (BuiltinOperator::SQUARED_DIFFERENCE, BuiltinOptionsT::SquaredDifferenceOptions(Box::default()))
            }
            Bin::FloorDiv => (BuiltinOperator::FLOOR_DIV, BuiltinOptionsT::FloorDivOptions(Box::default())),
            other => return Err(format!("binary op {other:?} is not lowered").into()),
        };
        Ok(V::T(self.emit1(code, vec![ta as i32, tb as i32], name, dtype, shape, opts)))
    }

    fn cin<'v>(ins: &'v [V], i: usize, what: &str) -> R<&'v Const> {
        match ins.get(i) {
            Some(V::C(c, _)) => Ok(c),
            Some(_) => err(format!("the {what} (input {i}) must be constant")),
            None => err(format!("missing input {i} ({what})")),
        }
    }

    /// Reshape of a value to a static shape: folded for constants, RESHAPE otherwise.
    fn reshape_v(&mut self, x: &V, shape: Vec<i64>, name: &str) -> R<V> {
        if let V::C(c, _) = x {
            return Ok(V::C(c.reshaped(shape), name.to_string()));
        }
        let t = self.tensor(x)?;
        let dtype = self.g.tensors[t].dtype;
        let s = self.i32_const(format!("{name}/shape"), vec![shape.len() as i64], &shape);
        Ok(V::T(self.emit1(
            BuiltinOperator::RESHAPE,
            vec![t as i32, s as i32],
            name,
            dtype,
            shape,
            BuiltinOptionsT::NONE,
        )))
    }

    fn shape_of(&self, v: &V) -> R<Vec<i64>> {
        match v {
            V::C(c, _) => Ok(c.shape.clone()),
            V::T(t) => Ok(self.shape(*t)),
            V::Unknown => Err(LErr::Unsupported),
            _ => err("SpaceToBatchND is only supported as part of a dilated convolution"),
        }
    }

    // --- the op table ----------------------------------------------------------

    fn lower(&mut self, n: &NodeDef, ins: Vec<V>) -> R<Vec<V>> {
        let name = n.name.as_str();
        let op = n.op.as_str();
        let need = |k: usize| -> R<()> {
            if ins.len() < k {
                return err(format!("has {} inputs, needs {k}", ins.len()));
            }
            Ok(())
        };
        let unary = |code: BuiltinOperator| -> Option<BuiltinOperator> { Some(code) };
        // Unary elementwise ops.
        let un = match op {
            "Relu" => unary(BuiltinOperator::RELU),
            "Relu6" => unary(BuiltinOperator::RELU6),
            "Elu" => unary(BuiltinOperator::ELU),
            "Sigmoid" => unary(BuiltinOperator::LOGISTIC),
            "Tanh" => unary(BuiltinOperator::TANH),
            "Rsqrt" => unary(BuiltinOperator::RSQRT),
            "Sqrt" => unary(BuiltinOperator::SQRT),
            "Square" => unary(BuiltinOperator::SQUARE),
            "Neg" => unary(BuiltinOperator::NEG),
            "Exp" => unary(BuiltinOperator::EXP),
            "Abs" => unary(BuiltinOperator::ABS),
            "LeakyRelu" => unary(BuiltinOperator::LEAKY_RELU),
            "Softmax" => unary(BuiltinOperator::SOFTMAX),
            _ => None,
        };
        if let Some(code) = un {
            need(1)?;
            let alpha = attr_f(n, "alpha", 0.2);
            if let V::C(c, _) = &ins[0] {
                let f: Box<dyn Fn(f32) -> f32> = match op {
                    "Relu" => Box::new(|v: f32| v.max(0.0)),
                    "Relu6" => Box::new(|v: f32| v.clamp(0.0, 6.0)),
                    "Elu" => Box::new(|v: f32| if v > 0.0 { v } else { v.exp_m1() }),
                    "Sigmoid" => Box::new(|v: f32| 1.0 / (1.0 + (-v).exp())),
                    "Tanh" => Box::new(f32::tanh),
                    "Rsqrt" => Box::new(|v: f32| 1.0 / v.sqrt()),
                    "Sqrt" => Box::new(f32::sqrt),
                    "Square" => Box::new(|v: f32| v * v),
                    "Neg" => Box::new(|v: f32| -v),
                    "Exp" => Box::new(f32::exp),
                    "Abs" => Box::new(f32::abs),
                    "LeakyRelu" => Box::new(move |v: f32| if v < 0.0 { v * alpha } else { v }),
                    _ => Box::new(|v| v),
                };
                if op != "Softmax" {
                    return Ok(vec![V::C(consts::unary(c, f), name.into())]);
                }
            }
            let t = self.tensor(&ins[0])?;
            let (dtype, shape) = (self.g.tensors[t].dtype, self.shape(t));
            let opts = match op {
                "LeakyRelu" => BuiltinOptionsT::LeakyReluOptions(Box::new(LeakyReluOptionsT { alpha })),
                "Softmax" => BuiltinOptionsT::SoftmaxOptions(Box::new(SoftmaxOptionsT { beta: 1.0 })),
                _ => BuiltinOptionsT::NONE,
            };
            return Ok(vec![V::T(self.emit1(code, vec![t as i32], name, dtype, shape, opts))]);
        }
        let bin = match op {
            "Add" | "AddV2" | "BiasAdd" | "BiasAddV1" => Some(Bin::Add),
            "Sub" => Some(Bin::Sub),
            "Mul" => Some(Bin::Mul),
            "RealDiv" | "Div" => Some(Bin::Div),
            "Maximum" => Some(Bin::Max),
            "Minimum" => Some(Bin::Min),
            "SquaredDifference" => Some(Bin::SqDiff),
            "FloorDiv" => Some(Bin::FloorDiv),
            _ => None,
        };
        if let Some(b) = bin {
            need(2)?;
            if op.starts_with("BiasAdd") {
                nhwc(n)?;
            }
            // A bias on a pending dilated conv stays inside the pattern.
            if let (V::PendB2S { t, block, inner }, V::C(..)) = (&ins[0], &ins[1]) {
                if b == Bin::Add {
                    let (t, block, inner) = (*t, *block, *inner);
                    let r = self.binary_v(b, &V::T(t), &ins[1], name)?;
                    let V::T(t2) = r else { return err("bias did not lower to a tensor") };
                    if self.shape(t2) != self.shape(t) {
                        return err("bias does not match the convolution's output");
                    }
                    return Ok(vec![V::PendB2S { t: t2, block, inner }]);
                }
            }
            return Ok(vec![self.binary_v(b, &ins[0], &ins[1], name)?]);
        }
        match op {
            "Const" => {
                let c = match attr(n, "value") {
                    Some(Value::Tensor(t)) => Const::from_proto(t)?,
                    _ => return err("has no tensor value"),
                };
                Ok(vec![V::C(c, name.into())])
            }
            "Identity" | "StopGradient" | "Snapshot" | "CheckNumerics" | "PreventGradient" | "IdentityN" => {
                if ins.is_empty() {
                    return err("has no input");
                }
                Ok(ins)
            }
            "PlaceholderWithDefault" => {
                need(1)?;
                Ok(vec![ins[0].clone()])
            }
            "Placeholder" => Err(LErr::Msg(
                "placeholder is needed but is not among the input arrays (add it to --input-arrays)".into(),
            )),
            "NoOp" => Ok(vec![]),
            "Conv2D" | "DepthwiseConv2dNative" => self.conv(n, &ins),
            "Conv2DBackpropInput" => self.transpose_conv(n, &ins),
            "SpaceToBatchND" => {
                need(3)?;
                let x = self.tensor(&ins[0])?;
                let block = Self::cin(&ins, 1, "block shape")?.i64s();
                let pads = Self::cin(&ins, 2, "paddings")?.i64s();
                if block.len() != 2 || pads.len() != 4 || self.shape(x).len() != 4 {
                    return Err(LErr::Unsupported);
                }
                if block.iter().any(|b| !(1..=1 << 16).contains(b)) || pads.iter().any(|p| !(0..=1 << 30).contains(p)) {
                    return err("invalid block shape or paddings");
                }
                Ok(vec![V::S2B { x, block: [block[0], block[1]], pads: [pads[0], pads[1], pads[2], pads[3]] }])
            }
            "BatchToSpaceND" => {
                need(3)?;
                let V::PendB2S { t, block, inner } = ins[0].clone() else {
                    return Err(LErr::Unsupported);
                };
                let b = Self::cin(&ins, 1, "block shape")?.i64s();
                let crops = Self::cin(&ins, 2, "crops")?.i64s();
                if b.len() != 2 || crops.len() != 4 || b[..] != block[..] {
                    return err("BatchToSpaceND does not match its SpaceToBatchND");
                }
                let s = self.shape(t);
                let h = inner[0].saturating_mul(block[0]).saturating_sub(crops[0]).saturating_sub(crops[1]);
                let w = inner[1].saturating_mul(block[1]).saturating_sub(crops[2]).saturating_sub(crops[3]);
                if s[1] != h || s[2] != w {
                    return err(format!(
                        "dilated convolution pattern with paddings/crops that do not give SAME or VALID ({h}x{w} vs {}x{})",
                        s[1], s[2]
                    ));
                }
                Ok(vec![V::T(t)])
            }
            "MatMul" | "BatchMatMul" | "BatchMatMulV2" | "BatchMatMulV3" => self.matmul(n, &ins),
            "FusedBatchNorm" | "FusedBatchNormV2" | "FusedBatchNormV3" => {
                need(5)?;
                nhwc(n)?;
                if attr_b(n, "is_training", true) {
                    return err("is_training=true is not supported; freeze the graph in inference mode");
                }
                let eps = attr_f(n, "epsilon", 1e-4);
                let scale = Self::cin(&ins, 1, "scale")?.f32s();
                let offset = Self::cin(&ins, 2, "offset")?.f32s();
                let mean = Self::cin(&ins, 3, "mean")?.f32s();
                let var = Self::cin(&ins, 4, "variance")?.f32s();
                let c = scale.len();
                if offset.len() != c || mean.len() != c || var.len() != c {
                    return err("scale, offset, mean and variance differ in length");
                }
                let m: Vec<f32> = (0..c).map(|i| scale[i] * (1.0 / (var[i] + eps).sqrt())).collect();
                let b: Vec<f32> = (0..c).map(|i| offset[i] - mean[i] * m[i]).collect();
                let mv = V::C(Const::from_f32(vec![c as i64], &m), format!("{name}/mul"));
                let bv = V::C(Const::from_f32(vec![c as i64], &b), format!("{name}/add"));
                let y = self.binary_v(Bin::Mul, &ins[0], &mv, &format!("{name}/mul_out"))?;
                let y = self.binary_v(Bin::Add, &y, &bv, name)?;
                Ok(vec![y, V::Unknown, V::Unknown, V::Unknown, V::Unknown, V::Unknown])
            }
            "MaxPool" | "AvgPool" => {
                need(1)?;
                nhwc(n)?;
                let x = self.tensor(&ins[0])?;
                let s = self.shape(x);
                if s.len() != 4 {
                    return err("input must be 4-D");
                }
                let k = hw_attr(n, "ksize")?;
                let st = hw_attr(n, "strides")?;
                let pad = padding(n)?;
                if attr_s(n, "padding", "") == "EXPLICIT" {
                    return err("EXPLICIT padding on a pool is not supported");
                }
                let same = pad == Padding::SAME;
                let shape =
                    vec![s[0], conv_out(s[1], k[0], st[0], 1, same)?, conv_out(s[2], k[1], st[1], 1, same)?, s[3]];
                let code =
                    if op == "MaxPool" { BuiltinOperator::MAX_POOL_2D } else { BuiltinOperator::AVERAGE_POOL_2D };
                let opts = BuiltinOptionsT::Pool2DOptions(Box::new(Pool2DOptionsT {
                    padding: pad,
                    stride_w: st[1] as i32,
                    stride_h: st[0] as i32,
                    filter_width: k[1] as i32,
                    filter_height: k[0] as i32,
                    fused_activation_function: act_none(),
                }));
                let dt = self.g.tensors[x].dtype;
                Ok(vec![V::T(self.emit1(code, vec![x as i32], name, dt, shape, opts))])
            }
            "Mean" | "Sum" | "Max" | "Min" | "Prod" => {
                need(2)?;
                let keep = attr_b(n, "keep_dims", false);
                let xs = self.shape_of(&ins[0])?;
                let axes_raw = Self::cin(&ins, 1, "axis")?.i64s();
                let mut axes = Vec::new();
                for &a in &axes_raw {
                    let a = norm_axis(a, xs.len())?;
                    if !axes.contains(&a) {
                        axes.push(a);
                    }
                }
                let red = match op {
                    "Mean" => Reduce::Mean,
                    "Sum" => Reduce::Sum,
                    "Max" => Reduce::Max,
                    "Min" => Reduce::Min,
                    _ => Reduce::Prod,
                };
                if let V::C(c, _) = &ins[0] {
                    if let Some(r) = consts::reduce(c, &axes, red, keep) {
                        return Ok(vec![V::C(r, name.into())]);
                    }
                }
                let x = self.tensor(&ins[0])?;
                let shape: Vec<i64> = if keep {
                    xs.iter().enumerate().map(|(i, &d)| if axes.contains(&i) { 1 } else { d }).collect()
                } else {
                    xs.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect()
                };
                let ax = self.i32_const(format!("{name}/reduction_indices"), vec![axes_raw.len() as i64], &axes_raw);
                let code = match red {
                    Reduce::Mean => BuiltinOperator::MEAN,
                    Reduce::Sum => BuiltinOperator::SUM,
                    Reduce::Max => BuiltinOperator::REDUCE_MAX,
                    Reduce::Min => BuiltinOperator::REDUCE_MIN,
                    Reduce::Prod => BuiltinOperator::REDUCE_PROD,
                };
                let dt = self.g.tensors[x].dtype;
                let opts = BuiltinOptionsT::ReducerOptions(Box::new(ReducerOptionsT { keep_dims: keep }));
                Ok(vec![V::T(self.emit1(code, vec![x as i32, ax as i32], name, dt, shape, opts))])
            }
            "Pad" | "PadV2" | "MirrorPad" => {
                need(2)?;
                let x = self.tensor(&ins[0])?;
                let xs = self.shape(x);
                let p = Self::cin(&ins, 1, "paddings")?.i64s();
                if p.len() != xs.len() * 2 || p.iter().any(|&v| v < 0) {
                    return err("paddings do not match the input rank");
                }
                let shape: Vec<i64> = xs
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| d.saturating_add(p[2 * i]).saturating_add(p[2 * i + 1]))
                    .collect();
                let pt = self.i32_const(format!("{name}/paddings"), vec![xs.len() as i64, 2], &p);
                let mut inputs = vec![x as i32, pt as i32];
                let dt = self.g.tensors[x].dtype;
                let (code, opts) = match op {
                    "Pad" => (BuiltinOperator::PAD, BuiltinOptionsT::PadOptions(Box::default())),
                    "PadV2" => {
                        need(3)?;
                        let v = self.tensor(&ins[2])?;
                        inputs.push(v as i32);
                        (BuiltinOperator::PADV2, BuiltinOptionsT::PadV2Options(Box::default()))
                    }
                    _ => {
                        let mode = match attr_s(n, "mode", "REFLECT").as_str() {
                            "REFLECT" => MirrorPadMode::REFLECT,
                            "SYMMETRIC" => MirrorPadMode::SYMMETRIC,
                            m => return err(format!("mode {m} is not supported")),
                        };
                        (
                            BuiltinOperator::MIRROR_PAD,
                            BuiltinOptionsT::MirrorPadOptions(Box::new(MirrorPadOptionsT { mode })),
                        )
                    }
                };
                Ok(vec![V::T(self.emit1(code, inputs, name, dt, shape, opts))])
            }
            "Reshape" => {
                need(2)?;
                let xs = self.shape_of(&ins[0])?;
                let spec = Self::cin(&ins, 1, "shape")?.i64s();
                let total = consts::numel(&xs).ok_or("input size overflows")?;
                let known: i64 = spec
                    .iter()
                    .filter(|&&d| d != -1)
                    .try_fold(1i64, |a, &d| if d < 0 { None } else { a.checked_mul(d) })
                    .ok_or("bad target shape")?;
                let unknown = spec.iter().filter(|&&d| d == -1).count();
                let mut shape = spec.clone();
                if unknown > 1 {
                    return err("target shape has more than one -1");
                }
                if unknown == 1 {
                    if known == 0 || total as i64 % known != 0 {
                        return err(format!("cannot reshape {xs:?} to {spec:?}"));
                    }
                    for d in shape.iter_mut().filter(|d| **d == -1) {
                        *d = total as i64 / known;
                    }
                } else if known != total as i64 {
                    return err(format!("cannot reshape {xs:?} to {spec:?}"));
                }
                if let V::C(c, _) = &ins[0] {
                    return Ok(vec![V::C(c.reshaped(shape), name.into())]);
                }
                let x = self.tensor(&ins[0])?;
                let dt = self.g.tensors[x].dtype;
                let s = self.i32_const(format!("{name}/shape"), vec![spec.len() as i64], &spec);
                Ok(vec![V::T(self.emit1(
                    BuiltinOperator::RESHAPE,
                    vec![x as i32, s as i32],
                    name,
                    dt,
                    shape,
                    BuiltinOptionsT::NONE,
                ))])
            }
            "Squeeze" => {
                need(1)?;
                let xs = self.shape_of(&ins[0])?;
                let dims = attr_list_i(n, "squeeze_dims").unwrap_or_default();
                let mut drop = Vec::new();
                for &d in &dims {
                    let a = norm_axis(d, xs.len())?;
                    if xs[a] != 1 {
                        return err(format!("cannot squeeze dimension {d} of size {}", xs[a]));
                    }
                    drop.push(a);
                }
                let shape: Vec<i64> = xs
                    .iter()
                    .enumerate()
                    .filter(|&(i, &d)| if dims.is_empty() { d != 1 } else { !drop.contains(&i) })
                    .map(|(_, &d)| d)
                    .collect();
                Ok(vec![self.reshape_v(&ins[0], shape, name)?])
            }
            "ExpandDims" => {
                need(2)?;
                let xs = self.shape_of(&ins[0])?;
                let a = Self::cin(&ins, 1, "axis")?.i64s();
                let a = *a.first().ok_or("axis is empty")?;
                let a = norm_axis(a, xs.len() + 1)?;
                let mut shape = xs.clone();
                shape.insert(a, 1);
                Ok(vec![self.reshape_v(&ins[0], shape, name)?])
            }
            "ConcatV2" | "Concat" => {
                need(2)?;
                let (axis_v, vals) =
                    if op == "Concat" { (&ins[0], &ins[1..]) } else { (&ins[ins.len() - 1], &ins[..ins.len() - 1]) };
                let V::C(axis_c, _) = axis_v else { return err("the axis must be constant") };
                let axis_raw = *axis_c.i64s().first().ok_or("axis is empty")?;
                let shapes: Vec<Vec<i64>> = vals.iter().map(|v| self.shape_of(v)).collect::<R<_>>()?;
                let rank = shapes[0].len();
                let axis = norm_axis(axis_raw, rank)?;
                let mut shape = shapes[0].clone();
                shape[axis] = 0;
                for s in &shapes {
                    if s.len() != rank || (0..rank).any(|d| d != axis && s[d] != shapes[0][d]) {
                        return err(format!("inputs of shapes {shapes:?} cannot be concatenated on axis {axis_raw}"));
                    }
                    shape[axis] += s[axis];
                }
                if vals.iter().all(|v| matches!(v, V::C(..))) {
                    let cs: Vec<&Const> =
                        vals.iter().filter_map(|v| if let V::C(c, _) = v { Some(c) } else { None }).collect();
                    let c = consts::concat(&cs, axis).ok_or("constants cannot be concatenated")?;
                    return Ok(vec![V::C(c, name.into())]);
                }
                let mut inputs = Vec::new();
                for v in vals {
                    inputs.push(self.tensor(v)? as i32);
                }
                let dt = self.g.tensors[inputs[0] as usize].dtype;
                let opts = BuiltinOptionsT::ConcatenationOptions(Box::new(ConcatenationOptionsT {
                    axis: axis_raw as i32,
                    fused_activation_function: act_none(),
                }));
                Ok(vec![V::T(self.emit1(BuiltinOperator::CONCATENATION, inputs, name, dt, shape, opts))])
            }
            "Transpose" => {
                need(2)?;
                let xs = self.shape_of(&ins[0])?;
                let perm_raw = Self::cin(&ins, 1, "perm")?.i64s();
                let mut perm = Vec::new();
                for &p in &perm_raw {
                    perm.push(norm_axis(p, xs.len())?);
                }
                let mut seen = perm.clone();
                seen.sort_unstable();
                seen.dedup();
                if perm.len() != xs.len() || seen.len() != perm.len() {
                    return err(format!("perm {perm_raw:?} is not a permutation of rank {}", xs.len()));
                }
                if let V::C(c, _) = &ins[0] {
                    return Ok(vec![V::C(consts::transpose(c, &perm), name.into())]);
                }
                let x = self.tensor(&ins[0])?;
                let shape: Vec<i64> = perm.iter().map(|&p| xs[p]).collect();
                let pt = self.i32_const(format!("{name}/perm"), vec![perm.len() as i64], &perm_raw);
                let dt = self.g.tensors[x].dtype;
                Ok(vec![V::T(self.emit1(
                    BuiltinOperator::TRANSPOSE,
                    vec![x as i32, pt as i32],
                    name,
                    dt,
                    shape,
                    BuiltinOptionsT::TransposeOptions(Box::default()),
                ))])
            }
            "StridedSlice" => {
                need(4)?;
                let xs = self.shape_of(&ins[0])?;
                let b = Self::cin(&ins, 1, "begin")?.i64s();
                let e = Self::cin(&ins, 2, "end")?.i64s();
                let s = Self::cin(&ins, 3, "strides")?.i64s();
                let m = |k| attr_i(n, k, 0);
                let (bm, em, elm, nam, sm) =
                    (m("begin_mask"), m("end_mask"), m("ellipsis_mask"), m("new_axis_mask"), m("shrink_axis_mask"));
                let spec = consts::strided_slice_spec(&xs, &b, &e, &s, bm, em, elm, nam, sm)?;
                if let V::C(c, _) = &ins[0] {
                    let g = consts::strided_gather(c, &spec.gather).reshaped(spec.out_shape);
                    return Ok(vec![V::C(g, name.into())]);
                }
                if elm != 0 || nam != 0 {
                    return err("ellipsis_mask and new_axis_mask on a non-constant input are not supported");
                }
                let x = self.tensor(&ins[0])?;
                let n_ = b.len() as i64;
                let bt = self.i32_const(format!("{name}/begin"), vec![n_], &b);
                let et = self.i32_const(format!("{name}/end"), vec![n_], &e);
                let stt = self.i32_const(format!("{name}/strides"), vec![n_], &s);
                let dt = self.g.tensors[x].dtype;
                let opts = BuiltinOptionsT::StridedSliceOptions(Box::new(StridedSliceOptionsT {
                    begin_mask: bm as i32,
                    end_mask: em as i32,
                    ellipsis_mask: 0,
                    new_axis_mask: 0,
                    shrink_axis_mask: sm as i32,
                    offset: false,
                }));
                let inputs = vec![x as i32, bt as i32, et as i32, stt as i32];
                Ok(vec![V::T(self.emit1(BuiltinOperator::STRIDED_SLICE, inputs, name, dt, spec.out_shape, opts))])
            }
            "Slice" => {
                need(3)?;
                let xs = self.shape_of(&ins[0])?;
                let b = Self::cin(&ins, 1, "begin")?.i64s();
                let sz = Self::cin(&ins, 2, "size")?.i64s();
                if b.len() != xs.len() || sz.len() != xs.len() {
                    return err("begin and size must match the input rank");
                }
                let mut gather = Vec::new();
                for i in 0..xs.len() {
                    let count = if sz[i] == -1 { xs[i] - b[i] } else { sz[i] };
                    if b[i] < 0 || count < 0 || b[i] + count > xs[i] {
                        return err(format!("slice begin {b:?} size {sz:?} is out of range for {xs:?}"));
                    }
                    gather.push((b[i], 1, count));
                }
                let shape: Vec<i64> = gather.iter().map(|g| g.2).collect();
                if let V::C(c, _) = &ins[0] {
                    return Ok(vec![V::C(consts::strided_gather(c, &gather), name.into())]);
                }
                let x = self.tensor(&ins[0])?;
                let bt = self.i32_const(format!("{name}/begin"), vec![b.len() as i64], &b);
                let st = self.i32_const(format!("{name}/size"), vec![sz.len() as i64], &sz);
                let dt = self.g.tensors[x].dtype;
                Ok(vec![V::T(self.emit1(
                    BuiltinOperator::SLICE,
                    vec![x as i32, bt as i32, st as i32],
                    name,
                    dt,
                    shape,
                    BuiltinOptionsT::SliceOptions(Box::default()),
                ))])
            }
            "Split" | "SplitV" => {
                let (xv, axis_raw, sizes) = if op == "Split" {
                    need(2)?;
                    let a = *Self::cin(&ins, 0, "axis")?.i64s().first().ok_or("axis is empty")?;
                    (&ins[1], a, None)
                } else {
                    need(3)?;
                    let a = *Self::cin(&ins, 2, "axis")?.i64s().first().ok_or("axis is empty")?;
                    (&ins[0], a, Some(Self::cin(&ins, 1, "size_splits")?.i64s()))
                };
                let xs = self.shape_of(xv)?;
                let axis = norm_axis(axis_raw, xs.len())?;
                let num = attr_i(n, "num_split", 0);
                if !(1..=1 << 16).contains(&num) {
                    return err(format!("num_split {num} is invalid"));
                }
                let sizes: Vec<i64> = match sizes {
                    None => {
                        if xs[axis] % num != 0 {
                            return err(format!("dimension {} is not divisible by {num}", xs[axis]));
                        }
                        vec![xs[axis] / num; num as usize]
                    }
                    Some(mut s) => {
                        if s.iter().any(|&v| v > 1 << 40) {
                            return err("size_splits are too large");
                        }
                        let known: i64 = s.iter().filter(|&&v| v >= 0).sum();
                        for v in s.iter_mut().filter(|v| **v < 0) {
                            *v = xs[axis] - known;
                        }
                        if s.len() != num as usize || s.iter().sum::<i64>() != xs[axis] || s.iter().any(|&v| v < 0) {
                            return err(format!("size_splits {s:?} do not add up to {}", xs[axis]));
                        }
                        s
                    }
                };
                let mut outs = Vec::new();
                let mut start = 0;
                for (k, &sz) in sizes.iter().enumerate() {
                    let mut shape = xs.clone();
                    shape[axis] = sz;
                    if let V::C(c, _) = xv {
                        let gather: Vec<(i64, i64, i64)> =
                            (0..xs.len()).map(|d| if d == axis { (start, 1, sz) } else { (0, 1, xs[d]) }).collect();
                        outs.push(V::C(consts::strided_gather(c, &gather), out_name(name, k)));
                    }
                    start += sz;
                }
                if !outs.is_empty() {
                    return Ok(outs);
                }
                let x = self.tensor(xv)?;
                let dt = self.g.tensors[x].dtype;
                let out_specs: Vec<(String, DataType, Vec<i64>)> = sizes
                    .iter()
                    .enumerate()
                    .map(|(k, &sz)| {
                        let mut shape = xs.clone();
                        shape[axis] = sz;
                        (out_name(name, k), dt, shape)
                    })
                    .collect();
                let ts = if op == "Split" {
                    let at = self.i32_const(format!("{name}/split_dim"), vec![], &[axis_raw]);
                    let opts = BuiltinOptionsT::SplitOptions(Box::new(SplitOptionsT { num_splits: num as i32 }));
                    self.emit(BuiltinOperator::SPLIT, vec![at as i32, x as i32], out_specs, opts)
                } else {
                    let st = self.i32_const(format!("{name}/size_splits"), vec![num], &sizes);
                    let at = self.i32_const(format!("{name}/split_dim"), vec![], &[axis_raw]);
                    let opts = BuiltinOptionsT::SplitVOptions(Box::new(SplitVOptionsT { num_splits: num as i32 }));
                    self.emit(BuiltinOperator::SPLIT_V, vec![x as i32, st as i32, at as i32], out_specs, opts)
                };
                Ok(ts.into_iter().map(V::T).collect())
            }
            "Pack" => {
                need(1)?;
                let shapes: Vec<Vec<i64>> = ins.iter().map(|v| self.shape_of(v)).collect::<R<_>>()?;
                if shapes.iter().any(|s| *s != shapes[0]) {
                    return err("Pack inputs differ in shape");
                }
                let axis_raw = attr_i(n, "axis", 0);
                let axis = norm_axis(axis_raw, shapes[0].len() + 1)?;
                let mut shape = shapes[0].clone();
                shape.insert(axis, ins.len() as i64);
                if ins.iter().all(|v| matches!(v, V::C(..))) {
                    let mut one = shapes[0].clone();
                    one.insert(axis, 1);
                    let cs: Vec<Const> = ins
                        .iter()
                        .filter_map(|v| if let V::C(c, _) = v { Some(c.reshaped(one.clone())) } else { None })
                        .collect();
                    let refs: Vec<&Const> = cs.iter().collect();
                    let c = consts::concat(&refs, axis).ok_or("constants cannot be packed")?;
                    return Ok(vec![V::C(c, name.into())]);
                }
                let mut inputs = Vec::new();
                for v in &ins {
                    inputs.push(self.tensor(v)? as i32);
                }
                let dt = self.g.tensors[inputs[0] as usize].dtype;
                let opts = BuiltinOptionsT::PackOptions(Box::new(PackOptionsT {
                    values_count: ins.len() as i32,
                    axis: axis_raw as i32,
                }));
                Ok(vec![V::T(self.emit1(BuiltinOperator::PACK, inputs, name, dt, shape, opts))])
            }
            "Shape" | "Size" | "Rank" => {
                need(1)?;
                let xs = self.shape_of(&ins[0])?;
                let dt = attr_type(n, "out_type").unwrap_or(DataType::Int32);
                let c = match op {
                    "Shape" => Const::from_i64(dt, vec![xs.len() as i64], &xs),
                    "Size" => Const::from_i64(dt, vec![], &[consts::numel(&xs).ok_or("size overflows")? as i64]),
                    _ => Const::from_i64(DataType::Int32, vec![], &[xs.len() as i64]),
                };
                Ok(vec![V::C(c, name.into())])
            }
            "ZerosLike" | "OnesLike" => {
                need(1)?;
                let xs = self.shape_of(&ins[0])?;
                let dt = match &ins[0] {
                    V::C(c, _) => c.dtype,
                    V::T(t) => self.g.tensors[*t].dtype,
                    _ => DataType::Float,
                };
                let n_ = consts::numel(&xs).ok_or("size overflows")?;
                if n_ > 1 << 24 {
                    return err("too large to fold");
                }
                let v = vec![if op == "OnesLike" { 1 } else { 0 }; n_];
                Ok(vec![V::C(Const::from_i64(dt, xs, &v), name.into())])
            }
            "Fill" => {
                need(2)?;
                let dims = Self::cin(&ins, 0, "dims")?.i64s();
                let v = Self::cin(&ins, 1, "value")?;
                let n_ = consts::numel(&dims).ok_or("bad dims")?;
                if n_ > 1 << 24 || v.numel() != 1 {
                    return err("cannot fold Fill");
                }
                let c = consts::binary(
                    Bin::Add,
                    &v.reshaped(vec![]),
                    &Const::from_i64(v.dtype, dims.clone(), &vec![0; n_]),
                )
                .ok_or("cannot fold Fill")?;
                Ok(vec![V::C(c, name.into())])
            }
            "Cast" => {
                need(1)?;
                let to = attr_type(n, "DstT").ok_or("has no DstT")?;
                if let V::C(c, _) = &ins[0] {
                    return Ok(vec![V::C(c.cast(to), name.into())]);
                }
                let x = self.tensor(&ins[0])?;
                let shape = self.shape(x);
                if self.g.tensors[x].dtype == to {
                    return Ok(vec![V::T(x)]);
                }
                Ok(vec![V::T(self.emit1(
                    BuiltinOperator::CAST,
                    vec![x as i32],
                    name,
                    to,
                    shape,
                    BuiltinOptionsT::NONE,
                ))])
            }
            "ResizeBilinear" | "ResizeNearestNeighbor" => {
                need(2)?;
                let x = self.tensor(&ins[0])?;
                let xs = self.shape(x);
                let size = Self::cin(&ins, 1, "size")?.i64s();
                if xs.len() != 4 || size.len() != 2 || size.iter().any(|&v| v < 1) {
                    return err("needs a 4-D input and a size of two positive values");
                }
                let ac = attr_b(n, "align_corners", false);
                let hp = attr_b(n, "half_pixel_centers", false);
                let st = self.i32_const(format!("{name}/size"), vec![2], &size);
                let shape = vec![xs[0], size[0], size[1], xs[3]];
                let dt = self.g.tensors[x].dtype;
                let (code, opts) = if op == "ResizeBilinear" {
                    (
                        BuiltinOperator::RESIZE_BILINEAR,
                        BuiltinOptionsT::ResizeBilinearOptions(Box::new(ResizeBilinearOptionsT {
                            align_corners: ac,
                            half_pixel_centers: hp,
                        })),
                    )
                } else {
                    (
                        BuiltinOperator::RESIZE_NEAREST_NEIGHBOR,
                        BuiltinOptionsT::ResizeNearestNeighborOptions(Box::new(ResizeNearestNeighborOptionsT {
                            align_corners: ac,
                            half_pixel_centers: hp,
                        })),
                    )
                };
                Ok(vec![V::T(self.emit1(code, vec![x as i32, st as i32], name, dt, shape, opts))])
            }
            "DepthToSpace" | "SpaceToDepth" => {
                need(1)?;
                nhwc(n)?;
                let x = self.tensor(&ins[0])?;
                let xs = self.shape(x);
                let b = attr_i(n, "block_size", 0);
                if xs.len() != 4 || !(2..=1 << 16).contains(&b) {
                    return err("needs a 4-D input and block_size >= 2");
                }
                let dt = self.g.tensors[x].dtype;
                if op == "DepthToSpace" {
                    if xs[3] % (b * b) != 0 {
                        return err("channels are not divisible by block_size²");
                    }
                    let shape = vec![xs[0], xs[1].saturating_mul(b), xs[2].saturating_mul(b), xs[3] / (b * b)];
                    let opts =
                        BuiltinOptionsT::DepthToSpaceOptions(Box::new(DepthToSpaceOptionsT { block_size: b as i32 }));
                    Ok(vec![V::T(self.emit1(BuiltinOperator::DEPTH_TO_SPACE, vec![x as i32], name, dt, shape, opts))])
                } else {
                    if xs[1] % b != 0 || xs[2] % b != 0 {
                        return err("height and width are not divisible by block_size");
                    }
                    let shape = vec![xs[0], xs[1] / b, xs[2] / b, xs[3].saturating_mul(b * b)];
                    let opts =
                        BuiltinOptionsT::SpaceToDepthOptions(Box::new(SpaceToDepthOptionsT { block_size: b as i32 }));
                    Ok(vec![V::T(self.emit1(BuiltinOperator::SPACE_TO_DEPTH, vec![x as i32], name, dt, shape, opts))])
                }
            }
            "ArgMax" | "ArgMin" => {
                need(2)?;
                let x = self.tensor(&ins[0])?;
                let xs = self.shape(x);
                let a_raw = *Self::cin(&ins, 1, "axis")?.i64s().first().ok_or("axis is empty")?;
                let a = norm_axis(a_raw, xs.len())?;
                let ot = attr_type(n, "output_type").unwrap_or(DataType::Int64);
                let shape: Vec<i64> = xs.iter().enumerate().filter(|&(i, _)| i != a).map(|(_, &d)| d).collect();
                let at = self.i32_const(format!("{name}/dimension"), vec![1], &[a_raw]);
                let tt = super::tflite_type(ot);
                let (code, opts) = if op == "ArgMax" {
                    (
                        BuiltinOperator::ARG_MAX,
                        BuiltinOptionsT::ArgMaxOptions(Box::new(ArgMaxOptionsT { output_type: tt })),
                    )
                } else {
                    (
                        BuiltinOperator::ARG_MIN,
                        BuiltinOptionsT::ArgMinOptions(Box::new(ArgMinOptionsT { output_type: tt })),
                    )
                };
                Ok(vec![V::T(self.emit1(code, vec![x as i32, at as i32], name, ot, shape, opts))])
            }
            _ => Err(LErr::Unsupported),
        }
    }

    fn conv(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        let dw = n.op == "DepthwiseConv2dNative";
        if ins.len() < 2 {
            return err("needs an input and a filter");
        }
        nhwc(n)?;
        let f = Self::cin(ins, 1, "filter")?.clone();
        if !f.is_float() || f.shape.len() != 4 {
            return err("the filter must be a 4-D float constant");
        }
        let st = hw_attr(n, "strides")?;
        let mut dil = hw_attr(n, "dilations")?;
        let mut pad = padding(n)?;
        let (mut x, pend) = match &ins[0] {
            V::S2B { x, block, pads } => {
                if pad != Padding::VALID || st != [1, 1] || dil != [1, 1] {
                    return err("dilated-convolution pattern needs a VALID, stride-1 convolution");
                }
                dil = *block;
                (*x, Some((*block, *pads)))
            }
            v => (self.tensor(v)?, None),
        };
        let mut xs = self.shape(x);
        if xs.len() != 4 {
            return err(format!("input must be 4-D, is {xs:?}"));
        }
        let (kh, kw, ci, m) = (f.shape[0], f.shape[1], f.shape[2], f.shape[3]);
        if xs[3] != ci {
            return err(format!("input has {} channels, the filter expects {ci}", xs[3]));
        }
        if attr_s(n, "padding", "") == "EXPLICIT" {
            let p = attr_list_i(n, "explicit_paddings").unwrap_or_default();
            if p.len() != 8 || p.iter().any(|&v| v < 0) {
                return err("explicit_paddings must have 8 non-negative values");
            }
            let pt = self.i32_const(format!("{name}/paddings"), vec![4, 2], &p);
            let shape: Vec<i64> = (0..4).map(|i| xs[i].saturating_add(p[2 * i]).saturating_add(p[2 * i + 1])).collect();
            let dt = self.g.tensors[x].dtype;
            x = self.emit1(
                BuiltinOperator::PAD,
                vec![x as i32, pt as i32],
                &format!("{name}/pad"),
                dt,
                shape.clone(),
                BuiltinOptionsT::PadOptions(Box::default()),
            );
            xs = shape;
        }
        // Dilated pattern: SAME when SpaceToBatchND pads, VALID otherwise;
        // BatchToSpaceND checks the result size against the batched computation.
        let mut inner = [0i64; 2];
        if let Some((block, pads)) = pend {
            if pads.iter().any(|&p| p != 0) {
                pad = Padding::SAME;
            }
            for i in 0..2 {
                let padded = xs[1 + i].saturating_add(pads[2 * i]).saturating_add(pads[2 * i + 1]);
                let k = f.shape[i];
                if padded % block[i] != 0 || padded / block[i] < k {
                    return err("SpaceToBatchND paddings do not fit the dilated convolution");
                }
                inner[i] = padded / block[i] - (k - 1);
            }
        }
        let same = pad == Padding::SAME;
        let oh = conv_out(xs[1], kh, st[0], dil[0], same)?;
        let ow = conv_out(xs[2], kw, st[1], dil[1], same)?;
        let oc = if dw { ci.checked_mul(m).ok_or("channels overflow")? } else { m };
        let (w, code, opts) = if dw {
            let w = f.reshaped(vec![1, kh, kw, oc]);
            let opts = BuiltinOptionsT::DepthwiseConv2DOptions(Box::new(DepthwiseConv2DOptionsT {
                padding: pad,
                stride_w: st[1] as i32,
                stride_h: st[0] as i32,
                depth_multiplier: m as i32,
                fused_activation_function: act_none(),
                dilation_w_factor: dil[1] as i32,
                dilation_h_factor: dil[0] as i32,
            }));
            (w, BuiltinOperator::DEPTHWISE_CONV_2D, opts)
        } else {
            let w = consts::transpose(&f, &[3, 0, 1, 2]);
            self.done_with(&f);
            let opts = BuiltinOptionsT::Conv2DOptions(Box::new(Conv2DOptionsT {
                padding: pad,
                stride_w: st[1] as i32,
                stride_h: st[0] as i32,
                fused_activation_function: act_none(),
                dilation_w_factor: dil[1] as i32,
                dilation_h_factor: dil[0] as i32,
                quantized_bias_type: TensorType::FLOAT32,
            }));
            (w, BuiltinOperator::CONV_2D, opts)
        };
        let w = w.cast(DataType::Float);
        let wt = self.g.add_const(name.to_string(), w);
        let bt = self.g.add_const(format!("{name}/bias"), Const::from_f32(vec![oc], &vec![0.0; oc as usize]));
        let shape = vec![xs[0], oh, ow, oc];
        let t = self.emit1(code, vec![x as i32, wt as i32, bt as i32], name, DataType::Float, shape, opts);
        if let Some((block, _)) = pend {
            return Ok(vec![V::PendB2S { t, block, inner }]);
        }
        Ok(vec![V::T(t)])
    }

    fn transpose_conv(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        if ins.len() < 3 {
            return err("needs input_sizes, filter and out_backprop");
        }
        nhwc(n)?;
        let sizes = Self::cin(ins, 0, "input_sizes")?.i64s();
        let f = Self::cin(ins, 1, "filter")?.clone();
        let x = self.tensor(&ins[2])?;
        let xs = self.shape(x);
        if sizes.len() != 4 || f.shape.len() != 4 || xs.len() != 4 || !f.is_float() {
            return err("needs 4-D input_sizes, filter and input");
        }
        if f.shape[3] != xs[3] || f.shape[2] != sizes[3] || sizes.iter().any(|&v| v < 1) {
            return err("filter, input and input_sizes do not agree on channels");
        }
        let st = hw_attr(n, "strides")?;
        let dil = hw_attr(n, "dilations")?;
        if dil != [1, 1] {
            return err("dilated transposed convolution is not supported");
        }
        let pad = padding(n)?;
        if attr_s(n, "padding", "") == "EXPLICIT" {
            return err("EXPLICIT padding is not supported");
        }
        let w = consts::transpose(&f, &[2, 0, 1, 3]).cast(DataType::Float);
        self.done_with(&f);
        let wt = self.g.add_const(name.to_string(), w);
        let ot = self.i32_const(format!("{name}/input_sizes"), vec![4], &sizes);
        let opts = BuiltinOptionsT::TransposeConvOptions(Box::new(TransposeConvOptionsT {
            padding: pad,
            stride_w: st[1] as i32,
            stride_h: st[0] as i32,
            fused_activation_function: act_none(),
            quantized_bias_type: TensorType::FLOAT32,
        }));
        let t = self.emit1(
            BuiltinOperator::TRANSPOSE_CONV,
            vec![ot as i32, wt as i32, x as i32],
            name,
            DataType::Float,
            sizes,
            opts,
        );
        Ok(vec![V::T(t)])
    }

    fn matmul(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        if ins.len() < 2 {
            return err("needs two inputs");
        }
        let (ta, tb) = if n.op == "MatMul" {
            (attr_b(n, "transpose_a", false), attr_b(n, "transpose_b", false))
        } else {
            (attr_b(n, "adj_x", false), attr_b(n, "adj_y", false))
        };
        let sa = self.shape_of(&ins[0])?;
        let sb = self.shape_of(&ins[1])?;
        if sa.len() < 2 || sb.len() < 2 {
            return err("operands must have rank 2 or more");
        }
        let (ra, ca) = if ta { (sa[sa.len() - 1], sa[sa.len() - 2]) } else { (sa[sa.len() - 2], sa[sa.len() - 1]) };
        let (rb, cb) = if tb { (sb[sb.len() - 1], sb[sb.len() - 2]) } else { (sb[sb.len() - 2], sb[sb.len() - 1]) };
        if ca != rb {
            return err(format!("inner dimensions differ: {sa:?} x {sb:?}"));
        }
        if let (V::C(b, _), true, 2) = (&ins[1], n.op == "MatMul", sa.len()) {
            if b.is_float() && !matches!(ins[0], V::C(..)) {
                let w = if tb { b.clone() } else { consts::transpose(b, &[1, 0]) }.cast(DataType::Float);
                if !tb {
                    self.done_with(b);
                }
                let mut x = self.tensor(&ins[0])?;
                if ta {
                    let pt = self.i32_const(format!("{name}/perm"), vec![2], &[1, 0]);
                    x = self.emit1(
                        BuiltinOperator::TRANSPOSE,
                        vec![x as i32, pt as i32],
                        &format!("{name}/transpose_a"),
                        DataType::Float,
                        vec![ra, ca],
                        BuiltinOptionsT::TransposeOptions(Box::default()),
                    );
                }
                let wname = match &ins[1] {
                    V::C(_, nm) if tb => nm.clone(),
                    _ => name.to_string(),
                };
                let wt = self.g.add_const(wname, w);
                let opts = BuiltinOptionsT::FullyConnectedOptions(Box::default());
                let t = self.emit1(
                    BuiltinOperator::FULLY_CONNECTED,
                    vec![x as i32, wt as i32, -1],
                    name,
                    DataType::Float,
                    vec![ra, cb],
                    opts,
                );
                return Ok(vec![V::T(t)]);
            }
        }
        let ba = &sa[..sa.len() - 2];
        let bb = &sb[..sb.len() - 2];
        let mut shape = consts::broadcast_shape(ba, bb).ok_or("batch dimensions do not broadcast")?;
        shape.push(ra);
        shape.push(cb);
        let a = self.tensor(&ins[0])?;
        let b = self.tensor(&ins[1])?;
        let dt = self.g.tensors[a].dtype;
        let opts = BuiltinOptionsT::BatchMatMulOptions(Box::new(BatchMatMulOptionsT {
            adj_x: ta,
            adj_y: tb,
            asymmetric_quantize_inputs: false,
        }));
        Ok(vec![V::T(self.emit1(BuiltinOperator::BATCH_MATMUL, vec![a as i32, b as i32], name, dt, shape, opts))])
    }
}

fn msg_of(r: &Result<(), LErr>) -> String {
    match r {
        Err(LErr::Msg(m)) => m.clone(),
        Err(LErr::Unsupported) => "depends on an unsupported op".into(),
        Ok(()) => String::new(),
    }
}
