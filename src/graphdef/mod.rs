//! Frozen TensorFlow GraphDef (.pb) → Model IR.
//!
//! The importer decodes the protobuf with hand-written prost messages
//! ([`proto`]), walks the nodes the outputs need in topological order, folds
//! every all-constant node into a constant ([`consts`]), lowers the rest to
//! TFLite operators in NHWC with TF's weight layouts ([`lower`]), then fuses
//! batch norms, biases and activations into the operators before them
//! ([`fuse`]) and writes the IR.

mod consts;
mod fuse;
mod lower;
pub mod proto;

use crate::ir::{
    Buffer, Data, Metadata, Model, Operator, OperatorCode, SignatureDef, Source, Subgraph, Tensor, TensorMap,
};
use crate::schema::{BuiltinOperator, BuiltinOptionsT, TensorType};
use consts::Const;
use proto::DataType;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// What the caller says about the graph's boundary, with TF's meaning:
/// names in the short form ("x" for output 0, "x:1" otherwise).
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub input_arrays: Option<Vec<String>>,
    pub output_arrays: Option<Vec<String>>,
    /// One shape per input array, in order.
    pub input_shapes: Option<Vec<Vec<i64>>>,
}

use crate::ir::{cap, cap_list};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("not a valid frozen GraphDef: {0}")]
    Decode(String),
    /// The lowered graph fails the checks a `.tflite` must pass (types, shapes, operands): the
    /// GraphDef itself does not fit together (a UINT8 Placeholder into Conv2D, say).
    #[error("the graph does not fit together: {0}")]
    Inconsistent(String),
    #[error("the GraphDef has no nodes")]
    Empty,
    #[error("the GraphDef has two nodes named {0:?}")]
    DuplicateNode(String),
    #[error("node {:?} reads {:?}, which is not in the graph", cap(.node, 80), cap(.input, 80))]
    MissingInput { node: String, input: String },
    #[error("{what} {name:?} is not a node of the graph")]
    UnknownArray { what: &'static str, name: String },
    #[error("--input-shapes gives {given} shapes for {inputs} input arrays")]
    ShapeCount { given: usize, inputs: usize },
    #[error("input {0:?} has an unknown rank: give its shape with --input-shapes")]
    UnknownRank(String),
    #[error("input {0:?} has no known dtype or shape: give its shape with --input-shapes and name it a Placeholder")]
    UnknownInput(String),
    #[error("input {:?} has invalid shape {}", cap(.name, 80), cap_list(.shape, 8))]
    BadShape { name: String, shape: Vec<i64> },
    #[error("the graph has no outputs: name them with --output-arrays")]
    NoOutputs,
    #[error(
        "node {node:?} ({op}) is TF1 control flow (Switch/Merge/Enter/Exit/NextIteration), which is not supported: \
         re-export the model with TF2 control flow (tf.compat.v1.enable_control_flow_v2() before building the graph, \
         or a TF2 SavedModel)"
    )]
    Tf1ControlFlow { node: String, op: String },
    #[error("the graph has a cycle through node {0:?}")]
    Cycle(String),
    #[error("node {node:?} ({op}) needs {needed}, but it is not reached from the inputs: add it to --input-arrays")]
    UnfedPlaceholder { node: String, op: String, needed: &'static str },
    #[error("the graph has variables (node {0:?}): freeze it first (convert_variables_to_constants_v2)")]
    Variable(String),
    #[error("unsupported ops: {}", cap(.0, 240))]
    Unsupported(String),
    #[error("node {:?} ({}): {}", cap(.node, 80), cap(.op, 40), cap(.msg, 200))]
    Node { node: String, op: String, msg: String },
}

/// Imports a binary GraphDef.
pub fn import(bytes: &[u8], opts: &ImportOptions) -> Result<Model, ImportError> {
    import_with_warnings(bytes::Bytes::copy_from_slice(bytes), opts).map(|(m, _)| m)
}

/// Imports a binary GraphDef held in `bytes` (constants stay views of it while
/// the importer works) and returns the model with warnings for the user, such
/// as unknown batch dimensions that were set to 1.
pub fn import_with_warnings(bytes: bytes::Bytes, opts: &ImportOptions) -> Result<(Model, Vec<String>), ImportError> {
    import_inner(bytes, None, opts)
}

/// Imports the GraphDef in `source` (normally a map of the `.pb`) without
/// copying it: constants used as they are (biases, depthwise filters, FC
/// weights with `transpose_b`) stay views of it in the model, and the pages
/// of weights the importer rewrites (transposed conv filters) are released
/// once read, so peak memory stays near one model's size.
pub fn import_source(source: &Arc<Source>, opts: &ImportOptions) -> Result<(Model, Vec<String>), ImportError> {
    import_inner(Source::bytes(source), Some(source.clone()), opts)
}

/// Imports an already decoded GraphDef, such as a frozen SavedModel signature.
pub fn import_graph(graph: &proto::GraphDef, opts: &ImportOptions) -> Result<(Model, Vec<String>), ImportError> {
    lower_graph(graph, None, opts)
}

fn import_inner(
    bytes: bytes::Bytes,
    source: Option<Arc<Source>>,
    opts: &ImportOptions,
) -> Result<(Model, Vec<String>), ImportError> {
    let graph: proto::GraphDef =
        prost::Message::decode(bytes).map_err(|e| ImportError::Decode(proto::decode_reason(&e)))?;
    lower_graph(&graph, source, opts)
}

fn lower_graph(
    graph: &proto::GraphDef,
    source: Option<Arc<Source>>,
    opts: &ImportOptions,
) -> Result<(Model, Vec<String>), ImportError> {
    let mut lw = lower::Lowering::new(graph, opts)?;
    lw.source = source;
    lw.run()?;
    let lower::Lowering { mut g, mut subs, warnings, .. } = lw;
    fuse::run(&mut g);
    for s in &mut subs {
        fuse::run(s);
    }
    let model = g.into_model(subs);
    crate::tflite::check(&model).map_err(|e| ImportError::Inconsistent(e.to_string()))?;
    Ok((model, warnings))
}

// ---------------------------------------------------------------------------
// The importer's own small op graph: what the lowering emits and fusion edits.

/// A tensor: constants keep their data so fusion can rewrite them.
#[derive(Clone, Debug)]
pub(crate) struct T {
    pub name: String,
    pub dtype: DataType,
    pub shape: Vec<i64>,
    pub data: Option<Const>,
}

#[derive(Clone, Debug)]
pub(crate) struct Op {
    pub code: BuiltinOperator,
    pub version: i32,
    /// Tensor indices; -1 for an omitted optional input.
    pub inputs: Vec<i32>,
    pub outputs: Vec<usize>,
    pub opts: BuiltinOptionsT,
    /// Removed by a fusion.
    pub dead: bool,
}

#[derive(Default, Debug)]
pub(crate) struct G {
    pub tensors: Vec<T>,
    pub ops: Vec<Op>,
    pub inputs: Vec<usize>,
    /// (array name, tensor).
    pub outputs: Vec<(String, usize)>,
    pub input_names: Vec<String>,
    /// The subgraph's name in the model (the main graph is "main").
    pub name: String,
}

pub(crate) fn tflite_type(d: DataType) -> TensorType {
    d.tensor_type()
}

impl G {
    pub fn add(&mut self, t: T) -> usize {
        self.tensors.push(t);
        self.tensors.len() - 1
    }

    pub fn add_const(&mut self, name: String, c: Const) -> usize {
        self.add(T { name, dtype: c.dtype, shape: c.shape.clone(), data: Some(c) })
    }

    pub fn is_output(&self, t: usize) -> bool {
        self.outputs.iter().any(|&(_, o)| o == t)
    }

    /// For each tensor, the live ops that read it.
    pub fn consumers(&self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.tensors.len()];
        for (i, op) in self.ops.iter().enumerate().filter(|(_, o)| !o.dead) {
            for &t in op.inputs.iter().filter(|&&t| t >= 0) {
                if !out[t as usize].contains(&i) {
                    out[t as usize].push(i);
                }
            }
        }
        out
    }

    /// For each tensor, the live op that writes it.
    pub fn producers(&self) -> Vec<Option<usize>> {
        let mut out = vec![None; self.tensors.len()];
        for (i, op) in self.ops.iter().enumerate().filter(|(_, o)| !o.dead) {
            for &t in &op.outputs {
                out[t] = Some(i);
            }
        }
        out
    }

    /// The IR model: this graph is subgraph 0 ("main", with the signature),
    /// `subs` (bodies and branches of control flow) follow in order.
    fn into_model(self, subs: Vec<G>) -> Model {
        let mut model = Model { description: Some("tflq".into()), ..Model::default() };
        let mut codes: Vec<OperatorCode> = Vec::new();
        let main = self.subgraph("main", &mut model, &mut codes);
        model.signature_defs.push(SignatureDef {
            key: Some("serving_default".into()),
            subgraph_index: 0,
            inputs: self
                .input_names
                .iter()
                .zip(&main.inputs)
                .map(|(n, &t)| TensorMap { name: Some(n.clone()), tensor_index: t as u32 })
                .collect(),
            outputs: self
                .outputs
                .iter()
                .zip(&main.outputs)
                .map(|((n, _), &t)| TensorMap { name: Some(n.clone()), tensor_index: t as u32 })
                .collect(),
        });
        model.subgraphs.push(main);
        for s in &subs {
            let sg = s.subgraph(&s.name, &mut model, &mut codes);
            model.subgraphs.push(sg);
        }
        model.operator_codes = codes;
        crate::tflite::versions::set_min_runtime_version(&mut model);
        if model.metadata.is_empty() {
            // Ops the table doesn't know still get an entry.
            model.buffers.push(Buffer { data: Data::from(b"1.5.0\0\0\0\0\0\0\0\0\0\0\0".to_vec()) });
            model
                .metadata
                .push(Metadata { name: Some("min_runtime_version".into()), buffer: (model.buffers.len() - 1) as u32 });
        }
        model
    }

    /// One IR subgraph: live ops only; tensors ordered inputs, constants, results.
    /// Constants get buffers in `model`, op codes are shared through `codes`.
    fn subgraph(&self, name: &str, model: &mut Model, codes: &mut Vec<OperatorCode>) -> Subgraph {
        // Liveness backwards from the outputs.
        let producers = self.producers();
        let mut live_t = vec![false; self.tensors.len()];
        let mut live_op = vec![false; self.ops.len()];
        let mut stack: Vec<usize> = self.outputs.iter().map(|&(_, t)| t).collect();
        while let Some(t) = stack.pop() {
            if std::mem::replace(&mut live_t[t], true) {
                continue;
            }
            if let Some(p) = producers[t] {
                if !std::mem::replace(&mut live_op[p], true) {
                    let op = &self.ops[p];
                    stack.extend(op.inputs.iter().filter(|&&i| i >= 0).map(|&i| i as usize));
                    for &o in &op.outputs {
                        live_t[o] = true;
                    }
                }
            }
        }
        for &i in &self.inputs {
            live_t[i] = true;
        }
        // Tensor order: inputs, then constants by first use, then op results.
        let mut order: Vec<usize> = Vec::new();
        let mut index = vec![-1i32; self.tensors.len()];
        let place = |t: usize, order: &mut Vec<usize>, index: &mut Vec<i32>| {
            if index[t] < 0 {
                index[t] = order.len() as i32;
                order.push(t);
            }
        };
        for &i in &self.inputs {
            place(i, &mut order, &mut index);
        }
        let live_ops: Vec<usize> = (0..self.ops.len()).filter(|&i| live_op[i]).collect();
        for &oi in &live_ops {
            for &t in self.ops[oi].inputs.iter().filter(|&&t| t >= 0) {
                if self.tensors[t as usize].data.is_some() {
                    place(t as usize, &mut order, &mut index);
                }
            }
        }
        for &(_, t) in &self.outputs {
            if self.tensors[t].data.is_some() {
                place(t, &mut order, &mut index);
            }
        }
        for &oi in &live_ops {
            for &t in &self.ops[oi].outputs {
                place(t, &mut order, &mut index);
            }
        }
        let mut tensors = Vec::with_capacity(order.len());
        for &t in &order {
            let src = &self.tensors[t];
            let buffer = match &src.data {
                Some(c) => {
                    // A view, not a copy: untouched weights stay in the input's map.
                    model.buffers.push(Buffer { data: Data::from(c.data.clone()) });
                    (model.buffers.len() - 1) as u32
                }
                None => 0,
            };
            tensors.push(Tensor {
                name: Some(src.name.clone()),
                shape: Some(src.shape.iter().map(|&d| d as i32).collect()),
                dtype: tflite_type(src.dtype),
                buffer,
                has_rank: true,
                ..Tensor::default()
            });
        }
        // Output tensors carry the array names (an input keeps its own).
        for (name, t) in &self.outputs {
            let i = index[*t] as usize;
            if !self.inputs.contains(t) {
                tensors[i].name = Some(name.clone());
            }
        }
        let mut operators = Vec::with_capacity(live_ops.len());
        for &oi in &live_ops {
            let op = &self.ops[oi];
            let code = match codes.iter().position(|c| c.builtin == op.code) {
                Some(c) => {
                    codes[c].version = codes[c].version.max(op.version);
                    c
                }
                None => {
                    codes.push(OperatorCode { builtin: op.code, custom_code: None, version: op.version });
                    codes.len() - 1
                }
            };
            operators.push(Operator {
                opcode_index: code as u32,
                inputs: op.inputs.iter().map(|&t| if t < 0 { -1 } else { index[t as usize] }).collect(),
                outputs: op.outputs.iter().map(|&t| index[t]).collect(),
                builtin_options: op.opts.clone(),
                ..Operator::default()
            });
        }
        let inputs: Vec<i32> = self.inputs.iter().map(|&t| index[t]).collect();
        let outputs: Vec<i32> = self.outputs.iter().map(|&(_, t)| index[t]).collect();
        Subgraph { name: Some(name.into()), tensors, inputs, outputs, operators, ..Subgraph::default() }
    }
}

/// Parses "node" / "node:k" / "^node" into (node, output index, is_control).
pub(crate) fn parse_edge(s: &str) -> (&str, usize, bool) {
    if let Some(rest) = s.strip_prefix('^') {
        return (rest, 0, true);
    }
    if let Some((n, k)) = s.rsplit_once(':') {
        if let Ok(k) = k.parse::<usize>() {
            return (n, k, false);
        }
    }
    (s, 0, false)
}

/// "unsupported ops" message: each op type with its node names.
/// Each op's first three nodes are named, the rest counted, so the line stays short.
pub(crate) fn unsupported_message(list: &BTreeMap<String, Vec<String>>) -> String {
    const SHOWN: usize = 3;
    list.iter()
        .map(|(op, nodes)| {
            let mut names: Vec<String> = nodes.iter().take(SHOWN).map(|n| short_name(n)).collect();
            if nodes.len() > SHOWN {
                names.push(format!("{} more", nodes.len() - SHOWN));
            }
            format!("{} ({})", short_name(op), names.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A node name cut to its last 80 bytes (inlined names repeat long call prefixes).
fn short_name(n: &str) -> String {
    const MAX: usize = 80;
    if n.len() <= MAX {
        return n.to_string();
    }
    let mut start = n.len() - MAX;
    while !n.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &n[start..])
}

pub(crate) type NodeMap<'a> = HashMap<&'a str, usize>;
