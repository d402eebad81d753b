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
    if max_abs > 0.0 && max_abs.is_finite() {
        max_abs / INT8_MAX_SYMMETRIC
    } else {
        1.0
    }
}

fn quantize_value(v: f32, inv_scale_ref: f32) -> i8 {
    // round half away from zero, as std::round does in TF's quantizer
    (v / inv_scale_ref).round().clamp(-INT8_MAX_SYMMETRIC, INT8_MAX_SYMMETRIC) as i8
}

/// Quantizes `values` (row-major with `shape`) per channel along `axis`, or per
/// tensor when `axis` is None: `scale = max|w| / 127`, `q = round(w / scale)`.
pub fn quantize_symmetric_int8(values: &[f32], shape: &[usize], axis: Option<usize>) -> SymmetricInt8 {
    match axis {
        None => {
            let max_abs = values.iter().fold(0f32, |m, v| m.max(v.abs()));
            let scale = symmetric_scale(max_abs);
            SymmetricInt8 { values: values.iter().map(|&v| quantize_value(v, scale)).collect(), scales: vec![scale] }
        }
        Some(axis) => {
            let (outer, channels, inner) = split_at_axis(shape, axis);
            let mut max_abs = vec![0f32; channels];
            for o in 0..outer {
                for (c, m) in max_abs.iter_mut().enumerate() {
                    let start = (o * channels + c) * inner;
                    *m = values[start..start + inner].iter().fold(*m, |m, v| m.max(v.abs()));
                }
            }
            let scales: Vec<f32> = max_abs.iter().map(|&m| symmetric_scale(m)).collect();
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
pub fn to_f16_bytes(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * 2);
    for &v in values {
        out.extend_from_slice(&half::f16::from_f32(v.clamp(-F16_MAX, F16_MAX)).to_le_bytes());
    }
    out
}

/// Little-endian f32 bytes → values. The length must be a multiple of 4.
pub fn f32_values(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

pub fn i8_bytes(values: &[i8]) -> Vec<u8> {
    values.iter().map(|&v| v as u8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn float16_clamps_before_casting() {
        let b = to_f16_bytes(&[70000.0, -1e9, 1.0]);
        let v: Vec<f32> = b.chunks(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect();
        assert_eq!(v, vec![65504.0, -65504.0, 1.0]);
    }
}
