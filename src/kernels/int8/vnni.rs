//! The int8 GEMM tile on AVX-VNNI: `vpdpbusd` multiplies 4 unsigned bytes by 4 signed bytes
//! and adds the 4 products to an i32 lane, in one instruction (twice the products of the
//! AVX2 `vpmaddwd` pairs, and no separate add). The activations go in as `x + 128` (u8), the
//! weights as i8; [`super::vnni_bias`] takes the `128·Σw` back off exactly. A product is at
//! most 255·128 in size, so the 4-product sum cannot saturate, and the sum into the lane
//! wraps like every i32 sum here.
//!
//! AVX-VNNI intrinsics and target features are not stable on the crate's MSRV (1.80), so the
//! one instruction is inline assembly, its VEX (256-bit, AVX-VNNI) encoding; everything
//! around it is AVX2 intrinsics, and the output stage is the AVX2 kernel's.

use super::x86_64::{bounds, pack16, requant, Stage8};
use super::{OutStage, Tile, MR, NR};
use std::arch::x86_64::*;

/// Whether this CPU runs [`tile_wide`]: AVX512F (the OS saving the zmm registers) and
/// AVX512-VNNI, besides [`available`]'s AVX2.
pub(super) fn wide_available() -> bool {
    std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512vnni")
}

/// Whether this CPU runs [`tile`]: AVX2 (which also means the OS saves the ymm registers) and
/// AVX-VNNI, CPUID leaf 7 subleaf 1, EAX bit 4 (`is_x86_feature_detected!("avxvnni")` is not
/// stable on 1.80).
#[allow(unused_unsafe)]
pub(super) fn available() -> bool {
    if !std::is_x86_feature_detected!("avx2") {
        return false;
    }
    // SAFETY: CPUID is on every x86-64 CPU; leaf 7 is read only when the CPU has it. (The
    // calls are safe from Rust 1.87 on, unsafe on the MSRV.)
    unsafe { __cpuid(0).eax >= 7 && (__cpuid_count(7, 1).eax >> 4) & 1 == 1 }
}

/// `acc + Σ_{i<4} a.u8[4l + i]·w.i8[4l + i]` in each i32 lane `l`. (`target_feature` for
/// the ymm operands; inlined into the AVX2 caller.)
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn dpbusd(acc: __m256i, a: __m256i, w: __m256i) -> __m256i {
    let mut acc = acc;
    // SAFETY: the caller runs on a CPU with AVX-VNNI; the instruction touches only the three
    // registers. `{vex}` picks the AVX-VNNI encoding (without it an assembler may choose the
    // EVEX one, which needs AVX512-VNNI and AVX512VL).
    unsafe {
        core::arch::asm!(
            "{{vex}} vpdpbusd {acc}, {a}, {w}",
            acc = inout(ymm_reg) acc,
            a = in(ymm_reg) a,
            w = in(ymm_reg) w,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    acc
}

/// One GEMM tile ([`super::gemm_rows_vnni`]): `t.rows` rows of `t.a` (bytes `x + 128`)
/// against the panel (i8 quads), `t.bias` already less `128·Σw`.
///
/// # Safety
/// [`available`] is true; `t.a` holds `t.rows` rows of `t.kp` (a multiple of 4) bytes,
/// `t.panel` `t.kp / 4` groups of NR·4 values, and `out` `(t.rows − 1)·ldo + t.cols` values.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn tile(t: &Tile<u8, i8>, stage: &OutStage, out: &mut [i8], ldo: usize) {
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

/// R rows × NR channels: 2R accumulators, 2 weight vectors and the broadcast row quad (15
/// ymm registers at R = 6).
#[inline(always)]
unsafe fn micro<const R: usize>(t: &Tile<u8, i8>, stage: &OutStage, out: &mut [i8], ldo: usize) {
    // SAFETY: as `tile`'s caller vouches (R ≤ t.rows rows are read and written).
    unsafe {
        debug_assert!(t.a.len() >= R * t.kp && t.panel.len() >= t.kp * NR && t.kp % 4 == 0);
        debug_assert!(out.len() >= (R - 1) * ldo + t.cols);
        let (ap, wp) = (t.a.as_ptr(), t.panel.as_ptr());
        let mut c0 = [_mm256_setzero_si256(); R];
        let mut c1 = [_mm256_setzero_si256(); R];
        for j in 0..t.kp / 4 {
            let w0 = _mm256_loadu_si256(wp.add(j * 4 * NR).cast());
            let w1 = _mm256_loadu_si256(wp.add(j * 4 * NR + 32).cast());
            for r in 0..R {
                // The quad a[4j..4j + 4] in every lane.
                let a = _mm256_set1_epi32(ap.add(r * t.kp + 4 * j).cast::<i32>().read_unaligned());
                c0[r] = dpbusd(c0[r], a, w0);
                c1[r] = dpbusd(c1[r], a, w1);
            }
        }
        finish(t, &c0, &c1, stage, out, ldo);
    }
}

/// The output stage of a tile's first `t.rows` rows: `c0[r]`, `c1[r]` the sums of channels
/// 0..8 and 8..16 of row `r`.
#[inline(always)]
unsafe fn finish<const R: usize>(
    t: &Tile<u8, i8>,
    c0: &[__m256i; R],
    c1: &[__m256i; R],
    stage: &OutStage,
    out: &mut [i8],
    ldo: usize,
) {
    let rows = t.rows.min(R);
    // SAFETY: AVX2 is enabled in every caller; `out` holds the rows·ldo outputs (the tile's
    // caller vouches), the bias and stage the tile's channels.
    unsafe {
        if t.cols == NR && stage.vector_ok(t.c0) && stage.vector_ok(t.c0 + 8) {
            let (p0, p1) = (Stage8::at(stage, t.c0), Stage8::at(stage, t.c0 + 8));
            let b0 = _mm256_loadu_si256(t.bias.as_ptr().cast());
            let b1 = _mm256_loadu_si256(t.bias.as_ptr().add(8).cast());
            let (zo, lo, hi) = bounds(stage.zo, stage.lo, stage.hi);
            for r in 0..rows {
                let v0 = requant(_mm256_add_epi32(c0[r], b0), &p0, zo, lo, hi);
                let v1 = requant(_mm256_add_epi32(c1[r], b1), &p1, zo, lo, hi);
                _mm_storeu_si128(out.as_mut_ptr().add(r * ldo).cast(), pack16(v0, v1));
            }
        } else {
            // A part panel (say 24 channels' second one) still runs its first 8 in vectors.
            let vec8 = t.cols >= 8 && stage.vector_ok(t.c0);
            let (p0, b0) = if vec8 {
                (Some(Stage8::at(stage, t.c0)), _mm256_loadu_si256(t.bias.as_ptr().cast()))
            } else {
                (None, _mm256_setzero_si256())
            };
            let (zo, lo, hi) = bounds(stage.zo, stage.lo, stage.hi);
            for r in 0..rows {
                if let Some(p0) = &p0 {
                    let v = requant(_mm256_add_epi32(c0[r], b0), p0, zo, lo, hi);
                    _mm_storel_epi64(out.as_mut_ptr().add(r * ldo).cast(), pack16(v, v));
                }
                let mut s = [0i32; NR];
                _mm256_storeu_si256(s.as_mut_ptr().cast(), c0[r]);
                _mm256_storeu_si256(s.as_mut_ptr().add(8).cast(), c1[r]);
                let from = if vec8 { 8 } else { 0 };
                for (l, &v) in s.iter().enumerate().take(t.cols).skip(from) {
                    out[r * ldo + l] = stage.apply(v.wrapping_add(t.bias[l]), t.c0 + l) as i8;
                }
            }
        }
    }
}

/// Two panels' GEMM tiles at once on AVX512-VNNI (`t1` the next panel's, or None), 6 rows ×
/// 32 channels in zmm registers; the outputs of `t1` go to `out` from column NR on.
///
/// # Safety
/// [`wide_available`] is true; as [`tile`] for each tile, and both have [`MR`] rows of `a`
/// (the padding rows of a block are read, not stored).
#[target_feature(enable = "avx2")]
pub(super) unsafe fn tile_wide(
    t0: &Tile<u8, i8>,
    t1: Option<&Tile<u8, i8>>,
    stage: &OutStage,
    out: &mut [i8],
    ldo: usize,
) {
    debug_assert!(t0.a.len() >= MR * t0.kp && t0.panel.len() >= t0.kp * NR && t0.kp % 4 == 0);
    let mut acc = Acc([[0; 2 * NR]; MR]);
    // A lone last panel runs as both halves; its second copy is not stored.
    let w1 = t1.unwrap_or(t0).panel.as_ptr();
    // SAFETY: as the caller vouches: 6 rows of kp bytes from t0.a, kp / 4 groups of 64 weight
    // bytes in each panel, and `acc` takes the 12 sums.
    unsafe { sums_6x32(t0.a.as_ptr(), t0.kp, t0.panel.as_ptr(), w1, &mut acc) };
    let k = Consts { nudge: 1 << 30, low: 0xffff_ffff, lo: stage.lo - stage.zo, hi: stage.hi - stage.zo, zo: stage.zo };
    for (h, t) in [Some(t0), t1].into_iter().enumerate() {
        let Some(t) = t else { continue };
        if t.cols == NR && stage.vector_ok(t.c0) && stage.vector_ok(t.c0 + 8) {
            for r in 0..t.rows.min(MR) {
                // SAFETY: AVX512F is available; 16 channels from t.c0 in the stage and bias,
                // and 16 outputs from column 16h of row r in `out` (the caller's sizes).
                unsafe { requant16(&acc.0[r][h * NR..], t, stage, &k, out[r * ldo + h * NR..][..NR].as_mut_ptr()) };
            }
            continue;
        }
        // SAFETY: AVX2 is enabled here; the loads read the accumulator rows.
        unsafe {
            let ld = |r: usize, c: usize| _mm256_loadu_si256(acc.0[r][h * NR + c..].as_ptr().cast());
            let c0: [__m256i; MR] = std::array::from_fn(|r| ld(r, 0));
            let c1: [__m256i; MR] = std::array::from_fn(|r| ld(r, 8));
            finish(t, &c0, &c1, stage, &mut out[h * NR..], ldo);
        }
    }
    // Once per tile, not per asm block (it would serialize them): clean upper halves spare
    // legacy-SSE code after this the transition penalty of some CPUs.
    // SAFETY: vzeroupper changes only the vector registers, all declared clobbered.
    unsafe {
        core::arch::asm!(
            "vzeroupper",
            out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
            out("xmm4") _, out("xmm5") _, out("xmm6") _, out("xmm7") _,
            out("xmm8") _, out("xmm9") _, out("xmm10") _, out("xmm11") _,
            out("xmm12") _, out("xmm13") _, out("xmm14") _, out("xmm15") _,
            options(nomem, nostack, preserves_flags),
        );
    }
}

/// Per row, the sums of the two panels' 16 channels side by side.
#[repr(align(64))]
struct Acc([[i32; 2 * NR]; MR]);

/// `acc[r][16h + l] = Σ_j Σ_{i<4} a[r·kq + 4j + i]·w_h[64j + 4l + i]`, rows r < 6: the whole
/// sum loop in assembly, since zmm operands need the `avx512f` target feature, which the MSRV
/// does not have. zmm0–11 hold the 12 accumulators (zmm 2r + h: row r, panel h), zmm12–13
/// the panels' weights of a group, zmm14 a row's broadcast quad.
///
/// # Safety
/// AVX512F and AVX512-VNNI are available; `a` has 6 rows of `kq` (a positive multiple of 4)
/// bytes, `w0` and `w1` `kq / 4` groups of 64 bytes.
#[target_feature(enable = "avx2")]
unsafe fn sums_6x32(a: *const u8, kq: usize, w0: *const i8, w1: *const i8, acc: &mut Acc) {
    debug_assert!(kq >= 4 && kq % 4 == 0);
    // SAFETY: as the caller vouches; the loop reads only those bytes, the stores write `acc`,
    // and the clobbers cover every vector register used.
    unsafe {
        core::arch::asm!(
            "vpxord zmm0, zmm0, zmm0",
            "vpxord zmm1, zmm1, zmm1",
            "vpxord zmm2, zmm2, zmm2",
            "vpxord zmm3, zmm3, zmm3",
            "vpxord zmm4, zmm4, zmm4",
            "vpxord zmm5, zmm5, zmm5",
            "vpxord zmm6, zmm6, zmm6",
            "vpxord zmm7, zmm7, zmm7",
            "vpxord zmm8, zmm8, zmm8",
            "vpxord zmm9, zmm9, zmm9",
            "vpxord zmm10, zmm10, zmm10",
            "vpxord zmm11, zmm11, zmm11",
            "2:",
            "vmovdqu64 zmm12, zmmword ptr [{w0}]",
            "vmovdqu64 zmm13, zmmword ptr [{w1}]",
            "vpbroadcastd zmm14, dword ptr [{a}]",
            "vpdpbusd zmm0, zmm14, zmm12",
            "vpdpbusd zmm1, zmm14, zmm13",
            "vpbroadcastd zmm14, dword ptr [{a} + {kq}]",
            "vpdpbusd zmm2, zmm14, zmm12",
            "vpdpbusd zmm3, zmm14, zmm13",
            "vpbroadcastd zmm14, dword ptr [{a} + {kq}*2]",
            "vpdpbusd zmm4, zmm14, zmm12",
            "vpdpbusd zmm5, zmm14, zmm13",
            "vpbroadcastd zmm14, dword ptr [{a3}]",
            "vpdpbusd zmm6, zmm14, zmm12",
            "vpdpbusd zmm7, zmm14, zmm13",
            "vpbroadcastd zmm14, dword ptr [{a3} + {kq}]",
            "vpdpbusd zmm8, zmm14, zmm12",
            "vpdpbusd zmm9, zmm14, zmm13",
            "vpbroadcastd zmm14, dword ptr [{a3} + {kq}*2]",
            "vpdpbusd zmm10, zmm14, zmm12",
            "vpdpbusd zmm11, zmm14, zmm13",
            "add {a}, 4",
            "add {a3}, 4",
            "add {w0}, 64",
            "add {w1}, 64",
            "dec {n}",
            "jnz 2b",
            "vmovdqu64 zmmword ptr [{acc}], zmm0",
            "vmovdqu64 zmmword ptr [{acc} + 64], zmm1",
            "vmovdqu64 zmmword ptr [{acc} + 128], zmm2",
            "vmovdqu64 zmmword ptr [{acc} + 192], zmm3",
            "vmovdqu64 zmmword ptr [{acc} + 256], zmm4",
            "vmovdqu64 zmmword ptr [{acc} + 320], zmm5",
            "vmovdqu64 zmmword ptr [{acc} + 384], zmm6",
            "vmovdqu64 zmmword ptr [{acc} + 448], zmm7",
            "vmovdqu64 zmmword ptr [{acc} + 512], zmm8",
            "vmovdqu64 zmmword ptr [{acc} + 576], zmm9",
            "vmovdqu64 zmmword ptr [{acc} + 640], zmm10",
            "vmovdqu64 zmmword ptr [{acc} + 704], zmm11",
            a = inout(reg) a => _,
            a3 = inout(reg) a.add(3 * kq) => _,
            kq = in(reg) kq,
            w0 = inout(reg) w0 => _,
            w1 = inout(reg) w1 => _,
            n = inout(reg) kq / 4 => _,
            acc = in(reg) acc.0.as_mut_ptr(),
            out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
            out("xmm4") _, out("xmm5") _, out("xmm6") _, out("xmm7") _,
            out("xmm8") _, out("xmm9") _, out("xmm10") _, out("xmm11") _,
            out("xmm12") _, out("xmm13") _, out("xmm14") _, out("xmm15") _,
            options(nostack),
        );
    }
}

/// The output stage's constants, for broadcasts from memory: the high multiply's nudge, the
/// mask of each 64-bit lane's low half, the clamp bounds less the zero point, the zero point.
#[repr(C)]
struct Consts {
    nudge: i64,
    low: i64,
    lo: i32,
    hi: i32,
    zo: i32,
}

/// The 512-bit output stage of 16 sums `acc` of channels `t.c0..t.c0 + 16`: the AVX2
/// [`requant`] step for step (the high multiply of the even and the odd lanes, merged by a
/// bitwise select on the low-half mask), then the clamp and a narrowing (`vpmovdb`, exact:
/// the values are in i8 range by then).
///
/// # Safety
/// AVX512F is available; `acc` holds 16 sums, the stage's and `t.bias`'s 16 channels from
/// `t.c0` exist and are vector-exact ([`OutStage::vector_ok`]), `out` takes 16 bytes.
#[inline]
unsafe fn requant16(acc: &[i32], t: &Tile<u8, i8>, stage: &OutStage, k: &Consts, out: *mut i8) {
    debug_assert!(acc.len() >= NR && t.bias.len() >= NR && stage.mult.len() >= t.c0 + NR);
    let c = t.c0;
    // SAFETY: as the caller vouches; the asm reads those 16-lane vectors and `k`, writes the
    // 16 bytes at `out`, and clobbers only zmm12–13.
    unsafe {
        core::arch::asm!(
            "vmovdqu32 zmm12, zmmword ptr [{acc}]",
            "vpaddd zmm12, zmm12, zmmword ptr [{bias}]",
            "vpsllvd zmm12, zmm12, zmmword ptr [{left}]",
            // x·m + 2^30 in 64 bits, the even lanes and (shifted down) the odd ones.
            "vpsrlq zmm13, zmm12, 32",
            "vpmuldq zmm12, zmm12, zmmword ptr [{mult}]",
            "vpmuldq zmm13, zmm13, zmmword ptr [{mult_odd}]",
            "vpaddq zmm12, zmm12, qword ptr [{k}]{{1to8}}",
            "vpaddq zmm13, zmm13, qword ptr [{k}]{{1to8}}",
            // Bits 31..62: to the low half of the even lanes, the high half of the odd ones;
            // select (0xE4: mask ? even : odd) by the low-half mask.
            "vpsrlq zmm12, zmm12, 31",
            "vpsllq zmm13, zmm13, 1",
            "vpternlogq zmm12, zmm13, qword ptr [{k} + 8]{{1to8}}, 0xE4",
            // (r >> s) + ((r >> (s − 1)) & rbit): the right shift rounded half up.
            "vpsravd zmm13, zmm12, zmmword ptr [{right1}]",
            "vpandd zmm13, zmm13, zmmword ptr [{rbit}]",
            "vpsravd zmm12, zmm12, zmmword ptr [{right}]",
            "vpaddd zmm12, zmm12, zmm13",
            "vpmaxsd zmm12, zmm12, dword ptr [{k} + 16]{{1to16}}",
            "vpminsd zmm12, zmm12, dword ptr [{k} + 20]{{1to16}}",
            "vpaddd zmm12, zmm12, dword ptr [{k} + 24]{{1to16}}",
            // Narrowed in a register, then stored: the memory form of vpmovdb is slow on some CPUs.
            "vpmovdb xmm12, zmm12",
            "vmovdqu xmmword ptr [{out}], xmm12",
            acc = in(reg) acc.as_ptr(),
            bias = in(reg) t.bias.as_ptr(),
            left = in(reg) stage.left.as_ptr().add(c),
            mult = in(reg) stage.mult.as_ptr().add(c),
            mult_odd = in(reg) stage.mult_odd.as_ptr().add(c),
            right1 = in(reg) stage.right1.as_ptr().add(c),
            rbit = in(reg) stage.rbit.as_ptr().add(c),
            right = in(reg) stage.right.as_ptr().add(c),
            k = in(reg) k as *const Consts,
            out = in(reg) out,
            out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
            out("xmm4") _, out("xmm5") _, out("xmm6") _, out("xmm7") _,
            out("xmm8") _, out("xmm9") _, out("xmm10") _, out("xmm11") _,
            out("xmm12") _, out("xmm13") _, out("xmm14") _, out("xmm15") _,
            options(nostack, preserves_flags),
        );
    }
}

/// A 16-channel block of a 3×3 depthwise convolution as [`depthwise_row16`] reads it, from
/// one base address: the nine taps' weights (zero-extended to 32 bits, see
/// [`super::x86_64::depthwise`]), the bias, the output stage per lane, then its constants.
#[repr(C, align(64))]
pub(super) struct Dw16 {
    w: [[i32; 16]; 9],
    bias: [i32; 16],
    left: [i32; 16],
    mult: [i32; 16],
    mult_odd: [i32; 16],
    right1: [i32; 16],
    rbit: [i32; 16],
    right: [i32; 16],
    k: Consts,
}

impl Dw16 {
    /// Channels `c..c + 16` (which the stage covers in vectors).
    pub(super) fn new(w32: &[i32], oc: usize, bias: &[i32], s: &OutStage, c: usize) -> Dw16 {
        let v = |a: &[i32]| -> [i32; 16] { std::array::from_fn(|l| a[c + l]) };
        Dw16 {
            w: std::array::from_fn(|t| v(&w32[t * oc..])),
            bias: v(bias),
            left: v(&s.left),
            mult: v(&s.mult),
            mult_odd: v(&s.mult_odd),
            right1: v(&s.right1),
            rbit: v(&s.rbit),
            right: v(&s.right),
            k: Consts { nudge: 1 << 30, low: 0xffff_ffff, lo: s.lo - s.zo, hi: s.hi - s.zo, zo: s.zo },
        }
    }
}

/// Channels `c..c + 16` of output row `oy` of image `b` of a 3×3 depthwise convolution: per
/// pixel, the nine taps' `vpdpwssd` (i16 pairs multiplied and added to i32 lanes: a
/// sign-extended input times a zero-extended weight is the plain product, and the sum wraps)
/// onto the bias, then [`requant16`]'s output stage. The whole row loop is assembly (zmm
/// operands need `avx512f`, not on the MSRV); the weights stay in zmm0–8.
///
/// # Safety
/// [`wide_available`] is true; `g` is a 3×3 convolution with `ow > 0` whose lengths
/// `super::depthwise` checked, `p` made for these channels, and `c + 16 ≤ oc`.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn depthwise_row16(
    g: &super::Geom,
    x: &super::Padded,
    p: &Dw16,
    c: usize,
    (b, oy): (usize, usize),
    out: &mut [i8],
) {
    let oc = g.oc;
    debug_assert!(g.kh == 3 && g.kw == 3 && g.ow > 0 && c + 16 <= oc);
    let o = ((b * g.oh + oy) * g.ow) * oc + c;
    debug_assert!(out.len() >= o + (g.ow - 1) * oc + 16);
    // SAFETY: as the caller vouches: Padded holds every row and column the taps of this
    // output row read (rows oy·sh + ky·dh, columns ox·sw + kx·dw, 16 channels from c), and
    // the stores write 16 bytes per pixel of the row inside `out`.
    unsafe {
        let r0 = x.data.as_ptr().add(x.at(b, oy * g.sh, 0) + c);
        let rs = g.dh * x.cols * oc;
        core::arch::asm!(
            "vmovdqu32 zmm0, zmmword ptr [{p}]",
            "vmovdqu32 zmm1, zmmword ptr [{p} + 64]",
            "vmovdqu32 zmm2, zmmword ptr [{p} + 128]",
            "vmovdqu32 zmm3, zmmword ptr [{p} + 192]",
            "vmovdqu32 zmm4, zmmword ptr [{p} + 256]",
            "vmovdqu32 zmm5, zmmword ptr [{p} + 320]",
            "vmovdqu32 zmm6, zmmword ptr [{p} + 384]",
            "vmovdqu32 zmm7, zmmword ptr [{p} + 448]",
            "vmovdqu32 zmm8, zmmword ptr [{p} + 512]",
            "2:",
            "vmovdqu32 zmm9, zmmword ptr [{p} + 576]",
            // Filter row ky from pointer r_ky, column kx at + kx·cs.
            "vpmovsxwd zmm10, ymmword ptr [{r0}]",
            "vpdpwssd zmm9, zmm10, zmm0",
            "vpmovsxwd zmm11, ymmword ptr [{r0} + {cs}]",
            "vpdpwssd zmm9, zmm11, zmm1",
            "vpmovsxwd zmm10, ymmword ptr [{r0} + {cs}*2]",
            "vpdpwssd zmm9, zmm10, zmm2",
            "vpmovsxwd zmm11, ymmword ptr [{r1}]",
            "vpdpwssd zmm9, zmm11, zmm3",
            "vpmovsxwd zmm10, ymmword ptr [{r1} + {cs}]",
            "vpdpwssd zmm9, zmm10, zmm4",
            "vpmovsxwd zmm11, ymmword ptr [{r1} + {cs}*2]",
            "vpdpwssd zmm9, zmm11, zmm5",
            "vpmovsxwd zmm10, ymmword ptr [{r2}]",
            "vpdpwssd zmm9, zmm10, zmm6",
            "vpmovsxwd zmm11, ymmword ptr [{r2} + {cs}]",
            "vpdpwssd zmm9, zmm11, zmm7",
            "vpmovsxwd zmm10, ymmword ptr [{r2} + {cs}*2]",
            "vpdpwssd zmm9, zmm10, zmm8",
            // The output stage, as requant16 (offsets: the fields of Dw16).
            "vpsllvd zmm9, zmm9, zmmword ptr [{p} + 640]",
            "vpsrlq zmm10, zmm9, 32",
            "vpmuldq zmm9, zmm9, zmmword ptr [{p} + 704]",
            "vpmuldq zmm10, zmm10, zmmword ptr [{p} + 768]",
            "vpaddq zmm9, zmm9, qword ptr [{p} + 1024]{{1to8}}",
            "vpaddq zmm10, zmm10, qword ptr [{p} + 1024]{{1to8}}",
            "vpsrlq zmm9, zmm9, 31",
            "vpsllq zmm10, zmm10, 1",
            "vpternlogq zmm9, zmm10, qword ptr [{p} + 1032]{{1to8}}, 0xE4",
            "vpsravd zmm10, zmm9, zmmword ptr [{p} + 832]",
            "vpandd zmm10, zmm10, zmmword ptr [{p} + 896]",
            "vpsravd zmm9, zmm9, zmmword ptr [{p} + 960]",
            "vpaddd zmm9, zmm9, zmm10",
            "vpmaxsd zmm9, zmm9, dword ptr [{p} + 1040]{{1to16}}",
            "vpminsd zmm9, zmm9, dword ptr [{p} + 1044]{{1to16}}",
            "vpaddd zmm9, zmm9, dword ptr [{p} + 1048]{{1to16}}",
            "vpmovdb xmm9, zmm9",
            "vmovdqu xmmword ptr [{out}], xmm9",
            "add {r0}, {step}",
            "add {r1}, {step}",
            "add {r2}, {step}",
            "add {out}, {oc}",
            "dec {n}",
            "jnz 2b",
            "vzeroupper",
            p = in(reg) p as *const Dw16,
            r0 = inout(reg) r0 => _,
            r1 = inout(reg) r0.add(rs) => _,
            r2 = inout(reg) r0.add(2 * rs) => _,
            cs = in(reg) g.dw * oc * 2,
            step = in(reg) g.sw * oc * 2,
            out = inout(reg) out.as_mut_ptr().add(o) => _,
            oc = in(reg) oc,
            n = inout(reg) g.ow => _,
            out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
            out("xmm4") _, out("xmm5") _, out("xmm6") _, out("xmm7") _,
            out("xmm8") _, out("xmm9") _, out("xmm10") _, out("xmm11") _,
            out("xmm12") _, out("xmm13") _, out("xmm14") _, out("xmm15") _,
            options(nostack),
        );
    }
}

// The offsets the assembly reads Dw16 at.
const _: () = {
    assert!(std::mem::offset_of!(Dw16, bias) == 576 && std::mem::offset_of!(Dw16, left) == 640);
    assert!(std::mem::offset_of!(Dw16, mult) == 704 && std::mem::offset_of!(Dw16, mult_odd) == 768);
    assert!(std::mem::offset_of!(Dw16, right1) == 832 && std::mem::offset_of!(Dw16, rbit) == 896);
    assert!(std::mem::offset_of!(Dw16, right) == 960 && std::mem::offset_of!(Dw16, k) == 1024);
    assert!(std::mem::offset_of!(Consts, low) == 8 && std::mem::offset_of!(Consts, lo) == 16);
    assert!(std::mem::offset_of!(Consts, hi) == 20 && std::mem::offset_of!(Consts, zo) == 24);
};
