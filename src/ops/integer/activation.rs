//! Integer activations and normalisations (LUT and fixed-point methods): LOGISTIC and TANH
//! in 16x8, SOFTMAX in 16x8, EXP, LOG and GELU by table, LOG_SOFTMAX and L2_NORMALIZATION
//! in int8. Each computes what LiteRT's built-in kernel computes on x86-64, bit for bit.

use super::{input_t, lut8, q_of, softmax, Q};
use crate::ir::{Buf, Value, Values};
use crate::kernels::fixedpoint as fp;
use crate::ops::util::inp;
use crate::ops::{opts, KResult, PrepareCtx, Prepared};
use crate::schema::{ActivationFunctionType as Act, TensorType};

/// A 513-entry int16 table: 512 segments over the input range and one end point.
type Lut16 = [i16; 513];

/// `LUTPopulate<int16_t>` in the float or the double build: each segment's start value is
/// biased by half the error of the interpolated midpoint, so that linear interpolation
/// between entries splits the error.
macro_rules! lut16_populate {
    ($name:ident, $t:ty) => {
        fn $name(in_s: $t, in_zp: i32, out_s: $t, out_zp: i32, f: impl Fn($t) -> $t) -> Lut16 {
            let input_min = in_s * (-32768 - in_zp) as $t;
            let input_max = in_s * (32767 - in_zp) as $t;
            let output_min = out_s * (-32768 - out_zp) as $t;
            let output_max = out_s * (32767 - out_zp) as $t;
            let step = (input_max - input_min) / 512.0;
            let half_step = step / 2.0;
            let inv = 65536.0 / (output_max - output_min);
            let clamp = |v: $t| v.max(-32768.0).min(32767.0) as i16;
            let mut lut = [0i16; 513];
            for (i, e) in lut.iter_mut().take(512).enumerate() {
                let at = input_min + i as $t * step;
                let val = f(at);
                let val_mid = f(at + half_step);
                let val_next = f(input_min + (i + 1) as $t * step);
                let sample = (val * inv).round();
                let interp = ((val_next * inv + (val * inv).round()) / 2.0).round();
                let mid = (val_mid * inv).round();
                let bias = ((interp - mid) / 2.0).round();
                *e = clamp(sample - bias);
            }
            lut[512] = clamp((f(input_max) * inv).round());
            lut
        }
    };
}

lut16_populate!(lut16_f32, f32);
lut16_populate!(lut16_f64, f64);

/// `LUTLookup` for int16: the top 9 bits pick the segment, the low 7 interpolate (the slope
/// is stored in 16 bits, as LiteRT stores it).
#[inline]
fn lut16_lookup(v: i32, lut: &Lut16) -> i32 {
    let index = (256 + (v >> 7)) as usize;
    let offset = v & 0x7f;
    let base = i32::from(lut[index]);
    let slope = i32::from((i32::from(lut[index + 1]) - base) as i16);
    i32::from((base + ((slope * offset + 64) >> 7)) as i16)
}

/// `LUTPopulate<int8_t>` (float): entry v + 128 holds f(s·(v − z)) requantized.
fn lut8_table(qi: Q, qo: Q, f: impl Fn(f32) -> f32) -> Vec<i8> {
    let inv = 1.0 / qo.scale;
    (-128..=127)
        .map(|v: i32| {
            let r = (f(qi.scale * (v - qi.zp) as f32) * inv).round();
            ((r + qo.zp as f32) as i32).clamp(-128, 127) as i8
        })
        .collect()
}

fn i16s(v: &Value) -> KResult<&[i16]> {
    match &v.values {
        Values::I16(x) => Ok(x),
        other => Err(format!("expected INT16 values, got {}", other.type_name())),
    }
}

fn i8s(v: &Value) -> KResult<&[i8]> {
    match &v.values {
        Values::I8(x) => Ok(x),
        other => Err(format!("expected INT8 values, got {}", other.type_name())),
    }
}

/// An int8 or int16 op computed by LiteRT's tables (EXP, LOG, GELU): 256 entries for int8, 513
/// interpolated ones (float build) for int16, which needs zero points 0.
fn lut_op(ctx: &PrepareCtx, name: &str, f: impl Fn(f32) -> f32) -> KResult<Prepared> {
    let (input, out) = (input_t(ctx, 0)?, ctx.output(0)?);
    let (qi, qo) = (q_of(input)?, q_of(out)?);
    match (input.dtype, out.dtype) {
        (TensorType::INT8, TensorType::INT8) => {
            let table = lut8_table(qi, qo, f);
            Ok(Prepared::one(move |ins| {
                let x = inp(ins, 0)?;
                let out: Buf<i8> = i8s(x)?.iter().map(|&a| table[(i32::from(a) + 128) as usize]).collect();
                Ok(Value::new(x.shape.clone(), Values::I8(out)))
            }))
        }
        (TensorType::INT16, TensorType::INT16) => {
            if qi.zp != 0 || qo.zp != 0 {
                return Err(format!("int16 {name} needs zero points 0"));
            }
            let lut = lut16_f32(qi.scale, 0, qo.scale, 0, f);
            Ok(Prepared::one(move |ins| {
                let x = inp(ins, 0)?;
                let out: Buf<i16> = i16s(x)?.iter().map(|&a| lut16_lookup(i32::from(a), &lut) as i16).collect();
                Ok(Value::new(x.shape.clone(), Values::I16(out)))
            }))
        }
        _ => Err(format!("{name} has integer kernels for int8 → int8 and int16 → int16 only")),
    }
}

/// EXP (`exp.cc`): a table of expf.
pub(in crate::ops) fn exp(ctx: &PrepareCtx) -> KResult<Prepared> {
    lut_op(ctx, "EXP", f32::exp)
}

/// LOG (`elementwise.cc`): a table of logf, with the output's lowest real value for inputs ≤ 0.
pub(in crate::ops) fn log(ctx: &PrepareCtx) -> KResult<Prepared> {
    let out = ctx.output(0)?;
    let qo = q_of(out)?;
    let lowest = if out.dtype == TensorType::INT8 { -128 } else { -32768 };
    let output_min = (lowest - qo.zp) as f32 * qo.scale;
    lut_op(ctx, "LOG", move |v| if v <= 0.0 { output_min } else { v.ln() })
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod libm {
    extern "C" {
        fn erfcf(x: f32) -> f32;
    }

    /// The C library's erfcf, which LiteRT's GELU table is built with.
    pub(super) fn erfc(x: f32) -> f32 {
        // SAFETY: erfcf is a pure function of its argument in the C maths library that std
        // links on this target.
        unsafe { erfcf(x) }
    }
}

/// GELU (`activations.cc`, `reference_ops::GeluTransform[Approximate]`): a table of the f32
/// formula, 0.5·x·erfc(−x/√2) or the tanh approximation.
pub(in crate::ops) fn gelu(ctx: &PrepareCtx) -> KResult<Prepared> {
    let approximate = opts!(ctx, GeluOptions).approximate;
    if approximate {
        // sqrt(2/π) as the f32 constant LiteRT computes it in double.
        let k = (std::f64::consts::FRAC_2_SQRT_PI * std::f64::consts::FRAC_1_SQRT_2) as f32;
        return lut_op(ctx, "GELU", move |x| 0.5 * x * (1.0 + (k * (x + 0.044715 * x * x * x)).tanh()));
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let c = -std::f64::consts::FRAC_1_SQRT_2 as f32;
        lut_op(ctx, "GELU", move |x| 0.5 * x * libm::erfc(x * c))
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        Err("exact integer GELU needs the C library's erfcf (Linux with glibc)".into())
    }
}

/// `CheckedLog2`: whether a scale is (within 1e-3 in log2) a power of two, and its log2.
fn checked_log2(x: f32) -> (bool, i32) {
    let l = x.ln() * (1.0f32 / 2.0f32.ln());
    let r = l.round();
    ((l - r).abs() < 1e-3, r as i32)
}

/// The combined sigmoid table of LiteRT's int16 LOGISTIC and TANH: sigmoid(i/24) in 0.16.
#[rustfmt::skip]
const SIGMOID_TABLE: [u16; 256] = [
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498,
    40149, 40794, 41432, 42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255,
    46817, 47369, 47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409, 51865,
    52311, 52745, 53169, 53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174,
    56503, 56823, 57133, 57433, 57724, 58007, 58280, 58544, 58800, 59048, 59288,
    59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110, 61279, 61441,
    61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886,
    62990, 63090, 63186, 63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835,
    63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308, 64357, 64405, 64450,
    64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786, 64816, 64845,
    64873, 64900, 64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079, 65097,
    65115, 65132, 65149, 65164, 65179, 65194, 65208, 65221, 65234, 65246, 65258,
    65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360,
    65367, 65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425,
    65429, 65433, 65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465,
    65468, 65471, 65474, 65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491,
    65493, 65495, 65497, 65498, 65500, 65501, 65503, 65504, 65505, 65507, 65508,
    65509, 65510, 65511, 65512, 65513, 65514, 65515, 65516, 65517, 65517, 65518,
    65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524, 65525,
    65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529,
    65529, 65529, 65530, 65530, 65530, 65530, 65531, 65531, 65531, 65531, 65531,
    65532, 65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533, 65533, 65533,
    65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534,
    65534, 65534, 65535,
];

/// gemmlowp's `SaturatingRoundingMultiplyByPOT` on int16 for a left shift.
fn sat_shl16(x: i16, e: u32) -> i16 {
    let threshold = (1i16 << (15 - e)) - 1;
    if x > threshold {
        i16::MAX
    } else if x < -threshold {
        i16::MIN
    } else {
        x.wrapping_shl(e)
    }
}

/// A 32-bit gemmlowp constant in 16 bits (`RescaleConstantInitializer`).
fn c16(raw: i32) -> i16 {
    fp::rdbpot(raw, 16) as i16
}

/// gemmlowp's int16 fixed-point maths (scalar form). LiteRT runs blocks of 8 through the SSE
/// form, whose multiply and half sum round ties up rather than away from zero; for tanh and
/// logistic on Q3.12 the two agree on all 65536 inputs (checked against LiteRT), so one form
/// serves.
struct Fx16;

impl Fx16 {
    fn mul(a: i16, b: i16) -> i16 {
        fp::srdhm16(a, b)
    }

    fn half_sum(a: i16, b: i16) -> i16 {
        let s = i32::from(a) + i32::from(b);
        ((s + if s >= 0 { 1 } else { -1 }) / 2) as i16
    }

    /// exp(a) for a in [−1/4, 0), Q0.15.
    fn exp_quarter(a: i16) -> i16 {
        let (constant, third) = (c16(1895147668), c16(715827883));
        let x = a.wrapping_add(1 << 12);
        let x2 = Self::mul(x, x);
        let x3 = Self::mul(x2, x);
        let x4 = Self::mul(x2, x2);
        let x4_4 = fp::rdbpot(i32::from(x4), 2) as i16;
        let t = Self::mul(x4_4.wrapping_add(x3), third).wrapping_add(x2);
        let t = fp::rdbpot(i32::from(t), 1) as i16;
        constant.saturating_add(Self::mul(constant, x.wrapping_add(t)))
    }

    /// exp(a) for a ≤ 0 in Q(k).(15−k), into Q0.15.
    fn exp_negative(a: i16, k: i32) -> i16 {
        let frac = 15 - k;
        let quarter = 1i16 << (frac - 2);
        let amq = (a & (quarter - 1)).wrapping_sub(quarter);
        let mut r = Self::exp_quarter(sat_shl16(amq, k as u32));
        let rem = amq.wrapping_sub(a);
        for (e, m) in
            [(-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535), (3, 720401), (4, 242)]
        {
            if k > e && rem & (1i16 << (frac + e)) != 0 {
                r = Self::mul(r, c16(m));
            }
        }
        if a == 0 {
            i16::MAX
        } else {
            r
        }
    }

    /// Newton–Raphson for 1/(1 + a), a in (0, 1): x in Q2.13.
    fn reciprocal_steps(a: i16) -> i16 {
        let half_den = Self::half_sum(a, i16::MAX);
        let mut x = c16(1515870810).wrapping_add(Self::mul(half_den, c16(-1010580540)));
        for _ in 0..3 {
            let one_minus = (1i16 << 13).wrapping_sub(Self::mul(half_den, x));
            x = x.wrapping_add(sat_shl16(Self::mul(x, one_minus), 2));
        }
        x
    }

    /// tanh of a Q3.12 value, Q0.15.
    fn tanh(a: i16) -> i16 {
        let n = if a < 0 { a } else { a.wrapping_neg() };
        let e = Self::exp_negative(n, 4);
        let t = sat_shl16(Self::reciprocal_steps(e).wrapping_sub(1 << 13), 2);
        if a == 0 {
            0
        } else if a < 0 {
            t.wrapping_neg()
        } else {
            t
        }
    }

    /// logistic of a Q3.12 value, Q0.15.
    fn logistic(a: i16) -> i16 {
        let abs = if a > 0 { a } else { a.wrapping_neg() };
        let e = Self::exp_negative(abs.wrapping_neg(), 3);
        let positive = sat_shl16(Self::reciprocal_steps(e), 1);
        if a == 0 {
            c16(1 << 30)
        } else if a > 0 {
            positive
        } else {
            i16::MAX.wrapping_sub(positive)
        }
    }
}

/// LOGISTIC (`tanh == false`) or TANH: int8 by the float table; int16 by
/// `reference_integer_ops::Logistic`/`Tanh`, the input rescaled to 1/(3·4096) by a 16-bit
/// multiplier, then the sigmoid table interpolated; with a (near, within 1e-3 in log2)
/// power-of-two input scale of 2^−12 (or 2^−11 for TANH), by gemmlowp's fixed-point maths.
pub(in crate::ops) fn sigmoid_or_tanh(ctx: &PrepareCtx, tanh: bool) -> KResult<Prepared> {
    let (input, out) = (input_t(ctx, 0)?, ctx.output(0)?);
    if input.dtype == TensorType::INT8 {
        return lut8(ctx, if tanh { super::tanh } else { super::logistic });
    }
    if input.dtype != TensorType::INT16 || out.dtype != TensorType::INT16 {
        return Err("integer LOGISTIC/TANH need int8 or int16 input and output of the same type".into());
    }
    let (qi, qo) = (q_of(input)?, q_of(out)?);
    if qi.zp != 0 || qo.zp != 0 {
        return Err("int16 LOGISTIC/TANH need zero points 0".into());
    }
    let (out_pot, out_log2) = checked_log2(qo.scale);
    if !out_pot || out_log2 != -15 {
        return Err("int16 LOGISTIC/TANH need the output scale 1/32768".into());
    }
    let (pot, log2) = checked_log2(qi.scale);
    let left_shift = 12 + log2;
    // LOGISTIC takes the gemmlowp kernel for 2^−12 only, TANH for 2^−11 too.
    if pot && (left_shift == 0 || (tanh && left_shift == 1)) {
        // LiteRT's gemmlowp kernel: raw inputs as Q3.12 (doubled first for 2^−11).
        let double = tanh && left_shift == 1;
        return Ok(Prepared::one(move |ins| {
            let x = inp(ins, 0)?;
            let xv = i16s(x)?;
            let out: Buf<i16> = xv
                .iter()
                .map(|&a| {
                    let a = if double { sat_shl16(a, 1) } else { a };
                    if tanh {
                        Fx16::tanh(a)
                    } else {
                        Fx16::logistic(a)
                    }
                })
                .collect();
            Ok(Value::new(x.shape.clone(), Values::I16(out)))
        }));
    }
    let mut multiplier = f64::from(qi.scale) * 4096.0 * 3.0;
    let mut shift = 0;
    while multiplier <= 32767.0 / 2.0 && shift <= 30 {
        shift += 1;
        multiplier *= 2.0;
    }
    let m = multiplier as i32;
    let round = if shift > 0 { 1i32 << (shift - 1) } else { 0 };
    Ok(Prepared::one(move |ins| {
        let x = inp(ins, 0)?;
        let out: Buf<i16> = i16s(x)?
            .iter()
            .map(|&a| {
                let v = i32::from(a).wrapping_mul(m).wrapping_add(round) >> shift;
                let abs = v.unsigned_abs();
                if tanh {
                    let uh = abs >> 8;
                    let r = if uh >= 255 {
                        0xFFFF << 8
                    } else {
                        let (ua, ub) =
                            (i32::from(SIGMOID_TABLE[uh as usize]), i32::from(SIGMOID_TABLE[uh as usize + 1]));
                        (ua << 8) + (abs & 0xFF) as i32 * (ub - ua)
                    };
                    let r = if v >= 0 { r - (1 << 23) + (1 << 7) } else { -r + (1 << 23) + (1 << 7) - 1 };
                    (r >> 8) as i16
                } else {
                    let uh = abs >> 9;
                    let r: u32 = if uh >= 255 {
                        0x7FFF << 10
                    } else {
                        let (ua, ub) =
                            (u32::from(SIGMOID_TABLE[uh as usize]), u32::from(SIGMOID_TABLE[uh as usize + 1]));
                        (ua << 9).wrapping_add((abs & 0x1ff).wrapping_mul(ub.wrapping_sub(ua)))
                    };
                    let r = if v >= 0 {
                        r.wrapping_add(1 << 9)
                    } else {
                        (1u32 << 25).wrapping_sub(r).wrapping_add((1 << 9) - 1)
                    };
                    (r >> 10) as i16
                }
            })
            .collect();
        Ok(Value::new(x.shape.clone(), Values::I16(out)))
    }))
}

/// SOFTMAX: int8 by the float table (see [`softmax`]); int16 by `reference_ops::SoftmaxInt16`
/// (what LiteRT runs for int16 whatever the resolver): differences rescaled to [−65535, 0] ↔
/// [−10, 0], exp by a 513-entry table, the sum's reciprocal by a table of 1/(1 + x).
pub(in crate::ops) fn softmax_any(ctx: &PrepareCtx) -> KResult<Prepared> {
    let (input, out) = (input_t(ctx, 0)?, ctx.output(0)?);
    if input.dtype == TensorType::INT8 {
        return softmax(ctx);
    }
    if input.dtype != TensorType::INT16 || out.dtype != TensorType::INT16 {
        return Err("integer SOFTMAX needs int8 → int8 or int16 → int16".into());
    }
    let beta = opts!(ctx, SoftmaxOptions).beta;
    let (qi, qo) = (q_of(input)?, q_of(out)?);
    if qi.zp != 0 || qo.zp != 0 {
        return Err("int16 SOFTMAX needs zero points 0".into());
    }
    let range = 65535.0f64;
    let exp_lut = lut16_f64(10.0 / range, 32767, 2.0 / range, 0, f64::exp);
    let recip_lut = lut16_f64(1.0 / range, -32768, 2.0 / range, 0, |v| 1.0 / (1.0 + v));
    // The input scale times β is a product of floats, then divided in double.
    let (m, s) = fp::quantize_multiplier(f64::from(qi.scale * beta) / (10.0 / 65535.0));
    Ok(Prepared::one(move |ins| {
        let x = inp(ins, 0)?;
        let xv = i16s(x)?;
        let last = *x.shape.last().ok_or("SOFTMAX of a scalar")?;
        let mut out = Buf::with_capacity(xv.len());
        let mut exps = Vec::with_capacity(last);
        for row in xv.chunks(last.max(1)) {
            let max = row.iter().copied().max().map_or(-32768, i32::from);
            exps.clear();
            let mut sum = 0i32;
            for &q in row {
                let scaled = fp::mbqm(i32::from(q) - max, m, s);
                let e = lut16_lookup(scaled.saturating_add(32767).clamp(-32768, 32767), &exp_lut);
                exps.push(e);
                sum = sum.wrapping_add(e);
            }
            let headroom_plus_one = (sum as u32).leading_zeros() as i32;
            if !(1..=31).contains(&headroom_plus_one) {
                return Err("int16 SOFTMAX: sum of exponentials out of range".into());
            }
            let shifted = (((i64::from(sum) << (headroom_plus_one - 1)) + (1 << 13)) >> 14) as i32;
            let sym = shifted.wrapping_sub((1 << 15) + (1 << 16)).clamp(-32768, 32767);
            let recip = i64::from(lut16_lookup(sym, &recip_lut));
            let right = 31 - headroom_plus_one;
            let round = if right > 0 { 1i64 << (right - 1) } else { 0 };
            out.extend(exps.iter().map(|&e| {
                let r = ((i64::from(e) * recip + round) >> right) as i32;
                r.clamp(0, 32767) as i16
            }));
        }
        Ok(Value::new(x.shape.clone(), Values::I16(out)))
    }))
}

/// LOG_SOFTMAX int8 (`optimized_ops::LogSoftmax`, float): Σ expf(−s·(max − q)) from the
/// softmax table, then rint(s/so·q − (s·max + logf(Σ))/so) + zo. The output must be 16/256, 127.
pub(in crate::ops) fn log_softmax(ctx: &PrepareCtx) -> KResult<Prepared> {
    let (input, out) = (input_t(ctx, 0)?, ctx.output(0)?);
    if input.dtype != TensorType::INT8 || out.dtype != TensorType::INT8 {
        return Err("only int8 LOG_SOFTMAX has an integer kernel".into());
    }
    let (qi, qo) = (q_of(input)?, q_of(out)?);
    if qo.scale != 16.0 / 256.0 || qo.zp != 127 {
        return Err("int8 LOG_SOFTMAX needs the output scale 16/256 and zero point 127".into());
    }
    let neg = -qi.scale;
    let table: Vec<f32> = (0..=255).map(|d: i32| (neg * d as f32).exp()).collect();
    let scale = qi.scale / qo.scale;
    Ok(Prepared::one(move |ins| {
        let x = inp(ins, 0)?;
        let xv = i8s(x)?;
        let last = *x.shape.last().ok_or("LOG_SOFTMAX of a scalar")?;
        let mut out = Buf::with_capacity(xv.len());
        for row in xv.chunks(last.max(1)) {
            let max = row.iter().copied().max().map_or(-128, i32::from);
            let sum = row.iter().fold(0.0f32, |s, &q| s + table[(max - i32::from(q)) as usize]);
            let pre = (qi.scale * max as f32 + sum.ln()) / qo.scale;
            out.extend(row.iter().map(|&q| {
                let p = (scale * f32::from(q) - pre).round_ties_even() + qo.zp as f32;
                (p as i32).clamp(-128, 127) as i8
            }));
        }
        Ok(Value::new(x.shape.clone(), Values::I8(out)))
    }))
}

/// L2_NORMALIZATION int8 (`reference_integer_ops::L2Normalization`): each row times
/// 1/√Σ(q − z)² as a fixed-point multiplier, into the output's 1/128 scale.
pub(in crate::ops) fn l2_normalize(ctx: &PrepareCtx) -> KResult<Prepared> {
    let (input, out) = (input_t(ctx, 0)?, ctx.output(0)?);
    if input.dtype != TensorType::INT8 || out.dtype != TensorType::INT8 {
        return Err("only int8 L2_NORMALIZATION has an integer kernel".into());
    }
    if opts!(ctx, L2NormOptions).fused_activation_function != Act::NONE {
        return Err("LiteRT's L2_NORMALIZATION takes no fused activation".into());
    }
    let (qi, qo) = (q_of(input)?, q_of(out)?);
    if qo.scale != 1.0 / 128.0 || qo.zp != 0 {
        return Err("int8 L2_NORMALIZATION needs the output scale 1/128 and zero point 0".into());
    }
    Ok(Prepared::one(move |ins| {
        let x = inp(ins, 0)?;
        let xv = i8s(x)?;
        let last = *x.shape.last().ok_or("L2_NORMALIZATION of a scalar")?;
        let mut out = Buf::with_capacity(xv.len());
        for row in xv.chunks(last.max(1)) {
            let acc = row.iter().fold(0i32, |s, &q| {
                let d = i32::from(q) - qi.zp;
                s.wrapping_add(d * d)
            });
            let (m, s) = fp::inv_sqrt_multiplier_exp(acc, -1);
            out.extend(row.iter().map(|&q| fp::mbqm(i32::from(q) - qi.zp, m, s + 7).clamp(-128, 127) as i8));
        }
        Ok(Value::new(x.shape.clone(), Values::I8(out)))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lut16_interpolates_with_rounding() {
        // A table rising by 128 per segment: the low 7 bits add one LSB each.
        let mut lut = [0i16; 513];
        for (i, e) in lut.iter_mut().enumerate() {
            *e = (i as i32 * 128 - 32768).clamp(-32768, 32767) as i16;
        }
        assert_eq!(lut16_lookup(-32768, &lut), -32768);
        assert_eq!(lut16_lookup(0, &lut), 0);
        assert_eq!(lut16_lookup(5, &lut), 5);
        assert_eq!(lut16_lookup(-3, &lut), -3);
        // An identity table built by LUTPopulate stays within an LSB of the identity.
        let id = lut16_f32(1.0 / 32768.0, 0, 1.0 / 32768.0, 0, |x| x);
        for v in [-32768, -12345, -1, 0, 1, 777, 32767] {
            assert!((lut16_lookup(v, &id) - v).abs() <= 1, "{v}");
        }
    }

    #[test]
    fn power_of_two_scales_are_recognised_loosely() {
        assert_eq!(checked_log2(1.0 / 4096.0), (true, -12));
        assert_eq!(checked_log2(1.0005 / 2048.0), (true, -11));
        assert!(!checked_log2(1.0 / 3000.0).0);
    }

    #[test]
    fn gemmlowp_tanh_and_logistic_track_the_functions() {
        assert_eq!(Fx16::logistic(0), 16384);
        assert_eq!(Fx16::tanh(0), 0);
        for raw in (-32768..=32767).step_by(97) {
            let x = f64::from(raw) / 4096.0;
            let l = f64::from(Fx16::logistic(raw as i16)) / 32768.0;
            let t = f64::from(Fx16::tanh(raw as i16)) / 32768.0;
            assert!((l - 1.0 / (1.0 + (-x).exp())).abs() < 1e-3, "logistic {x}: {l}");
            assert!((t - x.tanh()).abs() < 1e-3, "tanh {x}: {t}");
        }
    }

    #[test]
    fn inverse_square_root_multiplier() {
        assert_eq!(fp::inv_sqrt_multiplier_exp(0, -1), (i32::MAX, 0));
        assert_eq!(fp::inv_sqrt_multiplier_exp(1, -1), (i32::MAX, 0));
        for x in [2, 3, 100, 16129, 1 << 20, 2_000_000_000] {
            let (m, s) = fp::inv_sqrt_multiplier_exp(x, -1);
            let got = f64::from(m) * 2f64.powi(s - 31);
            let want = 1.0 / f64::from(x).sqrt();
            assert!((got / want - 1.0).abs() < 1e-5, "{x}: {got} vs {want}");
        }
    }
}
