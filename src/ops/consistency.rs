//! Whole-graph checks the official interpreter makes when it builds and prepares a model,
//! which no single operator's operand counts show: every tensor an operator reads has a
//! value (data, a producer, a subgraph input or variable state), subgraph inputs are not
//! constants, custom ops are named, and the ops that keep their input's type write that type.
//! The reader and the output gate run them (through [`check_model`](super::check_model)), so a
//! model the runtime would refuse is refused when it comes in, not passed on.

use super::arity::OperandError;
use crate::ir::{dtype::type_name, Model, Subgraph};
use crate::schema::{BuiltinOperator as B, BuiltinOptionsT as O, TensorType as T};

/// Ops whose output has the type of input 0 (float, or the same quantized type), in every
/// form tflq reads or writes. Hybrid forms keep it too: their float input gives a float output.
fn keeps_input_type(op: B) -> bool {
    matches!(
        op,
        B::ADD
            | B::SUB
            | B::MUL
            | B::DIV
            | B::CONV_2D
            | B::DEPTHWISE_CONV_2D
            | B::FULLY_CONNECTED
            | B::AVERAGE_POOL_2D
            | B::MAX_POOL_2D
            | B::L2_POOL_2D
            | B::RESHAPE
            | B::SOFTMAX
            | B::LOGISTIC
            | B::TANH
            | B::RELU
            | B::RELU6
            | B::RELU_N1_TO_1
            | B::CONCATENATION
            | B::MEAN
            | B::PAD
            | B::PADV2
            | B::TRANSPOSE
            | B::SQUEEZE
            | B::EXPAND_DIMS
            | B::STRIDED_SLICE
            | B::SLICE
            | B::RESIZE_BILINEAR
            | B::RESIZE_NEAREST_NEIGHBOR
            | B::HARD_SWISH
            | B::LEAKY_RELU
            | B::PRELU
            | B::MAXIMUM
            | B::MINIMUM
            | B::BATCH_MATMUL
            | B::SPACE_TO_DEPTH
            | B::DEPTH_TO_SPACE
            | B::TILE
            | B::GATHER
    )
}

/// Input slots that hold sizes, axes or indices: the runtime reads them as INT32 (or INT64
/// where it says so) and refuses, or reads garbage from, any other type.
fn integer_slots(op: B) -> &'static [usize] {
    match op {
        B::RESHAPE | B::PAD | B::PADV2 | B::MIRROR_PAD | B::TRANSPOSE | B::TILE | B::EXPAND_DIMS => &[1],
        B::MEAN | B::SUM | B::REDUCE_MAX | B::REDUCE_MIN | B::REDUCE_PROD | B::REDUCE_ANY | B::REDUCE_ALL => &[1],
        B::RESIZE_BILINEAR | B::RESIZE_NEAREST_NEIGHBOR | B::GATHER | B::GATHER_ND | B::BROADCAST_TO => &[1],
        B::STRIDED_SLICE => &[1, 2, 3],
        B::SLICE => &[1, 2],
        B::SPLIT => &[0],
        B::SPLIT_V => &[1, 2],
        B::TRANSPOSE_CONV => &[0],
        B::EMBEDDING_LOOKUP => &[0],
        B::RFFT2D => &[1],
        _ => &[],
    }
}

/// The highest rank a builtin kernel takes (XNNPACK's limit, which the default interpreter
/// applies to every op it delegates; the builtin kernels' own limits are 4 to 6).
const MAX_KERNEL_RANK: usize = 6;

/// Tensor index `t` of a subgraph with `n` tensors, if it is one (not -1, not out of range).
pub(super) fn index(t: i32, n: usize) -> Option<usize> {
    usize::try_from(t).ok().filter(|&t| t < n)
}

/// A tensor's shape and its signature must agree: the same rank, and the same size wherever
/// the signature fixes one (-1 marks an open dimension). The runtime allocates by the shape,
/// and delegates plan by the signature.
fn signature_disagrees(t: &crate::ir::Tensor) -> bool {
    let Some(sig) = &t.shape_signature else { return false };
    let shape = t.shape();
    t.shape.is_none() && !sig.is_empty()
        || sig.len() != shape.len()
        || sig.iter().zip(shape).any(|(&s, &d)| s >= 0 && s != d)
}

pub(super) fn check_graph(model: &Model, si: usize, sg: &Subgraph) -> Result<(), OperandError> {
    let n = sg.tensors.len();
    let graph_err =
        |what: String| OperandError { subgraph: si, operator: OperandError::SUBGRAPH, op: "subgraph".into(), what };
    if let Some((t, x)) = sg.tensors.iter().enumerate().find(|(_, x)| signature_disagrees(x)) {
        return Err(OperandError {
            operator: OperandError::TENSORS,
            ..graph_err(format!(
                "tensor {t} '{}' has shape {} but signature {}",
                crate::ir::cap(x.name(), 60),
                crate::ir::cap_list(x.shape(), 6),
                crate::ir::cap_list(x.shape_signature.as_deref().unwrap_or(&[]), 6)
            ))
        });
    }
    // The graphs a user runs get their inputs from the user; none of them may be empty past
    // the batch where its size is fixed (the kernels refuse zero-sized images, rows and sequences).
    let entry = si == 0 || model.signature_defs.iter().any(|s| s.subgraph_index as usize == si);
    for (k, &t) in sg.inputs.iter().enumerate() {
        let Some(x) = index(t, n).map(|t| &sg.tensors[t]) else { continue };
        let sig = x.shape_signature.as_deref();
        // An empty batch (dimension 0) is fine; an empty image, row or sequence is not.
        let zero =
            x.shape().iter().enumerate().skip(1).any(|(i, &d)| d == 0 && sig.map_or(true, |s| s.get(i) != Some(&-1)));
        if entry && zero {
            return Err(graph_err(format!(
                "input {k} '{}' has shape {}, with a dimension of size 0",
                crate::ir::cap(x.name(), 60),
                crate::ir::cap_list(x.shape(), 6)
            )));
        }
    }
    let has_data = |t: usize| !model.tensor_bytes(&sg.tensors[t]).is_empty() || sg.tensors[t].sparsity.is_some();
    let mut defined: Vec<bool> = (0..n).map(|t| has_data(t) || sg.tensors[t].is_variable).collect();
    for (k, &t) in sg.inputs.iter().enumerate() {
        let Some(t) = index(t, n) else { continue };
        if has_data(t) {
            return Err(graph_err(format!(
                "input {k} is tensor {t} '{}', which is a constant",
                crate::ir::cap(sg.tensors[t].name(), 60)
            )));
        }
        defined[t] = true;
    }
    for (oi, op) in sg.operators.iter().enumerate() {
        let code = model.operator_codes.get(op.opcode_index as usize);
        let name = code.map_or_else(|| "?".to_string(), |c| c.name());
        let err = |what: String| OperandError { subgraph: si, operator: oi, op: name.clone(), what };
        if let Some(c) = code {
            if c.builtin == B::CUSTOM {
                if c.custom_code.as_deref().unwrap_or("").is_empty() {
                    return Err(err("is a custom op without a name".into()));
                }
            } else {
                let mut ranked = op.inputs.iter().chain(&op.outputs).filter_map(|&t| index(t, n));
                if let Some(t) = ranked.find(|&t| sg.tensors[t].shape().len() > MAX_KERNEL_RANK) {
                    return Err(err(format!(
                        "tensor {t} has rank {}; the runtime's kernels take at most {MAX_KERNEL_RANK}",
                        sg.tensors[t].shape().len()
                    )));
                }
            }
            for &slot in integer_slots(c.builtin) {
                let Some(t) = op.inputs.get(slot).and_then(|&t| index(t, n)) else { continue };
                if !matches!(sg.tensors[t].dtype, T::INT32 | T::INT64) {
                    return Err(err(format!(
                        "input {slot} holds sizes or indices, but is {}",
                        type_name(sg.tensors[t].dtype)
                    )));
                }
            }
            if let Some(what) = op_rules(model, sg, c.builtin, op) {
                return Err(err(what));
            }
        }
        for &t in &op.inputs {
            let Some(t) = index(t, n) else { continue };
            if !defined[t] {
                return Err(err(format!(
                    "reads tensor {t} '{}', which has no data, no producer and is not a subgraph input",
                    crate::ir::cap(sg.tensors[t].name(), 60)
                )));
            }
        }
        if let Some(c) = code.filter(|c| keeps_input_type(c.builtin) || c.builtin == B::TRANSPOSE_CONV) {
            // TRANSPOSE_CONV's data is its third input (the first is the output shape).
            let data = if c.builtin == B::TRANSPOSE_CONV { 2 } else { 0 };
            let x = op.inputs.get(data).and_then(|&t| index(t, n)).map(|t| &sg.tensors[t]);
            let y = op.outputs.first().and_then(|&t| index(t, n)).map(|t| &sg.tensors[t]);
            if let (Some(x), Some(y)) = (x, y) {
                // Float16 activations do not exist in the runtime's kernels; weights may be f16.
                let same =
                    x.dtype == y.dtype || (c.builtin == B::GATHER && x.dtype == T::FLOAT16 && y.dtype == T::FLOAT32);
                if !same {
                    return Err(err(format!(
                        "reads {} and writes {} (the op keeps its input's type)",
                        type_name(x.dtype),
                        type_name(y.dtype)
                    )));
                }
            }
        }
        for &t in &op.outputs {
            if let Some(t) = index(t, n) {
                if defined[t] {
                    return Err(err(format!(
                        "writes tensor {t} '{}', which already has a value (a constant, an input, or an earlier op's output)",
                        crate::ir::cap(sg.tensors[t].name(), 60)
                    )));
                }
                defined[t] = true;
            }
        }
    }
    Ok(())
}

/// Rules of single ops the runtime checks in prepare and would otherwise crash on or refuse.
fn op_rules(model: &Model, sg: &Subgraph, op: B, o: &crate::ir::Operator) -> Option<String> {
    let n = sg.tensors.len();
    let ty = |slot: usize| o.inputs.get(slot).and_then(|&t| index(t, n)).map(|t| sg.tensors[t].dtype);
    match (op, &o.builtin_options) {
        (B::SPLIT, O::SplitOptions(s)) => (s.num_splits < 1 || s.num_splits as usize != o.outputs.len())
            .then(|| format!("num_splits is {} for {} outputs", s.num_splits, o.outputs.len())),
        (B::SPLIT, _) => Some("has no SplitOptions".into()),
        (B::DEQUANTIZE, _) => ty(0)
            .filter(|t| !matches!(*t, T::INT8 | T::UINT8 | T::INT16 | T::FLOAT16 | T::INT4))
            .map(|t| format!("dequantizes {}", type_name(t))),
        (B::MEAN | B::SUM | B::REDUCE_MAX | B::REDUCE_MIN | B::REDUCE_PROD | B::REDUCE_ANY | B::REDUCE_ALL, _) => {
            // The rank is fixed even where dimensions are open (-1).
            let x = &sg.tensors[o.inputs.first().and_then(|&t| index(t, n))?];
            let axes = &sg.tensors[o.inputs.get(1).and_then(|&t| index(t, n))?];
            if x.shape.is_none() || !model.is_constant(axes) {
                return None;
            }
            let r = x.shape().len().max(1) as i64;
            let values = crate::ir::codec::decode_i64(axes.dtype, model.tensor_bytes(axes)).ok()?;
            let bad = values.into_iter().find(|&a| a < -r || a >= r)?;
            Some(format!("reduces axis {bad} of a rank-{} input", x.shape().len()))
        }
        (B::FULLY_CONNECTED, _) => {
            // Prepare runs at the declared shapes, open dimensions included.
            let t = |slot: usize| o.inputs.get(slot).and_then(|&t| index(t, n)).map(|t| &sg.tensors[t]);
            let (w, b) = (t(1)?, t(2)?);
            let filter_rows = *w.shape().first()?;
            let bias: i64 = b.shape().iter().map(|&d| i64::from(d)).product();
            (w.shape().len() == 2 && b.shape.is_some() && bias != i64::from(filter_rows))
                .then(|| format!("a bias of {bias} values for weights {}", crate::ir::cap_list(w.shape(), 6)))
        }
        (B::TRANSPOSE_CONV, _) => ty(1)
            .filter(|t| !matches!(*t, T::FLOAT32 | T::INT8))
            .map(|t| format!("has {} weights (the runtime takes FLOAT32 or INT8)", type_name(t))),
        (B::DENSIFY, _) if ty(0).is_some_and(|t| !matches!(t, T::FLOAT32 | T::FLOAT16 | T::INT8)) => {
            Some(format!("densifies {} (the runtime takes FLOAT32, FLOAT16 or INT8)", type_name(ty(0)?)))
        }
        (B::DENSIFY, _) => o
            .inputs
            .first()
            .and_then(|&t| index(t, n))
            .filter(|&t| !model.is_constant(&sg.tensors[t]))
            .map(|_| "densifies a tensor that is not a constant".into()),
        (B::LESS | B::LESS_EQUAL | B::GREATER | B::GREATER_EQUAL | B::EQUAL | B::NOT_EQUAL, _) => {
            match (ty(0), ty(1)) {
                (Some(a), Some(b)) if a != b => Some(format!("compares {} with {}", type_name(a), type_name(b))),
                _ => None,
            }
        }
        (B::WHILE, o) if !matches!(o, O::WhileOptions(_)) => Some("has no WhileOptions".into()),
        (B::IF, o) if !matches!(o, O::IfOptions(_)) => Some("has no IfOptions".into()),
        (B::CALL_ONCE, o) if !matches!(o, O::CallOnceOptions(_)) => Some("has no CallOnceOptions".into()),
        (B::WHILE, O::WhileOptions(w)) => {
            if w.cond_subgraph_index == w.body_subgraph_index {
                Some("its condition and body are the same subgraph".into())
            } else if o.outputs.len() != o.inputs.len() {
                Some(format!(
                    "{} inputs but {} outputs (a loop carries each value through)",
                    o.inputs.len(),
                    o.outputs.len()
                ))
            } else {
                loop_types(model, sg, o, w)
            }
        }
        _ => None,
    }
}

/// A WHILE carries each value through its condition and body unchanged in type: value i has
/// one type as the op's input and output, the condition's input, and the body's input and output.
fn loop_types(
    model: &Model,
    sg: &Subgraph,
    o: &crate::ir::Operator,
    w: &crate::schema::WhileOptionsT,
) -> Option<String> {
    let graph = |i: i32| usize::try_from(i).ok().and_then(|i| model.subgraphs.get(i));
    let (cond, body) = (graph(w.cond_subgraph_index)?, graph(w.body_subgraph_index)?);
    let n = o.inputs.len();
    if cond.inputs.len() != n || body.inputs.len() != n || body.outputs.len() != n {
        return Some(format!(
            "carries {n} values, but its condition takes {} and its body takes {} and gives {}",
            cond.inputs.len(),
            body.inputs.len(),
            body.outputs.len()
        ));
    }
    let ty = |g: &Subgraph, t: i32| index(t, g.tensors.len()).map(|t| g.tensors[t].dtype);
    for i in 0..n {
        let types = [
            ("input", ty(sg, o.inputs[i])),
            ("output", ty(sg, o.outputs[i])),
            ("condition input", ty(cond, cond.inputs[i])),
            ("body input", ty(body, body.inputs[i])),
            ("body output", ty(body, body.outputs[i])),
        ];
        let Some(first) = types[0].1 else { continue };
        if let Some((what, Some(t))) = types.iter().find(|(_, t)| t.is_some_and(|t| t != first)) {
            return Some(format!("value {i} is {} as the input but {} as the {what}", type_name(first), type_name(*t)));
        }
    }
    None
}
