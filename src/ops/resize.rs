//! Resizing: RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR, with TFLite's reference index arithmetic.

use super::util::{check, checked_numel, gather_value, inp, ints};
use super::{opts, IntegerRule, KResult, OpDef, OpSignature, Prepared};
use crate::ir::{Buf, Value};
use crate::schema::{BuiltinOperator as B, BuiltinOptionsT as O};

pub(super) fn register(add: &mut dyn FnMut(OpDef)) {
    add(OpDef::builtin(B::RESIZE_BILINEAR)
        .kernel(|ctx| {
            let o = opts!(ctx, ResizeBilinearOptions);
            Ok(Prepared::one(move |ins| {
                resize_bilinear(inp(ins, 0)?, &ints(inp(ins, 1)?)?, o.align_corners, o.half_pixel_centers)
            }))
        })
        .int_kernel(super::integer::resize_bilinear)
        .integer(IntegerRule::same_as_input(0))
        .version(resize_version, &[1, 2, 3]));
    add(OpDef::builtin(B::RESIZE_NEAREST_NEIGHBOR)
        .int_same()
        .kernel(|ctx| {
            let o = opts!(ctx, ResizeNearestNeighborOptions);
            Ok(Prepared::one(move |ins| {
                resize_nearest(inp(ins, 0)?, &ints(inp(ins, 1)?)?, o.align_corners, o.half_pixel_centers)
            }))
        })
        .integer(IntegerRule::same_as_input(0))
        .version(resize_version, &[1, 2, 3]));
}

/// Integer 2; float 3 with half-pixel centers, else 1.
fn resize_version(s: &OpSignature) -> i32 {
    if s.integer(0) {
        return 2;
    }
    match s.options {
        O::ResizeBilinearOptions(o) if o.half_pixel_centers => 3,
        O::ResizeNearestNeighborOptions(o) if o.half_pixel_centers => 3,
        _ => 1,
    }
}

/// RESIZE_BILINEAR, exactly TFLite's reference arithmetic.
pub(crate) fn resize_bilinear(v: &Value, size: &[i64], align: bool, half: bool) -> KResult<Value> {
    let x = v.as_f32().ok_or("RESIZE_BILINEAR needs FLOAT32")?;
    check(v)?;
    let [n, h, w, c] = v.shape[..] else { return Err("input must be 4-D".into()) };
    let [oh, ow] = size[..] else { return Err("size must have 2 values".into()) };
    let (oh, ow) = (usize::try_from(oh).map_err(|_| "bad size")?, usize::try_from(ow).map_err(|_| "bad size")?);
    checked_numel(&[n, oh, ow, c])?;
    if h == 0 || w == 0 || oh == 0 || ow == 0 {
        return Err("empty resize".into());
    }
    let scale = |i: usize, o: usize| {
        if align && o > 1 {
            (i - 1) as f32 / (o - 1) as f32
        } else {
            i as f32 / o as f32
        }
    };
    let interp = |v: usize, s: f32, size: usize| {
        let sv = if half { (v as f32 + 0.5) * s - 0.5 } else { v as f32 * s };
        let lo = (sv.floor() as i32).max(0) as usize;
        let hi = (sv.ceil() as i32).min(size as i32 - 1).max(0) as usize;
        (sv, lo, hi)
    };
    let (hs, ws) = (scale(h, oh), scale(w, ow));
    let mut out = Buf::with_capacity(n * oh * ow * c);
    let xs: Vec<(f32, usize, usize)> = (0..ow).map(|x| interp(x, ws, w)).collect();
    for b in 0..n {
        for y in 0..oh {
            let (iy, y0, y1) = interp(y, hs, h);
            let dy = iy - y0 as f32;
            for &(ix, x0, x1) in &xs {
                let dx = ix - x0 as f32;
                let p = |yy: usize, xx: usize| ((b * h + yy) * w + xx) * c;
                let (a, bb, cc, d) = (p(y0, x0), p(y1, x0), p(y0, x1), p(y1, x1));
                for k in 0..c {
                    out.push(
                        x[a + k] * (1.0 - dy) * (1.0 - dx)
                            + x[bb + k] * dy * (1.0 - dx)
                            + x[cc + k] * (1.0 - dy) * dx
                            + x[d + k] * dy * dx,
                    );
                }
            }
        }
    }
    Ok(Value::f32(vec![n, oh, ow, c], out))
}

/// RESIZE_NEAREST_NEIGHBOR, TFLite's reference index arithmetic.
pub(crate) fn resize_nearest(v: &Value, size: &[i64], align: bool, half: bool) -> KResult<Value> {
    let [n, h, w, c] = v.shape[..] else { return Err("input must be 4-D".into()) };
    let [oh, ow] = size[..] else { return Err("size must have 2 values".into()) };
    let (oh, ow) = (usize::try_from(oh).map_err(|_| "bad size")?, usize::try_from(ow).map_err(|_| "bad size")?);
    if h == 0 || w == 0 {
        return Err("empty input".into());
    }
    let near = |v: usize, i: usize, o: usize| -> usize {
        let scale = if align && o > 1 { (i - 1) as f32 / (o - 1) as f32 } else { i as f32 / o as f32 };
        let off = if half { 0.5 } else { 0.0 };
        let s = (v as f32 + off) * scale;
        let mut r = if align { s.round() as i32 } else { s.floor() as i32 }.min(i as i32 - 1);
        if half {
            r = r.max(0);
        }
        r.max(0) as usize
    };
    let tables = vec![
        (0..n).collect(),
        (0..oh).map(|y| near(y, h, oh)).collect(),
        (0..ow).map(|x| near(x, w, ow)).collect(),
        (0..c).collect(),
    ];
    gather_value(v, &tables)
}
