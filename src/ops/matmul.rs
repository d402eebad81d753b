//! Matrix products: FULLY_CONNECTED and BATCH_MATMUL.

use super::conv::{bias_rows, int64_bias};
use super::util::{activate, f32s, inp, opt_inp};
use super::{
    fused_activation, opts, Constant, Hybrid, IntegerRule, KResult, OpDef, OpSignature, PrepareCtx, Prepared, Role,
};
use crate::ir::{codec, Data, Value};
use crate::kernels::{self, Isa};
use crate::schema::{ActivationFunctionType, BuiltinOperator as B, BuiltinOptionsT as O};

/// 16x8 FULLY_CONNECTED takes a 64-bit bias, which LiteRT's prepare reads from the options: an
/// op written without its options (none, or another op's, which the runtime ignores the same
/// way) gets the default ones with the bias type set.
fn fully_connected_int64_bias(o: &mut O) {
    if !matches!(o, O::FullyConnectedOptions(_)) {
        *o = O::FullyConnectedOptions(Box::default());
    }
    int64_bias(o);
}

pub(super) fn register(add: &mut dyn FnMut(OpDef)) {
    add(OpDef::builtin(B::FULLY_CONNECTED)
        .kernel(prepare_fully_connected)
        .int_kernel(super::integer::fully_connected)
        .roles(&[(1, Role::Weights { axis: Some(0) }), (2, Role::Bias { input: 0, weights: 1 })])
        .hybrid(Hybrid { asymmetric_inputs: Some(asymmetric_fully_connected), int8_output: false })
        .integer(IntegerRule { int16_options: Some(fully_connected_int64_bias), ..IntegerRule::calibrated(true) })
        .version(fully_connected_version, &[1, 4, 9, 12])
        .activation(fused_activation!(FullyConnectedOptions, absorbs: Always)));
    add(OpDef::builtin(B::BATCH_MATMUL)
        .kernel(prepare_batch_matmul)
        .int_kernel(super::integer::batch_matmul)
        .roles(&[(1, Role::Weights { axis: None })])
        .hybrid(Hybrid { asymmetric_inputs: Some(asymmetric_batch_matmul), int8_output: false })
        // Attention multiplies two activations (scores = Q·Kᵀ, then scores·V): TF quantizes
        // both operands per tensor, and so does tflq.
        .integer(IntegerRule { variable_weights: true, ..IntegerRule::calibrated(true) })
        .version(batch_matmul_version, &[1, 2, 4]));
}

/// Hybrid 12 (per channel, asymmetric inputs) or 9, integer 4, float 1.
fn fully_connected_version(s: &OpSignature) -> i32 {
    if s.hybrid(0, 1) {
        if s.input(1).is_some_and(|w| w.per_channel) {
            12
        } else {
            9
        }
    } else if s.integer(0) {
        4
    } else {
        1
    }
}

/// Hybrid 4, integer 2, float 1.
fn batch_matmul_version(s: &OpSignature) -> i32 {
    if s.hybrid(0, 1) {
        4
    } else if s.integer(0) {
        2
    } else {
        1
    }
}

/// Absent options (or another op's) mean all defaults; they are written out so that the flag
/// can be set.
fn asymmetric_fully_connected(o: &mut O) {
    if !matches!(o, O::FullyConnectedOptions(_)) {
        *o = O::FullyConnectedOptions(Box::default());
    }
    if let O::FullyConnectedOptions(o) = o {
        o.asymmetric_quantize_inputs = true;
    }
}

fn asymmetric_batch_matmul(o: &mut O) {
    if *o == O::NONE {
        *o = O::BatchMatMulOptions(Box::default());
    }
    if let O::BatchMatMulOptions(o) = o {
        o.asymmetric_quantize_inputs = true;
    }
}

/// A prepared FULLY_CONNECTED. Constant FLOAT32 weights are read in place from the model's
/// (aligned) buffer, not decoded (MobileNetV2: 13.8 of its 14 MB of weights not copied).
struct FullyConnected {
    keep_num_dims: bool,
    act: ActivationFunctionType,
    isa: Isa,
    in_place: Option<(Data, [usize; 2])>,
}

fn prepare_fully_connected(ctx: &PrepareCtx) -> KResult<Prepared> {
    let o = opts!(ctx, FullyConnectedOptions);
    if o.weights_format.0 != 0 {
        return Err("shuffled weights are not supported".into());
    }
    if super::hybrid::is_hybrid(ctx, 1) {
        let (keep, act, asym) = (o.keep_num_dims, o.fused_activation_function, o.asymmetric_quantize_inputs);
        return super::hybrid::prepare_fully_connected(ctx, keep, act, asym);
    }
    let in_place = match (ctx.constant(1), ctx.constant_shape(1).as_deref()) {
        (Some(Constant::Raw(d)), Some(&[o, k])) if codec::f32_view(d.as_bytes()).is_some() => Some((d.clone(), [o, k])),
        _ => None,
    };
    let consumed = if in_place.is_some() { vec![1] } else { Vec::new() };
    let fc =
        FullyConnected { keep_num_dims: o.keep_num_dims, act: o.fused_activation_function, isa: ctx.isa, in_place };
    Ok(Prepared { kernel: Box::new(fc), consumed })
}

impl super::Kernel for FullyConnected {
    /// Weights [O, K]; the input is read as [numel / K, K].
    fn eval(&self, ins: &[Option<&Value>], _: &mut super::EvalCtx) -> KResult<Vec<Value>> {
        let x = inp(ins, 0)?;
        let xv = f32s(x, "input")?;
        let (wv, [o, k]) = match &self.in_place {
            Some((d, s)) => (codec::f32_view(d.as_bytes()).ok_or("weights moved out of alignment")?, *s),
            None => {
                let w = inp(ins, 1)?;
                let [o, k] = w.shape[..] else {
                    return Err(format!("weights must be 2-D, got {:?}", w.shape));
                };
                (f32s(w, "weights")?, [o, k])
            }
        };
        if k == 0 || xv.len() % k != 0 {
            return Err(format!("input {:?} does not divide into rows of {k}", x.shape));
        }
        if wv.len() != o * k {
            return Err(format!("weights have {} values for shape {:?}", wv.len(), [o, k]));
        }
        let batch = xv.len() / k;
        let (mut out, has_bias) = bias_rows(opt_inp(ins, 2), batch, o)?;
        if batch <= 4 {
            // A GEMM would repack all the weights for a handful of rows.
            kernels::gemv(self.isa, xv, wv, k, &mut out)?;
        } else {
            kernels::gemm(batch, k, o, xv, (k, 1), wv, (1, k), if has_bias { 1.0 } else { 0.0 }, &mut out)?;
        }
        activate(&mut out, self.act)?;
        let shape = if self.keep_num_dims && x.shape.last() == Some(&k) {
            let mut s = x.shape.clone();
            if let Some(last) = s.last_mut() {
                *last = o;
            }
            s
        } else {
            vec![batch, o]
        };
        Ok(vec![Value::f32(shape, out)])
    }
}

fn prepare_batch_matmul(ctx: &PrepareCtx) -> KResult<Prepared> {
    let o = opts!(ctx, BatchMatMulOptions);
    if super::hybrid::is_hybrid(ctx, 1) {
        return super::hybrid::prepare_batch_matmul(ctx, o.adj_x, o.adj_y, o.asymmetric_quantize_inputs);
    }
    Ok(Prepared::one(move |ins| batch_matmul(inp(ins, 0)?, inp(ins, 1)?, o.adj_x, o.adj_y)))
}

/// BATCH_MATMUL with adj_x/adj_y and broadcast batch dimensions.
fn batch_matmul(x: &Value, y: &Value, adj_x: bool, adj_y: bool) -> KResult<Value> {
    let xv = f32s(x, "x")?;
    let yv = f32s(y, "y")?;
    if x.shape.len() < 2 || y.shape.len() < 2 {
        return Err(format!("operands must have rank >= 2, got {:?} and {:?}", x.shape, y.shape));
    }
    let (xr, yr) = (x.shape.len(), y.shape.len());
    let (xa, xb) = (x.shape[xr - 2], x.shape[xr - 1]);
    let (ya, yb) = (y.shape[yr - 2], y.shape[yr - 1]);
    let (m, k) = if adj_x { (xb, xa) } else { (xa, xb) };
    let (k2, n) = if adj_y { (yb, ya) } else { (ya, yb) };
    if k != k2 {
        return Err(format!("inner dimensions differ: {:?} and {:?}", x.shape, y.shape));
    }
    let xbatch = &x.shape[..xr - 2];
    let ybatch = &y.shape[..yr - 2];
    let ob = super::broadcast_shape(xbatch, ybatch)?;
    let sx = super::broadcast_strides(xbatch, &ob);
    let sy = super::broadcast_strides(ybatch, &ob);
    let nb: usize = ob.iter().product();
    let mut out = crate::ir::Buf::filled(0f32, super::checked_numel(&[nb, m, n])?);
    let a_str = if adj_x { (1, m) } else { (k, 1) };
    let b_str = if adj_y { (1, k) } else { (n, 1) };
    let mut idx = vec![0usize; ob.len()];
    for bi in 0..nb {
        let ox: usize = idx.iter().zip(&sx).map(|(i, s)| i * s).sum();
        let oy: usize = idx.iter().zip(&sy).map(|(i, s)| i * s).sum();
        let a = &xv[ox * m * k..(ox + 1) * m * k];
        let b = &yv[oy * k * n..(oy + 1) * k * n];
        kernels::gemm(m, k, n, a, a_str, b, b_str, 0.0, &mut out[bi * m * n..(bi + 1) * m * n])?;
        for d in (0..ob.len()).rev() {
            idx[d] += 1;
            if idx[d] < ob[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    let mut shape = ob;
    shape.push(m);
    shape.push(n);
    Ok(Value::f32(shape, out))
}
