//! Number conversions shared by the passes: symmetric int8 weights and float16.

/// Symmetric, narrow-range int8: values in [-127, 127], zero point 0.
pub const INT8_MAX_SYMMETRIC: f32 = 127.0;
/// Largest finite float16; TF clamps to it before casting.
pub const F16_MAX: f32 = 65504.0;

/// Int8 data with one scale per channel (or a single scale).
#[derive(Debug, Clone, PartialEq)]
pub struct SymmetricInt8 {
    pub values: Vec<i8>,
    pub scales: Vec<f32>,
}

/// Splits `shape` around `axis` into (outer, channels, inner) element counts.
pub fn split_at_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product();
    (outer, shape[axis], inner)
}

/// The scale for a channel whose largest magnitude is `max_abs`. An all-zero
/// channel gets scale 1 (its values are all 0 either way) so kernels never divide by 0.
pub fn symmetric_scale(max_abs: f32) -> f32 {
    let scale = max_abs / INT8_MAX_SYMMETRIC;
    // A subnormal scale (a channel of subnormal weights only) is refused by XNNPACK; such a
    // channel is zero to int8 precision, as an all-zero one is.
    if max_abs.is_finite() && scale >= f32::MIN_POSITIVE {
        scale
    } else {
        1.0
    }
}

/// Rounds half away from zero, as `std::round` does in TF's quantizer, without
/// a libm call (x86-64's baseline has no rounding instruction).
#[inline]
pub fn round_half_away(x: f32) -> f32 {
    if x.is_nan() || x.abs() >= 8_388_608.0 {
        return x; // already integral (or NaN)
    }
    let t = x as i32 as f32; // truncates toward zero; exact below 2^23
    let d = x - t;
    if d >= 0.5 {
        t + 1.0
    } else if d <= -0.5 {
        t - 1.0
    } else {
        t
    }
}

/// `round_half_away(v / scale)` clamped to [-127, 127], branch-free and in
/// float until the end so the loops over a channel vectorize.
#[inline(always)]
#[allow(clippy::manual_clamp)] // max/min on purpose: they map NaN to a bound, clamp would keep it
fn quantize_value(v: f32, scale: f32) -> i8 {
    // max/min also map NaN to a bound; within ±128 the i32 round trip is exact.
    let y = (v / scale).max(-128.0).min(128.0);
    // SAFETY: y is in [-128, 128] and not NaN (f32::max returns the non-NaN operand).
    let t = unsafe { y.to_int_unchecked::<i32>() } as f32; // truncation toward zero
    let d = y - t;
    let r = (t + f32::from(u8::from(d >= 0.5)) - f32::from(u8::from(d <= -0.5))).max(-127.0).min(127.0);
    // SAFETY: r is in [-127, 127] and not NaN.
    unsafe { r.to_int_unchecked::<i32>() as i8 }
}

/// The largest magnitude in `values`, over 8 lanes so it vectorizes.
#[inline(always)]
fn max_abs(values: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let mut chunks = values.chunks_exact(8);
    for c in &mut chunks {
        for (m, &v) in lanes.iter_mut().zip(c) {
            let a = v.abs();
            *m = if a > *m { a } else { *m };
        }
    }
    let tail = chunks.remainder().iter().fold(0f32, |m, v| if v.abs() > m { v.abs() } else { m });
    lanes.iter().fold(tail, |m, &v| if v > m { v } else { m })
}

/// Quantizes `values` (row-major with `shape`) per channel along `axis`, or per
/// tensor when `axis` is None: `scale = max|w| / 127`, `q = round(w / scale)`.
pub fn quantize_symmetric_int8(values: &[f32], shape: &[usize], axis: Option<usize>) -> SymmetricInt8 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { quantize_avx2(values, shape, axis) };
    }
    quantize_impl(values, shape, axis)
}

/// [`quantize_symmetric_int8`] for callers that quantize one tensor at a time: channels along
/// axis 0 are independent and contiguous, so a large tensor goes in parallel halves.
pub fn quantize_symmetric_int8_par(values: &[f32], shape: &[usize], axis: Option<usize>) -> SymmetricInt8 {
    if axis == Some(0) && values.len() >= 1 << 18 && shape.first().is_some_and(|&c| c >= 2) {
        let half = shape[0] / 2;
        let inner = values.len() / shape[0];
        let (a, b) = values.split_at(half * inner);
        let (mut sa, mut sb) = (shape.to_vec(), shape.to_vec());
        sa[0] = half;
        sb[0] = shape[0] - half;
        let (mut qa, qb) =
            rayon::join(|| quantize_symmetric_int8_par(a, &sa, axis), || quantize_symmetric_int8_par(b, &sb, axis));
        qa.values.extend_from_slice(&qb.values);
        qa.scales.extend_from_slice(&qb.scales);
        return qa;
    }
    quantize_symmetric_int8(values, shape, axis)
}

/// `q` (the quantization of `values`) with every channel's scale kept within `[lo, hi]`: a
/// channel outside is quantized again at the bound (clipping its values when the scale
/// shrinks). Returns how many channels moved.
pub fn keep_scales_within(
    q: &mut SymmetricInt8,
    values: &[f32],
    shape: &[usize],
    axis: Option<usize>,
    (lo, hi): (f32, f32),
) -> usize {
    let (outer, channels, inner) = match axis {
        Some(a) => split_at_axis(shape, a),
        None => (1, 1, values.len()),
    };
    if q.scales.len() != channels || q.values.len() != outer * channels * inner {
        return 0;
    }
    let mut moved = 0;
    for c in 0..channels {
        let s = q.scales[c];
        if s >= lo && s <= hi {
            continue;
        }
        let scale = s.clamp(lo, hi);
        q.scales[c] = scale;
        moved += 1;
        for o in 0..outer {
            let start = (o * channels + c) * inner;
            for (x, &v) in q.values[start..start + inner].iter_mut().zip(&values[start..start + inner]) {
                *x = quantize_value(v, scale);
            }
        }
    }
    moved
}

/// The same code compiled for AVX2 (twice the vector width of the x86-64 baseline).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn quantize_avx2(values: &[f32], shape: &[usize], axis: Option<usize>) -> SymmetricInt8 {
    quantize_impl(values, shape, axis)
}

#[inline(always)]
fn quantize_impl(values: &[f32], shape: &[usize], axis: Option<usize>) -> SymmetricInt8 {
    match axis {
        None => {
            let scale = symmetric_scale(max_abs(values));
            SymmetricInt8 { values: values.iter().map(|&v| quantize_value(v, scale)).collect(), scales: vec![scale] }
        }
        Some(axis) => {
            let (outer, channels, inner) = split_at_axis(shape, axis);
            let mut maxima = vec![0f32; channels];
            for o in 0..outer {
                for (c, m) in maxima.iter_mut().enumerate() {
                    let start = (o * channels + c) * inner;
                    *m = m.max(max_abs(&values[start..start + inner]));
                }
            }
            let scales: Vec<f32> = maxima.iter().map(|&m| symmetric_scale(m)).collect();
            let mut out = vec![0i8; values.len()];
            for o in 0..outer {
                for (c, &scale) in scales.iter().enumerate() {
                    let start = (o * channels + c) * inner;
                    for (q, &v) in out[start..start + inner].iter_mut().zip(&values[start..start + inner]) {
                        *q = quantize_value(v, scale);
                    }
                }
            }
            SymmetricInt8 { values: out, scales }
        }
    }
}

/// f32 → f16 bytes (little-endian), clamped to the finite range first as TF does.
/// Converts in blocks with `half`'s slice conversion (F16C where the CPU has it).
pub fn to_f16_bytes(values: &[f32]) -> Vec<u8> {
    use half::slice::HalfFloatSliceExt;
    const BLOCK: usize = 1024;
    let mut out = Vec::with_capacity(values.len() * 2);
    let mut clamped = [0f32; BLOCK];
    let mut halves = [half::f16::ZERO; BLOCK];
    for chunk in values.chunks(BLOCK) {
        let n = chunk.len();
        for (c, &v) in clamped[..n].iter_mut().zip(chunk) {
            *c = v.clamp(-F16_MAX, F16_MAX);
        }
        halves[..n].convert_from_f32_slice(&clamped[..n]);
        for h in &halves[..n] {
            out.extend_from_slice(&h.to_le_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_halves_give_the_same_result() {
        for shape in [[1000usize, 300], [3, 100_000], [2, 1 << 17], [1, 1 << 19]] {
            let n = shape[0] * shape[1];
            let values: Vec<f32> = (0..n).map(|i| ((i * 7919 % 2003) as f32 - 1001.0) * 1e-3).collect();
            let serial = quantize_symmetric_int8(&values, &shape, Some(0));
            let parallel = quantize_symmetric_int8_par(&values, &shape, Some(0));
            assert_eq!(serial.values, parallel.values, "{shape:?}");
            assert_eq!(serial.scales, parallel.scales, "{shape:?}");
        }
    }

    #[test]
    fn per_channel_scales_follow_the_axis() {
        // shape [2, 3]: axis 0 has 2 channels, axis 1 has 3
        let w = [1.0, -2.0, 0.5, 0.0, 0.25, -0.125];
        let q0 = quantize_symmetric_int8(&w, &[2, 3], Some(0));
        assert_eq!(q0.scales, vec![2.0 / 127.0, 0.25 / 127.0]);
        assert_eq!(q0.values, vec![64, -127, 32, 0, 127, -64]);
        let q1 = quantize_symmetric_int8(&w, &[2, 3], Some(1));
        assert_eq!(q1.scales, vec![1.0 / 127.0, 2.0 / 127.0, 0.5 / 127.0]);
        assert_eq!(q1.values[1], -127);
    }

    #[test]
    fn per_tensor_and_zero_channels() {
        let q = quantize_symmetric_int8(&[0.0, 0.0], &[2], None);
        assert_eq!(q.scales, vec![1.0]);
        assert_eq!(q.values, vec![0, 0]);
        let q = quantize_symmetric_int8(&[0.5, -1.0, 0.0], &[3], None);
        assert_eq!(q.values, vec![64, -127, 0]);
    }

    #[test]
    fn rounding_is_half_away_from_zero_and_exact() {
        for (x, want) in
            [(0.5, 1.0), (-0.5, -1.0), (1.5, 2.0), (2.5, 3.0), (0.49999997, 0.0), (-126.5, -127.0), (126.49999, 126.0)]
        {
            assert_eq!(round_half_away(x), want, "{x}");
        }
        let mut x = -130.0f32;
        while x < 130.0 {
            assert_eq!(round_half_away(x), x.round(), "{x}");
            x += 0.013;
        }
    }

    #[test]
    fn float16_clamps_before_casting() {
        let b = to_f16_bytes(&[70000.0, -1e9, 1.0]);
        let v: Vec<f32> = b.chunks(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect();
        assert_eq!(v, vec![65504.0, -65504.0, 1.0]);
    }
}
