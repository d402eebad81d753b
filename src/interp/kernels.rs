//! Operator dispatch: reads each op's inputs and options and calls its kernel.

use super::conv::{self, ConvParams, PoolParams};
use super::elementwise::{self as ew, Arith, Cmp, KResult, Unary};
use super::shape::{self, Reduce, StridedSliceParams};
use super::value::{Value, Values};
use crate::ir::{Operator, Tensor};
use crate::schema::{BuiltinOperator as B, BuiltinOptionsT as O, MirrorPadMode, TensorType};

/// What a kernel sees of its operator.
pub(crate) struct Ctx<'a> {
    pub op: &'a Operator,
    pub tensors: &'a [Tensor],
    pub code: B,
    /// The CONV_2D filter, pre-packed.
    pub packed: Option<&'a conv::PackedW>,
    /// The FULLY_CONNECTED weights, read in place (their value then holds only the shape).
    pub weights: Option<&'a [f32]>,
    /// Set by kernels that track their first output's (min, max) as they store it.
    pub range: std::cell::Cell<Option<super::Range>>,
}

/// The op's options of variant `$v`, or the defaults when the file has none.
macro_rules! opts {
    ($ctx:expr, $v:ident) => {
        match &$ctx.op.builtin_options {
            O::$v(o) => (**o).clone(),
            _ => Default::default(),
        }
    };
}

fn inp<'a>(ins: &[Option<&'a Value>], i: usize) -> KResult<&'a Value> {
    ins.get(i).copied().flatten().ok_or_else(|| format!("input {i} is missing"))
}

fn opt_inp<'a>(ins: &[Option<&'a Value>], i: usize) -> Option<&'a Value> {
    ins.get(i).copied().flatten()
}

/// An integer tensor's elements as i64.
fn ints(v: &Value) -> KResult<Vec<i64>> {
    match &v.values {
        Values::I32(x) => Ok(x.iter().map(|&a| i64::from(a)).collect()),
        Values::I64(x) => Ok(x.clone()),
        other => Err(format!("expected an INT32/INT64 tensor, got {}", other.type_name())),
    }
}

fn scalar_int(v: &Value) -> KResult<i64> {
    let x = ints(v)?;
    match x[..] {
        [a] => Ok(a),
        _ => Err(format!("expected one integer, got {} values", x.len())),
    }
}

fn out_tensor<'a>(ctx: &Ctx<'a>, i: usize) -> KResult<&'a Tensor> {
    ctx.op
        .outputs
        .get(i)
        .and_then(|&t| usize::try_from(t).ok())
        .and_then(|t| ctx.tensors.get(t))
        .ok_or_else(|| format!("output {i} is missing"))
}

fn in_tensor<'a>(ctx: &Ctx<'a>, i: usize) -> KResult<&'a Tensor> {
    ctx.op
        .inputs
        .get(i)
        .and_then(|&t| usize::try_from(t).ok())
        .and_then(|t| ctx.tensors.get(t))
        .ok_or_else(|| format!("input {i} is missing"))
}

/// DEQUANTIZE: real = scale[c] · (q − zero_point[c]) with the input tensor's parameters
/// (FLOAT16 constants are already decoded to F32 and pass through).
pub(crate) fn dequantize(v: &Value, t: &Tensor) -> KResult<Value> {
    let q: Vec<i64> = match &v.values {
        Values::F32(x) => return Ok(Value::f32(v.shape.clone(), x.clone())),
        Values::I8(x) => x.iter().map(|&a| i64::from(a)).collect(),
        Values::U8(x) => x.iter().map(|&a| i64::from(a)).collect(),
        Values::I32(x) => x.iter().map(|&a| i64::from(a)).collect(),
        other => return Err(format!("cannot dequantize {}", other.type_name())),
    };
    let qp = t.quantization.as_ref().ok_or("the input has no quantization parameters")?;
    let scales = qp.scales();
    let zps = qp.zero_points();
    let ch = scales.len();
    if ch == 0 || (!zps.is_empty() && zps.len() != ch) {
        return Err(format!("{} scales and {} zero points", ch, zps.len()));
    }
    let inner = if ch == 1 {
        1
    } else {
        let a = usize::try_from(qp.quantized_dimension)
            .ok()
            .filter(|&a| a < v.shape.len() && v.shape[a] == ch)
            .ok_or_else(|| {
                format!("{ch} scales do not fit quantized_dimension {} of {:?}", qp.quantized_dimension, v.shape)
            })?;
        v.shape[a + 1..].iter().product::<usize>()
    };
    let out = q
        .iter()
        .enumerate()
        .map(|(i, &q)| {
            let c = if ch == 1 { 0 } else { (i / inner.max(1)) % ch };
            scales[c] * ((q - zps.get(c).copied().unwrap_or(0)) as f32)
        })
        .collect();
    Ok(Value::f32(v.shape.clone(), out))
}

/// CAST to `to`.
fn cast(v: &Value, to: TensorType) -> KResult<Value> {
    let f: Vec<f64> = match &v.values {
        Values::F32(x) => x.iter().map(|&a| f64::from(a)).collect(),
        Values::I32(x) => x.iter().map(|&a| f64::from(a)).collect(),
        Values::I64(x) => {
            // Exact for integer targets.
            match to {
                TensorType::INT64 => return Ok(Value::new(v.shape.clone(), Values::I64(x.clone()))),
                TensorType::INT32 => {
                    return Ok(Value::new(v.shape.clone(), Values::I32(x.iter().map(|&a| a as i32).collect())))
                }
                _ => x.iter().map(|&a| a as f64).collect(),
            }
        }
        Values::U8(x) => x.iter().map(|&a| f64::from(a)).collect(),
        Values::I8(x) => x.iter().map(|&a| f64::from(a)).collect(),
        Values::Bool(x) => x.iter().map(|&a| f64::from(u8::from(a))).collect(),
    };
    let values = match to {
        TensorType::FLOAT32 => Values::F32(f.iter().map(|&a| a as f32).collect()),
        TensorType::INT32 => Values::I32(f.iter().map(|&a| a as i32).collect()),
        TensorType::INT64 => Values::I64(f.iter().map(|&a| a as i64).collect()),
        TensorType::UINT8 => Values::U8(f.iter().map(|&a| a as i64 as u8).collect()),
        TensorType::INT8 => Values::I8(f.iter().map(|&a| a as i64 as i8).collect()),
        TensorType::BOOL => Values::Bool(f.iter().map(|&a| a != 0.0).collect()),
        other => return Err(format!("cast to {} is not supported", other.variant_name().unwrap_or("?"))),
    };
    Ok(Value::new(v.shape.clone(), values))
}

fn one(v: Value) -> KResult<Vec<Value>> {
    Ok(vec![v])
}

fn expand_dims(v: &Value, a: i64) -> KResult<Value> {
    let r = v.shape.len() as i64;
    let a = if a < 0 { a + r + 1 } else { a };
    if a < 0 || a > r {
        return Err(format!("axis {a} out of range for rank {r}"));
    }
    let mut s = v.shape.clone();
    s.insert(a as usize, 1);
    Ok(Value::new(s, v.values.clone()))
}

/// Convolution geometry from CONV_2D or DEPTHWISE_CONV_2D options (same field names).
macro_rules! conv_params {
    ($o:expr) => {
        ConvParams {
            padding: $o.padding,
            stride_h: $o.stride_h,
            stride_w: $o.stride_w,
            dilation_h: $o.dilation_h_factor,
            dilation_w: $o.dilation_w_factor,
            act: $o.fused_activation_function,
        }
    };
}

/// Runs a qualifying 1×1 CONV_2D (`conv`, inputs `a`) and the DEPTHWISE_CONV_2D reading its
/// output (`dw`, inputs `b`) as one kernel; None when the pair does not qualify.
pub(crate) fn expand_depthwise(
    conv: &Ctx,
    a: &[Option<&Value>],
    dw: &Ctx,
    b: &[Option<&Value>],
    min_elements: usize,
) -> KResult<Option<conv::Fused>> {
    let o1 = opts!(conv, Conv2DOptions);
    let o2 = opts!(dw, DepthwiseConv2DOptions);
    let (p1, p2) = (conv_params!(o1), conv_params!(o2));
    conv::expand_depthwise(
        inp(a, 0)?,
        inp(a, 1)?,
        opt_inp(a, 2),
        &p1,
        conv.packed,
        inp(b, 1)?,
        opt_inp(b, 2),
        &p2,
        min_elements,
    )
}

/// Runs the kernel of `ctx.code` on `ins` (None for omitted optional inputs).
pub(crate) fn run(ctx: &Ctx, ins: &[Option<&Value>]) -> KResult<Vec<Value>> {
    let arith = |op: Arith, act| ew::arith(inp(ins, 0)?, inp(ins, 1)?, op, act);
    let cmp = |op: Cmp| ew::compare(inp(ins, 0)?, inp(ins, 1)?, op);
    let un = |op: Unary| ew::unary(inp(ins, 0)?, op);
    let act_none = crate::schema::ActivationFunctionType::NONE;
    match ctx.code {
        B::CONV_2D => {
            let o = opts!(ctx, Conv2DOptions);
            let p = conv_params!(o);
            let (v, range) = conv::conv2d(inp(ins, 0)?, inp(ins, 1)?, opt_inp(ins, 2), &p, ctx.packed)?;
            ctx.range.set(range);
            one(v)
        }
        B::DEPTHWISE_CONV_2D => {
            let o = opts!(ctx, DepthwiseConv2DOptions);
            let p = conv_params!(o);
            let (v, range) = conv::depthwise(inp(ins, 0)?, inp(ins, 1)?, opt_inp(ins, 2), &p, o.depth_multiplier)?;
            ctx.range.set(range);
            one(v)
        }
        B::FULLY_CONNECTED => {
            let o = opts!(ctx, FullyConnectedOptions);
            if o.weights_format.0 != 0 {
                return Err("shuffled weights are not supported".into());
            }
            one(conv::fully_connected(
                inp(ins, 0)?,
                inp(ins, 1)?,
                ctx.weights,
                opt_inp(ins, 2),
                o.keep_num_dims,
                o.fused_activation_function,
            )?)
        }
        B::TRANSPOSE_CONV => {
            let o = opts!(ctx, TransposeConvOptions);
            let p = ConvParams {
                padding: o.padding,
                stride_h: o.stride_h,
                stride_w: o.stride_w,
                dilation_h: 1,
                dilation_w: 1,
                act: o.fused_activation_function,
            };
            let shape = ints(inp(ins, 0)?)?;
            one(conv::transpose_conv(&shape, inp(ins, 1)?, inp(ins, 2)?, opt_inp(ins, 3), &p)?)
        }
        B::BATCH_MATMUL => {
            let o = opts!(ctx, BatchMatMulOptions);
            one(conv::batch_matmul(inp(ins, 0)?, inp(ins, 1)?, o.adj_x, o.adj_y)?)
        }
        B::MAX_POOL_2D | B::AVERAGE_POOL_2D => {
            let o = opts!(ctx, Pool2DOptions);
            let p = PoolParams {
                padding: o.padding,
                stride_h: o.stride_h,
                stride_w: o.stride_w,
                filter_h: o.filter_height,
                filter_w: o.filter_width,
                act: o.fused_activation_function,
            };
            one(conv::pool(inp(ins, 0)?, &p, ctx.code == B::MAX_POOL_2D)?)
        }
        B::ADD => one(arith(Arith::Add, opts!(ctx, AddOptions).fused_activation_function)?),
        B::SUB => one(arith(Arith::Sub, opts!(ctx, SubOptions).fused_activation_function)?),
        B::MUL => one(arith(Arith::Mul, opts!(ctx, MulOptions).fused_activation_function)?),
        B::DIV => one(arith(Arith::Div, opts!(ctx, DivOptions).fused_activation_function)?),
        B::MAXIMUM => one(arith(Arith::Max, act_none)?),
        B::MINIMUM => one(arith(Arith::Min, act_none)?),
        B::SQUARED_DIFFERENCE => one(arith(Arith::SqDiff, act_none)?),
        B::POW => one(arith(Arith::Pow, act_none)?),
        B::FLOOR_DIV => one(arith(Arith::FloorDiv, act_none)?),
        B::FLOOR_MOD => one(arith(Arith::FloorMod, act_none)?),
        B::LESS => one(cmp(Cmp::Less)?),
        B::LESS_EQUAL => one(cmp(Cmp::LessEq)?),
        B::GREATER => one(cmp(Cmp::Greater)?),
        B::GREATER_EQUAL => one(cmp(Cmp::GreaterEq)?),
        B::EQUAL => one(cmp(Cmp::Eq)?),
        B::NOT_EQUAL => one(cmp(Cmp::NotEq)?),
        B::LOGICAL_AND => one(ew::logical(inp(ins, 0)?, inp(ins, 1)?, true)?),
        B::LOGICAL_OR => one(ew::logical(inp(ins, 0)?, inp(ins, 1)?, false)?),
        B::LOGICAL_NOT => {
            let v = inp(ins, 0)?;
            let Values::Bool(x) = &v.values else { return Err("LOGICAL_NOT needs BOOL".into()) };
            one(Value::new(v.shape.clone(), Values::Bool(x.iter().map(|&b| !b).collect())))
        }
        B::SELECT | B::SELECT_V2 => one(ew::select(inp(ins, 0)?, inp(ins, 1)?, inp(ins, 2)?, ctx.code == B::SELECT)?),
        B::RELU => one(un(Unary::Relu)?),
        B::RELU6 => one(un(Unary::Relu6)?),
        B::RELU_N1_TO_1 => one(un(Unary::ReluN1To1)?),
        B::RELU_0_TO_1 => one(un(Unary::Relu0To1)?),
        B::LEAKY_RELU => one(un(Unary::LeakyRelu(opts!(ctx, LeakyReluOptions).alpha))?),
        B::PRELU => one(ew::prelu(inp(ins, 0)?, inp(ins, 1)?)?),
        B::LOGISTIC => one(un(Unary::Logistic)?),
        B::TANH => one(un(Unary::Tanh)?),
        B::HARD_SWISH => one(un(Unary::HardSwish)?),
        B::GELU => one(un(Unary::Gelu { approximate: opts!(ctx, GeluOptions).approximate })?),
        B::ELU => one(un(Unary::Elu)?),
        B::SQRT => one(un(Unary::Sqrt)?),
        B::RSQRT => one(un(Unary::Rsqrt)?),
        B::ABS => one(un(Unary::Abs)?),
        B::NEG => one(un(Unary::Neg)?),
        B::EXP => one(un(Unary::Exp)?),
        B::LOG => one(un(Unary::Log)?),
        B::SQUARE => one(un(Unary::Square)?),
        B::SIN => one(un(Unary::Sin)?),
        B::COS => one(un(Unary::Cos)?),
        B::FLOOR => one(un(Unary::Floor)?),
        B::CEIL => one(un(Unary::Ceil)?),
        B::ROUND => one(un(Unary::Round)?),
        B::SIGN => one(un(Unary::Sign)?),
        B::SOFTMAX => one(ew::softmax(inp(ins, 0)?, opts!(ctx, SoftmaxOptions).beta)?),
        B::LOG_SOFTMAX => one(ew::log_softmax(inp(ins, 0)?)?),
        B::L2_NORMALIZATION => {
            one(ew::l2_normalize(inp(ins, 0)?, opts!(ctx, L2NormOptions).fused_activation_function)?)
        }
        B::MEAN | B::SUM | B::REDUCE_MAX | B::REDUCE_MIN | B::REDUCE_PROD => {
            let op = match ctx.code {
                B::MEAN => Reduce::Mean,
                B::SUM => Reduce::Sum,
                B::REDUCE_MAX => Reduce::Max,
                B::REDUCE_MIN => Reduce::Min,
                _ => Reduce::Prod,
            };
            let axes = ints(inp(ins, 1)?)?;
            one(shape::reduce(inp(ins, 0)?, &axes, opts!(ctx, ReducerOptions).keep_dims, op)?)
        }
        B::ARG_MAX | B::ARG_MIN => {
            let i64_out = out_tensor(ctx, 0)?.dtype == TensorType::INT64;
            one(shape::arg_reduce(inp(ins, 0)?, scalar_int(inp(ins, 1)?)?, ctx.code == B::ARG_MAX, i64_out)?)
        }
        B::PAD | B::PADV2 => one(shape::pad(inp(ins, 0)?, &ints(inp(ins, 1)?)?, opt_inp(ins, 2))?),
        B::MIRROR_PAD => {
            let sym = opts!(ctx, MirrorPadOptions).mode == MirrorPadMode::SYMMETRIC;
            one(shape::mirror_pad(inp(ins, 0)?, &ints(inp(ins, 1)?)?, sym)?)
        }
        B::RESHAPE => {
            let v = inp(ins, 0)?;
            let target = match opt_inp(ins, 1) {
                Some(s) if !s.shape.is_empty() => ints(s)?,
                _ => match &ctx.op.builtin_options {
                    O::ReshapeOptions(o) if o.new_shape.is_some() => {
                        o.new_shape.iter().flatten().map(|&d| i64::from(d)).collect()
                    }
                    _ => out_tensor(ctx, 0)?.shape().iter().map(|&d| i64::from(d)).collect(),
                },
            };
            one(shape::reshape(v, &target)?)
        }
        B::SQUEEZE => {
            let v = inp(ins, 0)?;
            let dims = opts!(ctx, SqueezeOptions).squeeze_dims.unwrap_or_default();
            let r = v.shape.len();
            let mut drop = vec![false; r];
            if dims.is_empty() {
                drop.iter_mut().zip(&v.shape).for_each(|(d, &s)| *d = s == 1);
            } else {
                for &d in &dims {
                    let a = shape::axis(i64::from(d), r)?;
                    if v.shape[a] != 1 {
                        return Err(format!("cannot squeeze dimension {a} of {:?}", v.shape));
                    }
                    drop[a] = true;
                }
            }
            let s = v.shape.iter().zip(&drop).filter(|(_, &d)| !d).map(|(&s, _)| s).collect();
            one(Value::new(s, v.values.clone()))
        }
        B::EXPAND_DIMS => one(expand_dims(inp(ins, 0)?, scalar_int(inp(ins, 1)?)?)?),
        B::TRANSPOSE => one(shape::transpose(inp(ins, 0)?, &ints(inp(ins, 1)?)?)?),
        B::CONCATENATION => {
            let o = opts!(ctx, ConcatenationOptions);
            let vs: Vec<&Value> = (0..ins.len()).map(|i| inp(ins, i)).collect::<KResult<_>>()?;
            // The official interpreter ignores a fused activation here (measured), so do we.
            one(shape::concat(&vs, i64::from(o.axis))?)
        }
        B::PACK => {
            let o = opts!(ctx, PackOptions);
            let vs: Vec<Value> =
                (0..ins.len()).map(|i| expand_dims(inp(ins, i)?, i64::from(o.axis))).collect::<KResult<_>>()?;
            let refs: Vec<&Value> = vs.iter().collect();
            one(shape::concat(&refs, i64::from(o.axis))?)
        }
        B::UNPACK => {
            let o = opts!(ctx, UnpackOptions);
            let v = inp(ins, 0)?;
            let a = shape::axis(i64::from(o.axis), v.shape.len())?;
            let pieces = shape::split_sizes(v, a, &vec![1; v.shape[a]])?;
            Ok(pieces
                .into_iter()
                .map(|mut p| {
                    p.shape.remove(a);
                    p
                })
                .collect())
        }
        B::SPLIT => {
            let v = inp(ins, 1)?;
            let a = shape::axis(scalar_int(inp(ins, 0)?)?, v.shape.len())?;
            let n = ctx.op.outputs.len();
            if n == 0 || v.shape[a] % n != 0 {
                return Err(format!("cannot split {} into {n} equal parts", v.shape[a]));
            }
            shape::split_sizes(v, a, &vec![v.shape[a] / n; n])
        }
        B::SPLIT_V => {
            let v = inp(ins, 0)?;
            let a = shape::axis(scalar_int(inp(ins, 2)?)?, v.shape.len())?;
            let mut sizes = ints(inp(ins, 1)?)?;
            let known: i64 = sizes.iter().filter(|&&s| s >= 0).sum();
            if let Some(s) = sizes.iter_mut().find(|s| **s == -1) {
                *s = v.shape[a] as i64 - known;
            }
            let sizes: Vec<usize> =
                sizes.iter().map(|&s| usize::try_from(s)).collect::<Result<_, _>>().map_err(|_| "bad split sizes")?;
            shape::split_sizes(v, a, &sizes)
        }
        B::SLICE => one(shape::slice(inp(ins, 0)?, &ints(inp(ins, 1)?)?, &ints(inp(ins, 2)?)?)?),
        B::STRIDED_SLICE => {
            let o = opts!(ctx, StridedSliceOptions);
            let p = StridedSliceParams {
                begin_mask: o.begin_mask,
                end_mask: o.end_mask,
                ellipsis_mask: o.ellipsis_mask,
                new_axis_mask: o.new_axis_mask,
                shrink_axis_mask: o.shrink_axis_mask,
                offset: o.offset,
            };
            let strides = match opt_inp(ins, 3) {
                Some(s) => ints(s)?,
                None => vec![1; ints(inp(ins, 1)?)?.len()],
            };
            one(shape::strided_slice(inp(ins, 0)?, &ints(inp(ins, 1)?)?, &ints(inp(ins, 2)?)?, &strides, &p)?)
        }
        B::GATHER => {
            let o = opts!(ctx, GatherOptions);
            if o.batch_dims != 0 {
                return Err(format!("batch_dims {} is not supported", o.batch_dims));
            }
            let idx = inp(ins, 1)?;
            one(shape::gather(inp(ins, 0)?, &ints(idx)?, &idx.shape, i64::from(o.axis))?)
        }
        B::TILE => one(shape::tile(inp(ins, 0)?, &ints(inp(ins, 1)?)?)?),
        B::BROADCAST_TO => {
            let v = inp(ins, 0)?;
            let target: Vec<usize> = ints(inp(ins, 1)?)?
                .iter()
                .map(|&d| usize::try_from(d))
                .collect::<Result<_, _>>()
                .map_err(|_| "bad shape")?;
            let values = super::value::map_values!(&v.values, x => ew::broadcast_to(x, &v.shape, &target)?);
            one(Value::new(target, values))
        }
        B::RESIZE_BILINEAR => {
            let o = opts!(ctx, ResizeBilinearOptions);
            one(shape::resize_bilinear(inp(ins, 0)?, &ints(inp(ins, 1)?)?, o.align_corners, o.half_pixel_centers)?)
        }
        B::RESIZE_NEAREST_NEIGHBOR => {
            let o = opts!(ctx, ResizeNearestNeighborOptions);
            one(shape::resize_nearest(inp(ins, 0)?, &ints(inp(ins, 1)?)?, o.align_corners, o.half_pixel_centers)?)
        }
        B::DEPTH_TO_SPACE => one(shape::depth_to_space(inp(ins, 0)?, opts!(ctx, DepthToSpaceOptions).block_size)?),
        B::SPACE_TO_DEPTH => one(shape::space_to_depth(inp(ins, 0)?, opts!(ctx, SpaceToDepthOptions).block_size)?),
        B::CAST => one(cast(inp(ins, 0)?, out_tensor(ctx, 0)?.dtype)?),
        B::SHAPE => {
            let v = inp(ins, 0)?;
            let s = vec![v.shape.len()];
            one(if out_tensor(ctx, 0)?.dtype == TensorType::INT64 {
                Value::new(s, Values::I64(v.shape.iter().map(|&d| d as i64).collect()))
            } else {
                Value::new(s, Values::I32(v.shape.iter().map(|&d| d as i32).collect()))
            })
        }
        B::FILL => {
            let dims: Vec<usize> = ints(inp(ins, 0)?)?
                .iter()
                .map(|&d| usize::try_from(d))
                .collect::<Result<_, _>>()
                .map_err(|_| "bad dims")?;
            let val = inp(ins, 1)?;
            if val.values.len() != 1 {
                return Err("the fill value must be a scalar".into());
            }
            let n = shape::checked_numel(&dims)?;
            let values = super::value::map_values!(&val.values, x => vec![x[0]; n]);
            one(Value::new(dims, values))
        }
        B::ZEROS_LIKE => {
            let v = inp(ins, 0)?;
            let n = v.values.len();
            let values = match &v.values {
                Values::F32(_) => Values::F32(vec![0.0; n]),
                Values::I32(_) => Values::I32(vec![0; n]),
                Values::I64(_) => Values::I64(vec![0; n]),
                Values::U8(_) => Values::U8(vec![0; n]),
                Values::I8(_) => Values::I8(vec![0; n]),
                Values::Bool(_) => Values::Bool(vec![false; n]),
            };
            one(Value::new(v.shape.clone(), values))
        }
        B::DEQUANTIZE => one(dequantize(inp(ins, 0)?, in_tensor(ctx, 0)?)?),
        // A DENSIFY of a non-constant tensor: the value is already dense.
        B::DENSIFY => one(inp(ins, 0)?.clone()),
        other => Err(format!("no kernel for {}", other.variant_name().unwrap_or("?"))),
    }
}
