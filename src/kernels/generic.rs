//! Portable micro-kernels in plain Rust: the variant every CPU runs, and the loops the SIMD
//! variant shares (compiled there with fused multiply-adds).

use super::frame::{madd, put, track, Clamp, ConvGeom, Seen, Slots, Variant};
use std::mem::MaybeUninit;

/// The portable variant: separate multiplies and adds, no intrinsics.
pub struct Portable;

/// `out[r, c] = clamp(bias[c] + Σ_kk x[r, kk] · panel[kk, c])` for MRR rows (stride `xs` in x,
/// `n` in out) and the first `cols` columns of one panel of width W. `bias` is the panel's W
/// values (zero beyond `cols`). Every output element is written once, none is read.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn micro<const MRR: usize, const W: usize>(
    x: &[f32],
    xs: usize,
    k: usize,
    wp: &[f32],
    bias: &[f32; W],
    clamp: Clamp,
    out: &mut Slots,
    n: usize,
    cols: usize,
    seen: &mut Seen,
) {
    // Only constant indices into `acc`, so it stays in registers.
    let mut acc = [[0f32; W]; MRR];
    for a in acc.iter_mut() {
        *a = *bias;
    }
    let rows: [&[f32]; MRR] = std::array::from_fn(|r| &x[r * xs..r * xs + k]);
    for (kk, w) in wp.chunks_exact(W).take(k).enumerate() {
        let w: &[f32; W] = w.try_into().unwrap_or(&[0f32; W]);
        let xk: [f32; MRR] = std::array::from_fn(|r| rows[r][kk]);
        for r in 0..MRR {
            for j in 0..W {
                acc[r][j] = madd(false, acc[r][j], xk[r], w[j]);
            }
        }
    }
    for (r, a) in acc.iter_mut().enumerate() {
        for v in a.iter_mut() {
            *v = clamp.apply(*v);
        }
        a[..cols].iter().for_each(|&v| track(seen, v));
        if cols == W {
            // Fixed-size copies compile to vector moves; a variable length would call memmove.
            let dst: &mut [MaybeUninit<f32>; W] = (&mut out[r * n..r * n + W]).try_into().expect("W values");
            *dst = a.map(MaybeUninit::new);
        } else {
            put(&mut out[r * n..r * n + cols], &a[..cols]);
        }
    }
}

/// One output pixel of a depthwise convolution over all its channels, `acc` starting from
/// the bias, taps in order.
#[inline(always)]
pub(super) fn depthwise_pixel<const FMA: bool>(
    x: &[f32],
    w: &[f32],
    taps: &[(usize, usize)],
    bias: Option<&[f32]>,
    clamp: Clamp,
    out: &mut Slots,
) {
    for (ch, o) in out.iter_mut().enumerate() {
        let mut acc = bias.map_or(0.0, |b| b[ch]);
        for &(s, t) in taps {
            acc = madd(FMA, acc, x[s + ch], w[t + ch]);
        }
        o.write(clamp.apply(acc));
    }
}

impl Variant for Portable {
    const FMA: bool = false;

    unsafe fn gemm<const R: usize, const W: usize>(
        x: &[f32],
        xs: usize,
        k: usize,
        w: &[f32],
        bias: &[f32; W],
        clamp: Clamp,
        out: &mut Slots,
        n: usize,
        cols: usize,
        range: &mut Seen,
    ) {
        micro::<R, W>(x, xs, k, w, bias, clamp, out, n, cols, range)
    }

    unsafe fn depthwise16<Rw: Fn(usize, usize) -> *const f32>(
        g: &ConvGeom,
        c16: usize,
        rows: Rw,
        oys: std::ops::Range<usize>,
        w: &[f32],
        bias: Option<&[f32]>,
        out: &mut Slots,
        range: &mut Seen,
    ) {
        let ConvGeom { n, h, wd, c, kh, kw, oh, ow, pad_h, pad_w, sh, sw, dh, dw, clamp, .. } = *g;
        let mut taps = Vec::with_capacity(kh * kw);
        for b in 0..n {
            for oy in oys.clone() {
                for ox in 0..ow {
                    taps.clear();
                    let mut row_starts = Vec::with_capacity(kh);
                    for ky in 0..kh {
                        let iy = (oy * sh + ky * dh) as isize - pad_h as isize;
                        if iy < 0 || iy as usize >= h {
                            continue;
                        }
                        row_starts.push(rows(b, iy as usize));
                        for kx in 0..kw {
                            let ix = (ox * sw + kx * dw) as isize - pad_w as isize;
                            if ix >= 0 && (ix as usize) < wd {
                                taps.push((row_starts.len() - 1, ix as usize * c, (ky * kw + kx) * c));
                            }
                        }
                    }
                    let o = ((b * oh + oy) * ow + ox) * c;
                    for ch in 0..c16 {
                        let mut acc = bias.map_or(0.0, |bv| bv[ch]);
                        for &(r, s, t) in &taps {
                            // SAFETY: the caller vouches that rows() points at wd·c values per row
                            // read, and s + ch < wd·c.
                            let xv = unsafe { *row_starts[r].add(s + ch) };
                            acc = madd(false, acc, xv, w[t + ch]);
                        }
                        let v = clamp.apply(acc);
                        track(range, v);
                        out[o + ch].write(v);
                    }
                }
            }
        }
    }

    unsafe fn depthwise_pixel(
        x: &[f32],
        w: &[f32],
        taps: &[(usize, usize)],
        bias: Option<&[f32]>,
        clamp: Clamp,
        out: &mut Slots,
    ) {
        depthwise_pixel::<false>(x, w, taps, bias, clamp, out)
    }
}

/// Dot product with sixteen independent accumulators, so it vectorizes.
#[inline(always)]
fn dot<const FMA: bool>(x: &[f32], w: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let xc = x.chunks_exact(16);
    let wc = w.chunks_exact(16);
    let (xr, wr) = (xc.remainder(), wc.remainder());
    for (xa, wa) in xc.zip(wc) {
        for i in 0..16 {
            acc[i] = madd(FMA, acc[i], xa[i], wa[i]);
        }
    }
    let mut s = 0f32;
    for (&a, &b) in xr.iter().zip(wr) {
        s = madd(FMA, s, a, b);
    }
    acc.iter().sum::<f32>() + s
}

/// `out[b, o] += x[b, :] · w[o, :]` for rows of length `k`.
#[inline(always)]
pub(super) fn gemv<const FMA: bool>(x: &[f32], w: &[f32], k: usize, out: &mut [f32]) {
    let o = w.len() / k;
    for (xb, ob) in x.chunks_exact(k).zip(out.chunks_exact_mut(o)) {
        for (wr, d) in w.chunks_exact(k).zip(ob.iter_mut()) {
            *d += dot::<FMA>(xb, wr);
        }
    }
}
