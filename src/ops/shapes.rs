//! Static shape agreement for the common ops. The runtime recomputes every output shape from
//! the input shapes when it prepares a model, and refuses a model whose constants or inputs
//! do not fit (a filter whose channels are not the input's, a reshape to another element
//! count, inputs that do not broadcast), so such a model is corrupt whatever mode converts it.
//! A declared output shape that disagrees is not a fault (the runtime recomputes it), except
//! for the weights DEQUANTIZE and DENSIFY make, which the default delegate (XNNPACK) reads as
//! static data of their declared shape. Only static
//! shapes are judged: a tensor with an open (-1) dimension, or computed from one, is not, and
//! ops without a rule here pass their declared shapes on.

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
            if let Some(b) = get(2) {
                if b.iter().product::<i64>() != w[0] {
                    return Bad(format!("bias {} for weights {}", cap_list(&b, 6), cap_list(&w, 6)));
                }
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
        (B::SELECT_V2, _) => {
            let (Some(c), Some(a), Some(b)) = (get(0), get(1), get(2)) else { return Unknown };
            match broadcast(&a, &b).and_then(|ab| broadcast(&c, &ab)) {
                Some(s) => Shape(s),
                None => Bad(format!(
                    "condition {} and inputs {} and {} do not broadcast",
                    cap_list(&c, 6),
                    cap_list(&a, 6),
                    cap_list(&b, 6)
                )),
            }
        }
        (B::SELECT, _) => {
            let (Some(c), Some(a), Some(b)) = (get(0), get(1), get(2)) else { return Unknown };
            // The first SELECT takes one shape, or a condition over the first dimension only.
            let rows = c.len() == 1 && a.first() == c.first();
            if a != b || (c != a && !rows) {
                return Bad(format!(
                    "condition {} and inputs {} and {}",
                    cap_list(&c, 6),
                    cap_list(&a, 6),
                    cap_list(&b, 6)
                ));
            }
            Shape(a)
        }
        (
            B::ADD
            | B::SUB
            | B::MUL
            | B::DIV
            | B::MAXIMUM
            | B::MINIMUM
            | B::SQUARED_DIFFERENCE
            | B::LESS
            | B::LESS_EQUAL
            | B::GREATER
            | B::GREATER_EQUAL
            | B::EQUAL
            | B::NOT_EQUAL,
            _,
        ) => {
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
                // Without its own options (or their new_shape) the runtime's target is a scalar.
                match opts {
                    O::ReshapeOptions(r) => Some(r.new_shape.iter().flatten().map(|&d| i64::from(d)).collect()),
                    _ => Some(Vec::new()),
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
        (B::CONCATENATION, _) => {
            // Another op's options leave the runtime's defaults: axis 0.
            let axis = match opts {
                O::ConcatenationOptions(o) => o.axis,
                _ => 0,
            };
            let shapes: Option<Vec<Vec<i64>>> = ins.iter().cloned().collect();
            let Some(shapes) = shapes else { return Unknown };
            let Some(first) = shapes.first() else { return Unknown };
            let r = first.len() as i64;
            let axis_in = axis;
            let axis = if axis < 0 { i64::from(axis) + r } else { i64::from(axis) };
            if axis < 0 || axis >= r {
                return Bad(format!("axis {axis_in} of rank-{r} inputs"));
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
        (B::TRANSPOSE_CONV, O::TransposeConvOptions(o)) => {
            let (Some(w), Some(x)) = (get(1), get(2)) else { return Unknown };
            if x.len() != 4 || w.len() != 4 {
                return Bad(format!("input {} and filter {} must both be 4-D", cap_list(&x, 6), cap_list(&w, 6)));
            }
            if x[3] < 1 || x[3] != w[3] {
                return Bad(format!(
                    "input {} has channels that filter {} cannot take",
                    cap_list(&x, 6),
                    cap_list(&w, 6)
                ));
            }
            let Some(out) = int_const(0) else { return Unknown };
            if out.len() != 4 || out.iter().any(|&d| d < 1) || out[3] != w[0] {
                return Bad(format!("output shape {} for filter {}", cap_list(&out, 6), cap_list(&w, 6)));
            }
            // The runtime checks that a convolution of the output gives back the input's size.
            let back = spatial(&out, (w[1], w[2]), o.padding, (o.stride_h, o.stride_w), (1, 1), x[3]);
            match back {
                Verdict::Shape(b) if b[1] != x[1] || b[2] != x[2] => Bad(format!(
                    "output shape {} does not come from input {} at these strides",
                    cap_list(&out, 6),
                    cap_list(&x, 6)
                )),
                _ => Shape(out),
            }
        }
        (B::RESIZE_BILINEAR | B::RESIZE_NEAREST_NEIGHBOR, _) => {
            let Some(x) = get(0) else { return Unknown };
            if x.len() != 4 {
                return Bad(format!("input {} must be 4-D", cap_list(&x, 6)));
            }
            let Some(size) = int_const(1) else { return Unknown };
            if size.len() != 2 || size.iter().any(|&d| d < 1) {
                return Bad(format!("size {}", cap_list(&size, 6)));
            }
            Shape(vec![x[0], size[0], size[1], x[3]])
        }
        (B::RFFT2D, _) => match int_const(1) {
            Some(len) if len.len() != 2 || len.iter().any(|&d| d < 1 || d.count_ones() != 1) => {
                Bad(format!("fft_length {} must be two powers of two", cap_list(&len, 6)))
            }
            _ => Unknown,
        },
        _ => Unknown,
    }
}

/// The most elements a tensor may have: the runtime's kernels index with 32-bit ints.
const MAX_ELEMENTS: i64 = i32::MAX as i64;

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
        let op_code = code.builtin;
        match verdict {
            Verdict::Bad(what) => return Err(err(what)),
            Verdict::Shape(s) => {
                let elements = s.iter().try_fold(1i64, |a, &d| if d < 0 { None } else { a.checked_mul(d) });
                if elements.map_or(true, |e| e > MAX_ELEMENTS) {
                    return Err(err(format!(
                        "computes an output of shape {}, too large (over 2^31 elements)",
                        cap_list(&s, 6)
                    )));
                }
                if let Some(out) = out {
                    // The builtin kernels recompute output shapes, but the default delegate
                    // (XNNPACK) plans with the declared ones, before they are recomputed.
                    // XNNPACK reads the weights that DEQUANTIZE and DENSIFY make as static data of
                    // their declared shape, before the builtin kernels recompute it.
                    let weights = matches!(op_code, B::DEQUANTIZE | B::DENSIFY);
                    let shapeless = sg.tensors[out].shape.is_none() && sg.tensors[out].shape_signature.is_none();
                    if weights && (is_static(out) || shapeless) && declared(out) != s {
                        return Err(err(format!(
                            "declares output {} but computes {}",
                            cap_list(&declared(out), 6),
                            cap_list(&s, 6)
                        )));
                    }
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
