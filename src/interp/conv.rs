//! Convolutions, matrix products and pooling (f32, NHWC).

use super::elementwise::{activate, broadcast_shape, broadcast_strides, KResult};
use super::value::Value;
use super::Range;
use crate::schema::{ActivationFunctionType, Padding};
use std::mem::MaybeUninit;

/// `c[m×n] = a·b + beta·c`, with `a` (m×k) and `b` (k×n) given by row and column strides and
/// `c` row-major. Bounds are checked here, so the unsafe GEMM call cannot read out of range.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    (rsa, csa): (usize, usize),
    b: &[f32],
    (rsb, csb): (usize, usize),
    beta: f32,
    c: &mut [f32],
) -> KResult<()> {
    if m == 0 || n == 0 {
        return Ok(());
    }
    assert!(c.len() >= m * n, "gemm: output too small");
    if k == 0 {
        c[..m * n].iter_mut().for_each(|v| *v *= beta);
        return Ok(());
    }
    let last = |r: usize, rs: usize, cc: usize, cs: usize| (r - 1).checked_mul(rs).zip((cc - 1).checked_mul(cs));
    let fits = |len: usize, e: Option<(usize, usize)>| e.and_then(|(x, y)| x.checked_add(y)).is_some_and(|i| i < len);
    if !fits(a.len(), last(m, rsa, k, csa)) || !fits(b.len(), last(k, rsb, n, csb)) {
        return Err("matrix operand smaller than its shape".into());
    }
    let isz = |v: usize| isize::try_from(v).map_err(|_| "stride overflows".to_string());
    // SAFETY: every element index the GEMM touches is within the slices (checked above:
    // the largest index of each operand is in bounds, and all strides are non-negative).
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            isz(rsa)?,
            isz(csa)?,
            b.as_ptr(),
            isz(rsb)?,
            isz(csb)?,
            beta,
            c.as_mut_ptr(),
            isz(n)?,
            1,
        );
    }
    Ok(())
}

/// Output size and leading padding of one spatial dimension, as TFLite computes them.
pub(crate) fn out_and_pad(
    padding: Padding,
    input: usize,
    filter: usize,
    stride: i32,
    dilation: i32,
) -> KResult<(usize, usize)> {
    if stride <= 0 || dilation <= 0 {
        return Err(format!("stride {stride} and dilation {dilation} must be positive"));
    }
    let (i, f, s, d) = (input as i64, filter as i64, i64::from(stride), i64::from(dilation));
    let eff = (f - 1) * d + 1;
    let out = match padding {
        Padding::SAME => (i + s - 1) / s,
        Padding::VALID => {
            if i + s < eff {
                0
            } else {
                (i + s - eff) / s
            }
        }
        p => return Err(format!("unknown padding {}", p.0)),
    };
    let total = (out - 1) * s + eff - i;
    let pad = (total / 2).max(0);
    Ok((out.max(0) as usize, pad as usize))
}

fn dims4(v: &Value, what: &str) -> KResult<[usize; 4]> {
    match v.shape[..] {
        [a, b, c, d] => Ok([a, b, c, d]),
        _ => Err(format!("{what} must be 4-D, got {:?}", v.shape)),
    }
}

fn f32s<'a>(v: &'a Value, what: &str) -> KResult<&'a [f32]> {
    let x = v.as_f32().ok_or_else(|| format!("{what} must be FLOAT32, got {}", v.values.type_name()))?;
    if x.len() != v.numel() {
        return Err(format!("{what} has {} values for shape {:?}", x.len(), v.shape));
    }
    Ok(x)
}

/// Fills each of `rows` rows of `out` (width `n`) with the bias, or zeros.
fn bias_rows(bias: Option<&Value>, rows: usize, n: usize) -> KResult<(Vec<f32>, bool)> {
    match bias_slice(bias, n)? {
        None => Ok((vec![0f32; rows * n], false)),
        Some(bv) => {
            let mut out = Vec::with_capacity(rows * n);
            for _ in 0..rows {
                out.extend_from_slice(bv);
            }
            Ok((out, true))
        }
    }
}

pub(crate) struct ConvParams {
    pub padding: Padding,
    pub stride_h: i32,
    pub stride_w: i32,
    pub dilation_h: i32,
    pub dilation_w: i32,
    pub act: ActivationFunctionType,
}

/// CONV_2D: input NHWC, filter OHWI, optional bias; im2col + GEMM. Also returns the output's
/// (min, max) when the SIMD kernel tracked it as it stored (NaN ignored), else None.
pub(crate) fn conv2d(
    x: &Value,
    w: &Value,
    bias: Option<&Value>,
    p: &ConvParams,
    packed: Option<&PackedW>,
) -> KResult<(Value, Option<Range>)> {
    let [n, h, wd, c] = dims4(x, "input")?;
    let [oc, kh, kw, ic] = dims4(w, "filter")?;
    let xv = f32s(x, "input")?;
    if ic != c {
        return Err(format!("filter has {ic} input channels, the input {c} (grouped convolution is not supported)"));
    }
    let (oh, pad_h) = out_and_pad(p.padding, h, kh, p.stride_h, p.dilation_h)?;
    let (ow, pad_w) = out_and_pad(p.padding, wd, kw, p.stride_w, p.dilation_w)?;
    let (sh, sw, dh, dw) = (p.stride_h as usize, p.stride_w as usize, p.dilation_h as usize, p.dilation_w as usize);
    super::shape::checked_numel(&[n, oh, ow, oc])?;
    let m = n * oh * ow;
    let k = kh * kw * c;
    let packed = packed.filter(|pw| pw.n == oc && pw.k == k);
    let act = Clamp::of(p.act);
    let clamp = act.unwrap_or(Clamp::NONE);
    let g = ConvGeom { n, h, wd, c, kh, kw, oc, mm: 1, oh, ow, pad_h, pad_w, sh, sw, dh, dw, clamp };
    let bias_v = bias_slice(bias, oc)?;
    // With packed weights and a clamp activation, the GEMM starts from the bias and clamps as it
    // stores, into an output it writes whole; otherwise out is prefilled with the bias and the
    // activation is a separate pass.
    if let (Some(pw), Some(clamp)) = (packed, act) {
        let mut seen = None;
        let out = written(m * oc, |out| {
            g.for_row_blocks(xv, out, |rows, a, o| gemm_packed(rows, a, pw, bias_v, clamp, o, &mut seen))
        })?;
        return Ok((Value::f32(vec![n, oh, ow, oc], out), seen.as_ref().and_then(seen_range)));
    }
    let wv = f32s(w, "filter")?;
    let (mut out, has_bias) = bias_rows(bias, m, oc)?;
    let beta = if has_bias { 1.0 } else { 0.0 };
    // B = filterᵀ: element (kk, o) is w[o * k + kk].
    g.for_row_blocks(xv, &mut out, |rows, a, o| gemm(rows, k, oc, a, (k, 1), wv, (1, k), beta, o))?;
    activate(&mut out, p.act)?;
    Ok((Value::f32(vec![n, oh, ow, oc], out), None))
}

impl ConvGeom {
    /// For CONV_2D as a GEMM over im2col rows (one per output pixel): calls
    /// `mm(rows, a, out_rows)` on consecutive blocks of output rows, where `a` holds the block's
    /// im2col rows (`kh·kw·c` values each) and `out_rows` its `oc`-wide output rows.
    /// A 1×1, stride-1, unpadded convolution reads the input itself as one block.
    fn for_row_blocks<T>(
        &self,
        xv: &[f32],
        out: &mut [T],
        mut mm: impl FnMut(usize, &[f32], &mut [T]) -> KResult<()>,
    ) -> KResult<()> {
        let ConvGeom { n, h, wd, c, kh, kw, oc, oh, ow, pad_h, pad_w, sh, sw, dh, dw, .. } = *self;
        let (m, k) = (n * oh * ow, kh * kw * c);
        if kh == 1 && kw == 1 && sh == 1 && sw == 1 && pad_h == 0 && pad_w == 0 && oh == h && ow == wd {
            return mm(m, xv, out);
        }
        // Blocks of rows that stay in cache while the GEMM reads them.
        let rows_per = ((1usize << 14) / k.max(1)).max(MR);
        let mut col = vec![0f32; rows_per.min(m) * k];
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
                let dst = &mut col[(r - r0) * k..(r - r0 + 1) * k];
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
            mm(r1 - r0, &col, &mut out[r0 * oc..r1 * oc])?;
            r0 = r1;
        }
        Ok(())
    }
}

/// Output slots that a kernel writes, each exactly once, and never reads: such outputs skip
/// the zero fill, which costs about as much as one pass over a large output.
pub(crate) type Slots = [MaybeUninit<f32>];

/// A vector of `n` values made by `fill`, which writes every one of the `n` slots it is given
/// (the kernels that take [`Slots`] do; their tests prefill NaN to check it).
fn written(n: usize, fill: impl FnOnce(&mut Slots) -> KResult<()>) -> KResult<Vec<f32>> {
    let mut v = Vec::with_capacity(n);
    fill(&mut v.spare_capacity_mut()[..n])?;
    // SAFETY: `fill` initialized all `n` slots.
    unsafe { v.set_len(n) };
    Ok(v)
}

/// Initialized values seen as slots, for a kernel that writes slots.
///
/// # Safety
/// Only initialized values may be written through the result (the kernels only store values).
unsafe fn as_slots(v: &mut [f32]) -> &mut Slots {
    // SAFETY: MaybeUninit<f32> has f32's layout; the caller keeps the values initialized.
    unsafe { &mut *(v as *mut [f32] as *mut Slots) }
}

/// `dst[i] = src[i]` for the shorter of the two.
#[inline(always)]
fn put(dst: &mut Slots, src: &[f32]) {
    for (d, &v) in dst.iter_mut().zip(src) {
        d.write(v);
    }
}

/// Runs `$f::<true>(args)` compiled for AVX2+FMA when the CPU has them, else `$f::<false>(args)`.
/// `$f` must be `#[inline(always)]` so that it is compiled inside the feature-enabled wrapper.
macro_rules! simd_dispatch {
    ($f:ident($($a:ident: $t:ty),*)) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2,fma")]
            unsafe fn wide($($a: $t),*) {
                $f::<true>($($a),*)
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU supports AVX2 and FMA, the features `wide` is compiled for.
                unsafe { wide($($a),*) }
            } else {
                $f::<false>($($a),*)
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            $f::<false>($($a),*)
        }
    }};
}

/// `a + x·w`, fused when FMA is available (then it vectorizes to vfmadd).
#[inline(always)]
fn madd<const FMA: bool>(a: f32, x: f32, w: f32) -> f32 {
    if FMA {
        x.mul_add(w, a)
    } else {
        a + x * w
    }
}

/// Dot product with eight independent accumulators, so it vectorizes.
#[inline(always)]
fn dot<const FMA: bool>(x: &[f32], w: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let xc = x.chunks_exact(16);
    let wc = w.chunks_exact(16);
    let (xr, wr) = (xc.remainder(), wc.remainder());
    for (xa, wa) in xc.zip(wc) {
        for i in 0..16 {
            acc[i] = madd::<FMA>(acc[i], xa[i], wa[i]);
        }
    }
    let mut s = 0f32;
    for (&a, &b) in xr.iter().zip(wr) {
        s = madd::<FMA>(s, a, b);
    }
    acc.iter().sum::<f32>() + s
}

/// `out[b, o] += x[b, :] · w[o, :]` for rows of length `k`.
#[inline(always)]
fn gemv_impl<const FMA: bool>(x: &[f32], w: &[f32], k: usize, out: &mut [f32]) {
    let o = w.len() / k;
    for (xb, ob) in x.chunks_exact(k).zip(out.chunks_exact_mut(o)) {
        for (wr, d) in w.chunks_exact(k).zip(ob.iter_mut()) {
            *d += dot::<FMA>(xb, wr);
        }
    }
}

/// Width of a packed weight panel (output channels per microkernel column block).
const NR: usize = 16;
/// Width of the last panel when at most this many channels are left over: a full-width panel
/// would spend up to half its multiply-adds on zero padding (n = 24 is common in MobileNets).
const NR_NARROW: usize = 8;
/// Rows per microkernel call.
const MR: usize = 6;
/// Rows per call of the narrow panel's microkernel (it needs half the accumulators per row).
const MR_NARROW: usize = 12;

/// Constant weights `[n][k]` (OHWI flattened) packed once into panels of NR output channels:
/// panel p holds, for each kk, the NR weights of channels p·NR.. (zero beyond n). When at most
/// NR_NARROW channels are left for the last panel, it is NR_NARROW wide.
pub(crate) struct PackedW {
    n: usize,
    k: usize,
    panels: Vec<f32>,
}

impl PackedW {
    pub(crate) fn new(w: &[f32], n: usize, k: usize) -> Option<PackedW> {
        if n == 0 || k == 0 || w.len() != n.checked_mul(k)? {
            return None;
        }
        let mut panels = vec![0f32; Self::widths(n).map(|(_, width)| k * width).sum()];
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
    fn widths(n: usize) -> impl Iterator<Item = (usize, usize)> {
        (0..n.div_ceil(NR)).map(move |p| {
            let left = n - p * NR;
            (p * NR, if left <= NR_NARROW { NR_NARROW } else { NR })
        })
    }

    /// (first channel, width, packed weights) of each panel.
    fn panels(&self) -> impl Iterator<Item = (usize, usize, &[f32])> {
        let mut at = 0;
        Self::widths(self.n).map(move |(c0, width)| {
            let panel = &self.panels[at..at + self.k * width];
            at += self.k * width;
            (c0, width, panel)
        })
    }
}

/// A fused activation that is a clamp, applied as results are stored. TANH and SIGN_BIT are
/// not clamps; kernels run them as a separate pass ([`Clamp::of`] returns None).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clamp {
    lo: f32,
    hi: f32,
}

impl Clamp {
    pub(crate) const NONE: Clamp = Clamp { lo: f32::NEG_INFINITY, hi: f32::INFINITY };

    pub(crate) fn of(act: ActivationFunctionType) -> Option<Clamp> {
        let (lo, hi) = match act {
            ActivationFunctionType::NONE => return Some(Clamp::NONE),
            ActivationFunctionType::RELU => (0.0, f32::INFINITY),
            ActivationFunctionType::RELU6 => (0.0, 6.0),
            ActivationFunctionType::RELU_N1_TO_1 => (-1.0, 1.0),
            _ => return None,
        };
        Some(Clamp { lo, hi })
    }

    #[inline(always)]
    fn apply(self, v: f32) -> f32 {
        // Plain compares map to vmaxps/vminps (f32::max's NaN rule would not vectorize here).
        let v = if v < self.lo { self.lo } else { v };
        if v > self.hi {
            self.hi
        } else {
            v
        }
    }
}

/// The bias of `n` output channels as a slice (checked), or None.
fn bias_slice(bias: Option<&Value>, n: usize) -> KResult<Option<&[f32]>> {
    let Some(b) = bias else { return Ok(None) };
    let bv = f32s(b, "bias")?;
    if bv.len() != n {
        return Err(format!("bias has {} values for {n} output channels", bv.len()));
    }
    Ok(Some(bv))
}

/// Lane-wise running minima (row 0) and maxima (row 1) of the values a SIMD kernel stores.
pub(crate) type Seen = [[f32; 8]; 2];

pub(crate) const SEEN_NONE: Seen = [[f32::INFINITY; 8], [f32::NEG_INFINITY; 8]];

/// The (min, max) of what `seen` took in, or None if every value was NaN (or there were none).
fn seen_range(seen: &Seen) -> Option<Range> {
    let lo = seen[0].iter().copied().fold(f32::INFINITY, f32::min);
    let hi = seen[1].iter().copied().fold(f32::NEG_INFINITY, f32::max);
    (lo <= hi).then_some((lo, hi))
}

/// `out[r, c] = clamp(bias[c] + Σ_kk x[r, kk] · panel[kk, c])` for MRR rows (stride `xs` in x,
/// `n` in out) and the first `cols` columns of one panel of width W. `bias` is the panel's W
/// values (zero beyond `cols`). Every output element is written once, none is read.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn micro<const MRR: usize, const W: usize, const FMA: bool>(
    x: &[f32],
    xs: usize,
    k: usize,
    wp: &[f32],
    bias: &[f32; W],
    clamp: Clamp,
    out: &mut Slots,
    n: usize,
    cols: usize,
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
                acc[r][j] = madd::<FMA>(acc[r][j], xk[r], w[j]);
            }
        }
    }
    for (r, a) in acc.iter_mut().enumerate() {
        for v in a.iter_mut() {
            *v = clamp.apply(*v);
        }
        if cols == W {
            // Fixed-size copies compile to vector moves; a variable length would call memmove.
            let dst: &mut [MaybeUninit<f32>; W] = (&mut out[r * n..r * n + W]).try_into().expect("W values");
            *dst = a.map(MaybeUninit::new);
        } else {
            put(&mut out[r * n..r * n + cols], &a[..cols]);
        }
    }
}

/// Rows per block of the packed GEMM: the block's rows of x stay in cache while every
/// weight panel passes over them, and its output rows are written whole.
fn row_block(k: usize) -> usize {
    ((16 * 1024 / k.max(1)) / MR * MR).clamp(MR, 64 * MR)
}

#[inline(always)]
fn gemm_packed_impl<const FMA: bool>(
    m: usize,
    x: &[f32],
    pw: &PackedW,
    bias: Option<&[f32]>,
    clamp: Clamp,
    out: &mut Slots,
    seen: &mut Option<Seen>,
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
                let rows = (r1 - r).min(if width == NR { MR } else { MR_NARROW });
                let (xr, or) = (&x[r * k..], &mut out[r * n + c0..]);
                #[cfg(target_arch = "x86_64")]
                if FMA {
                    let b = &(clamp.lo, clamp.hi);
                    let s = seen.get_or_insert(SEEN_NONE);
                    // SAFETY: FMA is true only inside simd_dispatch!'s AVX2+FMA wrapper; gemm_packed
                    // checked that x holds m·k values and out m·n, and a panel holds k·width.
                    unsafe {
                        use super::avx::{gemm_micro as g, gemm_micro8 as g8};
                        match (width, rows) {
                            (NR, 6) => g::<6>(xr, k, k, wp, pb, b, or, n, cols, s),
                            (NR, 5) => g::<5>(xr, k, k, wp, pb, b, or, n, cols, s),
                            (NR, 4) => g::<4>(xr, k, k, wp, pb, b, or, n, cols, s),
                            (NR, 3) => g::<3>(xr, k, k, wp, pb, b, or, n, cols, s),
                            (NR, 2) => g::<2>(xr, k, k, wp, pb, b, or, n, cols, s),
                            (NR, _) => g::<1>(xr, k, k, wp, pb, b, or, n, cols, s),
                            (_, 12) => g8::<12>(xr, k, k, wp, pb8, b, or, n, cols, s),
                            (_, 8..) => g8::<8>(xr, k, k, wp, pb8, b, or, n, cols, s),
                            (_, 4..) => g8::<4>(xr, k, k, wp, pb8, b, or, n, cols, s),
                            (_, 2..) => g8::<2>(xr, k, k, wp, pb8, b, or, n, cols, s),
                            _ => g8::<1>(xr, k, k, wp, pb8, b, or, n, cols, s),
                        }
                    }
                    // The narrow kernel's row counts step down 12, 8, 4, 2, 1.
                    r += if width == NR || rows >= 12 { rows } else { 1 << rows.ilog2() };
                    continue;
                }
                if width == NR && rows == MR {
                    micro::<MR, NR, FMA>(xr, k, k, wp, pb, clamp, or, n, cols);
                    r += rows;
                    continue;
                }
                for i in 0..rows {
                    let (xi, oi) = (&xr[i * k..], &mut or[i * n..]);
                    if width == NR {
                        micro::<1, NR, FMA>(xi, k, k, wp, pb, clamp, oi, n, cols);
                    } else {
                        micro::<1, NR_NARROW, FMA>(xi, k, k, wp, pb8, clamp, oi, n, cols);
                    }
                }
                r += rows;
            }
        }
        r0 = r1;
    }
}

/// `out[m×n] = clamp(bias + x[m×k] · wᵀ)` with pre-packed weights; x and out are row-major,
/// and every one of the m·n outputs is written. The SIMD kernel also widens `seen` (set to
/// Some on first use) by every value it stores.
fn gemm_packed(
    m: usize,
    x: &[f32],
    pw: &PackedW,
    bias: Option<&[f32]>,
    clamp: Clamp,
    out: &mut Slots,
    seen: &mut Option<Seen>,
) -> KResult<()> {
    if x.len() < m * pw.k || out.len() < m * pw.n || bias.is_some_and(|b| b.len() != pw.n) {
        return Err("matrix operand smaller than its shape".into());
    }
    simd_dispatch!(gemm_packed_impl(
        m: usize,
        x: &[f32],
        pw: &PackedW,
        bias: Option<&[f32]>,
        clamp: Clamp,
        out: &mut Slots,
        seen: &mut Option<Seen>
    ));
    Ok(())
}

/// The geometry of one convolution, NHWC, as `conv2d` or `depthwise` checked it (`mm` is the
/// depth multiplier, 1 for CONV_2D; `clamp` the fused activation, NONE when it is not a clamp).
#[derive(Clone, Copy)]
pub(super) struct ConvGeom {
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

#[inline(always)]
fn depthwise_impl<const FMA: bool>(
    g: &ConvGeom,
    xv: &[f32],
    wv: &[f32],
    bias: Option<&[f32]>,
    out: &mut Slots,
    seen: &mut Option<Seen>,
) {
    let ConvGeom { n, h, wd, c, kh, kw, oc, mm, oh, ow, pad_h, pad_w, sh, sw, dh, dw, clamp } = *g;
    // With AVX2, whole blocks of 16 channels go through the blocked kernel; the per-pixel
    // loop below does the rest.
    #[allow(unused_mut)]
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if FMA && mm == 1 && c >= 16 {
        done = c / 16 * 16;
        // SAFETY: FMA is true only inside simd_dispatch!'s AVX2+FMA wrapper; depthwise()
        // checked every length against this geometry.
        let s = seen.insert(SEEN_NONE);
        let rows = |b: usize, iy: usize| xv.as_ptr().wrapping_add(((b * h + iy) * wd) * c);
        unsafe { super::avx::depthwise16(g, done, rows, 0..oh, wv, bias, &(clamp.lo, clamp.hi), out, s) };
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
                #[cfg(target_arch = "x86_64")]
                if FMA && mm == 1 {
                    // SAFETY: FMA is true only inside simd_dispatch!'s AVX2+FMA wrapper. Each tap
                    // starts a whole pixel of x (c = oc values) and a whole filter row of oc
                    // values; depthwise() checked the bias length.
                    unsafe {
                        super::avx::depthwise_pixel(
                            &xv[done..],
                            &wv[done..],
                            &taps,
                            bias.map(|b| &b[done..]),
                            (clamp.lo, clamp.hi),
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
                            *a = madd::<FMA>(*a, xi, wi);
                        }
                    }
                }
                acc.iter_mut().for_each(|v| *v = clamp.apply(*v));
                put(out_px, &acc);
            }
        }
    }
}

/// DEPTHWISE_CONV_2D: input NHWC, filter [1, KH, KW, C·multiplier]; a direct kernel that adds
/// the bias and clamps as it stores. Also returns the output's (min, max) when the SIMD kernel
/// tracked it (NaN ignored), else None.
pub(crate) fn depthwise(
    x: &Value,
    w: &Value,
    bias: Option<&Value>,
    p: &ConvParams,
    mult: i32,
) -> KResult<(Value, Option<Range>)> {
    let [n, h, wd, c] = dims4(x, "input")?;
    let [one, kh, kw, oc] = dims4(w, "filter")?;
    let xv = f32s(x, "input")?;
    let wv = f32s(w, "filter")?;
    if one != 1 || c == 0 || oc % c != 0 {
        return Err(format!("filter shape {:?} does not fit input channels {c}", w.shape));
    }
    let mm = oc / c;
    if mult > 0 && mult as usize != mm {
        return Err(format!("depth_multiplier {mult} but the filter gives {mm}"));
    }
    let (oh, pad_h) = out_and_pad(p.padding, h, kh, p.stride_h, p.dilation_h)?;
    let (ow, pad_w) = out_and_pad(p.padding, wd, kw, p.stride_w, p.dilation_w)?;
    let (sh, sw, dh, dw) = (p.stride_h as usize, p.stride_w as usize, p.dilation_h as usize, p.dilation_w as usize);
    let bias = bias_slice(bias, oc)?;
    let fused = Clamp::of(p.act);
    let clamp = fused.unwrap_or(Clamp::NONE);
    let g = ConvGeom { n, h, wd, c, kh, kw, oc, mm, oh, ow, pad_h, pad_w, sh, sw, dh, dw, clamp };
    let (g, mut seen) = (&g, None);
    let mut out = written(super::shape::checked_numel(&[n, oh, ow, oc])?, |out_s| {
        let seen_r = &mut seen;
        simd_dispatch!(depthwise_impl(
            g: &ConvGeom,
            xv: &[f32],
            wv: &[f32],
            bias: Option<&[f32]>,
            out_s: &mut Slots,
            seen_r: &mut Option<Seen>
        ));
        Ok(())
    })?;
    let range =
        if fused.is_some() { seen.as_ref().and_then(seen_range) } else { activate(&mut out, p.act).map(|_| None)? };
    Ok((Value::f32(vec![n, oh, ow, oc], out), range))
}

/// What [`expand_depthwise`] returns: the depthwise output, and the (min, max) of the
/// expanded tensor it never stored and of the output.
pub(crate) type Fused = (Value, Option<Range>, Option<Range>);

/// Expanded tensors smaller than this (elements) stay in L2 anyway, and row-sized GEMMs on
/// narrow images are less efficient than one whole GEMM: such pairs run unfused.
pub(crate) const FUSE_MIN_ELEMENTS: usize = 256 * 1024;

/// A 1×1 CONV_2D (packed filter, clamp activation) whose output only a DEPTHWISE_CONV_2D
/// (multiplier 1, channels a multiple of 16) reads, computed without storing the expanded
/// tensor: input rows are expanded into a ring of as many rows as the depthwise window spans,
/// just before the depthwise rows that read them, so both kernels work in L2 instead of
/// streaming a tensor of up to several MB through L3. Every expanded row is computed exactly
/// once, so its tracked range is the tensor's. Returns None when the pair does not qualify
/// (the caller then runs the two ops one by one).
#[allow(clippy::too_many_arguments)]
pub(crate) fn expand_depthwise(
    x: &Value,
    conv_w: &Value,
    conv_b: Option<&Value>,
    cp: &ConvParams,
    packed: Option<&PackedW>,
    dw_w: &Value,
    dw_b: Option<&Value>,
    dp: &ConvParams,
    min_elements: usize,
) -> KResult<Option<Fused>> {
    #[cfg(target_arch = "x86_64")]
    {
        if !(std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")) {
            return Ok(None);
        }
        let [n, h, wd, cin] = dims4(x, "input")?;
        let [oc, kh1, kw1, ic] = dims4(conv_w, "filter")?;
        let [one, kh, kw, c] = dims4(dw_w, "filter")?;
        let (Some(pw), Some(clamp1), Some(clamp2)) = (packed, Clamp::of(cp.act), Clamp::of(dp.act)) else {
            return Ok(None);
        };
        if n != 1 || (kh1, kw1, cp.stride_h, cp.stride_w) != (1, 1, 1, 1) || ic != cin || pw.n != oc || pw.k != cin {
            return Ok(None);
        }
        if one != 1 || c != oc || c % 16 != 0 || h == 0 || wd == 0 || h * wd * c < min_elements {
            return Ok(None);
        }
        let xv = f32s(x, "input")?;
        let wv = f32s(dw_w, "filter")?;
        let b1 = bias_slice(conv_b, oc)?;
        let b2 = bias_slice(dw_b, c)?;
        let (oh, pad_h) = out_and_pad(dp.padding, h, kh, dp.stride_h, dp.dilation_h)?;
        let (ow, pad_w) = out_and_pad(dp.padding, wd, kw, dp.stride_w, dp.dilation_w)?;
        let (sh, sw, dh, dw) =
            (dp.stride_h as usize, dp.stride_w as usize, dp.dilation_h as usize, dp.dilation_w as usize);
        let g = ConvGeom { n, h, wd, c, kh, kw, oc: c, mm: 1, oh, ow, pad_h, pad_w, sh, sw, dh, dw, clamp: clamp2 };
        // The rows one output row reads: the window's span.
        let span = (kh - 1) * dh + 1;
        let row_len = wd * c;
        let mut ring = vec![0f32; span.min(h) * row_len];
        let slots = span.min(h);
        let numel = super::shape::checked_numel(&[n, oh, ow, c])?;
        let mut out = Vec::with_capacity(numel);
        let (mut seen1, mut seen2) = (None, SEEN_NONE);
        let mut next = 0;
        let mut expand_to = |last: usize, ring: &mut [f32], seen1: &mut Option<Seen>| -> KResult<()> {
            while next <= last {
                let src = &xv[next * wd * cin..(next + 1) * wd * cin];
                let slot = next % slots;
                // SAFETY: the GEMM stores only values.
                let slot_out = unsafe { as_slots(&mut ring[slot * row_len..(slot + 1) * row_len]) };
                gemm_packed(wd, src, pw, b1, clamp1, slot_out, seen1)?;
                next += 1;
            }
            Ok(())
        };
        for oy in 0..oh {
            let y0 = (oy * sh) as isize - pad_h as isize;
            let last = y0 + ((kh - 1) * dh) as isize;
            if last >= 0 {
                expand_to((last as usize).min(h - 1), &mut ring, &mut seen1)?;
            }
            let base = ring.as_ptr();
            let rows = |_: usize, iy: usize| base.wrapping_add((iy % slots) * row_len);
            // SAFETY: AVX2 and FMA were detected above. The rows output row `oy` reads are
            // y0 .. y0 + span within [0, h): all expanded by now, and still in the ring, which
            // holds the last `slots` rows (a slot is reused only for a row `slots` later, past
            // this window). Lengths were checked against the geometry above.
            unsafe {
                super::avx::depthwise16(
                    &g,
                    c,
                    rows,
                    oy..oy + 1,
                    wv,
                    b2,
                    &(clamp2.lo, clamp2.hi),
                    &mut out.spare_capacity_mut()[..numel],
                    &mut seen2,
                )
            };
        }
        // SAFETY: depthwise16 above wrote every output row, each whole (c16 = c, n = 1).
        unsafe { out.set_len(numel) };
        // Rows no output reads still belong to the expanded tensor's range.
        expand_to(h - 1, &mut ring, &mut seen1)?;
        let r1 = seen1.as_ref().and_then(seen_range);
        if r1.is_none() && h * wd * c > 0 {
            return Ok(None);
        }
        Ok(Some((Value::f32(vec![n, oh, ow, c], out), r1, seen_range(&seen2))))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (x, conv_w, conv_b, cp, packed, dw_w, dw_b, dp, min_elements);
        Ok(None)
    }
}

/// FULLY_CONNECTED: weights [O, K]; the input is read as [numel / K, K].
/// `w_data`, when given, holds the weights' values in place of `w`'s own (which then carries
/// only the shape).
pub(crate) fn fully_connected(
    x: &Value,
    w: &Value,
    w_data: Option<&[f32]>,
    bias: Option<&Value>,
    keep_num_dims: bool,
    act: ActivationFunctionType,
) -> KResult<Value> {
    let xv = f32s(x, "input")?;
    let wv = match w_data {
        Some(d) => d,
        None => f32s(w, "weights")?,
    };
    let [o, k] = w.shape[..] else {
        return Err(format!("weights must be 2-D, got {:?}", w.shape));
    };
    if k == 0 || xv.len() % k != 0 {
        return Err(format!("input {:?} does not divide into rows of {k}", x.shape));
    }
    let batch = xv.len() / k;
    let (mut out, has_bias) = bias_rows(bias, batch, o)?;
    if wv.len() != o * k {
        return Err(format!("weights have {} values for shape {:?}", wv.len(), w.shape));
    }
    if batch <= 4 {
        // A GEMM would repack all the weights for a handful of rows.
        let out_s = &mut out[..];
        simd_dispatch!(gemv_impl(xv: &[f32], wv: &[f32], k: usize, out_s: &mut [f32]));
    } else {
        gemm(batch, k, o, xv, (k, 1), wv, (1, k), if has_bias { 1.0 } else { 0.0 }, &mut out)?;
    }
    activate(&mut out, act)?;
    let shape = if keep_num_dims && x.shape.last() == Some(&k) {
        let mut s = x.shape.clone();
        *s.last_mut().unwrap_or(&mut 0) = o;
        s
    } else {
        vec![batch, o]
    };
    Ok(Value::f32(shape, out))
}

/// TRANSPOSE_CONV: output_shape, weights [O, KH, KW, I], input NHWC, optional bias.
pub(crate) fn transpose_conv(
    out_shape: &[i64],
    w: &Value,
    x: &Value,
    bias: Option<&Value>,
    p: &ConvParams,
) -> KResult<Value> {
    let [n, h, wd, c] = dims4(x, "input")?;
    let [oc, kh, kw, ic] = dims4(w, "weights")?;
    let xv = f32s(x, "input")?;
    let wv = f32s(w, "weights")?;
    if ic != c {
        return Err(format!("weights have {ic} input channels, the input {c}"));
    }
    let os: Vec<usize> =
        out_shape.iter().map(|&d| usize::try_from(d)).collect::<Result<_, _>>().map_err(|_| "negative output_shape")?;
    let [on, oh, ow, occ] = os[..] else {
        return Err(format!("output_shape must have 4 values, got {out_shape:?}"));
    };
    if on != n || occ != oc {
        return Err(format!("output_shape {out_shape:?} does not match input {:?} / weights {:?}", x.shape, w.shape));
    }
    super::shape::checked_numel(&os)?;
    super::shape::checked_numel(&[n, h, wd, kh, kw, oc])?;
    // Padding as for the forward convolution from the output to the input.
    let (_, pad_h) = out_and_pad(p.padding, oh, kh, p.stride_h, 1)?;
    let (_, pad_w) = out_and_pad(p.padding, ow, kw, p.stride_w, 1)?;
    let (sh, sw) = (p.stride_h as usize, p.stride_w as usize);
    // Weights reordered to [KH, KW, O, I], so that each (ky, kx) gives O contiguous outputs.
    let mut wr = vec![0f32; wv.len()];
    for o in 0..oc {
        for t in 0..kh * kw {
            let src = (o * kh * kw + t) * c;
            let dst = (t * oc + o) * c;
            wr[dst..dst + c].copy_from_slice(&wv[src..src + c]);
        }
    }
    let m = n * h * wd;
    let j = kh * kw * oc;
    let mut col = vec![0f32; m * j];
    gemm(m, c, j, xv, (c, 1), &wr, (1, c), 0.0, &mut col)?;
    let mut out = vec![0f32; n * oh * ow * oc];
    for b in 0..n {
        for iy in 0..h {
            for ix in 0..wd {
                let row = &col[((b * h + iy) * wd + ix) * j..][..j];
                for ky in 0..kh {
                    let oy = (iy * sh + ky) as isize - pad_h as isize;
                    if oy < 0 || oy as usize >= oh {
                        continue;
                    }
                    for kx in 0..kw {
                        let ox = (ix * sw + kx) as isize - pad_w as isize;
                        if ox < 0 || ox as usize >= ow {
                            continue;
                        }
                        let d = ((b * oh + oy as usize) * ow + ox as usize) * oc;
                        let s = (ky * kw + kx) * oc;
                        for (o, &v) in out[d..d + oc].iter_mut().zip(&row[s..s + oc]) {
                            *o += v;
                        }
                    }
                }
            }
        }
    }
    if let Some(b) = bias {
        let bv = f32s(b, "bias")?;
        if bv.len() != oc {
            return Err(format!("bias has {} values for {oc} channels", bv.len()));
        }
        for px in out.chunks_exact_mut(oc) {
            px.iter_mut().zip(bv).for_each(|(o, &b)| *o += b);
        }
    }
    activate(&mut out, p.act)?;
    Ok(Value::f32(vec![n, oh, ow, oc], out))
}

/// BATCH_MATMUL with adj_x/adj_y and broadcast batch dimensions.
pub(crate) fn batch_matmul(x: &Value, y: &Value, adj_x: bool, adj_y: bool) -> KResult<Value> {
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
    let ob = broadcast_shape(xbatch, ybatch)?;
    let sx = broadcast_strides(xbatch, &ob);
    let sy = broadcast_strides(ybatch, &ob);
    let nb: usize = ob.iter().product();
    let mut out = vec![0f32; nb * m * n];
    let a_str = if adj_x { (1, m) } else { (k, 1) };
    let b_str = if adj_y { (1, k) } else { (n, 1) };
    let mut idx = vec![0usize; ob.len()];
    for bi in 0..nb {
        let ox: usize = idx.iter().zip(&sx).map(|(i, s)| i * s).sum();
        let oy: usize = idx.iter().zip(&sy).map(|(i, s)| i * s).sum();
        let a = &xv[ox * m * k..(ox + 1) * m * k];
        let b = &yv[oy * k * n..(oy + 1) * k * n];
        gemm(m, k, n, a, a_str, b, b_str, 0.0, &mut out[bi * m * n..(bi + 1) * m * n])?;
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

pub(crate) struct PoolParams {
    pub padding: Padding,
    pub stride_h: i32,
    pub stride_w: i32,
    pub filter_h: i32,
    pub filter_w: i32,
    pub act: ActivationFunctionType,
}

/// MAX_POOL_2D / AVERAGE_POOL_2D over the window clipped to the input (the average divides
/// by the clipped window's size).
pub(crate) fn pool(x: &Value, p: &PoolParams, max: bool) -> KResult<Value> {
    let [n, h, wd, c] = dims4(x, "input")?;
    let xv = f32s(x, "input")?;
    if p.filter_h <= 0 || p.filter_w <= 0 {
        return Err("filter size must be positive".into());
    }
    let (fh, fw) = (p.filter_h as usize, p.filter_w as usize);
    let (oh, pad_h) = out_and_pad(p.padding, h, fh, p.stride_h, 1)?;
    let (ow, pad_w) = out_and_pad(p.padding, wd, fw, p.stride_w, 1)?;
    let (sh, sw) = (p.stride_h as usize, p.stride_w as usize);
    let mut out = vec![0f32; n * oh * ow * c];
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
                        if max {
                            acc.iter_mut().zip(row).for_each(|(a, &v)| *a = a.max(v));
                        } else {
                            acc.iter_mut().zip(row).for_each(|(a, &v)| *a += v);
                        }
                    }
                }
                let count = (ye.saturating_sub(ys)) * (xe.saturating_sub(xs));
                if !max && count > 0 {
                    let inv = count as f32;
                    acc.iter_mut().for_each(|a| *a /= inv);
                }
            }
        }
    }
    activate(&mut out, p.act)?;
    Ok(Value::f32(vec![n, oh, ow, c], out))
}

#[cfg(test)]
mod tests {
    //! The fast kernels against plain loops over many geometries: strides, dilations, both
    //! paddings, channel counts that are and are not multiples of the SIMD blocks, batches.
    use super::*;

    /// Deterministic values in [-1, 1).
    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn act_ref(v: f64, act: ActivationFunctionType) -> f64 {
        match act {
            ActivationFunctionType::RELU => v.max(0.0),
            ActivationFunctionType::RELU6 => v.clamp(0.0, 6.0),
            ActivationFunctionType::RELU_N1_TO_1 => v.clamp(-1.0, 1.0),
            ActivationFunctionType::TANH => v.tanh(),
            _ => v,
        }
    }

    /// Plain NHWC convolution; `depthwise` reads input channel `o / mult` for output `o`.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        x: &[f32],
        [n, h, wd, c]: [usize; 4],
        w: &[f32],
        [kh, kw, oc]: [usize; 3],
        bias: Option<&[f32]>,
        p: &ConvParams,
        depthwise: bool,
    ) -> (Vec<usize>, Vec<f32>) {
        let (oh, pad_h) = out_and_pad(p.padding, h, kh, p.stride_h, p.dilation_h).unwrap();
        let (ow, pad_w) = out_and_pad(p.padding, wd, kw, p.stride_w, p.dilation_w).unwrap();
        let (sh, sw, dh, dw) = (p.stride_h as isize, p.stride_w as isize, p.dilation_h as isize, p.dilation_w as isize);
        let mut out = vec![0f32; n * oh * ow * oc];
        for b in 0..n {
            for oy in 0..oh {
                for ox in 0..ow {
                    for o in 0..oc {
                        let mut acc = bias.map_or(0.0, |b| f64::from(b[o]));
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = oy as isize * sh + ky as isize * dh - pad_h as isize;
                                let ix = ox as isize * sw + kx as isize * dw - pad_w as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                    continue;
                                }
                                let px = ((b * h + iy as usize) * wd + ix as usize) * c;
                                if depthwise {
                                    let xi = x[px + o / (oc / c)];
                                    acc += f64::from(xi) * f64::from(w[(ky * kw + kx) * oc + o]);
                                } else {
                                    for i in 0..c {
                                        let wi = w[((o * kh + ky) * kw + kx) * c + i];
                                        acc += f64::from(x[px + i]) * f64::from(wi);
                                    }
                                }
                            }
                        }
                        out[((b * oh + oy) * ow + ox) * oc + o] = act_ref(acc, p.act) as f32;
                    }
                }
            }
        }
        (vec![n, oh, ow, oc], out)
    }

    /// A tracked range must be the min and max of the values (up to the kernels' rounding).
    fn check_range(range: Option<Range>, values: &[f32], what: &str) {
        let Some((lo, hi)) = range else { return };
        let want_lo = values.iter().copied().fold(f32::INFINITY, f32::min);
        let want_hi = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        close(&[lo, hi], &[want_lo, want_hi], &format!("{what}: range"));
    }

    fn close(got: &[f32], want: &[f32], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}");
        for (i, (&g, &e)) in got.iter().zip(want).enumerate() {
            assert!((g - e).abs() <= 1e-4 * (1.0 + e.abs()), "{what}: element {i} is {g}, expected {e}");
        }
    }

    /// Every geometry of the grid, with a seed that differs per case.
    fn geometries(mut f: impl FnMut(usize, [usize; 4], [usize; 2], ConvParams)) {
        let mut case = 0;
        for &(n, h, wd) in &[(1, 1, 1), (1, 5, 7), (2, 9, 6), (1, 12, 13)] {
            for &(kh, kw) in &[(1, 1), (3, 3), (2, 5)] {
                for &(s, d) in &[(1usize, 1usize), (2, 1), (1, 2), (3, 1)] {
                    for padding in [Padding::SAME, Padding::VALID] {
                        for act in [
                            ActivationFunctionType::NONE,
                            ActivationFunctionType::RELU6,
                            ActivationFunctionType::RELU_N1_TO_1,
                            ActivationFunctionType::TANH,
                        ] {
                            case += 1;
                            let p = ConvParams {
                                padding,
                                stride_h: s as i32,
                                stride_w: s as i32,
                                dilation_h: d as i32,
                                dilation_w: d as i32,
                                act,
                            };
                            f(case, [n, h, wd, 0], [kh, kw], p);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn depthwise_matches_plain_loops() {
        geometries(|case, [n, h, wd, _], [kh, kw], p| {
            for &(c, mult) in &[(1, 1), (16, 1), (20, 1), (35, 1), (48, 1), (3, 2), (8, 4)] {
                let oc = c * mult;
                let x = values(n * h * wd * c, case as u64);
                let w = values(kh * kw * oc, case as u64 + 1000);
                let bias = values(oc, case as u64 + 2000);
                for with_bias in [false, true] {
                    let b = with_bias.then_some(&bias[..]);
                    let what = format!("case {case} c {c} mult {mult} bias {with_bias} k {kh}x{kw}");
                    let (shape, want) = reference(&x, [n, h, wd, c], &w, [kh, kw, oc], b, &p, true);
                    let xv = Value::f32(vec![n, h, wd, c], x.clone());
                    let wv = Value::f32(vec![1, kh, kw, oc], w.clone());
                    let bv = Value::f32(vec![oc], bias.clone());
                    let (got, range) = depthwise(&xv, &wv, with_bias.then_some(&bv), &p, mult as i32).unwrap();
                    check_range(range, &want, &what);
                    assert_eq!(got.shape, shape, "{what}");
                    close(got.as_f32().unwrap(), &want, &what);
                    // The portable kernel too, whatever this CPU has.
                    let (oh, pad_h) = out_and_pad(p.padding, h, kh, p.stride_h, p.dilation_h).unwrap();
                    let (ow, pad_w) = out_and_pad(p.padding, wd, kw, p.stride_w, p.dilation_w).unwrap();
                    let (sh, sw, dh, dw) =
                        (p.stride_h as usize, p.stride_w as usize, p.dilation_h as usize, p.dilation_w as usize);
                    let clamp = Clamp::of(p.act).unwrap_or(Clamp::NONE);
                    let g = ConvGeom { n, h, wd, c, kh, kw, oc, mm: mult, oh, ow, pad_h, pad_w, sh, sw, dh, dw, clamp };
                    // NaN shows any output the kernel did not write.
                    let mut out = vec![f32::NAN; n * oh * ow * oc];
                    // SAFETY: the kernel stores only values.
                    depthwise_impl::<false>(&g, &x, &w, b, unsafe { as_slots(&mut out) }, &mut None);
                    if Clamp::of(p.act).is_none() {
                        activate(&mut out, p.act).unwrap();
                    }
                    close(&out, &want, &format!("{what} (portable)"));
                }
            }
        });
    }

    #[test]
    fn conv2d_matches_plain_loops() {
        geometries(|case, [n, h, wd, _], [kh, kw], p| {
            for &(c, oc) in &[(1, 1), (3, 16), (5, 24), (16, 7), (20, 33)] {
                let x = values(n * h * wd * c, case as u64);
                let w = values(oc * kh * kw * c, case as u64 + 1000);
                let bias = values(oc, case as u64 + 2000);
                let what = format!("case {case} c {c} oc {oc} k {kh}x{kw}");
                let (shape, want) = reference(&x, [n, h, wd, c], &w, [kh, kw, oc], Some(&bias), &p, false);
                let xv = Value::f32(vec![n, h, wd, c], x);
                let wv = Value::f32(vec![oc, kh, kw, c], w.clone());
                let bv = Value::f32(vec![oc], bias.clone());
                let packed = PackedW::new(&w, oc, kh * kw * c);
                for pw in [None, packed.as_ref()] {
                    let (got, range) = conv2d(&xv, &wv, Some(&bv), &p, pw).unwrap();
                    check_range(range, &want, &what);
                    assert_eq!(got.shape, shape, "{what}");
                    close(got.as_f32().unwrap(), &want, &format!("{what} packed {}", pw.is_some()));
                }
            }
        });
    }

    #[test]
    fn packed_gemm_portable_matches_plain_loops() {
        // n = 24 and 40 end in a narrow panel; m = 23 and 30 take every narrow row count.
        for &(m, k, n) in &[(1, 1, 1), (5, 3, 16), (7, 20, 17), (13, 33, 40), (100, 9, 5), (23, 7, 24), (30, 96, 24)] {
            let x = values(m * k, (m * k) as u64);
            let w = values(n * k, (n * k) as u64 + 7);
            let bias = values(n, n as u64);
            let pw = PackedW::new(&w, n, k).unwrap();
            for clamp in [Clamp::NONE, Clamp::of(ActivationFunctionType::RELU6).unwrap()] {
                let mut out = vec![f32::NAN; m * n];
                // SAFETY (both calls): the kernels store only values.
                gemm_packed_impl::<false>(m, &x, &pw, Some(&bias), clamp, unsafe { as_slots(&mut out) }, &mut None);
                let mut fast = vec![f32::NAN; m * n];
                let mut seen = None;
                gemm_packed(m, &x, &pw, Some(&bias), clamp, unsafe { as_slots(&mut fast) }, &mut seen).unwrap();
                check_range(seen.as_ref().and_then(seen_range), &fast, &format!("m {m} k {k} n {n}"));
                for r in 0..m {
                    for j in 0..n {
                        let dot: f64 = (0..k).map(|i| f64::from(x[r * k + i]) * f64::from(w[j * k + i])).sum();
                        let want = clamp.apply((dot + f64::from(bias[j])) as f32);
                        let what = format!("m {m} k {k} n {n} at ({r}, {j})");
                        close(&[out[r * n + j]], &[want], &what);
                        close(&[fast[r * n + j]], &[want], &format!("{what} (dispatched)"));
                    }
                }
            }
        }
    }

    #[test]
    fn fused_expand_depthwise_equals_the_two_kernels() {
        // Sizes just past the fusion threshold; strides, paddings, windows and dilations vary.
        let cases: [(usize, usize, usize, usize, usize, usize, Padding); 5] = [
            (32, 32, 256, 3, 1, 1, Padding::SAME),
            (33, 31, 272, 3, 2, 1, Padding::SAME),
            (33, 31, 272, 3, 2, 1, Padding::VALID),
            (32, 33, 256, 5, 1, 2, Padding::SAME),
            (34, 32, 256, 3, 3, 1, Padding::VALID),
        ];
        if !(std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")) {
            return;
        }
        for (case, &(h, wd, c, k, s, d, padding)) in cases.iter().enumerate() {
            let cin = 8;
            let mut xs = values(h * wd * cin, case as u64);
            // The last row, which a stride-3 VALID window skips, holds the expanded tensor's
            // extremes: its range must still be taken.
            xs[(h - 1) * wd * cin..].iter_mut().for_each(|v| *v *= 50.0);
            let x = Value::f32(vec![1, h, wd, cin], xs);
            let w1 = values(c * cin, case as u64 + 1);
            let conv_w = Value::f32(vec![c, 1, 1, cin], w1.clone());
            let conv_b = Value::f32(vec![c], values(c, case as u64 + 2));
            let dw_w = Value::f32(vec![1, k, k, c], values(k * k * c, case as u64 + 3));
            let dw_b = Value::f32(vec![c], values(c, case as u64 + 4));
            let cp = ConvParams {
                padding: Padding::VALID,
                stride_h: 1,
                stride_w: 1,
                dilation_h: 1,
                dilation_w: 1,
                act: ActivationFunctionType::RELU6,
            };
            let dp = ConvParams {
                padding,
                stride_h: s as i32,
                stride_w: s as i32,
                dilation_h: d as i32,
                dilation_w: d as i32,
                act: ActivationFunctionType::RELU6,
            };
            let pw = PackedW::new(&w1, c, cin).unwrap();
            let (mid, mid_range) = conv2d(&x, &conv_w, Some(&conv_b), &cp, Some(&pw)).unwrap();
            let (want, want_range) = depthwise(&mid, &dw_w, Some(&dw_b), &dp, 1).unwrap();
            let (got, got_mid, got_range) = expand_depthwise(
                &x,
                &conv_w,
                Some(&conv_b),
                &cp,
                Some(&pw),
                &dw_w,
                Some(&dw_b),
                &dp,
                FUSE_MIN_ELEMENTS,
            )
            .unwrap()
            .expect("the pair qualifies");
            assert_eq!(got, want, "case {case}");
            assert_eq!(got_mid, mid_range, "case {case}: expanded range");
            assert_eq!(got_range, want_range, "case {case}: output range");
        }
        // Below the size threshold the pair runs unfused.
        let x = Value::f32(vec![1, 8, 8, 8], values(512, 9));
        let w1 = values(16 * 8, 10);
        let pw = PackedW::new(&w1, 16, 8).unwrap();
        let p = ConvParams {
            padding: Padding::SAME,
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            act: ActivationFunctionType::RELU,
        };
        let conv_w = Value::f32(vec![16, 1, 1, 8], w1);
        let dw_w = Value::f32(vec![1, 3, 3, 16], values(144, 11));
        assert!(expand_depthwise(&x, &conv_w, None, &p, Some(&pw), &dw_w, None, &p, FUSE_MIN_ELEMENTS)
            .unwrap()
            .is_none());
    }
}
