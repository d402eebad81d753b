//! Portable int8 loops: the variant every CPU runs (i32 sums that the compiler may vectorize,
//! the scalar output stage).

use super::{AddParams, Geom, OutStage, Padded, Tile, MR, NR};

/// The sums of one tile ([`MR`] rows × [`NR`] channels), then its `rows × cols` outputs.
pub(super) fn tile(t: &Tile, stage: &OutStage, out: &mut [i8], ldo: usize) {
    let mut acc = [[0i32; NR]; MR];
    for (r, sums) in acc.iter_mut().enumerate().take(t.rows) {
        let a = &t.a[r * t.kp..][..t.kp];
        for (pair, w) in a.chunks_exact(2).zip(t.panel.chunks_exact(2 * NR)) {
            let (a0, a1) = (i32::from(pair[0]), i32::from(pair[1]));
            for (s, wl) in sums.iter_mut().zip(w.chunks_exact(2)) {
                *s = s.wrapping_add(a0 * i32::from(wl[0]) + a1 * i32::from(wl[1]));
            }
        }
    }
    for (r, sums) in acc.iter().enumerate().take(t.rows) {
        let o = &mut out[r * ldo..][..t.cols];
        for (l, (d, &s)) in o.iter_mut().zip(sums).enumerate() {
            *d = stage.apply(s.wrapping_add(t.bias[l]), t.c0 + l) as i8;
        }
    }
}

/// Every output pixel: the bias plus each tap's `(x − zi)·w` over all channels, requantized.
pub(super) fn depthwise(g: &Geom, x: &Padded, w: &[i16], bias: &[i32], stage: &OutStage, out: &mut [i8]) {
    let oc = g.oc;
    let mut acc = vec![0i32; oc];
    let mut o = 0;
    for b in 0..g.n {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                acc.copy_from_slice(bias);
                for ky in 0..g.kh {
                    for kx in 0..g.kw {
                        let src = &x.data[x.at(b, oy * g.sh + ky * g.dh, ox * g.sw + kx * g.dw)..][..oc];
                        let wt = &w[(ky * g.kw + kx) * oc..][..oc];
                        for ((a, &v), &wv) in acc.iter_mut().zip(src).zip(wt) {
                            *a = a.wrapping_add(i32::from(v) * i32::from(wv));
                        }
                    }
                }
                for (c, (d, &a)) in out[o..o + oc].iter_mut().zip(&acc).enumerate() {
                    *d = stage.apply(a, c) as i8;
                }
                o += oc;
            }
        }
    }
}

/// Same-shape ADD/SUB: LiteRT's vector-lane formula for its blocks of 16, the reference one
/// for the rest.
pub(super) fn add(p: &AddParams, x: &[i8], y: &[i8], out: &mut [i8]) {
    let n = p.lanes(x.len());
    for ((d, &a), &b) in out[..n].iter_mut().zip(x).zip(y) {
        *d = p.apply_lane(i32::from(a), i32::from(b)) as i8;
    }
    add_reference(p, &x[n..], &y[n..], &mut out[n..]);
}

/// [`AddParams::apply`] per element.
pub(super) fn add_reference(p: &AddParams, x: &[i8], y: &[i8], out: &mut [i8]) {
    for ((d, &a), &b) in out.iter_mut().zip(x).zip(y) {
        *d = p.apply(i32::from(a), i32::from(b)) as i8;
    }
}
