//! The integer convolutions and matrix product as plain loops, as LiteRT's reference code
//! writes them: i64 sums of `(w − zw)·(x − zi)` over the valid taps (padding taps skipped),
//! plus the bias, then the output function. The 16x8 kernels run these; the int8 kernels of
//! the parent module are tested against them.

use super::Geom;

/// CONV_2D (`depthwise` false: filter `[oc][kh][kw][c]`) or DEPTHWISE_CONV_2D (filter
/// `[1][kh][kw][oc]`, output channel `o` reading input channel `o / (oc / c)`); `out(acc, o)`
/// gives the output of channel `o` from its sum. Lengths must match `g` (the caller checks).
pub fn conv(
    g: &Geom,
    x: &[i32],
    zi: i32,
    w: &[i8],
    bias: Option<&[i64]>,
    depthwise: bool,
    out: impl Fn(i64, usize) -> i32,
) -> Vec<i32> {
    let (ic, oc) = (g.c, g.oc);
    let mult = if depthwise { oc / ic } else { 1 };
    let mut res = Vec::with_capacity(g.n * g.oh * g.ow * oc);
    let mut acc = vec![0i64; oc];
    for b in 0..g.n {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                for (o, a) in acc.iter_mut().enumerate() {
                    *a = bias.map_or(0, |bv| bv[o]);
                }
                for ky in 0..g.kh {
                    let Some(iy) = g.in_row(oy, ky) else { continue };
                    for kx in 0..g.kw {
                        let Some(ix) = g.in_col(ox, kx) else { continue };
                        let px = &x[((b * g.h + iy) * g.w + ix) * ic..][..ic];
                        if depthwise {
                            let wrow = &w[(ky * g.kw + kx) * oc..][..oc];
                            for (o, a) in acc.iter_mut().enumerate() {
                                *a += i64::from(wrow[o]) * i64::from(px[o / mult] - zi);
                            }
                        } else {
                            for (o, a) in acc.iter_mut().enumerate() {
                                let wrow = &w[((o * g.kh + ky) * g.kw + kx) * ic..][..ic];
                                let s: i64 =
                                    wrow.iter().zip(px).map(|(&wv, &xv)| i64::from(wv) * i64::from(xv - zi)).sum();
                                *a += s;
                            }
                        }
                    }
                }
                res.extend(acc.iter().enumerate().map(|(o, &a)| out(a, o)));
            }
        }
    }
    res
}

/// FULLY_CONNECTED: rows of `x` (length `depth`) against the rows of `w` (one per unit).
#[allow(clippy::too_many_arguments)]
pub fn fully_connected(
    x: &[i32],
    zi: i32,
    w: &[i8],
    zw: i32,
    depth: usize,
    bias: Option<&[i64]>,
    out: impl Fn(i64, usize) -> i32,
) -> Vec<i32> {
    let units = w.len() / depth.max(1);
    let mut res = Vec::with_capacity(x.len() / depth.max(1) * units);
    for row in x.chunks_exact(depth.max(1)) {
        for u in 0..units {
            let wrow = &w[u * depth..][..depth];
            let mut acc: i64 =
                wrow.iter().zip(row).map(|(&wv, &xv)| i64::from(i32::from(wv) - zw) * i64::from(xv - zi)).sum();
            acc += bias.map_or(0, |b| b[u]);
            res.push(out(acc, u));
        }
    }
    res
}
