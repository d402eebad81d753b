//! Pooling: MAX_POOL_2D, AVERAGE_POOL_2D and L2_POOL_2D (f32, NHWC).

use super::util::{activate, dims4, f32s, inp};
use super::{fused_activation, opts, IntegerRule, KResult, OpDef, OpSignature, PrepareCtx, Prepared};
use crate::ir::{Buf, Value};
use crate::kernels::out_and_pad;
use crate::schema::{ActivationFunctionType, BuiltinOperator as B, Padding};

pub(super) fn register(add: &mut dyn FnMut(OpDef)) {
    for (op, kind) in [(B::MAX_POOL_2D, Kind::Max), (B::AVERAGE_POOL_2D, Kind::Average)] {
        add(OpDef::builtin(op)
            .kernel(move |ctx| prepare(ctx, kind))
            .int_kernel(move |ctx| super::integer::pool(ctx, kind == Kind::Max))
            .integer(IntegerRule::same_as_input(0))
            .version(pool_version, &[1, 2])
            .activation(fused_activation!(Pool2DOptions, absorbs: Never)));
    }
    add(OpDef::builtin(B::L2_POOL_2D)
        .kernel(|ctx| prepare(ctx, Kind::L2))
        .activation(fused_activation!(Pool2DOptions, absorbs: Never)));
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Max,
    Average,
    /// The square root of the mean square.
    L2,
}

/// Integer 2, float 1.
fn pool_version(s: &OpSignature) -> i32 {
    if s.integer(0) {
        2
    } else {
        1
    }
}

struct PoolParams {
    same: bool,
    stride_h: i32,
    stride_w: i32,
    filter_h: i32,
    filter_w: i32,
    act: ActivationFunctionType,
}

fn prepare(ctx: &PrepareCtx, kind: Kind) -> KResult<Prepared> {
    let o = opts!(ctx, Pool2DOptions);
    let same = match o.padding {
        Padding::SAME => true,
        Padding::VALID => false,
        p => return Err(format!("unknown padding {}", p.0)),
    };
    let p = PoolParams {
        same,
        stride_h: o.stride_h,
        stride_w: o.stride_w,
        filter_h: o.filter_height,
        filter_w: o.filter_width,
        act: o.fused_activation_function,
    };
    Ok(Prepared::one(move |ins| pool(inp(ins, 0)?, &p, kind)))
}

/// Pools over the window clipped to the input (the average and L2 divide by the clipped
/// window's size).
fn pool(x: &Value, p: &PoolParams, kind: Kind) -> KResult<Value> {
    let max = kind == Kind::Max;
    let [n, h, wd, c] = dims4(&x.shape, "input")?;
    let xv = f32s(x, "input")?;
    if p.filter_h <= 0 || p.filter_w <= 0 {
        return Err("filter size must be positive".into());
    }
    let (fh, fw) = (p.filter_h as usize, p.filter_w as usize);
    let (oh, pad_h) = out_and_pad(p.same, h, fh, p.stride_h, 1)?;
    let (ow, pad_w) = out_and_pad(p.same, wd, fw, p.stride_w, 1)?;
    let (sh, sw) = (p.stride_h as usize, p.stride_w as usize);
    let mut out = Buf::filled(0f32, super::checked_numel(&[n, oh, ow, c])?);
    for b in 0..n {
        for oy in 0..oh {
            let y0 = (oy * sh) as isize - pad_h as isize;
            let ys = y0.max(0) as usize;
            let ye = ((y0 + fh as isize).max(0) as usize).min(h);
            for ox in 0..ow {
                let x0 = (ox * sw) as isize - pad_w as isize;
                let xs = x0.max(0) as usize;
                let xe = ((x0 + fw as isize).max(0) as usize).min(wd);
                let o = ((b * oh + oy) * ow + ox) * c;
                let acc = &mut out[o..o + c];
                acc.iter_mut().for_each(|v| *v = if max { f32::NEG_INFINITY } else { 0.0 });
                for iy in ys..ye {
                    for ix in xs..xe {
                        let s = ((b * h + iy) * wd + ix) * c;
                        let row = &xv[s..s + c];
                        match kind {
                            Kind::Max => acc.iter_mut().zip(row).for_each(|(a, &v)| *a = a.max(v)),
                            Kind::Average => acc.iter_mut().zip(row).for_each(|(a, &v)| *a += v),
                            Kind::L2 => acc.iter_mut().zip(row).for_each(|(a, &v)| *a += v * v),
                        }
                    }
                }
                let count = (ye.saturating_sub(ys)) * (xe.saturating_sub(xs));
                if !max && count > 0 {
                    let inv = count as f32;
                    acc.iter_mut().for_each(|a| *a /= inv);
                }
                if kind == Kind::L2 {
                    acc.iter_mut().for_each(|a| *a = a.sqrt());
                }
            }
        }
    }
    activate(&mut out, p.act)?;
    Ok(Value::f32(vec![n, oh, ow, c], out))
}
