//! Activation ranges from a tensor's histogram: the percentile rule and the MSE rule. Both
//! return a range that includes 0, and never one wider than the min/max seen.

use super::histogram::Histogram;

/// How activation ranges are chosen from what calibration saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// The global min and max (TF's rule).
    MinMax,
    /// Clip at the P-th percentile (P in (50, 100]).
    Percentile(f64),
    /// The range minimising the expected quantization error (rounding plus clipping).
    Mse,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::MinMax => "minmax",
            Method::Percentile(_) => "percentile",
            Method::Mse => "mse",
        }
    }

    /// Whether calibration must gather histograms.
    pub fn needs_histograms(self) -> bool {
        self != Method::MinMax
    }
}

/// The integer grid a tensor is quantized to, as `quantize::full_integer` derives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grid {
    /// int8, asymmetric: scale (hi−lo)/255, zero point round(−128 − lo/scale).
    Int8,
    /// int16, symmetric: scale max|x|/32767, zero point 0.
    Int16,
}

/// The range `method` picks for a tensor seen over `seen` with histogram `hist`.
pub fn choose(method: Method, seen: (f32, f32), hist: Option<&Histogram>, grid: Grid) -> (f32, f32) {
    let Some(h) = hist.filter(|h| h.total() > 0) else { return seen };
    let (min, max) = h.min_max().unwrap_or(seen);
    let (min0, max0) = (min.min(0.0), max.max(0.0));
    let r = match method {
        Method::MinMax => return seen,
        Method::Percentile(p) => {
            let q = p / 100.0;
            match grid {
                // Each tail on its own: the grid is asymmetric. A one-signed tensor keeps 0 as its bound.
                Grid::Int8 => {
                    let lo = if min < 0.0 { h.quantile(1.0 - q).unwrap_or(min).min(0.0) } else { 0.0 };
                    let hi = if max > 0.0 { h.quantile(q).unwrap_or(max).max(0.0) } else { 0.0 };
                    (lo, hi)
                }
                // The grid is symmetric, so one bound: the percentile of |x|.
                Grid::Int16 => {
                    let a = h.abs_quantile(q).unwrap_or(max0.max(-min0));
                    (if min < 0.0 { -a } else { 0.0 }, if max > 0.0 { a } else { 0.0 })
                }
            }
        }
        Method::Mse => mse(h, (min0, max0), grid),
    };
    // Never wider than what was seen, and always covering 0.
    (r.0.max(min0).min(0.0), r.1.min(max0).max(0.0))
}

/// Candidate bounds per search: fractions j/STEPS of the seen bound.
const STEPS: usize = 128;

fn mse(h: &Histogram, (min0, max0): (f32, f32), grid: Grid) -> (f32, f32) {
    let bins = h.intervals();
    let err = |lo: f32, hi: f32| expected_error(&bins, lo, hi, grid);
    let candidates = |bound: f32| (1..=STEPS).map(move |j| bound * j as f32 / STEPS as f32);
    let best = |it: &mut dyn Iterator<Item = (f32, f32)>| {
        it.map(|r| (err(r.0, r.1), r)).fold((f64::INFINITY, (min0, max0)), |a, b| if b.0 < a.0 { b } else { a })
    };
    match grid {
        Grid::Int16 => {
            let a = max0.max(-min0);
            if a <= 0.0 {
                return (min0, max0);
            }
            let side = |x: f32, bound: f32| if bound != 0.0 { x } else { 0.0 };
            best(&mut candidates(a).map(|x| (-side(x, min0), side(x, max0)))).1
        }
        Grid::Int8 => {
            // Coordinate descent: the best upper bound for the lower one, then the reverse.
            let (mut lo, mut hi) = (min0, max0);
            let mut current = err(lo, hi);
            for _ in 0..3 {
                let before = (lo, hi);
                if max0 > 0.0 {
                    let (e, r) = best(&mut candidates(max0).map(|x| (lo, x)));
                    if e < current {
                        (current, hi) = (e, r.1);
                    }
                }
                if min0 < 0.0 {
                    let (e, r) = best(&mut candidates(min0).map(|x| (x, hi)));
                    if e < current {
                        (current, lo) = (e, r.0);
                    }
                }
                if (lo, hi) == before {
                    break;
                }
            }
            (lo, hi)
        }
    }
}

/// Σ over bins of count × the mean squared quantization error of values spread evenly over the
/// bin, on the grid quantizing [lo, hi]; exact zeros add nothing (0 is on the grid).
pub fn expected_error(bins: &[(f64, f64, u64)], lo: f32, hi: f32, grid: Grid) -> f64 {
    let (scale, kmin, kmax) = match grid {
        Grid::Int8 => {
            let (lo, hi) = (lo.min(0.0), hi.max(0.0));
            let scale = if hi > lo { (hi - lo) / 255.0 } else { 1.0 / 255.0 };
            let zp = (-128.0 - lo / scale).round().clamp(-128.0, 127.0) as i64;
            (scale, -128 - zp, 127 - zp)
        }
        Grid::Int16 => {
            let m = lo.abs().max(hi.abs());
            (if m > 0.0 { m / 32767.0 } else { 1.0 / 32767.0 }, -32768, 32767)
        }
    };
    let s = f64::from(scale);
    let (low, high) = (kmin as f64 * s, kmax as f64 * s);
    // ∫ (x − s·round(x/s))² dx from 0: whole periods give s³/12 each.
    let periodic = |x: f64| {
        let m = (x / s).round();
        let r = x - m * s;
        m * s * s * s / 12.0 + r * r * r / 3.0
    };
    // ∫_a^b e(x)² dx where e is the error of clamping then rounding.
    let integral = |a: f64, b: f64| {
        let mut sum = 0.0;
        if a < low {
            let e = b.min(low);
            sum += ((e - low).powi(3) - (a - low).powi(3)) / 3.0;
        }
        if b > high {
            let s0 = a.max(high);
            sum += ((b - high).powi(3) - (s0 - high).powi(3)) / 3.0;
        }
        let (a2, b2) = (a.max(low), b.min(high));
        if b2 > a2 {
            sum += periodic(b2) - periodic(a2);
        }
        sum
    };
    bins.iter()
        .map(|&(a, b, c)| {
            if a == b {
                // A point mass: exact zeros, or a bin clipped to one value.
                let x = a.clamp(low, high);
                let e = x - (x / s).round() * s + (a - x);
                c as f64 * e * e
            } else {
                c as f64 * integral(a, b) / (b - a)
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_of_uniform_values_inside_the_range_is_a_twelfth_of_a_step_squared() {
        let bins = [(-1.0, 1.0, 1000u64)];
        let e = expected_error(&bins, -1.0, 1.0, Grid::Int8) / 1000.0;
        let s = 2.0f64 / 255.0;
        assert!((e - s * s / 12.0).abs() < 0.05 * s * s / 12.0, "{e}");
    }

    #[test]
    fn percentile_clips_a_lone_outlier_and_mse_is_no_worse_than_either() {
        let mut h = Histogram::new();
        let mut v: Vec<f32> = (0..100_000).map(|i| ((i % 1000) as f32 / 1000.0) * 2.0 - 1.0).collect();
        v.push(200.0);
        h.add(&v);
        let seen = (-1.0, 200.0);
        let p = choose(Method::Percentile(99.99), seen, Some(&h), Grid::Int8);
        assert!(p.0 < -0.9 && p.1 < 2.0, "{p:?}");
        assert_eq!(choose(Method::MinMax, seen, Some(&h), Grid::Int8), seen);
        let m = choose(Method::Mse, seen, Some(&h), Grid::Int8);
        let err = |r: (f32, f32)| expected_error(&h.intervals(), r.0, r.1, Grid::Int8);
        assert!(err(m) <= err(seen) && err(m) <= err(p), "{m:?}");
    }

    #[test]
    fn mse_clips_a_laplace_tail_near_the_known_optimum() {
        // Laplace(0, 1) quantiles; the MSE-optimal 8-bit clip is about 9.9 (Banner et al. 2019).
        let n = 200_000;
        let v: Vec<f32> = (0..n)
            .map(|i| {
                let u = (i as f64 + 0.5) / n as f64;
                (if u < 0.5 { (2.0 * u).ln() } else { -(2.0 * (1.0 - u)).ln() }) as f32
            })
            .collect();
        let mut h = Histogram::new();
        h.add(&v);
        let (lo, hi) = choose(Method::Mse, h.min_max().unwrap(), Some(&h), Grid::Int8);
        assert!((8.0..11.5).contains(&hi) && (-11.5..-8.0).contains(&lo), "{lo} {hi}");
    }
}
