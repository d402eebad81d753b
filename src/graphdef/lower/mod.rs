//! Walks the nodes the outputs need, folds constants and lowers the rest to
//! TFLite operators (NHWC, TF's weight layouts).

use super::consts::{self, Bin, Const};
use super::proto::{attr_value::Value, DataType, FunctionDef, GraphDef, NodeDef};
use super::{parse_edge, unsupported_message, ImportError, ImportOptions, NodeMap, Op, G, T};
use crate::ir::Source;
use crate::schema::*;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

mod array;
mod attrs;
mod control;
mod einsum;
mod nn;
mod patterns;
mod tensorlist;
mod tf2;

use attrs::*;

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

/// Fails unless the node has at least `k` inputs.
fn need(ins: &[V], k: usize) -> R<()> {
    if ins.len() < k {
        return err(format!("has {} inputs, needs {k}", ins.len()));
    }
    Ok(())
}

/// The TFLite op of a TensorFlow unary elementwise op.
fn unary_code(op: &str) -> Option<BuiltinOperator> {
    Some(match op {
        "Relu" => BuiltinOperator::RELU,
        "Relu6" => BuiltinOperator::RELU6,
        "Elu" => BuiltinOperator::ELU,
        "Sigmoid" => BuiltinOperator::LOGISTIC,
        "Tanh" => BuiltinOperator::TANH,
        "Rsqrt" => BuiltinOperator::RSQRT,
        "Sqrt" => BuiltinOperator::SQRT,
        "Square" => BuiltinOperator::SQUARE,
        "Neg" => BuiltinOperator::NEG,
        "Exp" => BuiltinOperator::EXP,
        "Abs" => BuiltinOperator::ABS,
        "LeakyRelu" => BuiltinOperator::LEAKY_RELU,
        "Softmax" => BuiltinOperator::SOFTMAX,
        "LogSoftmax" => BuiltinOperator::LOG_SOFTMAX,
        "Log" => BuiltinOperator::LOG,
        "Floor" => BuiltinOperator::FLOOR,
        "Ceil" => BuiltinOperator::CEIL,
        "Sin" => BuiltinOperator::SIN,
        "Cos" => BuiltinOperator::COS,
        _ => return None,
    })
}

/// The TFLite arithmetic of a TensorFlow binary elementwise op.
fn binary_code(op: &str) -> Option<Bin> {
    Some(match op {
        "Add" | "AddV2" | "BiasAdd" | "BiasAddV1" => Bin::Add,
        "Sub" => Bin::Sub,
        "Mul" => Bin::Mul,
        "RealDiv" | "Div" => Bin::Div,
        "Maximum" => Bin::Max,
        "Minimum" => Bin::Min,
        "SquaredDifference" => Bin::SqDiff,
        "FloorDiv" => Bin::FloorDiv,
        "Pow" => Bin::Pow,
        _ => return None,
    })
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
    /// The function library: bodies of calls and of functional control flow.
    lib: HashMap<&'a str, &'a FunctionDef>,
    /// Finished subgraphs of control flow; subgraph i + 1 of the model.
    pub subs: Vec<G>,
    /// The functions being expanded, innermost last (recursion guard).
    calls: Vec<String>,
    /// Dim 0 of the first input: the batch of TensorList element shapes that leave it unknown.
    batch_hint: Option<i64>,
    /// TensorLists whose element shape waits for the items written.
    lists: tensorlist::Lists,
    /// Erf/Erfc placeholders awaiting GELU matching.
    pending: Vec<patterns::Pending>,
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
            lib: graph
                .library
                .iter()
                .flat_map(|l| &l.function)
                .filter_map(|f| f.signature.as_ref().map(|s| (s.name.as_str(), f)))
                .collect(),
            subs: Vec::new(),
            calls: Vec::new(),
            batch_hint: None,
            lists: Default::default(),
            pending: Vec::new(),
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
        let order = self.order().map_err(|e| self.tf1_control_flow(0..self.nodes.len()).unwrap_or(e))?;
        if let Some(e) = self.tf1_control_flow(order.iter().copied()) {
            return Err(e);
        }
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
        self.batch_hint = self.g.inputs.first().and_then(|&t| self.g.tensors[t].shape.first().copied());
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
                msg: format!("shape {} does not fit the TFLite format", crate::ir::cap_list(&t.shape, 8)),
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
        let left = patterns::run(&mut self.g, &self.pending);
        if !left.is_empty() {
            let list: Vec<String> = left.iter().map(|p| p.node.clone()).collect();
            return Err(ImportError::Unsupported(format!(
                "Erf/Erfc ({}): TFLite has no ERF builtin; only GELU patterns (0.5·x·(1+erf(x/√2)), \
                 0.5·x·erfc(−x/√2)) convert",
                list.join(", ")
            )));
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
            Bin::Pow => (BuiltinOperator::POW, BuiltinOptionsT::PowOptions(Box::default())),
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
        if let Some(code) = unary_code(op) {
            return self.unary(n, &ins, code);
        }
        if let Some(b) = binary_code(op) {
            return self.binary(n, &ins, b);
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
                need(&ins, 1)?;
                Ok(vec![ins[0].clone()])
            }
            "Placeholder" => Err(LErr::Msg(
                "placeholder is needed but is not among the input arrays (add it to --input-arrays)".into(),
            )),
            "NoOp" => Ok(vec![]),
            "Conv2D" | "DepthwiseConv2dNative" => self.conv(n, &ins),
            "Conv2DBackpropInput" => self.transpose_conv(n, &ins),
            "SpaceToBatchND" => self.space_to_batch(n, &ins),
            "BatchToSpaceND" => self.batch_to_space(n, &ins),
            "MatMul" | "BatchMatMul" | "BatchMatMulV2" | "BatchMatMulV3" => self.matmul(n, &ins),
            "FusedBatchNorm" | "FusedBatchNormV2" | "FusedBatchNormV3" => self.batch_norm(n, &ins),
            "MaxPool" | "AvgPool" => self.pool(n, &ins),
            "Mean" | "Sum" | "Max" | "Min" | "Prod" => self.reduce(n, &ins),
            "Pad" | "PadV2" | "MirrorPad" => self.pad(n, &ins),
            "Reshape" => self.reshape(n, &ins),
            "Squeeze" => self.squeeze(n, &ins),
            "ExpandDims" => self.expand_dims(n, &ins),
            "ConcatV2" | "Concat" => self.concat(n, &ins),
            "Transpose" => self.transpose(n, &ins),
            "StridedSlice" => self.strided_slice(n, &ins),
            "Slice" => self.slice(n, &ins),
            "Split" | "SplitV" => self.split(n, &ins),
            "Pack" => self.pack(n, &ins),
            "Shape" | "Size" | "Rank" => self.shape_like(n, &ins),
            "ZerosLike" | "OnesLike" => self.zeros_like(n, &ins),
            "Fill" => self.fill(n, &ins),
            "Cast" => self.cast(n, &ins),
            "ResizeBilinear" | "ResizeNearestNeighbor" => self.resize(n, &ins),
            "DepthToSpace" | "SpaceToDepth" => self.depth_to_space(n, &ins),
            "ArgMax" | "ArgMin" => self.arg_reduce(n, &ins),
            "While" | "StatelessWhile" => self.while_op(n, &ins),
            "If" | "StatelessIf" => self.if_op(n, &ins),
            "PartitionedCall" | "StatefulPartitionedCall" => self.call_op(n, ins),
            "Less" | "LessEqual" | "Greater" | "GreaterEqual" | "Equal" | "NotEqual" | "LogicalAnd" | "LogicalOr"
            | "LogicalNot" => self.compare(n, &ins),
            "Range" => self.range(n, &ins),
            "ReverseV2" => self.reverse(n, &ins),
            "Einsum" => self.einsum(n, &ins),
            "Erf" | "Erfc" => self.erf(n, &ins),
            "Select" | "SelectV2" => self.select(n, &ins),
            "BroadcastTo" => self.broadcast_to(n, &ins),
            "BroadcastArgs" => self.broadcast_args(n, &ins),
            "Softplus" | "Softsign" | "Expm1" | "Selu" => self.decomposed(n, &ins),
            "GatherV2" | "Gather" => self.gather(n, &ins),
            "Tile" => self.tile(n, &ins),
            _ if op.starts_with("TensorList") => self.tensor_list(n, &ins),
            _ if self.lib.contains_key(op) => self.call_op(n, ins),
            _ => Err(LErr::Unsupported),
        }
    }
}

fn msg_of(r: &Result<(), LErr>) -> String {
    match r {
        Err(LErr::Msg(m)) => m.clone(),
        Err(LErr::Unsupported) => "depends on an unsupported op".into(),
        Ok(()) => String::new(),
    }
}
