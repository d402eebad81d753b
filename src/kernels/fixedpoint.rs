//! Fixed-point arithmetic of LiteRT's integer kernels (gemmlowp's primitives and TFLite's
//! multiplier helpers), bit for bit. See reference/tflite-kernel-facts.md §1.
//!
//! Two rounding rules meet here. The *reference* rule (`mbqm`) rounds the high multiply half
//! up and the final shift half away from zero. The rule LiteRT's optimized x86 kernels compute
//! (ruy's AVX2 GEMM behind CONV_2D and FULLY_CONNECTED, the NEON-on-SSE depthwise code),
//! `mbqm_x86`, rounds the final shift half up too: the two differ only at negative exact ties.

/// `QuantizeMultiplier`: `real` as `m · 2^(shift − 31)` with `m` in [2^30, 2^31) (double
/// rounding build). A positive shift is a left shift.
pub fn quantize_multiplier(real: f64) -> (i32, i32) {
    if real == 0.0 || !real.is_finite() {
        return (0, 0);
    }
    let (q, mut e) = frexp(real);
    let mut m = (q * (1u64 << 31) as f64).round() as i64;
    if m == 1i64 << 31 {
        m /= 2;
        e += 1;
    }
    if e < -31 {
        return (0, 0);
    }
    (m as i32, e)
}

/// `frexp`: x = q · 2^e with |q| in [0.5, 1).
fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        // Subnormal: scale up first.
        let (q, e) = frexp(x * (1u64 << 54) as f64);
        return (q, e - 54);
    }
    let e = exp - 1022;
    let q = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
    (q, e)
}

/// gemmlowp's `SaturatingRoundingDoublingHighMul`: (a·b + 2^30) / 2^31 rounded half up
/// (a nudge, then C's truncating division), saturating the one overflow.
#[inline]
pub fn srdhm(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let p = i64::from(a) * i64::from(b);
    let nudge = if p >= 0 { 1i64 << 30 } else { 1 - (1i64 << 30) };
    ((p + nudge) / (1i64 << 31)) as i32
}

/// The 16-bit `SaturatingRoundingDoublingHighMul`.
#[inline]
pub fn srdhm16(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        return i16::MAX;
    }
    let p = i32::from(a) * i32::from(b);
    let nudge = if p >= 0 { 1i32 << 14 } else { 1 - (1i32 << 14) };
    ((p + nudge) / (1i32 << 15)) as i16
}

/// gemmlowp's `RoundingDivideByPOT`: x / 2^e rounded half away from zero (0 ≤ e ≤ 31).
#[inline]
pub fn rdbpot(x: i32, e: i32) -> i32 {
    let mask = ((1i64 << e) - 1) as i32;
    let rem = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> e) + i32::from(rem > threshold)
}

/// `MultiplyByQuantizedMultiplier` (reference, double rounding): RDBPOT(SRDHM(x·2^ls, m), rs).
#[inline]
pub fn mbqm(x: i32, m: i32, shift: i32) -> i32 {
    let (ls, rs) = (shift.max(0), (-shift).max(0));
    rdbpot(srdhm(x.wrapping_mul(1i32.wrapping_shl(ls as u32)), m), rs)
}

/// `MultiplyByQuantizedMultiplierSmallerThanOneExp`: RDBPOT(SRDHM(x, m), −shift), shift ≤ 0.
#[inline]
pub fn mbqm_smaller_than_one(x: i32, m: i32, shift: i32) -> i32 {
    rdbpot(srdhm(x, m), -shift)
}

/// What LiteRT's optimized x86 kernels compute for [`mbqm`]: the same high multiply, then a
/// right shift rounded half up.
#[inline]
pub fn mbqm_x86(x: i32, m: i32, shift: i32) -> i32 {
    let (ls, rs) = (shift.max(0), (-shift).max(0));
    let r1 = srdhm(x.wrapping_mul(1i32.wrapping_shl(ls as u32)), m);
    if rs == 0 {
        return r1;
    }
    ((i64::from(r1) + (1i64 << (rs - 1))) >> rs) as i32
}

/// The int64 overload of `MultiplyByQuantizedMultiplier` (16x8 convolutions with int64
/// bias): a 16-bit reduced multiplier and one half-up rounding.
#[inline]
pub fn mbqm_i64(x: i64, m: i32, shift: i32) -> i32 {
    let m16 = if m >= 0x7FFF_0000 { 0x7FFF } else { (i64::from(m) + (1 << 15)) >> 16 };
    let total = 15 - shift;
    let round = if total > 0 { 1i64 << (total - 1) } else { 0 };
    let r = (x.wrapping_mul(m16).wrapping_add(round)) >> total.max(0);
    r.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// `DownScaleInt32ToInt16Multiplier`.
pub fn downscale_multiplier(m: i32) -> i16 {
    if m >= i32::MAX - (1 << 15) {
        return i16::MAX;
    }
    ((m + (1 << 15)) >> 16) as i16
}

/// C's `std::round` on a double: half away from zero.
#[inline]
pub fn round_away(x: f64) -> f64 {
    x.round()
}

/// The int64 `MultiplyByQuantizedMultiplier` as the double-rounding build returns it: the
/// shifted result truncated to 32 bits, not clamped (REDUCE_PROD's running product).
#[inline]
pub fn mbqm_i64_trunc(x: i64, m: i32, shift: i32) -> i32 {
    let m16 = if m >= 0x7FFF_0000 { 0x7FFF } else { (i64::from(m) + (1 << 15)) >> 16 };
    let total = 15 - shift;
    let round = if total > 0 { 1i64 << (total - 1) } else { 0 };
    (x.wrapping_mul(m16).wrapping_add(round) >> total.max(0)) as i32
}

/// `CountLeadingSignBits` of an i32: the redundant sign bits (31 for 0 and −1).
#[inline]
pub fn leading_sign_bits(x: i32) -> i32 {
    if x >= 0 {
        x.leading_zeros() as i32 - 1
    } else {
        (!x).leading_zeros() as i32 - 1
    }
}

/// gemmlowp's `RoundingHalfSum`: (a + b) / 2 rounded half away from zero.
#[inline]
fn rounding_half_sum(a: i32, b: i32) -> i32 {
    let sum = i64::from(a) + i64::from(b);
    let sign = if sum >= 0 { 1 } else { -1 };
    ((sum + sign) / 2) as i32
}

/// `SaturatingLeftShift` of hard_swish.h: x·2^amount clamped to i16.
#[inline]
pub fn saturating_shl16(x: i16, amount: i32) -> i16 {
    // Past 2^40 every non-zero value saturates anyway.
    let r = i64::from(x) * (1i64 << amount.clamp(0, 40));
    r.clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16
}

/// The 16-bit `RoundingDivideByPOT`, with gemmlowp's i16 mask: for e ≥ 16 the mask
/// truncates to all ones.
#[inline]
pub fn rdbpot16(x: i16, e: i32) -> i16 {
    let mask = ((1i64 << e) - 1) as i16;
    let rem = x & mask;
    let threshold = (mask >> 1).wrapping_add(i16::from(x < 0));
    ((i32::from(x) >> e) as i16).wrapping_add(i16::from(rem > threshold))
}

/// `SaturatingDoublingHighMul` of hard_swish.h: a·b / 2^15 truncated toward zero (no
/// rounding, unlike [`srdhm16`]), saturating (−2^15)².
#[inline]
pub fn sdhm16(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        return i16::MAX;
    }
    ((i32::from(a) * i32::from(b)) / (1 << 15)) as i16
}

/// gemmlowp's `SaturatingRoundingMultiplyByPOT` for 1 ≤ e ≤ 30: x·2^e, saturating beyond
/// ±(2^(31−e) − 1).
#[inline]
pub fn saturating_shl(x: i32, e: i32) -> i32 {
    let threshold = (1i32 << (31 - e)) - 1;
    if x > threshold {
        i32::MAX
    } else if x < -threshold {
        i32::MIN
    } else {
        x << e
    }
}

/// gemmlowp's `one_over_one_plus_x_for_x_in_0_1` on raw Q0.31 values: three Newton-Raphson
/// steps in Q2.29 from the 48/17 − 32/17·d estimate.
pub fn one_over_one_plus_x(a: i32) -> i32 {
    let half_denominator = rounding_half_sum(a, i32::MAX);
    let mut x = 1_515_870_810i32.wrapping_add(srdhm(half_denominator, -1_010_580_540));
    for _ in 0..3 {
        let one_minus = (1i32 << 29).wrapping_sub(srdhm(half_denominator, x));
        x = x.wrapping_add(saturating_shl(srdhm(x, one_minus), 2));
    }
    saturating_shl(x, 1)
}

/// `GetReciprocal(x, 31, &shift)` for x ≥ 1: 1/x as a Q0.31 multiplier and the bits of x above one.
pub fn reciprocal(x: i32) -> (i32, i32) {
    let headroom_plus_one = (x as u32).leading_zeros();
    let bits_over_unit = 31 - headroom_plus_one as i32;
    let shifted_minus_one = ((x as u32).wrapping_shl(headroom_plus_one)).wrapping_sub(1 << 31) as i32;
    (one_over_one_plus_x(shifted_minus_one), bits_over_unit)
}

/// gemmlowp's `RoundingDivideByPOT` as compiled for an exponent of 32 to 63, past its
/// contract (DIV of a small dividend gets there): the mask `(1ll << e) − 1` truncates to all
/// ones and the shift count wraps at 32, as x86's `sar` does.
#[inline]
pub fn rdbpot_wide(x: i32, e: u32) -> i32 {
    if e < 32 {
        return rdbpot(x, e as i32);
    }
    let threshold = -1 + i32::from(x < 0);
    (x >> (e & 31)) + i32::from(x > threshold)
}

/// `GetInvSqrtQuantizedMultiplierExp`: 1/√x as a multiplier and shift (x > 1; x ≤ 1 gives
/// the largest multiplier), by five Newton-Raphson steps in Q3.28. `reverse_shift` −1 turns
/// the right shift into a left one.
pub fn inv_sqrt_multiplier_exp(x: i32, reverse_shift: i32) -> (i32, i32) {
    if x <= 1 {
        return (i32::MAX, 0);
    }
    let (mut x, mut shift) = (x, 11);
    while x >= 1 << 29 {
        x /= 4;
        shift += 1;
    }
    let pairs = ((x as u32).leading_zeros() - 1) / 2 - 1;
    shift -= pairs as i32;
    x <<= 2 * pairs;
    let input = x >> 1;
    let half_input = rdbpot(input, 1);
    let half_three = (1 << 28) + (1 << 27);
    let mut y = 1 << 28;
    for _ in 0..5 {
        // Q3 · Q3 · Q3 is Q9, back to Q3; the difference of two Q6 products back to Q3.
        let y3 = saturating_shl(srdhm(srdhm(y, y), y), 6);
        y = saturating_shl(srdhm(half_three, y).wrapping_sub(srdhm(half_input, y3)), 3);
    }
    // Times √2/2 in Q0.31.
    let mut y = srdhm(y, 1518500250);
    if shift < 0 {
        y = y.wrapping_shl((-shift) as u32);
        shift = 0;
    }
    (y, shift * reverse_shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_multiplier_matches_frexp_rounding() {
        assert_eq!(quantize_multiplier(0.0), (0, 0));
        assert_eq!(quantize_multiplier(0.5), (1 << 30, 0));
        assert_eq!(quantize_multiplier(1.0), (1 << 30, 1));
        assert_eq!(quantize_multiplier(0.25), (1 << 30, -1));
        // 0.75 = 0.75 · 2^0.
        assert_eq!(quantize_multiplier(0.75), (3 << 29, 0));
        // q rounds up to 2^31: renormalized.
        let (m, s) = quantize_multiplier(1.0 - 1e-12);
        assert_eq!((m, s), (1 << 30, 1));
        // Tiny multipliers flush to zero.
        assert_eq!(quantize_multiplier(1e-12), (0, 0));
        let (m, s) = quantize_multiplier(3.0e-5);
        let back = f64::from(m) * 2f64.powi(s - 31);
        assert!((back - 3.0e-5).abs() < 1e-13, "{m} {s}");
        assert_eq!(frexp(6.0), (0.75, 3));
        assert_eq!(frexp(-0.1).1, -3);
    }

    #[test]
    fn high_mul_rounds_half_up_and_saturates() {
        assert_eq!(srdhm(i32::MIN, i32::MIN), i32::MAX);
        // 2^30 · 1 / 2^31 = 0.5 → 1; −0.5 → 0; −1.5 → −1.
        assert_eq!(srdhm(1 << 30, 1), 1);
        assert_eq!(srdhm(-(1 << 30), 1), 0);
        assert_eq!(srdhm(-(3 << 29), 2), -1);
        assert_eq!(srdhm(1 << 30, 1 << 30), 1 << 29);
        assert_eq!(srdhm16(i16::MIN, i16::MIN), i16::MAX);
        assert_eq!(srdhm16(1 << 14, 1), 1);
        assert_eq!(srdhm16(-(1 << 14), 1), 0);
    }

    #[test]
    fn divide_by_pot_rounds_half_away() {
        assert_eq!(rdbpot(3, 1), 2);
        assert_eq!(rdbpot(-3, 1), -2);
        assert_eq!(rdbpot(5, 2), 1);
        assert_eq!(rdbpot(-5, 2), -1);
        assert_eq!(rdbpot(6, 2), 2);
        assert_eq!(rdbpot(-6, 2), -2);
        assert_eq!(rdbpot(7, 0), 7);
        assert_eq!(rdbpot(i32::MIN, 31), -1);
    }

    #[test]
    fn x86_rule_differs_only_at_negative_ties() {
        let (m, s) = (1 << 30, -1); // 0.25
        for x in -64..64 {
            let (r, o) = (mbqm(x, m, s), mbqm_x86(x, m, s));
            // The second rounding ties when the first result is negative and odd.
            let r1 = srdhm(x, m);
            if r1 < 0 && r1 % 2 != 0 {
                assert_eq!(o, r + 1, "{x}");
            } else {
                assert_eq!(o, r, "{x}");
            }
        }
        assert_eq!(mbqm(-6, 1 << 30, -1), -2); // -6 · 0.25 = -1.5 → -2 (away)
        assert_eq!(mbqm_x86(-6, 1 << 30, -1), -1); // half up
        assert_eq!(mbqm(3, 1 << 30, 2), 6); // 3 · 0.5 · 4
        assert_eq!(mbqm_smaller_than_one(100, 1 << 30, -2), 13); // 100 · 0.125 = 12.5 → 13
    }

    #[test]
    fn int64_overload_uses_a_16_bit_multiplier() {
        // 0.5 with a 16-bit multiplier 2^14, shift 0: x · 2^14 / 2^15 rounded half up.
        assert_eq!(mbqm_i64(3, 1 << 30, 0), 2);
        assert_eq!(mbqm_i64(-3, 1 << 30, 0), -1);
        assert_eq!(mbqm_i64(1 << 40, 1 << 30, -10), 1 << 29);
        assert_eq!(mbqm_i64(10, 0x7FFF_FFFF, 0), 10);
        assert_eq!(downscale_multiplier(1 << 30), 1 << 14);
        assert_eq!(downscale_multiplier(i32::MAX), i16::MAX);
    }

    #[test]
    fn reciprocal_and_sign_bits() {
        assert_eq!([0, -1, 1, -2, i32::MIN, i32::MAX].map(leading_sign_bits), [31, 31, 30, 30, 0, 0]);
        for d in 1..300 {
            let (inv, shift) = reciprocal(d);
            // inv / 2^31 · 2^-shift ≈ 1/d.
            let approx = f64::from(inv) / 2f64.powi(31 + shift);
            assert!((approx * f64::from(d) - 1.0).abs() < 1e-8, "{d}: {inv} {shift}");
        }
        assert_eq!(reciprocal(1).1, 0);
        assert_eq!(reciprocal(3).1, 1);
    }

    #[test]
    fn wide_divide_by_pot_as_compiled() {
        assert_eq!(rdbpot_wide(5, 2), rdbpot(5, 2));
        // Past 31 the mask is all ones: zero and positive values gain one, negatives do not.
        assert_eq!(rdbpot_wide(0, 33), 1);
        assert_eq!(rdbpot_wide(8, 33), 5);
        assert_eq!(rdbpot_wide(-8, 33), -4);
        assert_eq!(mbqm_i64_trunc(3, 1 << 30, 0), mbqm_i64(3, 1 << 30, 0));
        // 2^39 wraps to 0 where the other overload saturates.
        assert_eq!(mbqm_i64_trunc(1 << 40, 1 << 30, 0), 0);
        assert_eq!(mbqm_i64(1 << 40, 1 << 30, 0), i32::MAX);
    }
}
