//! AVX2 int8 kernels: pairs of i16 products summed into i32 lanes (`vpmaddwd`), and the
//! output stage's fixed-point requantization in vector lanes, the same integer function as
//! the scalar one (see [`requant`]). Callers check the CPU first ([`crate::kernels::Isa::best`])
//! and the lengths each function documents.

use super::{AddParams, Geom, OutStage, Padded, Tile, NR};
use std::arch::x86_64::*;

/// gemmlowp's `SaturatingRoundingDoublingHighMul` of each lane by `m`: `(x·m + 2^30) >> 31`,
/// which is the scalar nudge-and-truncate rule rewritten (for a negative product the nudge
/// `1 − 2^30` and the truncation toward zero make the same floor). The one case that
/// saturates, −2^31 · −2^31, is excluded by the callers (no multiplier is −2^31).
#[inline(always)]
unsafe fn high_mul(x: __m256i, m: __m256i) -> __m256i {
    // SAFETY: AVX2 is enabled in every caller.
    unsafe {
        let nudge = _mm256_set1_epi64x(1 << 30);
        let even = _mm256_add_epi64(_mm256_mul_epi32(x, m), nudge);
        let odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), _mm256_srli_epi64(m, 32)), nudge);
        // Bits 31..62 of each 64-bit sum: in the low half of the even lanes, the high half of
        // the odd ones.
        _mm256_blend_epi32(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1), 0b1010_1010)
    }
}

/// Per-lane output-stage parameters of 8 channels.
pub(super) struct Stage8 {
    mult: __m256i,
    left: __m256i,
    right: __m256i,
    right1: __m256i,
    rbit: __m256i,
}

impl Stage8 {
    /// Channels `c0..c0 + 8` of `s` (which must have them).
    #[inline(always)]
    pub(super) unsafe fn at(s: &OutStage, c0: usize) -> Stage8 {
        let ld = |v: &[i32]| {
            debug_assert!(v.len() >= c0 + 8);
            // SAFETY: the caller guarantees 8 channels from c0; AVX2 is enabled in every caller.
            unsafe { _mm256_loadu_si256(v.as_ptr().add(c0).cast()) }
        };
        Stage8 { mult: ld(&s.mult), left: ld(&s.left), right: ld(&s.right), right1: ld(&s.right1), rbit: ld(&s.rbit) }
    }
}

/// `mbqm_x86` of each lane, plus the zero point (saturating), clamped: the high multiply of
/// `acc << left`, then a right shift rounded half up, written `(r >> s) + ((r >> (s − 1)) & 1)`
/// so that it cannot overflow; the clamp to `[lo − zo, hi − zo]` before adding `zo` is the
/// saturating add's clamp.
#[inline(always)]
pub(super) unsafe fn requant(acc: __m256i, p: &Stage8, zo: __m256i, lo: __m256i, hi: __m256i) -> __m256i {
    // SAFETY: AVX2 is enabled in every caller.
    unsafe {
        let r = high_mul(_mm256_sllv_epi32(acc, p.left), p.mult);
        let bit = _mm256_and_si256(_mm256_srav_epi32(r, p.right1), p.rbit);
        let r = _mm256_add_epi32(_mm256_srav_epi32(r, p.right), bit);
        _mm256_add_epi32(_mm256_min_epi32(_mm256_max_epi32(r, lo), hi), zo)
    }
}

/// The zero point and the clamp bounds less the zero point, as vectors.
#[inline(always)]
pub(super) unsafe fn bounds(zo: i32, lo: i32, hi: i32) -> (__m256i, __m256i, __m256i) {
    // SAFETY: AVX2 is enabled in every caller.
    unsafe { (_mm256_set1_epi32(zo), _mm256_set1_epi32(lo - zo), _mm256_set1_epi32(hi - zo)) }
}

/// 16 i32 lanes (already in i8 range) as 16 bytes, in order.
#[inline(always)]
pub(super) unsafe fn pack16(lo: __m256i, hi: __m256i) -> __m128i {
    // SAFETY: AVX2 is enabled in every caller.
    unsafe {
        // The packs work within 128-bit lanes: the dwords come out as lo0-3 hi0-3 0 0 |
        // lo4-7 hi4-7 0 0, put in order by one permute.
        let b = _mm256_packs_epi16(_mm256_packs_epi32(lo, hi), _mm256_setzero_si256());
        _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)))
    }
}

/// One GEMM tile ([`super::gemm_rows`]): `t.rows` rows of `t.a` against the panel.
///
/// # Safety
/// AVX2 is available; `t.a` holds `t.rows` rows of `t.kp` (even) values, `t.panel` `t.kp / 2`
/// pairs of NR·2 values, and `out` `(t.rows − 1)·ldo + t.cols` values.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn tile(t: &Tile, stage: &OutStage, out: &mut [i8], ldo: usize) {
    // SAFETY: as the caller vouches.
    unsafe {
        match t.rows {
            1 => micro::<1>(t, stage, out, ldo),
            2 => micro::<2>(t, stage, out, ldo),
            3 => micro::<3>(t, stage, out, ldo),
            4 => micro::<4>(t, stage, out, ldo),
            5 => micro::<5>(t, stage, out, ldo),
            _ => micro::<6>(t, stage, out, ldo),
        }
    }
}

#[inline(always)]
unsafe fn micro<const R: usize>(t: &Tile, stage: &OutStage, out: &mut [i8], ldo: usize) {
    // SAFETY: as `tile`'s caller vouches (R ≤ t.rows rows are read and written).
    unsafe {
        debug_assert!(t.a.len() >= R * t.kp && t.panel.len() >= t.kp * NR && t.kp % 2 == 0);
        debug_assert!(out.len() >= (R - 1) * ldo + t.cols);
        let (ap, wp) = (t.a.as_ptr(), t.panel.as_ptr());
        let mut c0 = [_mm256_setzero_si256(); R];
        let mut c1 = [_mm256_setzero_si256(); R];
        for j in 0..t.kp / 2 {
            let w0 = _mm256_loadu_si256(wp.add(j * 2 * NR).cast());
            let w1 = _mm256_loadu_si256(wp.add(j * 2 * NR + NR).cast());
            for r in 0..R {
                // The pair (a[2j], a[2j+1]) in every lane.
                let a = _mm256_set1_epi32(ap.add(r * t.kp + 2 * j).cast::<i32>().read_unaligned());
                c0[r] = _mm256_add_epi32(c0[r], _mm256_madd_epi16(a, w0));
                c1[r] = _mm256_add_epi32(c1[r], _mm256_madd_epi16(a, w1));
            }
        }
        if t.cols == NR && stage.vector_ok(t.c0) && stage.vector_ok(t.c0 + 8) {
            let (p0, p1) = (Stage8::at(stage, t.c0), Stage8::at(stage, t.c0 + 8));
            let b0 = _mm256_loadu_si256(t.bias.as_ptr().cast());
            let b1 = _mm256_loadu_si256(t.bias.as_ptr().add(8).cast());
            let (zo, lo, hi) = bounds(stage.zo, stage.lo, stage.hi);
            for r in 0..R {
                let v0 = requant(_mm256_add_epi32(c0[r], b0), &p0, zo, lo, hi);
                let v1 = requant(_mm256_add_epi32(c1[r], b1), &p1, zo, lo, hi);
                _mm_storeu_si128(out.as_mut_ptr().add(r * ldo).cast(), pack16(v0, v1));
            }
        } else {
            for r in 0..R {
                let mut s = [0i32; NR];
                _mm256_storeu_si256(s.as_mut_ptr().cast(), c0[r]);
                _mm256_storeu_si256(s.as_mut_ptr().add(8).cast(), c1[r]);
                for (l, &v) in s.iter().enumerate().take(t.cols) {
                    out[r * ldo + l] = stage.apply(v.wrapping_add(t.bias[l]), t.c0 + l) as i8;
                }
            }
        }
    }
}

/// The depthwise convolution ([`super::depthwise`]): blocks of 8 channels in vector lanes,
/// the channels past the last full block (and any the vector stage does not cover) scalar.
///
/// # Safety
/// AVX2 is available; the lengths are as `super::depthwise` checked them.
#[target_feature(enable = "avx2")]
///
/// `wide`: a 3×3 filter's pairs of 8-channel blocks go to the AVX512-VNNI row kernel
/// ([`super::vnni::depthwise_row16`]), which needs [`super::vnni::wide_available`].
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn depthwise(
    g: &Geom,
    x: &Padded,
    w: &[i16],
    bias: &[i32],
    stage: &OutStage,
    out: &mut [i8],
    wide: bool,
) {
    let oc = g.oc;
    let taps = g.kh * g.kw;
    // Weights zero-extended to 32 bits: `vpmaddwd` of a sign-extended input and such a weight
    // is the plain product (the high halves multiply to 0).
    let w32: Vec<i32> = w.iter().map(|&v| i32::from(v as u16)).collect();
    let offs: Vec<usize> = (0..taps).map(|t| ((t / g.kw) * g.dh * x.cols + (t % g.kw) * g.dw) * oc).collect();
    let blocks = (0..oc / 8).take_while(|&b| stage.vector_ok(b * 8)).count();
    // SAFETY: AVX2 is enabled here; every pointer below stays inside x.data, w32, bias and out
    // (Padded has every row and column the taps read; blocks·8 ≤ oc).
    unsafe {
        // One output row at a time, all its blocks of 8 channels (the row's input rows stay in
        // cache); in a block, its weights and output stage stay in registers (a 3×3 filter's
        // nine weight vectors as an array of constant length).
        let wide = wide && g.kh == 3 && g.kw == 3 && g.ow > 0;
        let blk16: Vec<super::vnni::Dw16> = if wide {
            (0..blocks / 2).map(|i| super::vnni::Dw16::new(&w32, oc, bias, stage, i * 16)).collect()
        } else {
            Vec::new()
        };
        for b in 0..g.n {
            for oy in 0..g.oh {
                for (i, p) in blk16.iter().enumerate() {
                    super::vnni::depthwise_row16(g, x, p, i * 16, (b, oy), out);
                }
                for blk in blk16.len() * 2..blocks {
                    let c = blk * 8;
                    if taps == 9 {
                        depthwise_block::<9>(g, x, &w32, &offs, bias, stage, c, (b, oy), out);
                    } else {
                        depthwise_block::<0>(g, x, &w32, &offs, bias, stage, c, (b, oy), out);
                    }
                }
            }
        }
    }
    for c in blocks * 8..oc {
        let mut o = c;
        for b in 0..g.n {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let base = x.at(b, oy * g.sh, ox * g.sw);
                    let mut acc = bias[c];
                    for (t, &off) in offs.iter().enumerate() {
                        acc = acc.wrapping_add(i32::from(x.data[base + off + c]) * i32::from(w[t * oc + c]));
                    }
                    out[o] = stage.apply(acc, c) as i8;
                    o += oc;
                }
            }
        }
    }
}

/// Channels `c..c + 8` of output row `oy` of image `b`. `T` is the number of taps when it is
/// known at compile time (their weights then live in registers), else 0.
///
/// # Safety
/// AVX2 is available; as [`depthwise`], with `c + 8 ≤ oc` and the stage vector-exact there.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn depthwise_block<const T: usize>(
    g: &Geom,
    x: &Padded,
    w32: &[i32],
    offs: &[usize],
    bias: &[i32],
    stage: &OutStage,
    c: usize,
    (b, oy): (usize, usize),
    out: &mut [i8],
) {
    // SAFETY: as the caller vouches.
    unsafe {
        let oc = g.oc;
        let (zo, lo, hi) = bounds(stage.zo, stage.lo, stage.hi);
        let p = Stage8::at(stage, c);
        let bv = _mm256_loadu_si256(bias.as_ptr().add(c).cast());
        let wp = w32.as_ptr().add(c);
        let mut fixed = [_mm256_setzero_si256(); T];
        for (t, f) in fixed.iter_mut().enumerate() {
            *f = _mm256_loadu_si256(wp.add(t * oc).cast());
        }
        let xp = x.data.as_ptr().add(c);
        let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        let mut o = ((b * g.oh + oy) * g.ow) * oc + c;
        let row = x.at(b, oy * g.sh, 0);
        for ox in 0..g.ow {
            let base = xp.add(row + ox * g.sw * oc);
            let mut acc = bv;
            for (t, &off) in offs.iter().enumerate() {
                let v = _mm256_cvtepi16_epi32(_mm_loadu_si128(base.add(off).cast()));
                let w = if T > 0 { fixed[t] } else { _mm256_loadu_si256(wp.add(t * oc).cast()) };
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(v, w));
            }
            let r = requant(acc, &p, zo, lo, hi);
            let bytes = _mm256_packs_epi16(_mm256_packs_epi32(r, r), _mm256_setzero_si256());
            let bytes = _mm256_permutevar8x32_epi32(bytes, order);
            _mm_storel_epi64(out.as_mut_ptr().add(o).cast(), _mm256_castsi256_si128(bytes));
            o += oc;
        }
    }
}

/// `rdbpot` of each lane (round half away from zero) by a shift `e` in 0..=31.
#[inline(always)]
unsafe fn divide_by_pot(x: __m256i, e: i32) -> __m256i {
    // SAFETY: AVX2 is enabled in every caller.
    unsafe {
        let mask = ((1i64 << e) - 1) as i32;
        let rem = _mm256_and_si256(x, _mm256_set1_epi32(mask));
        let threshold = _mm256_add_epi32(_mm256_set1_epi32(mask >> 1), _mm256_srli_epi32(x, 31));
        let shifted = _mm256_sra_epi32(x, _mm_cvtsi32_si128(e));
        _mm256_sub_epi32(shifted, _mm256_cmpgt_epi32(rem, threshold))
    }
}

/// An ADD input rescaled: `mbqm_smaller_than_one((v − z) << 20, m, s)`.
#[inline(always)]
unsafe fn scaled(v: __m256i, z: __m256i, m: __m256i, s: i32) -> __m256i {
    // SAFETY: AVX2 is enabled in every caller.
    unsafe { divide_by_pot(high_mul(_mm256_slli_epi32(_mm256_sub_epi32(v, z), 20), m), -s) }
}

/// ADD/SUB of same-shape int8 tensors ([`AddParams::apply`] per element): blocks of 8 in
/// vector lanes, the tail scalar.
///
/// # Safety
/// AVX2 is available; `x`, `y` and `out` have the same length; `p.left` is 20, the input
/// shifts are in −31..=0 and the output shift at most 31.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn add(p: &AddParams, x: &[i8], y: &[i8], out: &mut [i8]) {
    let lanes = p.lanes(x.len());
    if lanes > 0 {
        // SAFETY: AVX2 is enabled here; lanes ≤ len.
        unsafe { add_lanes(p, &x[..lanes], &y[..lanes], &mut out[..lanes]) };
        return super::generic::add_reference(p, &x[lanes..], &y[lanes..], &mut out[lanes..]);
    }
    let n = x.len() / 8 * 8;
    // SAFETY: AVX2 is enabled here; the loads and stores cover elements below n ≤ len.
    unsafe {
        let (za, zb) = (_mm256_set1_epi32(p.za), _mm256_set1_epi32(p.zb));
        let (ma, mb, mo) = (_mm256_set1_epi32(p.ma.0), _mm256_set1_epi32(p.mb.0), _mm256_set1_epi32(p.mo.0));
        let (ol, or) = (p.mo.1.max(0), (-p.mo.1).max(0));
        let (zo, lo, hi) = bounds(p.zo, p.lo, p.hi);
        for i in (0..n).step_by(8) {
            let a = _mm256_cvtepi8_epi32(_mm_loadl_epi64(x.as_ptr().add(i).cast()));
            let b = _mm256_cvtepi8_epi32(_mm_loadl_epi64(y.as_ptr().add(i).cast()));
            let (a, b) = (scaled(a, za, ma, p.ma.1), scaled(b, zb, mb, p.mb.1));
            let sum = if p.sub { _mm256_sub_epi32(a, b) } else { _mm256_add_epi32(a, b) };
            let shifted = _mm256_sll_epi32(sum, _mm_cvtsi32_si128(ol & 31));
            let r = divide_by_pot(high_mul(shifted, mo), or);
            let r = _mm256_add_epi32(_mm256_min_epi32(_mm256_max_epi32(r, lo), hi), zo);
            let bytes = _mm256_packs_epi16(_mm256_packs_epi32(r, r), _mm256_setzero_si256());
            let bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm_storel_epi64(out.as_mut_ptr().add(i).cast(), _mm256_castsi256_si128(bytes));
        }
    }
    super::generic::add_reference(p, &x[n..], &y[n..], &mut out[n..]);
}

/// [`AddParams::apply_lane`] on every element, 8 at a time.
///
/// # Safety
/// AVX2 is available; the lengths are equal and a multiple of 8; [`AddParams::lanes`] is
/// non-zero for `p` (ADD, left shift 20, output shift ≤ 0) and no multiplier is i32::MIN.
#[target_feature(enable = "avx2")]
unsafe fn add_lanes(p: &AddParams, x: &[i8], y: &[i8], out: &mut [i8]) {
    // SAFETY: AVX2 is enabled here; the loads and stores cover elements below len.
    unsafe {
        let (za, zb, zo) = (_mm256_set1_epi32(p.za), _mm256_set1_epi32(p.zb), _mm256_set1_epi32(p.zo));
        let (ma, mb, mo) = (_mm256_set1_epi32(p.ma.0), _mm256_set1_epi32(p.mb.0), _mm256_set1_epi32(p.mo.0));
        let (lo, hi) = (_mm256_set1_epi32(p.lo), _mm256_set1_epi32(p.hi));
        let shift = |v: __m256i, e: i32| {
            if e >= 0 {
                _mm256_sll_epi32(v, _mm_cvtsi32_si128(e))
            } else {
                _mm256_sra_epi32(v, _mm_cvtsi32_si128((-e).min(31)))
            }
        };
        let (ea, eb) = (p.left + p.ma.1, p.left + p.mb.1);
        // Sign-extends the low 16 bits of each lane (NEON's narrowing to int16).
        let wrap16 = |v: __m256i| _mm256_srai_epi32(_mm256_slli_epi32(v, 16), 16);
        for i in (0..x.len()).step_by(8) {
            let a = _mm256_sub_epi32(_mm256_cvtepi8_epi32(_mm_loadl_epi64(x.as_ptr().add(i).cast())), za);
            let b = _mm256_sub_epi32(_mm256_cvtepi8_epi32(_mm_loadl_epi64(y.as_ptr().add(i).cast())), zb);
            let sum = _mm256_add_epi32(high_mul(shift(a, ea), ma), high_mul(shift(b, eb), mb));
            let r = wrap16(_mm256_add_epi32(wrap16(divide_by_pot(high_mul(sum, mo), -p.mo.1)), zo));
            let r = _mm256_min_epi32(_mm256_max_epi32(r, lo), hi);
            let bytes = _mm256_packs_epi16(_mm256_packs_epi32(r, r), _mm256_setzero_si256());
            let bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm_storel_epi64(out.as_mut_ptr().add(i).cast(), _mm256_castsi256_si128(bytes));
        }
    }
}
