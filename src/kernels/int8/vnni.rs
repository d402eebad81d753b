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
use super::{OutStage, Tile, NR};
use std::arch::x86_64::*;

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
