//! The frame of the numeric kernels: convolution geometry, weight packing, im2col, output
//! slots, and the drivers that walk a GEMM or a depthwise convolution and call a
//! [`Variant`]'s micro-kernels for each block.

use super::KResult;
use std::mem::MaybeUninit;

/// Output slots that a kernel writes, each exactly once, and never reads: such outputs skip
/// the zero fill, which costs about as much as one pass over a large output.
pub type Slots = [MaybeUninit<f32>];

/// Initialized values seen as slots, for a kernel that writes slots.
///
/// # Safety
/// Only initialized values may be written through the result (the kernels only store values).
pub unsafe fn as_slots(v: &mut [f32]) -> &mut Slots {
    // SAFETY: MaybeUninit<f32> has f32's layout; the caller keeps the values initialized.
    unsafe { &mut *(v as *mut [f32] as *mut Slots) }
}

/// `dst[i] = src[i]` for the shorter of the two.
#[inline(always)]
pub fn put(dst: &mut Slots, src: &[f32]) {
    for (d, &v) in dst.iter_mut().zip(src) {
        d.write(v);
    }
}

/// A fused activation that is a clamp, applied as results are stored (TANH and SIGN_BIT are
/// not clamps; their kernels run them as a separate pass).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Clamp {
    pub lo: f32,
    pub hi: f32,
}

impl Clamp {
    pub const NONE: Clamp = Clamp { lo: f32::NEG_INFINITY, hi: f32::INFINITY };

    #[inline(always)]
    pub fn apply(self, v: f32) -> f32 {
        // Plain compares map to vmaxps/vminps (f32::max's NaN rule would not vectorize here).
        let v = if v < self.lo { self.lo } else { v };
        if v > self.hi {
            self.hi
        } else {
            v
        }
    }
}

/// Lane-wise running minima (row 0) and maxima (row 1) of the values a kernel stores.
pub type Seen = [[f32; 8]; 2];

pub const SEEN_NONE: Seen = [[f32::INFINITY; 8], [f32::NEG_INFINITY; 8]];

/// The (min, max) of what `seen` took in, or None if every value was NaN (or there were none).
pub fn seen_range(seen: &Seen) -> Option<(f32, f32)> {
    let lo = seen[0].iter().copied().fold(f32::INFINITY, f32::min);
    let hi = seen[1].iter().copied().fold(f32::NEG_INFINITY, f32::max);
    (lo <= hi).then_some((lo, hi))
}

/// Widens `seen` by `v` (NaN ignored), in its first lane.
#[inline(always)]
pub fn track(seen: &mut Seen, v: f32) {
    if v < seen[0][0] {
        seen[0][0] = v;
    }
    if v > seen[1][0] {
        seen[1][0] = v;
    }
}

/// Width of a packed weight panel (output channels per micro-kernel column block).
pub const NR: usize = 16;
/// Width of the last panel when at most this many channels are left over: a full-width panel
/// would spend up to half its multiply-adds on zero padding (n = 24 is common in MobileNets).
pub const NR_NARROW: usize = 8;
/// Rows per micro-kernel call.
pub const MR: usize = 6;

/// Constant weights `[n][k]` (OHWI flattened) packed once into panels of NR output channels:
/// panel p holds, for each kk, the NR weights of channels p·NR.. (zero beyond n). When at most
/// NR_NARROW channels are left for the last panel, it is NR_NARROW wide.
#[derive(Debug)]
pub struct PackedW {
    pub n: usize,
    pub k: usize,
    panels: crate::ir::Buf<f32>,
}

impl PackedW {
    pub fn new(w: &[f32], n: usize, k: usize) -> Option<PackedW> {
        if n == 0 || k == 0 || w.len() != n.checked_mul(k)? {
            return None;
        }
        let mut panels = crate::ir::Buf::filled(0f32, Self::widths(n).map(|(_, width)| k * width).sum());
        let mut at = 0;
        for (c0, width) in Self::widths(n) {
            let panel = &mut panels[at..at + k * width];
            // Read each filter row once, in order; the writes stay inside one panel.
            for j in 0..width.min(n - c0) {
                let row = &w[(c0 + j) * k..(c0 + j + 1) * k];
                for (kk, &v) in row.iter().enumerate() {
                    panel[kk * width + j] = v;
                }
            }
            at += k * width;
        }
        Some(PackedW { n, k, panels })
    }

    /// (first channel, width) of each panel.
    pub fn widths(n: usize) -> impl Iterator<Item = (usize, usize)> {
        (0..n.div_ceil(NR)).map(move |p| {
            let left = n - p * NR;
            (p * NR, if left <= NR_NARROW { NR_NARROW } else { NR })
        })
    }

    /// (first channel, width, packed weights) of each panel.
    pub fn panels(&self) -> impl Iterator<Item = (usize, usize, &[f32])> {
        let mut at = 0;
        Self::widths(self.n).map(move |(c0, width)| {
            let panel = &self.panels[at..at + self.k * width];
            at += self.k * width;
            (c0, width, panel)
        })
    }
}

/// Output size and leading padding of one spatial dimension, as TFLite computes them.
/// `same` is SAME padding, else VALID.
pub fn out_and_pad(same: bool, input: usize, filter: usize, stride: i32, dilation: i32) -> KResult<(usize, usize)> {
    if stride <= 0 || dilation <= 0 {
        return Err(format!("stride {stride} and dilation {dilation} must be positive"));
    }
    let (i, f, s, d) = (input as i64, filter as i64, i64::from(stride), i64::from(dilation));
    let eff = (f - 1) * d + 1;
    let out = if same {
        (i + s - 1) / s
    } else if i + s < eff {
        0
    } else {
        (i + s - eff) / s
    };
    let total = (out - 1) * s + eff - i;
    let pad = (total / 2).max(0);
    Ok((out.max(0) as usize, pad as usize))
}

/// The geometry of one convolution, NHWC (`mm` is the depth multiplier, 1 for CONV_2D;
/// `clamp` the fused activation, NONE when it is not a clamp).
#[derive(Clone, Copy, Debug)]
pub struct ConvGeom {
    pub n: usize,
    pub h: usize,
    pub wd: usize,
    pub c: usize,
    pub kh: usize,
    pub kw: usize,
    pub oc: usize,
    pub mm: usize,
    pub oh: usize,
    pub ow: usize,
    pub pad_h: usize,
    pub pad_w: usize,
    pub sh: usize,
    pub sw: usize,
    pub dh: usize,
    pub dw: usize,
    pub clamp: Clamp,
}

impl ConvGeom {
    /// For CONV_2D as a GEMM over im2col rows (one per output pixel): calls
    /// `mm(rows, a, out_rows)` on consecutive blocks of output rows, where `a` holds the block's
    /// im2col rows (`kh·kw·c` values each) and `out_rows` its `oc`-wide output rows.
    /// A 1×1, stride-1, unpadded convolution reads the input itself as one block.
    pub fn for_row_blocks<T>(
        &self,
        xv: &[f32],
        out: &mut [T],
        mut mm: impl FnMut(usize, &[f32], &mut [T]) -> KResult<()>,
    ) -> KResult<()> {
        let ConvGeom { n, h, wd, c, kh, kw, oc, oh, ow, pad_h, pad_w, sh, sw, .. } = *self;
        let (m, k) = (n * oh * ow, kh * kw * c);
        if kh == 1 && kw == 1 && sh == 1 && sw == 1 && pad_h == 0 && pad_w == 0 && oh == h && ow == wd {
            return mm(m, xv, out);
        }
        // Blocks of rows that stay in cache while the GEMM reads them.
        let rows_per = ((1usize << 14) / k.max(1)).max(MR);
        let mut col = crate::ir::Buf::filled(0f32, rows_per.min(m) * k);
        let mut r0 = 0;
        while r0 < m {
            let r1 = (r0 + rows_per).min(m);
            // The output pixel (b, oy, ox) of row r0, then stepped along (no division per row).
            let (mut b, mut oy, mut ox) = (r0 / (oh * ow), (r0 / ow) % oh, r0 % ow);
            for r in r0..r1 {
                if r > r0 {
                    ox += 1;
                    if ox == ow {
                        ox = 0;
                        oy += 1;
                        if oy == oh {
                            oy = 0;
                            b += 1;
                        }
                    }
                }
                self.im2col_row(xv, &mut col[(r - r0) * k..(r - r0 + 1) * k], b, oy, ox);
            }
            mm(r1 - r0, &col, &mut out[r0 * oc..r1 * oc])?;
            r0 = r1;
        }
        Ok(())
    }

    /// The `kh·kw·c` input values under the window of output pixel (b, oy, ox), zero outside.
    #[inline(always)]
    fn im2col_row(&self, xv: &[f32], dst: &mut [f32], b: usize, oy: usize, ox: usize) {
        let ConvGeom { h, wd, c, kh, kw, pad_h, pad_w, sh, sw, dh, dw, .. } = *self;
        let x0 = (ox * sw) as isize - pad_w as isize;
        // With dilation 1 and the window inside the row, a window row is one run of kw·c values.
        let row_inside = dw == 1 && x0 >= 0 && x0 as usize + kw <= wd;
        for ky in 0..kh {
            let iy = (oy * sh + ky * dh) as isize - pad_h as isize;
            let drow = &mut dst[ky * kw * c..(ky + 1) * kw * c];
            if iy < 0 || iy as usize >= h {
                drow.iter_mut().for_each(|v| *v = 0.0);
                continue;
            }
            let srow = (b * h + iy as usize) * wd;
            if row_inside {
                let s = (srow + x0 as usize) * c;
                drow.copy_from_slice(&xv[s..s + kw * c]);
                continue;
            }
            for (kx, d) in drow.chunks_exact_mut(c.max(1)).enumerate() {
                let ix = x0 + (kx * dw) as isize;
                if ix < 0 || ix as usize >= wd {
                    d.iter_mut().for_each(|v| *v = 0.0);
                } else {
                    let s = (srow + ix as usize) * c;
                    d.copy_from_slice(&xv[s..s + c]);
                }
            }
        }
    }

    /// Output columns whose whole window lies inside the input row: `[lo, hi)`.
    pub fn inner_columns(&self) -> (usize, usize) {
        let ConvGeom { wd, kw, ow, pad_w, sw, dw, .. } = *self;
        let first_in = pad_w.div_ceil(sw);
        let last_in = if wd + pad_w < (kw - 1) * dw + 1 { 0 } else { (wd + pad_w - (kw - 1) * dw - 1) / sw + 1 };
        (first_in.min(ow), last_in.min(ow).max(first_in.min(ow)))
    }
}

/// One instruction-set variant of the micro-kernels the drivers below call. Every method
/// writes each output slot it covers exactly once and widens `range` (lane-wise min/max) by
/// every value it stores.
pub trait Variant {
    /// Whether this variant's multiply-adds round once (fused), which the generic loops follow.
    const FMA: bool;

    /// `out[r·n + j] = clamp(bias[j] + Σ_kk x[r·xs + kk] · w[kk·W + j])` for `r < R`, `j < cols`:
    /// R rows times one packed panel W (16 or 8) channels wide.
    ///
    /// # Safety
    /// The variant's CPU features are present; W is 16 or 8; `cols ≤ W`; `x` holds at least
    /// `(R-1)·xs + k` values, `w` at least `W·k` and `out` at least `(R-1)·n + cols`.
    #[allow(clippy::too_many_arguments)]
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
    );

    /// Depthwise convolution with multiplier 1 for the channels `[0, c16)` (a multiple of 16)
    /// of the output rows `oys`, where input row `iy` of image `b` starts at `rows(b, iy)`
    /// (`wd·c` values, NHWC): `out = clamp(bias + Σ x·w)`.
    ///
    /// # Safety
    /// The variant's CPU features are present; `rows(b, iy)` points at `wd·c` readable values for
    /// every image and every input row the output rows `oys` read; `w` holds `kh·kw·c` values,
    /// `out` `n·oh·ow·c`, `bias` (if any) `c`; `c16 ≤ c`; the geometry is as [`out_and_pad`] gives.
    #[allow(clippy::too_many_arguments)]
    unsafe fn depthwise16<R: Fn(usize, usize) -> *const f32>(
        g: &ConvGeom,
        c16: usize,
        rows: R,
        oys: std::ops::Range<usize>,
        w: &[f32],
        bias: Option<&[f32]>,
        out: &mut Slots,
        range: &mut Seen,
    );

    /// One output pixel of a depthwise convolution with multiplier 1:
    /// `out[ch] = clamp(bias[ch] + Σ_(s,t) x[s + ch] · w[t + ch])` for `ch < out.len()`.
    /// Does not track the range.
    ///
    /// # Safety
    /// The variant's CPU features are present; for every tap `(s, t)`, `x` holds `s + out.len()`
    /// values and `w` holds `t + out.len()`; `bias`, when given, holds `out.len()`.
    unsafe fn depthwise_pixel(
        x: &[f32],
        w: &[f32],
        taps: &[(usize, usize)],
        bias: Option<&[f32]>,
        clamp: Clamp,
        out: &mut Slots,
    );
}

/// `a + x·w`, fused when `fma` (then it vectorizes to vfmadd); `fma` is a variant's constant.
#[inline(always)]
pub fn madd(fma: bool, a: f32, x: f32, w: f32) -> f32 {
    if fma {
        x.mul_add(w, a)
    } else {
        a + x * w
    }
}

/// Rows per block of the packed GEMM: the block's rows of x stay in cache while every
/// weight panel passes over them, and its output rows are written whole.
fn row_block(k: usize) -> usize {
    ((16 * 1024 / k.max(1)) / MR * MR).clamp(MR, 64 * MR)
}

/// The packed GEMM `out[m×n] = clamp(bias + x[m×k] · wᵀ)` over row blocks and weight panels.
///
/// # Safety
/// The variant's CPU features are present; `x` holds `m·k` values and `out` `m·n` slots, `bias`
/// (if any) `n` values.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_packed<V: Variant>(
    m: usize,
    x: &[f32],
    pw: &PackedW,
    bias: Option<&[f32]>,
    clamp: Clamp,
    out: &mut Slots,
    seen: &mut Seen,
) {
    let (n, k) = (pw.n, pw.k);
    // Each panel's bias, zero beyond n; the narrow panel uses the first NR_NARROW.
    let panel_bias: Vec<[f32; NR]> = PackedW::widths(n)
        .map(|(c0, width)| {
            let mut b = [0f32; NR];
            if let Some(bias) = bias {
                let cols = width.min(n - c0);
                b[..cols].copy_from_slice(&bias[c0..c0 + cols]);
            }
            b
        })
        .collect();
    let mc = row_block(k);
    let mut r0 = 0;
    while r0 < m {
        let r1 = (r0 + mc).min(m);
        for ((c0, width, wp), pb) in pw.panels().zip(&panel_bias) {
            let cols = width.min(n - c0);
            let pb8: &[f32; NR_NARROW] = pb[..NR_NARROW].try_into().expect("NR_NARROW values");
            let mut r = r0;
            while r < r1 {
                let rows = (r1 - r).min(if width == NR { MR } else { 12 });
                let (xr, or) = (&x[r * k..], &mut out[r * n + c0..]);
                let s = &mut *seen;
                // SAFETY: the caller vouches for the features and for x (m·k values) and out (m·n
                // slots); rows ≤ r1 - r keeps every row in range, and a panel holds k·width.
                unsafe {
                    match (width, rows) {
                        (NR, 6) => V::gemm::<6, NR>(xr, k, k, wp, pb, clamp, or, n, cols, s),
                        (NR, 5) => V::gemm::<5, NR>(xr, k, k, wp, pb, clamp, or, n, cols, s),
                        (NR, 4) => V::gemm::<4, NR>(xr, k, k, wp, pb, clamp, or, n, cols, s),
                        (NR, 3) => V::gemm::<3, NR>(xr, k, k, wp, pb, clamp, or, n, cols, s),
                        (NR, 2) => V::gemm::<2, NR>(xr, k, k, wp, pb, clamp, or, n, cols, s),
                        (NR, _) => V::gemm::<1, NR>(xr, k, k, wp, pb, clamp, or, n, cols, s),
                        (_, 12) => V::gemm::<12, NR_NARROW>(xr, k, k, wp, pb8, clamp, or, n, cols, s),
                        (_, 8..) => V::gemm::<8, NR_NARROW>(xr, k, k, wp, pb8, clamp, or, n, cols, s),
                        (_, 4..) => V::gemm::<4, NR_NARROW>(xr, k, k, wp, pb8, clamp, or, n, cols, s),
                        (_, 2..) => V::gemm::<2, NR_NARROW>(xr, k, k, wp, pb8, clamp, or, n, cols, s),
                        _ => V::gemm::<1, NR_NARROW>(xr, k, k, wp, pb8, clamp, or, n, cols, s),
                    }
                }
                // The narrow kernel's row counts step down 12, 8, 4, 2, 1.
                r += if width == NR || rows >= 12 { rows } else { 1 << rows.ilog2() };
            }
        }
        r0 = r1;
    }
}

/// Depthwise convolution: 16-channel blocks through [`Variant::depthwise16`] when the depth
/// multiplier is 1, the remaining channels pixel by pixel. `seen` is Some after a run that
/// tracked the range of every value stored.
///
/// # Safety
/// The variant's CPU features are present; `xv`, `wv`, `bias` and `out` hold what the geometry
/// `g` says (`n·h·wd·c`, `kh·kw·oc`, `oc`, `n·oh·ow·oc`).
#[inline(always)]
pub unsafe fn depthwise<V: Variant>(
    g: &ConvGeom,
    xv: &[f32],
    wv: &[f32],
    bias: Option<&[f32]>,
    out: &mut Slots,
    seen: &mut Option<Seen>,
) {
    let ConvGeom { n, h, wd, c, kh, kw, oc, mm, oh, ow, pad_h, pad_w, sh, sw, dh, dw, clamp } = *g;
    let mut done = 0;
    if mm == 1 && c >= 16 {
        done = c / 16 * 16;
        let s = seen.insert(SEEN_NONE);
        let rows = |b: usize, iy: usize| xv.as_ptr().wrapping_add(((b * h + iy) * wd) * c);
        // SAFETY: the caller vouches for the features and the lengths; rows() points at whole
        // input rows of xv.
        unsafe { V::depthwise16(g, done, rows, 0..oh, wv, bias, out, s) };
        if done == c {
            return;
        }
        // The per-pixel loop below does not track the range.
        *seen = None;
    }
    // (input offset, filter offset) of each tap of the whole window, relative to the window's
    // top-left input pixel: used as they are for pixels whose window lies inside the input.
    let window: Vec<(usize, usize)> =
        (0..kh * kw).map(|t| (((t / kw) * dh * wd + (t % kw) * dw) * c, t * oc)).collect();
    let mut taps: Vec<(usize, usize)> = Vec::with_capacity(kh * kw);
    let mut acc = vec![0f32; oc];
    for b in 0..n {
        for oy in 0..oh {
            let y0 = (oy * sh) as isize - pad_h as isize;
            let rows_inside = y0 >= 0 && y0 as usize + (kh - 1) * dh < h;
            for ox in 0..ow {
                let x0 = (ox * sw) as isize - pad_w as isize;
                let inside = rows_inside && x0 >= 0 && x0 as usize + (kw - 1) * dw < wd;
                taps.clear();
                if inside {
                    let base = ((b * h + y0 as usize) * wd + x0 as usize) * c;
                    taps.extend(window.iter().map(|&(s, t)| (base + s, t)));
                } else {
                    for ky in 0..kh {
                        let iy = y0 + (ky * dh) as isize;
                        if iy < 0 || iy as usize >= h {
                            continue;
                        }
                        for kx in 0..kw {
                            let ix = x0 + (kx * dw) as isize;
                            if ix < 0 || ix as usize >= wd {
                                continue;
                            }
                            taps.push((((b * h + iy as usize) * wd + ix as usize) * c, (ky * kw + kx) * oc));
                        }
                    }
                }
                let o = ((b * oh + oy) * ow + ox) * oc;
                let out_px = &mut out[o..o + oc];
                if mm == 1 {
                    // SAFETY: each tap starts a whole pixel of x (c = oc values) and a whole filter
                    // row of oc values; the caller checked the bias length.
                    unsafe {
                        V::depthwise_pixel(
                            &xv[done..],
                            &wv[done..],
                            &taps,
                            bias.map(|b| &b[done..]),
                            clamp,
                            &mut out_px[done..],
                        )
                    };
                    continue;
                }
                match bias {
                    Some(bv) => acc.copy_from_slice(bv),
                    None => acc.iter_mut().for_each(|v| *v = 0.0),
                }
                for &(s, t) in &taps {
                    let xr = &xv[s..s + c];
                    let wr = &wv[t..t + oc];
                    for ((ar, &xi), wm) in acc.chunks_exact_mut(mm).zip(xr).zip(wr.chunks_exact(mm)) {
                        for (a, &wi) in ar.iter_mut().zip(wm) {
                            *a = madd(V::FMA, *a, xi, wi);
                        }
                    }
                }
                acc.iter_mut().for_each(|v| *v = clamp.apply(*v));
                put(out_px, &acc);
            }
        }
    }
}

/// What [`expand_depthwise`] returns: the depthwise output, and the (min, max) of the
/// expanded tensor it never stored and of the output.
pub type Fused = (crate::ir::Buf<f32>, Option<(f32, f32)>, Option<(f32, f32)>);

/// A 1×1 CONV_2D (`x` [h, wd, cin], packed filter `pw`, bias `b1`, clamp `clamp1`) whose output
/// only a depthwise convolution (geometry `g`, multiplier 1, channels a multiple of 16, filter
/// `wv`, bias `b2`) reads, computed without storing the expanded tensor: input rows are
/// expanded into a ring of as many rows as the depthwise window spans, just before the
/// depthwise rows that read them, so both kernels work in L2 instead of streaming a tensor
/// of up to several MB through L3. Every expanded row is computed exactly once, so its
/// tracked range is the tensor's.
///
/// # Safety
/// The variant's CPU features are present; `g.n == 1`, `g.c == g.oc == pw.n` is a multiple of
/// 16, `pw.k == cin`, `x` holds `h·wd·cin` values, `wv` `kh·kw·c`, the biases `c` each.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub unsafe fn expand_depthwise<V: Variant>(
    g: &ConvGeom,
    x: &[f32],
    cin: usize,
    pw: &PackedW,
    b1: Option<&[f32]>,
    clamp1: Clamp,
    wv: &[f32],
    b2: Option<&[f32]>,
) -> Fused {
    let ConvGeom { h, wd, c, kh, oh, ow, pad_h, sh, dh, .. } = *g;
    // The rows one output row reads: the window's span.
    let span = (kh - 1) * dh + 1;
    let row_len = wd * c;
    let slots = span.min(h);
    let mut ring = vec![0f32; slots * row_len];
    let numel = oh * ow * c;
    let (mut seen1, mut seen2) = (SEEN_NONE, SEEN_NONE);
    let mut next = 0;
    let mut expand_to = |last: usize, ring: &mut [f32], seen1: &mut Seen| {
        while next <= last {
            let src = &x[next * wd * cin..(next + 1) * wd * cin];
            let slot = next % slots;
            // SAFETY: the GEMM stores only values; the caller vouches for the features, and a
            // ring slot holds one expanded row (wd·c values).
            unsafe {
                let slot_out = as_slots(&mut ring[slot * row_len..(slot + 1) * row_len]);
                gemm_packed::<V>(wd, src, pw, b1, clamp1, slot_out, seen1);
            }
            next += 1;
        }
    };
    let out = crate::ir::Buf::written::<()>(numel, |out| {
        for oy in 0..oh {
            let y0 = (oy * sh) as isize - pad_h as isize;
            let last = y0 + ((kh - 1) * dh) as isize;
            if last >= 0 {
                expand_to((last as usize).min(h - 1), &mut ring, &mut seen1);
            }
            let base = ring.as_ptr();
            let rows = |_: usize, iy: usize| base.wrapping_add((iy % slots) * row_len);
            // SAFETY: the rows output row `oy` reads are y0 .. y0 + span within [0, h): all
            // expanded by now, and still in the ring, which holds the last `slots` rows (a slot is
            // reused only for a row `slots` later, past this window). The caller checked lengths.
            unsafe { V::depthwise16(g, c, rows, oy..oy + 1, wv, b2, out, &mut seen2) };
        }
        Ok(())
    })
    .unwrap_or_default();
    // Rows no output reads still belong to the expanded tensor's range.
    expand_to(h - 1, &mut ring, &mut seen1);
    (out, seen_range(&seen1), seen_range(&seen2))
}
