//! Static shape agreement for the common ops. The runtime recomputes every output shape from
//! the input shapes when it prepares a model, and refuses a model whose constants or inputs
//! do not fit (a filter whose channels are not the input's, a reshape to another element
//! count, inputs that do not broadcast), so such a model is corrupt whatever mode converts it.
//! Shapes are propagated as the runtime computes them (a declared output shape that disagrees
//! is not a fault). Only static shapes are judged: a tensor with an open (-1) dimension, or
//! computed from one, is not, and ops without a rule here pass their declared shapes on.

use super::arity::OperandError;
use super::consistency::index;
use crate::ir::{cap_list, codec, Model, Subgraph};
use crate::schema::{BuiltinOperator as B, BuiltinOptionsT as O, Padding, TensorType};

type Shape = Vec<i64>;

/// Output size of one spatial axis, as the runtime's `ComputeOutSize`.
fn out_size(same: bool, size: i64, k: i64, stride: i32, dilation: i32) -> Option<i64> {
    let (s, d) = (i64::from(stride), i64::from(dilation));
    if s < 1 || d < 1 || k < 1 {
        return None;
    }
    let eff = (k - 1) * d + 1;
    Some(if same { (size + s - 1) / s } else { (size - eff + s) / s })
}

/// The NHWC output of a window of `kh`×`kw` over input `x` with `c` output channels, or
/// Unknown when the geometry cannot be computed (strides or dilations the operand check
/// refuses anyway).
fn spatial(
    x: &[i64],
    (kh, kw): (i64, i64),
    padding: Padding,
    (sh, sw): (i32, i32),
    (dh, dw): (i32, i32),
    c: i64,
) -> Verdict {
    let same = padding == Padding::SAME;
    match (out_size(same, x[1], kh, sh, dh), out_size(same, x[2], kw, sw, dw)) {
        (Some(h), Some(w)) => Verdict::Shape(vec![x[0], h, w, c]),
        _ => Verdict::Unknown,
    }
}

fn broadcast(a: &[i64], b: &[i64]) -> Option<Shape> {
    let r = a.len().max(b.len());
    (0..r)
        .map(|i| {
            let x = if i + a.len() >= r { a[i + a.len() - r] } else { 1 };
            let y = if i + b.len() >= r { b[i + b.len() - r] } else { 1 };
            match (x, y) {
                _ if x == y => Some(x),
                (1, y) => Some(y),
                (x, 1) => Some(x),
                _ => None,
            }
        })
        .collect()
}

/// What went wrong: the shapes that do not fit, or None when the rule cannot judge.
enum Verdict {
    Shape(Shape),
    Bad(String),
    Unknown,
}

fn infer(model: &Model, sg: &Subgraph, op: B, opts: &O, ins: &[Option<Shape>], inputs: &[i32]) -> Verdict {
    use Verdict::*;
    let get = |k: usize| ins.get(k).cloned().flatten();
    let int_const = |k: usize| -> Option<Vec<i64>> {
        let t = &sg.tensors[index(*inputs.get(k)?, sg.tensors.len())?];
        if !model.is_constant(t) {
            return None;
        }
        matches!(t.dtype, TensorType::INT32 | TensorType::INT64)
            .then(|| codec::decode_i64(t.dtype, model.tensor_bytes(t)).ok())
            .flatten()
    };
    match (op, opts) {
        (B::CONV_2D, O::Conv2DOptions(o)) => {
            let (Some(x), Some(w)) = (get(0), get(1)) else { return Unknown };
            if x.len() != 4 || w.len() != 4 {
                return Bad(format!("input {} and filter {} must both be 4-D", cap_list(&x, 6), cap_list(&w, 6)));
            }
            if w[3] < 1 || x[3] % w[3] != 0 {
                return Bad(format!(
                    "input {} has channels that filter {} cannot take",
                    cap_list(&x, 6),
                    cap_list(&w, 6)
                ));
            }
            spatial(
                &x,
                (w[1], w[2]),
                o.padding,
                (o.stride_h, o.stride_w),
                (o.dilation_h_factor, o.dilation_w_factor),
                w[0],
            )
        }
        (B::DEPTHWISE_CONV_2D, O::DepthwiseConv2DOptions(o)) => {
            let (Some(x), Some(w)) = (get(0), get(1)) else { return Unknown };
            if x.len() != 4 || w.len() != 4 {
                return Bad(format!("input {} and filter {} must both be 4-D", cap_list(&x, 6), cap_list(&w, 6)));
            }
            if x[3] < 1 || w[3] % x[3] != 0 {
                return Bad(format!("filter {} does not fit input {}", cap_list(&w, 6), cap_list(&x, 6)));
            }
            spatial(
                &x,
                (w[1], w[2]),
                o.padding,
                (o.stride_h, o.stride_w),
                (o.dilation_h_factor, o.dilation_w_factor),
                w[3],
            )
        }
        (B::AVERAGE_POOL_2D | B::MAX_POOL_2D | B::L2_POOL_2D, O::Pool2DOptions(o)) => {
            let Some(x) = get(0) else { return Unknown };
            if x.len() != 4 {
                return Bad(format!("input {} must be 4-D", cap_list(&x, 6)));
            }
            let window = (i64::from(o.filter_height), i64::from(o.filter_width));
            spatial(&x, window, o.padding, (o.stride_h, o.stride_w), (1, 1), x[3])
        }
        (B::FULLY_CONNECTED, o) => {
            let (Some(x), Some(w)) = (get(0), get(1)) else { return Unknown };
            let keep = matches!(o, O::FullyConnectedOptions(f) if f.keep_num_dims);
            if w.len() != 2 {
                return Bad(format!("weights {} must be 2-D", cap_list(&w, 6)));
            }
            let n: i64 = x.iter().product();
            if w[1] < 1 || n % w[1] != 0 {
                return Bad(format!("input {} does not split into rows of {}", cap_list(&x, 6), w[1]));
            }
            if keep {
                if x.last() != Some(&w[1]) {
                    return Bad(format!(
                        "input {} with keep_num_dims needs a last dimension of {}",
                        cap_list(&x, 6),
                        w[1]
                    ));
                }
                let mut s = x.clone();
                *s.last_mut().unwrap_or(&mut 0) = w[0];
                Shape(s)
            } else {
                Shape(vec![n / w[1], w[0]])
            }
        }
        (B::ADD | B::SUB | B::MUL | B::DIV | B::MAXIMUM | B::MINIMUM | B::SQUARED_DIFFERENCE, _) => {
            let (Some(a), Some(b)) = (get(0), get(1)) else { return Unknown };
            match broadcast(&a, &b) {
                Some(s) => Shape(s),
                None => Bad(format!("inputs {} and {} do not broadcast", cap_list(&a, 6), cap_list(&b, 6))),
            }
        }
        (B::GATHER, O::GatherOptions(o)) if o.batch_dims == 0 => {
            let (Some(p), Some(ix)) = (get(0), get(1)) else { return Unknown };
            let r = p.len() as i64;
            let axis = if o.axis < 0 { i64::from(o.axis) + r } else { i64::from(o.axis) };
            if axis < 0 || axis >= r {
                return Bad(format!("axis {} of params {}", o.axis, cap_list(&p, 6)));
            }
            let a = axis as usize;
            if let Some(v) = int_const(1) {
                if let Some(bad) = v.iter().find(|&&i| i < 0 || i >= p[a]) {
                    return Bad(format!("index {bad} is outside params {} on axis {a}", cap_list(&p, 6)));
                }
            }
            Shape(p[..a].iter().chain(&ix).chain(&p[a + 1..]).copied().collect())
        }
        (B::DEQUANTIZE | B::QUANTIZE | B::DENSIFY | B::CAST, _) => get(0).map_or(Unknown, Shape),
        (
            B::RELU | B::RELU6 | B::RELU_N1_TO_1 | B::LOGISTIC | B::TANH | B::HARD_SWISH | B::SOFTMAX | B::LEAKY_RELU,
            _,
        ) => get(0).map_or(Unknown, Shape),
        (B::RESHAPE, _) => {
            let Some(x) = get(0) else { return Unknown };
            let n: i64 = x.iter().product();
            // The target: the shape input when there is one (if it is computed, it is not
            // known here), else the options.
            let target = if let Some(t) = inputs.get(1).and_then(|&t| index(t, sg.tensors.len())) {
                let ty = sg.tensors[t].dtype;
                if !matches!(ty, TensorType::INT32 | TensorType::INT64) {
                    return Bad(format!("shape input of type {}", crate::ir::dtype::type_name(ty)));
                }
                int_const(1)
            } else {
                match opts {
                    O::ReshapeOptions(r) => r.new_shape.as_ref().map(|v| v.iter().map(|&d| i64::from(d)).collect()),
                    _ => None,
                }
            };
            let Some(t) = target else { return Unknown };
            let known: i64 = t.iter().filter(|&&d| d != -1).product();
            let open = t.iter().filter(|&&d| d == -1).count();
            if open > 1 || t.iter().any(|&d| d < -1) {
                return Bad(format!("target shape {}", cap_list(&t, 6)));
            }
            if open == 1 {
                if known < 1 || n % known != 0 {
                    return Bad(format!("{} elements do not fit target shape {}", n, cap_list(&t, 6)));
                }
                return Shape(t.iter().map(|&d| if d == -1 { n / known } else { d }).collect());
            }
            if known != n {
                return Bad(format!("{} elements do not fit target shape {}", n, cap_list(&t, 6)));
            }
            Shape(t)
        }
        (B::CONCATENATION, O::ConcatenationOptions(o)) => {
            let shapes: Option<Vec<Vec<i64>>> = ins.iter().cloned().collect();
            let Some(shapes) = shapes else { return Unknown };
            let Some(first) = shapes.first() else { return Unknown };
            let r = first.len() as i64;
            let axis = if o.axis < 0 { i64::from(o.axis) + r } else { i64::from(o.axis) };
            if axis < 0 || axis >= r {
                return Bad(format!("axis {} of rank-{r} inputs", o.axis));
            }
            let a = axis as usize;
            let mut out = first.clone();
            for s in &shapes[1..] {
                if s.len() != first.len() || s.iter().enumerate().any(|(i, &d)| i != a && d != first[i]) {
                    return Bad(format!(
                        "inputs {} and {} do not join on axis {a}",
                        cap_list(first, 6),
                        cap_list(s, 6)
                    ));
                }
                out[a] += s[a];
            }
            Shape(out)
        }
        (B::PAD | B::PADV2, _) => {
            let (Some(x), Some(p)) = (get(0), int_const(1)) else { return Unknown };
            if p.len() != 2 * x.len() || p.iter().any(|&v| v < 0) {
                return Bad(format!("paddings {} for input {}", cap_list(&p, 8), cap_list(&x, 6)));
            }
            Shape(x.iter().enumerate().map(|(i, &d)| d + p[2 * i] + p[2 * i + 1]).collect())
        }
        _ => Unknown,
    }
}

/// Checks subgraph `si`: each op with a rule here against its declared output shape.
pub(super) fn check_shapes(model: &Model, si: usize, sg: &Subgraph) -> Result<(), OperandError> {
    let n = sg.tensors.len();
    let open = |t: usize| sg.tensors[t].shape_signature.as_ref().is_some_and(|s| s.iter().any(|&d| d < 0));
    let is_static = |t: usize| sg.tensors[t].shape.is_some() && !open(t);
    let declared = |t: usize| -> Shape { sg.tensors[t].shape().iter().map(|&d| i64::from(d)).collect() };
    let mut known: Vec<Option<Shape>> = vec![None; n];
    for (t, slot) in known.iter_mut().enumerate() {
        if model.is_constant(&sg.tensors[t]) && sg.tensors[t].shape.is_some() {
            *slot = Some(declared(t));
        }
    }
    // A subgraph input without a shape is a scalar to the runtime.
    for &t in &sg.inputs {
        if let Some(t) = index(t, n).filter(|&t| !open(t)) {
            known[t] = Some(declared(t));
        }
    }
    for (oi, op) in sg.operators.iter().enumerate() {
        let Some(code) = model.operator_codes.get(op.opcode_index as usize) else { continue };
        let ins: Vec<Option<Shape>> = op.inputs.iter().map(|&t| index(t, n).and_then(|t| known[t].clone())).collect();
        let all_known = ins.iter().zip(&op.inputs).all(|(s, &t)| t < 0 || s.is_some());
        let out = op.outputs.first().and_then(|&t| index(t, n));
        let verdict = if code.builtin == B::CUSTOM || !all_known {
            Verdict::Unknown
        } else {
            infer(model, sg, code.builtin, &op.builtin_options, &ins, &op.inputs)
        };
        let err = |what: String| OperandError { subgraph: si, operator: oi, op: code.name(), what };
        match verdict {
            Verdict::Bad(what) => return Err(err(what)),
            Verdict::Shape(s) => {
                // The runtime recomputes output shapes when it prepares a model, so a declared
                // shape that disagrees is not a fault; what follows is judged by the computed one.
                if let Some(out) = out {
                    known[out] = Some(s);
                }
            }
            Verdict::Unknown => {
                // Ops without a rule pass their declared static shapes on, when every input
                // was known (a shape computed from an open dimension stays unknown).
                for &t in &op.outputs {
                    if let Some(t) = index(t, n).filter(|&t| all_known && is_static(t)) {
                        known[t] = Some(declared(t));
                    }
                }
            }
        }
    }
    Ok(())
}
