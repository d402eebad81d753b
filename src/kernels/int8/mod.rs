//! Integer kernels for int8 tensors: CONV_2D and FULLY_CONNECTED as one packed GEMM,
//! DEPTHWISE_CONV_2D, and the elementwise ADD/SUB. Every variant computes exactly what the
//! scalar definitions in [`reference`] compute (LiteRT's built-in kernels, bit for bit): the
//! integer sums are the same sums in another order (i32 arithmetic wraps, and the reference
//! truncates its sum to i32 before requantizing), and the requantization is the same integer
//! function, vectorized.
//!
//! Two rewrites make the sums fast and stay exact:
//! - **Zero points leave the inner loop.** `Σ w·(x − zi)` over the valid taps equals
//!   `Σ w·x' − zi·Σw` over all taps, where `x'` is the input with the padding taps set to `zi`
//!   (they add `w·zi − w·zi = 0`); `zi·Σw` is folded into the bias per output channel. The
//!   weights' own zero point (per-tensor FULLY_CONNECTED) is subtracted when packing.
//! - **Pairs of 16-bit products.** Inputs and weights are widened to i16 and multiplied two
//!   taps at a time into i32 (`vpmaddwd`): |x·w| ≤ 2^15 for int8, so a pair never saturates.
//!
//! - **Unsigned bytes for VNNI.** The VNNI kernels (`vnni`: `vpdpbusd`, 4 u8×i8 products per
//!   i32 lane) take `x' + 128` and weights packed as i8 quads at prepare; `128·Σw` comes off
//!   the bias, so the sums are the same. [`PackedW8::new`] packs for them when the CPU has
//!   AVX512-VNNI (6×32 zmm tiles, and 3×3 depthwise rows of 16 channels) or AVX-VNNI (6×16
//!   ymm tiles) and every `w − zw` fits in i8; the AVX2 ISA then runs them.
//!
//! Layout: the portable loops (`generic`), the AVX2 ones (`x86_64`), the VNNI ones (`vnni`,
//! inline assembly, as their intrinsics are not stable on the MSRV), and the drivers here
//! (im2col blocks, padding, dispatch on [`Isa`]).

mod generic;
pub mod reference;
#[cfg(target_arch = "x86_64")]
mod vnni;
#[cfg(target_arch = "x86_64")]
mod x86_64;

use super::fixedpoint as fp;
use super::{Isa, KResult};

/// Output channels per packed weight panel.
pub const NR: usize = 16;
/// Rows per GEMM micro-kernel call.
pub const MR: usize = 6;

/// Convolution geometry, NHWC: input `n×h×w×c`, filter `kh×kw`, `oc` output channels (a
/// depthwise convolution's multiplier is `oc / c`), output `n×oh×ow×oc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geom {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub kh: usize,
    pub kw: usize,
    pub oc: usize,
    pub oh: usize,
    pub ow: usize,
    /// Padding before the first row and column.
    pub ph: usize,
    pub pw: usize,
    pub sh: usize,
    pub sw: usize,
    pub dh: usize,
    pub dw: usize,
}

impl Geom {
    /// The input row read by output row `oy` at filter row `ky`, None in the padding.
    #[inline]
    fn in_row(&self, oy: usize, ky: usize) -> Option<usize> {
        (oy * self.sh + ky * self.dh).checked_sub(self.ph).filter(|&y| y < self.h)
    }

    #[inline]
    fn in_col(&self, ox: usize, kx: usize) -> Option<usize> {
        (ox * self.sw + kx * self.dw).checked_sub(self.pw).filter(|&x| x < self.w)
    }

    fn check(&self, x: usize, out: usize) -> KResult<()> {
        let ok = x == self.n * self.h * self.w * self.c
            && out == self.n * self.oh * self.ow * self.oc
            && [self.kh, self.kw, self.sh, self.sw, self.dh, self.dw, self.c].iter().all(|&v| v > 0);
        if ok {
            Ok(())
        } else {
            Err(format!("integer convolution operands do not match their geometry {self:?}"))
        }
    }
}

/// The output stage of a convolution or matrix product: accumulator → requantized (per output
/// channel multiplier), plus the output zero point, clamped to the activation's range.
#[derive(Clone, Debug)]
pub struct OutStage {
    /// Per channel: the multiplier and shift of `QuantizeMultiplier`.
    mult: Vec<i32>,
    shift: Vec<i32>,
    /// Channels below this round the final shift half up (`mbqm_x86`, LiteRT's optimized
    /// x86 kernels), the others half away from zero (`mbqm`, its reference code).
    x86_below: usize,
    zo: i32,
    lo: i32,
    hi: i32,
    /// The same per channel, as the vector code uses it: left shift (count mod 32, as the
    /// scalar code's wrapping shift), right shift, right shift − 1 and the rounding bit mask
    /// (1, or 0 when there is no right shift).
    left: Vec<i32>,
    right: Vec<i32>,
    right1: Vec<i32>,
    rbit: Vec<i32>,
    /// `mult[c + 1]` (0 after the last): the odd lanes' multipliers in the low half of each
    /// 64-bit lane, for the 512-bit high multiply (which multiplies the low halves).
    mult_odd: Vec<i32>,
}

impl OutStage {
    /// `params` holds one (multiplier, shift) per channel, or one for all `channels`.
    pub fn new(params: &[(i32, i32)], channels: usize, x86_below: usize, zo: i32, lo: i32, hi: i32) -> KResult<Self> {
        if params.is_empty() || (params.len() != 1 && params.len() != channels) {
            return Err(format!("{} requantization parameters for {channels} channels", params.len()));
        }
        let at = |c: usize| params[c.min(params.len() - 1)];
        let (mult, shift): (Vec<i32>, Vec<i32>) = (0..channels).map(at).unzip();
        let left = shift.iter().map(|&s| s.max(0) & 31).collect();
        let right: Vec<i32> = shift.iter().map(|&s| (-s).clamp(0, 31)).collect();
        let right1 = right.iter().map(|&r| (r - 1).max(0)).collect();
        let rbit = right.iter().map(|&r| i32::from(r > 0)).collect();
        let mult_odd = mult.iter().skip(1).copied().chain([0]).collect();
        Ok(OutStage { mult, shift, x86_below, zo, lo, hi, left, right, right1, rbit, mult_odd })
    }

    pub fn channels(&self) -> usize {
        self.mult.len()
    }

    /// Whether the vector code computes channel block `c0..c0 + 8` exactly as [`Self::apply`]:
    /// the x86 rounding throughout (the one it implements) and no multiplier of −2^31 (which
    /// `QuantizeMultiplier` never gives, and which needs the high multiply's saturation).
    fn vector_ok(&self, c0: usize) -> bool {
        c0 + 8 <= self.x86_below && self.mult[c0..c0 + 8].iter().all(|&m| m != i32::MIN)
    }

    /// One output: `acc` of channel `c` requantized, plus the zero point (saturating), clamped.
    #[inline]
    pub fn apply(&self, acc: i32, c: usize) -> i32 {
        let (m, s) = (self.mult[c], self.shift[c]);
        let r = if c < self.x86_below { fp::mbqm_x86(acc, m, s) } else { fp::mbqm(acc, m, s) };
        r.saturating_add(self.zo).clamp(self.lo, self.hi)
    }
}

/// GEMM weights `w[o][k]` (o < n, k < depth) minus their zero point, packed for the kernels:
/// panels of [`NR`] output channels; in a panel, for each pair of k, the NR channels' two
/// values side by side (i16, zero beyond n and depth). `sums` holds `Σ_k (w − zw)` per channel.
#[derive(Clone, Debug)]
pub struct PackedW8 {
    pub n: usize,
    pub depth: usize,
    /// Pairs of k per panel (depth rounded up to even, halved).
    pairs: usize,
    data: Vec<i16>,
    sums: Vec<i32>,
    /// The same weights as bytes for `vpdpbusd` (when the CPU has AVX-VNNI and every
    /// `w − zw` fits in i8): panels of [`NR`] channels; in a panel, for each group of 4 k, the
    /// NR channels' four values side by side (zero beyond n and depth).
    quads: Option<Vec<i8>>,
    /// Groups of 4 k per panel (depth rounded up to a multiple of 4, over 4).
    groups: usize,
    /// Whether the quads go to the AVX-512 kernel (two panels a call), not the AVX-VNNI one.
    wide: bool,
}

/// The VNNI kernel, if any, that [`PackedW8`] packs for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Vnni {
    Off,
    /// 256-bit AVX-VNNI.
    Avx,
    /// 512-bit AVX512-VNNI.
    Avx512,
}

impl PackedW8 {
    /// Packs row-major `w` (`n` rows of `depth`), minus `zw`; also for the VNNI kernel when
    /// this CPU runs it.
    pub fn new(w: &[i8], n: usize, depth: usize, zw: i32) -> KResult<Self> {
        #[cfg(target_arch = "x86_64")]
        let vnni = if vnni::wide_available() {
            Vnni::Avx512
        } else if vnni::available() {
            Vnni::Avx
        } else {
            Vnni::Off
        };
        #[cfg(not(target_arch = "x86_64"))]
        let vnni = Vnni::Off;
        Self::pack(w, n, depth, zw, vnni)
    }

    /// As [`Self::new`], with the VNNI layout for `vnni` (when the weights fit in i8).
    fn pack(w: &[i8], n: usize, depth: usize, zw: i32, vnni: Vnni) -> KResult<Self> {
        if w.len() != n * depth || depth == 0 {
            return Err(format!("{} weights for {n} rows of {depth}", w.len()));
        }
        let pairs = depth.div_ceil(2);
        let panels = n.div_ceil(NR);
        let mut data = vec![0i16; panels * pairs * NR * 2];
        for (o, row) in w.chunks_exact(depth).enumerate() {
            let (p, l) = (o / NR, o % NR);
            for (k, &v) in row.iter().enumerate() {
                data[((p * pairs + k / 2) * NR + l) * 2 + k % 2] = (i32::from(v) - zw) as i16;
            }
        }
        let sums = w.chunks_exact(depth).map(|r| r.iter().map(|&v| i32::from(v) - zw).sum()).collect();
        let groups = depth.div_ceil(4);
        let fits = w.iter().all(|&v| i8::try_from(i32::from(v) - zw).is_ok());
        let quads = (vnni != Vnni::Off && fits).then(|| {
            let mut q = vec![0i8; panels * groups * NR * 4];
            for (o, row) in w.chunks_exact(depth).enumerate() {
                let (p, l) = (o / NR, o % NR);
                for (k, &v) in row.iter().enumerate() {
                    q[((p * groups + k / 4) * NR + l) * 4 + k % 4] = (i32::from(v) - zw) as i8;
                }
            }
            q
        });
        Ok(PackedW8 { n, depth, pairs, data, sums, quads, groups, wide: vnni == Vnni::Avx512 })
    }

    /// The VNNI panel `p`, when packed.
    fn quad_panel(&self, p: usize) -> Option<&[i8]> {
        let len = self.groups * NR * 4;
        self.quads.as_ref().map(|q| &q[p * len..][..len])
    }

    fn panel(&self, p: usize) -> &[i16] {
        &self.data[p * self.pairs * NR * 2..][..self.pairs * NR * 2]
    }
}

/// Bias per output channel with the input zero point folded in: `bias − zi·Σw` (wrapping,
/// as every sum here).
fn folded_bias(bias: Option<&[i32]>, sums: &[i32], zi: i32) -> KResult<Vec<i32>> {
    if bias.is_some_and(|b| b.len() != sums.len()) {
        return Err("bias length differs from the output channels".into());
    }
    Ok(sums.iter().enumerate().map(|(o, &s)| bias.map_or(0, |b| b[o]).wrapping_sub(zi.wrapping_mul(s))).collect())
}

/// One block of GEMM rows: `rows` rows of `pairs·2` i16 (a multiple of [`MR`] rows, the
/// padding rows' outputs dropped), written to `out` (`valid` rows of stride `ldo`).
struct Rows<'a> {
    a: &'a [i16],
    valid: usize,
}

/// `out[r·ldo + o] = stage(bias[o] + Σ_k a[r][k]·w[o][k])` for the rows of `a` and every
/// channel of `pw`.
fn gemm_rows(isa: Isa, rows: Rows, pw: &PackedW8, bias: &[i32], stage: &OutStage, out: &mut [i8], ldo: usize) {
    let kp = pw.pairs * 2;
    debug_assert!(rows.a.len() % (MR * kp) == 0 && rows.a.len() / kp >= rows.valid);
    for p in 0..pw.n.div_ceil(NR) {
        let panel = pw.panel(p);
        let c0 = p * NR;
        let cols = NR.min(pw.n - c0);
        for (g, a) in rows.a.chunks_exact(MR * kp).enumerate() {
            let r0 = g * MR;
            if r0 >= rows.valid {
                break;
            }
            let tile = Tile { a, kp, panel, bias: &bias[c0..c0 + cols], c0, cols, rows: MR.min(rows.valid - r0) };
            let o = &mut out[r0 * ldo + c0..];
            match isa {
                Isa::Portable => generic::tile(&tile, stage, o, ldo),
                // SAFETY: Avx2Fma is only made by Isa::best on a CPU with AVX2; the tile's
                // slices hold what x86_64::tile reads (MR rows of kp, pairs·NR·2 weights), and
                // `o` the rows·ldo outputs it writes (checked by the caller's sizes).
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2Fma => unsafe { x86_64::tile(&tile, stage, o, ldo) },
            }
        }
    }
}

/// One micro-kernel call: [`MR`] rows of `a` against one weight panel (i16 pairs, or for the
/// VNNI kernel u8 rows against i8 quads, `kp` then a multiple of 4).
struct Tile<'a, A = i16, W = i16> {
    a: &'a [A],
    kp: usize,
    panel: &'a [W],
    /// The bias of the panel's valid channels.
    bias: &'a [i32],
    /// First channel of the panel, and how many of its NR are real.
    c0: usize,
    cols: usize,
    /// Rows to store (≤ MR).
    rows: usize,
}

/// Rows per im2col block: about 16 KiB of i16, a multiple of MR.
fn block_rows(kp: usize) -> usize {
    ((8192 / kp.max(1)) / MR).max(1) * MR
}

/// CONV_2D, int8: `x` NHWC with zero point `zi`, weights packed from `[oc][kh][kw][c]`,
/// `bias` int32 per output channel; every output written.
#[allow(clippy::too_many_arguments)]
pub fn conv(
    isa: Isa,
    g: &Geom,
    x: &[i8],
    zi: i32,
    pw: &PackedW8,
    bias: Option<&[i32]>,
    stage: &OutStage,
    out: &mut [i8],
) -> KResult<()> {
    g.check(x.len(), out.len())?;
    if pw.n != g.oc || pw.depth != g.kh * g.kw * g.c || stage.channels() != g.oc {
        return Err("integer convolution weights do not match the geometry".into());
    }
    let bias = folded_bias(bias, &pw.sums, zi)?;
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx2Fma && pw.quads.is_some() && (-128..=127).contains(&zi) {
        conv_vnni(g, x, zi, pw, &bias, stage, out);
        return Ok(());
    }
    let kp = pw.pairs * 2;
    let m = g.n * g.oh * g.ow;
    let per = block_rows(kp);
    let mut a = vec![0i16; per * kp];
    let pointwise = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
    let mut r0 = 0;
    while r0 < m {
        let valid = per.min(m - r0);
        let used = valid.div_ceil(MR) * MR;
        let block = &mut a[..used * kp];
        if pointwise && g.oh == g.h && g.ow == g.w {
            for (r, row) in block.chunks_exact_mut(kp).enumerate().take(valid) {
                let px = &x[(r0 + r) * g.c..][..g.c];
                widen(px, &mut row[..g.c]);
            }
        } else {
            for (r, row) in block.chunks_exact_mut(kp).enumerate().take(valid) {
                im2col_row(g, x, zi as i16, r0 + r, row, i16::from);
            }
        }
        gemm_rows(isa, Rows { a: block, valid }, pw, &bias, stage, &mut out[r0 * g.oc..], g.oc);
        r0 += valid;
    }
    Ok(())
}

fn widen(x: &[i8], out: &mut [i16]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = i16::from(v);
    }
}

/// The im2col row of output pixel `r` (batch-major): `kh·kw·c` inputs in filter order, each
/// as `f` makes it, the padding taps set to `pad` (`zi` so made, see the module notes); the
/// row's tail (to the packed depth) stays 0.
fn im2col_row<T: Copy>(g: &Geom, x: &[i8], pad: T, r: usize, row: &mut [T], f: impl Fn(i8) -> T) {
    let (b, rest) = (r / (g.oh * g.ow), r % (g.oh * g.ow));
    let (oy, ox) = (rest / g.ow, rest % g.ow);
    // A window wholly inside the row, undilated: each filter row's taps are one run of x.
    let inside = g.dw == 1 && (ox * g.sw).checked_sub(g.pw).is_some_and(|x0| x0 + g.kw <= g.w);
    let run = g.kw * g.c;
    let mut k = 0;
    for ky in 0..g.kh {
        let iy = g.in_row(oy, ky);
        if inside {
            let dst = &mut row[k..k + run];
            match iy {
                Some(iy) => {
                    let x0 = ox * g.sw - g.pw;
                    for (d, &v) in dst.iter_mut().zip(&x[((b * g.h + iy) * g.w + x0) * g.c..][..run]) {
                        *d = f(v);
                    }
                }
                None => dst.fill(pad),
            }
            k += run;
            continue;
        }
        for kx in 0..g.kw {
            let dst = &mut row[k..k + g.c];
            match (iy, g.in_col(ox, kx)) {
                (Some(iy), Some(ix)) => {
                    for (d, &v) in dst.iter_mut().zip(&x[((b * g.h + iy) * g.w + ix) * g.c..][..g.c]) {
                        *d = f(v);
                    }
                }
                _ => dst.fill(pad),
            }
            k += g.c;
        }
    }
}

/// An int8 input as the VNNI kernel's unsigned operand: `x + 128`.
#[inline]
fn biased(v: i8) -> u8 {
    (v as u8) ^ 0x80
}

/// `out = x + 128` as bytes, in a loop of its own (so that it vectorizes).
fn biased_copy(x: &[i8], out: &mut [u8]) {
    for (d, &v) in out.iter_mut().zip(x) {
        *d = biased(v);
    }
}

/// Rows per VNNI im2col block: about 16 KiB of u8, a multiple of MR.
fn block_rows_u8(kq: usize) -> usize {
    ((16384 / kq.max(1)) / MR).max(1) * MR
}

/// The VNNI bias: `vpdpbusd` sums `w·(x' + 128)`, so `128·Σw` comes off the folded bias too.
#[cfg(target_arch = "x86_64")]
fn vnni_bias(bias: &[i32], sums: &[i32]) -> Vec<i32> {
    bias.iter().zip(sums).map(|(&b, &s)| b.wrapping_sub(s.wrapping_mul(128))).collect()
}

/// [`gemm_rows`] for the VNNI kernel: `rows` rows (a multiple of [`MR`]) of `pw.groups·4`
/// bytes `x' + 128`, `bias` from [`vnni_bias`]. `pw` has its VNNI panels.
#[cfg(target_arch = "x86_64")]
fn gemm_rows_vnni(a: &[u8], valid: usize, pw: &PackedW8, bias: &[i32], stage: &OutStage, out: &mut [i8], ldo: usize) {
    let kq = pw.groups * 4;
    debug_assert!(a.len() % (MR * kq) == 0 && a.len() / kq >= valid);
    let panels = pw.n.div_ceil(NR);
    if pw.wide {
        for p in (0..panels).step_by(2) {
            let (Some(w0), w1) = (pw.quad_panel(p), (p + 1 < panels).then(|| pw.quad_panel(p + 1)).flatten()) else {
                return;
            };
            let c0 = p * NR;
            let c1 = c0 + NR;
            for (g, a) in a.chunks_exact(MR * kq).enumerate() {
                let r0 = g * MR;
                if r0 >= valid {
                    break;
                }
                let rows = MR.min(valid - r0);
                let cols0 = NR.min(pw.n - c0);
                let t0 = Tile { a, kp: kq, panel: w0, bias: &bias[c0..c0 + cols0], c0, cols: cols0, rows };
                let t1 = w1.map(|w1| {
                    let cols = NR.min(pw.n - c1);
                    Tile { a, kp: kq, panel: w1, bias: &bias[c1..c1 + cols], c0: c1, cols, rows }
                });
                // SAFETY: wide panels are only packed when vnni::wide_available(); the tiles
                // hold MR rows of kq bytes and groups·NR·4 weights each, and `out` from
                // column c0 the rows·ldo outputs written (the caller's sizes).
                unsafe { vnni::tile_wide(&t0, t1.as_ref(), stage, &mut out[r0 * ldo + c0..], ldo) };
            }
        }
        return;
    }
    for p in 0..panels {
        let Some(panel) = pw.quad_panel(p) else { return };
        let c0 = p * NR;
        let cols = NR.min(pw.n - c0);
        for (g, a) in a.chunks_exact(MR * kq).enumerate() {
            let r0 = g * MR;
            if r0 >= valid {
                break;
            }
            let tile = Tile { a, kp: kq, panel, bias: &bias[c0..c0 + cols], c0, cols, rows: MR.min(valid - r0) };
            // SAFETY: the VNNI panels are only packed when vnni::available() (AVX2 and
            // AVX-VNNI); the tile holds MR rows of kq bytes and groups·NR·4 weights, and `o`
            // the rows·ldo outputs written (the caller's sizes).
            unsafe { vnni::tile(&tile, stage, &mut out[r0 * ldo + c0..], ldo) };
        }
    }
}

/// [`conv`] on the VNNI kernel (`bias` folded, `zi` in i8 range so that `zi + 128` is a byte).
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
fn conv_vnni(g: &Geom, x: &[i8], zi: i32, pw: &PackedW8, bias: &[i32], stage: &OutStage, out: &mut [i8]) {
    let bias = vnni_bias(bias, &pw.sums);
    let kq = pw.groups * 4;
    let m = g.n * g.oh * g.ow;
    let per = block_rows_u8(kq);
    let mut a = vec![0u8; per.min(m.div_ceil(MR) * MR) * kq];
    let pointwise = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
    let pad = (zi + 128) as u8;
    let mut r0 = 0;
    while r0 < m {
        let valid = per.min(m - r0);
        let used = valid.div_ceil(MR) * MR;
        let block = &mut a[..used * kq];
        if pointwise && g.oh == g.h && g.ow == g.w && kq == g.c {
            // The rows are the input's pixels as they are: one copy.
            biased_copy(&x[r0 * g.c..][..valid * g.c], &mut block[..valid * g.c]);
        } else {
            for (r, row) in block.chunks_exact_mut(kq).enumerate().take(valid) {
                if pointwise && g.oh == g.h && g.ow == g.w {
                    biased_copy(&x[(r0 + r) * g.c..][..g.c], &mut row[..g.c]);
                } else {
                    im2col_row(g, x, pad, r0 + r, row, biased);
                }
            }
        }
        gemm_rows_vnni(block, valid, pw, &bias, stage, &mut out[r0 * g.oc..], g.oc);
        r0 += valid;
    }
}

/// [`fully_connected`] on the VNNI kernel (`bias` folded).
#[cfg(target_arch = "x86_64")]
fn fully_connected_vnni(x: &[i8], pw: &PackedW8, bias: &[i32], stage: &OutStage, out: &mut [i8]) {
    let bias = vnni_bias(bias, &pw.sums);
    let (depth, units, kq) = (pw.depth, pw.n, pw.groups * 4);
    let m = x.len() / depth;
    let per = block_rows_u8(kq);
    let mut a = vec![0u8; per.min(m.div_ceil(MR) * MR) * kq];
    let mut r0 = 0;
    while r0 < m {
        let valid = per.min(m - r0);
        let used = valid.div_ceil(MR) * MR;
        let block = &mut a[..used * kq];
        for (r, row) in block.chunks_exact_mut(kq).enumerate().take(valid) {
            biased_copy(&x[(r0 + r) * depth..][..depth], &mut row[..depth]);
        }
        gemm_rows_vnni(block, valid, pw, &bias, stage, &mut out[r0 * units..], units);
        r0 += valid;
    }
}

/// FULLY_CONNECTED, int8: `batches` rows of `x` (depth `pw.depth`, zero point `zi`) times the
/// packed weights, `bias` int32 per unit.
pub fn fully_connected(
    isa: Isa,
    x: &[i8],
    zi: i32,
    pw: &PackedW8,
    bias: Option<&[i32]>,
    stage: &OutStage,
    out: &mut [i8],
) -> KResult<()> {
    let (depth, units) = (pw.depth, pw.n);
    if x.len() % depth != 0 || out.len() != x.len() / depth * units || stage.channels() != units {
        return Err(format!("input of {} values for depth {depth} and {units} units", x.len()));
    }
    let bias = folded_bias(bias, &pw.sums, zi)?;
    // Any zi works here: it only enters the bias (no padding taps).
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx2Fma && pw.quads.is_some() {
        fully_connected_vnni(x, pw, &bias, stage, out);
        return Ok(());
    }
    let m = x.len() / depth;
    let kp = pw.pairs * 2;
    let per = block_rows(kp);
    let mut a = vec![0i16; per.min(m.div_ceil(MR) * MR) * kp];
    let mut r0 = 0;
    while r0 < m {
        let valid = per.min(m - r0);
        let used = valid.div_ceil(MR) * MR;
        let block = &mut a[..used * kp];
        for (r, row) in block.chunks_exact_mut(kp).enumerate().take(valid) {
            widen(&x[(r0 + r) * depth..][..depth], &mut row[..depth]);
        }
        gemm_rows(isa, Rows { a: block, valid }, pw, &bias, stage, &mut out[r0 * units..], units);
        r0 += valid;
    }
    Ok(())
}

/// DEPTHWISE_CONV_2D, int8: `x` NHWC (zero point `zi`), `w` the `[1][kh][kw][oc]` filter,
/// `bias` int32 per output channel (output channel `o` reads input channel `o / (oc / c)`).
#[allow(clippy::too_many_arguments)]
pub fn depthwise(
    isa: Isa,
    g: &Geom,
    x: &[i8],
    zi: i32,
    w: &[i8],
    bias: Option<&[i32]>,
    stage: &OutStage,
    out: &mut [i8],
) -> KResult<()> {
    #[cfg(target_arch = "x86_64")]
    let wide = vnni::wide_available();
    #[cfg(not(target_arch = "x86_64"))]
    let wide = false;
    depthwise_with(isa, wide, g, x, zi, w, bias, stage, out)
}

/// [`depthwise`], on the AVX-512 row kernel for 3×3 filters (`isa` AVX2) only if `wide`.
#[allow(clippy::too_many_arguments)]
fn depthwise_with(
    isa: Isa,
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))] wide: bool,
    g: &Geom,
    x: &[i8],
    zi: i32,
    w: &[i8],
    bias: Option<&[i32]>,
    stage: &OutStage,
    out: &mut [i8],
) -> KResult<()> {
    g.check(x.len(), out.len())?;
    if g.oc % g.c != 0 || w.len() != g.kh * g.kw * g.oc || stage.channels() != g.oc {
        return Err("integer depthwise operands do not match the geometry".into());
    }
    if bias.is_some_and(|b| b.len() != g.oc) {
        return Err("bias length differs from the output channels".into());
    }
    let zero = vec![0i32; g.oc];
    let bias = bias.unwrap_or(&zero);
    let padded = Padded::new(g, x, zi);
    let w16: Vec<i16> = w.iter().map(|&v| i16::from(v)).collect();
    match isa {
        Isa::Portable => generic::depthwise(g, &padded, &w16, bias, stage, out),
        // SAFETY: Avx2Fma is only made by Isa::best on a CPU with AVX2; the lengths were
        // checked above and Padded holds every row and column the taps read.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => unsafe { x86_64::depthwise(g, &padded, &w16, bias, stage, out, wide) },
    }
    Ok(())
}

/// A depthwise convolution's input as the taps read it: `x − zi` as i16, the padding rows and
/// columns 0 (so a padding tap adds nothing, as the reference skips it), and each input channel
/// repeated for its `oc / c` output channels. Row `r` is input row `r − ph`.
struct Padded {
    data: Vec<i16>,
    /// Rows and columns per image.
    rows: usize,
    cols: usize,
    oc: usize,
}

impl Padded {
    fn new(g: &Geom, x: &[i8], zi: i32) -> Padded {
        let rows = (g.oh.max(1) - 1) * g.sh + (g.kh - 1) * g.dh + 1;
        let cols = (g.ow.max(1) - 1) * g.sw + (g.kw - 1) * g.dw + 1;
        let mult = g.oc / g.c;
        let mut data = vec![0i16; g.n * rows * cols * g.oc];
        for b in 0..g.n {
            for r in 0..rows {
                let Some(iy) = r.checked_sub(g.ph).filter(|&y| y < g.h) else { continue };
                for col in 0..cols {
                    let Some(ix) = col.checked_sub(g.pw).filter(|&v| v < g.w) else { continue };
                    let src = &x[((b * g.h + iy) * g.w + ix) * g.c..][..g.c];
                    let dst = &mut data[((b * rows + r) * cols + col) * g.oc..][..g.oc];
                    if mult == 1 {
                        for (d, &v) in dst.iter_mut().zip(src) {
                            *d = (i32::from(v) - zi) as i16;
                        }
                    } else {
                        for (o, d) in dst.iter_mut().enumerate() {
                            *d = (i32::from(src[o / mult]) - zi) as i16;
                        }
                    }
                }
            }
        }
        Padded { data, rows, cols, oc: g.oc }
    }

    /// The values of image `b`, padded row `r`, column `col` (all oc channels onward).
    #[inline]
    fn at(&self, b: usize, r: usize, col: usize) -> usize {
        ((b * self.rows + r) * self.cols + col) * self.oc
    }
}

/// How ADD and SUB turn int8 inputs into an int8 output (`reference_integer_ops::Add`):
/// each input rescaled to a common scale with `left` bits of headroom, summed, rescaled.
#[derive(Clone, Copy, Debug)]
pub struct AddParams {
    pub za: i32,
    pub zb: i32,
    pub left: i32,
    pub ma: (i32, i32),
    pub mb: (i32, i32),
    pub mo: (i32, i32),
    pub zo: i32,
    pub lo: i32,
    pub hi: i32,
    pub sub: bool,
}

impl AddParams {
    /// One output from one element of each input.
    #[inline]
    pub fn apply(&self, x: i32, y: i32) -> i32 {
        let a = fp::mbqm_smaller_than_one((x - self.za) << self.left, self.ma.0, self.ma.1);
        let b = fp::mbqm_smaller_than_one((y - self.zb) << self.left, self.mb.0, self.mb.1);
        let sum = if self.sub { a - b } else { a + b };
        let (m, s) = self.mo;
        let r = if s > 0 { fp::mbqm(sum, m, s) } else { fp::mbqm_smaller_than_one(sum, m, s) };
        r.saturating_add(self.zo).clamp(self.lo, self.hi)
    }
}

impl AddParams {
    /// The elements of an `n`-element same-shape int8 or int16 ADD that LiteRT's optimized
    /// kernel (`AddElementwiseInt8`/`Int16`, NEON-on-SSE) computes in vector lanes: whole blocks
    /// of 16. SUB always runs the reference kernel.
    pub fn lanes(&self, n: usize) -> usize {
        if self.sub || !matches!(self.left, 15 | 20) || self.mo.1 > 0 {
            0
        } else {
            n / 16 * 16
        }
    }

    /// One ADD output as LiteRT's vector lanes compute it: each input's shift folded into its
    /// left shift (one rounding, not two); for int8 the result is narrowed to 16 bits before
    /// the output offset is added, then saturated.
    #[inline]
    pub fn apply_lane(&self, x: i32, y: i32) -> i32 {
        let scale = |v: i32, (m, s): (i32, i32)| {
            let e = self.left + s;
            let v = if e >= 0 { v.wrapping_shl(e as u32) } else { v >> (-e).min(31) };
            fp::srdhm(v, m)
        };
        let sum = scale(x - self.za, self.ma).wrapping_add(scale(y - self.zb, self.mb));
        let r = fp::rdbpot(fp::srdhm(sum, self.mo.0), -self.mo.1);
        if self.left == 15 {
            // int16: the offset added in 32 bits.
            return r.wrapping_add(self.zo).clamp(self.lo, self.hi);
        }
        i32::from((r as i16).wrapping_add(self.zo as i16)).clamp(self.lo, self.hi)
    }
}

/// ADD or SUB of two int8 tensors of the same shape.
pub fn add_same_shape(isa: Isa, p: &AddParams, x: &[i8], y: &[i8], out: &mut [i8]) -> KResult<()> {
    if x.len() != y.len() || out.len() != x.len() {
        return Err("ADD operands differ in size".into());
    }
    let vector = p.left == 20
        && [p.ma.1, p.mb.1].iter().all(|&s| (-31..=0).contains(&s))
        && (-31..=31).contains(&p.mo.1)
        && [p.ma.0, p.mb.0, p.mo.0].iter().all(|&m| m != i32::MIN);
    match isa {
        // SAFETY: Avx2Fma is only made by Isa::best on a CPU with AVX2; the lengths are equal.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma if vector => unsafe { x86_64::add(p, x, y, out) },
        _ => generic::add(p, x, y, out),
    }
    Ok(())
}

#[cfg(test)]
mod tests;
