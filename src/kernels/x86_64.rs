//! AVX2+FMA micro-kernels for x86-64, written with intrinsics so that the accumulators stay in
//! registers whatever the optimizer decides, and the entry points that compile the frame's
//! drivers and the generic loops for these features. Callers check the CPU first
//! ([`super::Isa::best`]) and guarantee the slice lengths each function documents; debug builds
//! assert them.

use super::frame::{self, Clamp, ConvGeom, PackedW, Seen, Slots, Variant};
use std::arch::x86_64::*;
use std::mem::MaybeUninit;

/// The AVX2+FMA variant.
pub struct Avx2Fma;

impl Variant for Avx2Fma {
    const FMA: bool = true;

    #[inline(always)]
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
        debug_assert!(W == 16 || W == 8, "panels are 16 or 8 wide");
        let bounds = &(clamp.lo, clamp.hi);
        // SAFETY: the caller vouches for the features and lengths (Variant::gemm); W picks the
        // micro-kernel of the panel's width (the conversions cannot fail for that W).
        unsafe {
            if let Ok(b16) = <&[f32; 16]>::try_from(&bias[..]) {
                gemm_micro::<R>(x, xs, k, w, b16, bounds, out, n, cols, range)
            } else if let Ok(b8) = <&[f32; 8]>::try_from(&bias[..]) {
                gemm_micro8::<R>(x, xs, k, w, b8, bounds, out, n, cols, range)
            }
        }
    }

    #[inline(always)]
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
        let bounds = (g.clamp.lo, g.clamp.hi);
        // SAFETY: the caller vouches for the features and lengths (Variant::depthwise16).
        unsafe { depthwise16(g, c16, rows, oys, w, bias, &bounds, out, range) }
    }

    #[inline(always)]
    unsafe fn depthwise_pixel(
        x: &[f32],
        w: &[f32],
        taps: &[(usize, usize)],
        bias: Option<&[f32]>,
        clamp: Clamp,
        out: &mut Slots,
    ) {
        // SAFETY: the caller vouches for the features and lengths (Variant::depthwise_pixel).
        unsafe { depthwise_pixel(x, w, taps, bias, (clamp.lo, clamp.hi), out) }
    }
}

/// The packed GEMM ([`frame::gemm_packed`]) compiled for AVX2 and FMA.
///
/// # Safety
/// AVX2 and FMA are available; the lengths are as `frame::gemm_packed` requires.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn gemm_packed(
    m: usize,
    x: &[f32],
    pw: &PackedW,
    bias: Option<&[f32]>,
    clamp: Clamp,
    out: &mut Slots,
    seen: &mut Seen,
) {
    // SAFETY: as the caller vouches.
    unsafe { frame::gemm_packed::<Avx2Fma>(m, x, pw, bias, clamp, out, seen) }
}

/// The depthwise convolution ([`frame::depthwise`]) compiled for AVX2 and FMA.
///
/// # Safety
/// AVX2 and FMA are available; the lengths are as `frame::depthwise` requires.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn depthwise(
    g: &ConvGeom,
    xv: &[f32],
    wv: &[f32],
    bias: Option<&[f32]>,
    out: &mut Slots,
    seen: &mut Option<Seen>,
) {
    // SAFETY: as the caller vouches.
    unsafe { frame::depthwise::<Avx2Fma>(g, xv, wv, bias, out, seen) }
}

/// The fused expansion and depthwise convolution ([`frame::expand_depthwise`]) for AVX2 and FMA.
///
/// # Safety
/// AVX2 and FMA are available; the shapes are as `frame::expand_depthwise` requires.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn expand_depthwise(
    g: &ConvGeom,
    x: &[f32],
    cin: usize,
    pw: &PackedW,
    b1: Option<&[f32]>,
    clamp1: Clamp,
    wv: &[f32],
    b2: Option<&[f32]>,
) -> frame::Fused {
    // SAFETY: as the caller vouches.
    unsafe { frame::expand_depthwise::<Avx2Fma>(g, x, cin, pw, b1, clamp1, wv, b2) }
}

/// The matrix-vector products of a small FULLY_CONNECTED batch, with fused multiply-adds.
///
/// # Safety
/// AVX2 and FMA are available.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn gemv(x: &[f32], w: &[f32], k: usize, out: &mut [f32]) {
    super::generic::gemv::<true>(x, w, k, out)
}

/// Clamps with NaN passing through: `max(bound, v)` returns `v` when either is NaN.
#[inline(always)]
unsafe fn clamp(v: __m256, lo: __m256, hi: __m256) -> __m256 {
    // SAFETY: the caller guarantees the CPU features and the lengths documented above.
    unsafe { _mm256_min_ps(hi, _mm256_max_ps(lo, v)) }
}

/// `out[r·n + j] = clamp(bias[j] + Σ_kk x[r·xs + kk] · w[kk·16 + j])` for `r < R`, `j < cols`;
/// `range` (lane-wise minima, then maxima) takes in every value stored, NaN ignored.
///
/// # Safety
/// AVX2 and FMA are available; `cols ≤ 16`; `x` holds at least `(R-1)·xs + k` values, `w` at
/// least `16·k` and `out` at least `(R-1)·n + cols`.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_micro<const R: usize>(
    x: &[f32],
    xs: usize,
    k: usize,
    w: &[f32],
    bias: &[f32; 16],
    bounds: &(f32, f32),
    out: &mut [MaybeUninit<f32>],
    n: usize,
    cols: usize,
    range: &mut [[f32; 8]; 2],
) {
    // SAFETY: the caller guarantees the CPU features and the lengths documented above.
    unsafe {
        debug_assert!(cols <= 16 && x.len() >= (R - 1) * xs + k && w.len() >= 16 * k);
        debug_assert!(out.len() >= (R - 1) * n + cols);
        let (xp, wp) = (x.as_ptr(), w.as_ptr());
        // 12 accumulators, 2 weight vectors and a broadcast: 15 of the 16 ymm registers. The
        // accumulators start from the bias, as in the portable kernel (and XNNPACK): no add per
        // stored vector, which short products (k = 16 or 24) noticed.
        let mut c0 = [_mm256_loadu_ps(bias.as_ptr()); R];
        let mut c1 = [_mm256_loadu_ps(bias.as_ptr().add(8)); R];
        for kk in 0..k {
            let w0 = _mm256_loadu_ps(wp.add(kk * 16));
            let w1 = _mm256_loadu_ps(wp.add(kk * 16 + 8));
            for r in 0..R {
                let a = _mm256_broadcast_ss(&*xp.add(r * xs + kk));
                c0[r] = _mm256_fmadd_ps(a, w0, c0[r]);
                c1[r] = _mm256_fmadd_ps(a, w1, c1[r]);
            }
        }
        // Read from memory only now: two scalar arguments would pin two registers through the loop.
        let (vlo, vhi) = (_mm256_set1_ps(bounds.0), _mm256_set1_ps(bounds.1));
        let (mut lo, mut hi) = (_mm256_loadu_ps(range[0].as_ptr()), _mm256_loadu_ps(range[1].as_ptr()));
        for r in 0..R {
            let v0 = clamp(c0[r], vlo, vhi);
            let v1 = clamp(c1[r], vlo, vhi);
            let o = out.as_mut_ptr().add(r * n).cast::<f32>();
            if cols == 16 {
                _mm256_storeu_ps(o, v0);
                _mm256_storeu_ps(o.add(8), v1);
                (lo, hi) = track(track((lo, hi), v0), v1);
            } else {
                (lo, hi) = store_first([v0, v1], o, cols, (lo, hi));
            }
        }
        _mm256_storeu_ps(range[0].as_mut_ptr(), lo);
        _mm256_storeu_ps(range[1].as_mut_ptr(), hi);
    }
}

/// [`gemm_micro`] for a panel 8 channels wide: `out[r·n + j] = clamp(bias[j] + Σ_kk
/// x[r·xs + kk] · w[kk·8 + j])` for `r < R`, `j < cols`, widening `range` likewise. With one
/// accumulator per row, up to 12 rows fit in the registers.
///
/// # Safety
/// AVX2 and FMA are available; `cols ≤ 8`; `x` holds at least `(R-1)·xs + k` values, `w` at
/// least `8·k` and `out` at least `(R-1)·n + cols`.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_micro8<const R: usize>(
    x: &[f32],
    xs: usize,
    k: usize,
    w: &[f32],
    bias: &[f32; 8],
    bounds: &(f32, f32),
    out: &mut [MaybeUninit<f32>],
    n: usize,
    cols: usize,
    range: &mut [[f32; 8]; 2],
) {
    // SAFETY: the caller guarantees the CPU features and the lengths documented above.
    unsafe {
        debug_assert!(cols <= 8 && x.len() >= (R - 1) * xs + k && w.len() >= 8 * k);
        debug_assert!(out.len() >= (R - 1) * n + cols);
        let (xp, wp) = (x.as_ptr(), w.as_ptr());
        let mut c = [_mm256_loadu_ps(bias.as_ptr()); R];
        for kk in 0..k {
            let w0 = _mm256_loadu_ps(wp.add(kk * 8));
            for (r, acc) in c.iter_mut().enumerate() {
                *acc = _mm256_fmadd_ps(_mm256_broadcast_ss(&*xp.add(r * xs + kk)), w0, *acc);
            }
        }
        let (vlo, vhi) = (_mm256_set1_ps(bounds.0), _mm256_set1_ps(bounds.1));
        let (mut lo, mut hi) = (_mm256_loadu_ps(range[0].as_ptr()), _mm256_loadu_ps(range[1].as_ptr()));
        for (r, acc) in c.iter().enumerate() {
            let v = clamp(*acc, vlo, vhi);
            let o = out.as_mut_ptr().add(r * n).cast::<f32>();
            if cols == 8 {
                _mm256_storeu_ps(o, v);
                (lo, hi) = track((lo, hi), v);
            } else {
                (lo, hi) = store_first([v], o, cols, (lo, hi));
            }
        }
        _mm256_storeu_ps(range[0].as_mut_ptr(), lo);
        _mm256_storeu_ps(range[1].as_mut_ptr(), hi);
    }
}

/// Stores the first `cols` lanes of `v` (its vectors one after another) at `o` and widens
/// `seen` by them: the narrow edge of a GEMM panel.
#[inline(always)]
unsafe fn store_first<const N: usize>(
    v: [__m256; N],
    o: *mut f32,
    cols: usize,
    mut seen: (__m256, __m256),
) -> (__m256, __m256) {
    // SAFETY: the caller guarantees the CPU features and the lengths documented above.
    unsafe {
        let mut tmp = [[0f32; 8]; N];
        for (t, x) in tmp.iter_mut().zip(v) {
            _mm256_storeu_ps(t.as_mut_ptr(), x);
        }
        let lanes = tmp.as_flattened();
        std::ptr::copy_nonoverlapping(lanes.as_ptr(), o, cols);
        for &x in &lanes[..cols] {
            seen = track(seen, _mm256_set1_ps(x));
        }
        seen
    }
}

/// Stores 16 channels `clamp(acc + bias)` at `o` and widens `seen` by them.
#[inline(always)]
unsafe fn store16(
    o: *mut f32,
    acc: [__m256; 2],
    (b0, b1): (__m256, __m256),
    (lo, hi): (__m256, __m256),
    seen: (__m256, __m256),
) -> (__m256, __m256) {
    // SAFETY: the caller guarantees the CPU features and the lengths documented above.
    unsafe {
        let v0 = clamp(_mm256_add_ps(acc[0], b0), lo, hi);
        let v1 = clamp(_mm256_add_ps(acc[1], b1), lo, hi);
        _mm256_storeu_ps(o, v0);
        _mm256_storeu_ps(o.add(8), v1);
        track(track(seen, v0), v1)
    }
}

/// Widens lane-wise (min, max) by `v`; a NaN lane of `v` leaves them unchanged (vminps returns
/// its second operand when either is NaN).
#[inline(always)]
unsafe fn track((lo, hi): (__m256, __m256), v: __m256) -> (__m256, __m256) {
    // SAFETY: the caller guarantees the CPU features and the lengths documented above.
    unsafe { (_mm256_min_ps(v, lo), _mm256_max_ps(v, hi)) }
}

/// One output pixel of a depthwise convolution with multiplier 1:
/// `out[ch] = clamp(bias[ch] + Σ_(s,t) x[s + ch] · w[t + ch])` for `ch < out.len()`.
///
/// # Safety
/// AVX2 and FMA are available; for every tap `(s, t)`, `x` holds `s + out.len()` values and `w`
/// holds `t + out.len()`; `bias`, when given, holds `out.len()`.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn depthwise_pixel(
    x: &[f32],
    w: &[f32],
    taps: &[(usize, usize)],
    bias: Option<&[f32]>,
    (lo, hi): (f32, f32),
    out: &mut [MaybeUninit<f32>],
) {
    // SAFETY: the caller guarantees the CPU features and the lengths documented above.
    unsafe {
        let c = out.len();
        debug_assert!(taps.iter().all(|&(s, t)| s + c <= x.len() && t + c <= w.len()));
        debug_assert!(bias.map_or(true, |b| b.len() >= c));
        let (xp, wp, op) = (x.as_ptr(), w.as_ptr(), out.as_mut_ptr().cast::<f32>());
        let (vlo, vhi) = (_mm256_set1_ps(lo), _mm256_set1_ps(hi));
        #[inline(always)]
        unsafe fn init(bias: Option<&[f32]>, ch: usize) -> __m256 {
            // SAFETY: AVX is enabled, and the bias holds ch + 8 values (checked by the caller).
            unsafe {
                match bias {
                    Some(b) => _mm256_loadu_ps(b.as_ptr().add(ch)),
                    None => _mm256_setzero_ps(),
                }
            }
        }
        let mut ch = 0;
        // Four independent accumulators hide the FMA latency across the taps.
        while ch + 32 <= c {
            let mut a = [init(bias, ch), init(bias, ch + 8), init(bias, ch + 16), init(bias, ch + 24)];
            for &(s, t) in taps {
                for (i, acc) in a.iter_mut().enumerate() {
                    let xv = _mm256_loadu_ps(xp.add(s + ch + 8 * i));
                    *acc = _mm256_fmadd_ps(xv, _mm256_loadu_ps(wp.add(t + ch + 8 * i)), *acc);
                }
            }
            for (i, acc) in a.iter().enumerate() {
                _mm256_storeu_ps(op.add(ch + 8 * i), clamp(*acc, vlo, vhi));
            }
            ch += 32;
        }
        while ch + 8 <= c {
            let mut acc = init(bias, ch);
            for &(s, t) in taps {
                acc = _mm256_fmadd_ps(_mm256_loadu_ps(xp.add(s + ch)), _mm256_loadu_ps(wp.add(t + ch)), acc);
            }
            _mm256_storeu_ps(op.add(ch), clamp(acc, vlo, vhi));
            ch += 8;
        }
        while ch < c {
            let mut acc = bias.map_or(0.0, |b| b[ch]);
            for &(s, t) in taps {
                acc = x[s + ch].mul_add(w[t + ch], acc);
            }
            let v = if acc < lo { lo } else { acc };
            out[ch].write(if v > hi { hi } else { v });
            ch += 1;
        }
    }
}

/// Depthwise convolution with multiplier 1 for the channels `[0, c16)`, `c16` a multiple of
/// 16, output pixel by output pixel (four at a time where their windows lie inside the
/// input), each pixel group through all its channel blocks before the next: the reads run
/// along memory, where sweeping one channel block over the image strided by whole pixels
/// (and a stride of many lines maps to few L1 sets). Four pixels share each weight load and
/// keep eight FMA chains in flight. `out = clamp(bias + Σ x·w)`.
///
/// Input row `iy` of image `b` starts at `rows(b, iy)` (its `wd·c` values, NHWC); only the
/// output rows `oys` are computed.
///
/// # Safety
/// AVX2 and FMA are available; `rows(b, iy)` points at `wd·c` readable values for every image
/// and every row `iy < h` the output rows `oys` read; `w` holds `kh·kw·c` values, `out`
/// `n·oh·ow·c`, `bias` (if any) `c`; `c16 ≤ c`; the output size and padding follow from the
/// input size, kernel, strides and dilations as TFLite computes them (every tap that
/// `frame::out_and_pad` allows lands inside the input once clipped).
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn depthwise16<R: Fn(usize, usize) -> *const f32>(
    g: &ConvGeom,
    c16: usize,
    rows: R,
    oys: std::ops::Range<usize>,
    w: &[f32],
    bias: Option<&[f32]>,
    bounds: &(f32, f32),
    out: &mut [MaybeUninit<f32>],
    range: &mut [[f32; 8]; 2],
) {
    // SAFETY: the caller guarantees the CPU features and the lengths documented above.
    unsafe {
        let ConvGeom { n, h, wd, c, kh, kw, oh, ow, pad_h, pad_w, sh, sw, dh, dw, .. } = *g;
        debug_assert!(c16 % 16 == 0 && c16 <= c && oys.end <= oh);
        debug_assert!(w.len() >= kh * kw * c && out.len() >= n * oh * ow * c);
        let (wp, op) = (w.as_ptr(), out.as_mut_ptr().cast::<f32>());
        let (vlo, vhi) = (_mm256_set1_ps(bounds.0), _mm256_set1_ps(bounds.1));
        let mut seen = (_mm256_loadu_ps(range[0].as_ptr()), _mm256_loadu_ps(range[1].as_ptr()));
        // Output columns whose whole window lies inside the input row.
        let (ox_lo, ox_hi) = g.inner_columns();
        let bias_at = |cb: usize| match bias {
            Some(bv) => (_mm256_loadu_ps(bv.as_ptr().add(cb)), _mm256_loadu_ps(bv.as_ptr().add(cb + 8))),
            None => (_mm256_setzero_ps(), _mm256_setzero_ps()),
        };
        for b in 0..n {
            for oy in oys.clone() {
                let y0 = (oy * sh) as isize - pad_h as isize;
                let ky_lo = if y0 < 0 { ((-y0) as usize).div_ceil(dh) } else { 0 };
                let ky_hi = if y0 >= h as isize { 0 } else { ((h as isize - y0 - 1) as usize / dh + 1).min(kh) };
                let orow = op.add(((b * oh + oy) * ow) * c);
                // Input pointer of tap (ky, 0) for the pixel whose window starts at column 0.
                let row_ptr = |ky: usize| rows(b, (y0 + (ky * dh) as isize) as usize);
                let mut ox = 0;
                while ox < ow {
                    let group = ox >= ox_lo && ox + 4 <= ox_hi;
                    let x0 = (ox * sw) as isize - pad_w as isize;
                    let (kx_lo, kx_hi) = if group || (ox >= ox_lo && ox < ox_hi) {
                        (0, kw)
                    } else {
                        let lo = if x0 < 0 { ((-x0) as usize).div_ceil(dw) } else { 0 };
                        let hi = if x0 >= wd as isize { 0 } else { ((wd as isize - x0 - 1) as usize / dw + 1).min(kw) };
                        (lo, hi.max(lo))
                    };
                    if group {
                        for cb in (0..c16).step_by(16) {
                            let mut acc = [[_mm256_setzero_ps(); 2]; 4];
                            for ky in ky_lo..ky_hi {
                                let rp = row_ptr(ky).add(cb);
                                for kx in 0..kw {
                                    let wt = wp.add((ky * kw + kx) * c + cb);
                                    let (w0, w1) = (_mm256_loadu_ps(wt), _mm256_loadu_ps(wt.add(8)));
                                    for (p, a) in acc.iter_mut().enumerate() {
                                        let col = ((ox + p) * sw + kx * dw) - pad_w;
                                        let xq = rp.add(col * c);
                                        a[0] = _mm256_fmadd_ps(_mm256_loadu_ps(xq), w0, a[0]);
                                        a[1] = _mm256_fmadd_ps(_mm256_loadu_ps(xq.add(8)), w1, a[1]);
                                    }
                                }
                            }
                            for (p, a) in acc.iter().enumerate() {
                                seen = store16(orow.add((ox + p) * c + cb), *a, bias_at(cb), (vlo, vhi), seen);
                            }
                        }
                        ox += 4;
                    } else {
                        for cb in (0..c16).step_by(16) {
                            let mut a = [_mm256_setzero_ps(); 2];
                            for ky in ky_lo..ky_hi {
                                let rp = row_ptr(ky).add(cb);
                                for kx in kx_lo..kx_hi {
                                    let wt = wp.add((ky * kw + kx) * c + cb);
                                    let col = (x0 + (kx * dw) as isize) as usize;
                                    let xq = rp.add(col * c);
                                    a[0] = _mm256_fmadd_ps(_mm256_loadu_ps(xq), _mm256_loadu_ps(wt), a[0]);
                                    a[1] =
                                        _mm256_fmadd_ps(_mm256_loadu_ps(xq.add(8)), _mm256_loadu_ps(wt.add(8)), a[1]);
                                }
                            }
                            seen = store16(orow.add(ox * c + cb), a, bias_at(cb), (vlo, vhi), seen);
                        }
                        ox += 1;
                    }
                }
            }
        }
        _mm256_storeu_ps(range[0].as_mut_ptr(), seen.0);
        _mm256_storeu_ps(range[1].as_mut_ptr(), seen.1);
    }
}
