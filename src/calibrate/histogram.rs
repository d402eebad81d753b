//! A per-tensor histogram with a fixed number of bins whose range grows, for percentile and MSE
//! calibration in the same single pass as min/max.
//!
//! Bins are aligned to an absolute grid: bin width is a power of two and bin edges are multiples
//! of it, with 0 on an edge. The window always covers 0 (a quantized range does too). When a
//! value falls outside, the width doubles as often as needed and adjacent bins merge, which is
//! exact on this grid. The state is therefore a function of the multiset of values alone (the
//! smallest width whose window covers min(min,0)..max(max,0)), so merging histograms from
//! samples and threads in any order gives the same histogram, bit for bit.

/// Bins per tensor (16 KiB of counts).
pub const BINS: usize = 2048;
/// The finest bin width is 2^MIN_EXP (below f32's normal range, so any f32 range fits).
const MIN_EXP: i32 = -140;

#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Bin width 2^exp.
    exp: i32,
    /// Grid index of the first bin: bin k covers [(origin+k)·w, (origin+k+1)·w).
    origin: i64,
    counts: Vec<u64>,
    /// Values exactly 0 (post-ReLU tensors have many): exactly representable, no rounding error.
    zeros: u64,
    /// Finite values seen (zeros included).
    total: u64,
    /// Finite extremes seen (+inf/-inf when empty).
    min: f32,
    max: f32,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

fn pow2(e: i32) -> f64 {
    f64::from_bits(((e + 1023) as u64) << 52)
}

/// floor(x / 2^e) for x exactly representable; exact in f64.
fn index(x: f64, e: i32) -> i64 {
    (x * pow2(-e)).floor() as i64
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram {
            exp: MIN_EXP,
            origin: 0,
            counts: vec![0; BINS],
            zeros: 0,
            total: 0,
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
        }
    }

    pub fn bins(&self) -> usize {
        self.counts.len()
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// Finite (min, max) seen, None when empty.
    pub fn min_max(&self) -> Option<(f32, f32)> {
        (self.total > 0).then_some((self.min, self.max))
    }

    /// Bin width.
    pub fn width(&self) -> f64 {
        pow2(self.exp)
    }

    /// Grows the window (coarsening) until it covers [lo, hi] as well as what it holds.
    fn fit(&mut self, lo: f32, hi: f32, at_least: i32) {
        let lo = f64::from(lo.min(self.min).min(0.0));
        let hi = f64::from(hi.max(self.max).max(0.0));
        let mut e = self.exp.max(at_least);
        // Compared in f64: at fine widths the indices overflow i64.
        let span = |e: i32| (hi * pow2(-e)).floor() - (lo * pow2(-e)).floor();
        while span(e) >= BINS as f64 {
            e += 1;
        }
        let origin = index(lo, e);
        if e == self.exp && origin == self.origin {
            return;
        }
        let shift = (e - self.exp).min(63) as u32;
        let mut counts = vec![0u64; BINS];
        for (k, &c) in self.counts.iter().enumerate().filter(|(_, &c)| c > 0) {
            counts[(((self.origin + k as i64) >> shift) - origin) as usize] += c;
        }
        (self.exp, self.origin, self.counts) = (e, origin, counts);
    }

    /// Adds the values of `v` (NaN and infinities are left out).
    pub fn add(&mut self, v: &[f32]) {
        // Its own pass: a kernel-tracked range need not bound the stored values exactly.
        let Some((lo, hi)) = finite_min_max(v) else { return };
        self.fit(lo, hi, MIN_EXP);
        let (inv, origin) = (pow2(-self.exp), self.origin as f64);
        // x·inv − origin is exact and non-negative (the window spans at most BINS widths
        // around 0), so truncating is flooring, without a libm call. Zeros and non-finite
        // values go to two extra slots.
        let (zero, skip) = (BINS, BINS + 1);
        let slot = |x: f32| {
            if x == 0.0 {
                zero
            } else if x.is_finite() {
                (f64::from(x) * inv - origin) as usize
            } else {
                skip
            }
        };
        // Four lanes of counts, so runs of equal bins do not wait on each other's stores.
        const LANE: usize = BINS + 2;
        let mut lanes = vec![0u32; 4 * LANE];
        for part in v.chunks(1 << 30) {
            let mut quads = part.chunks_exact(4);
            for q in &mut quads {
                lanes[slot(q[0])] += 1;
                lanes[LANE + slot(q[1])] += 1;
                lanes[2 * LANE + slot(q[2])] += 1;
                lanes[3 * LANE + slot(q[3])] += 1;
            }
            for &x in quads.remainder() {
                lanes[slot(x)] += 1;
            }
            for (k, c) in self.counts.iter_mut().enumerate() {
                *c += (0..4).map(|l| u64::from(lanes[l * LANE + k])).sum::<u64>();
            }
            let zeros: u64 = (0..4).map(|l| u64::from(lanes[l * LANE + zero])).sum();
            let skipped: u64 = (0..4).map(|l| u64::from(lanes[l * LANE + skip])).sum();
            self.zeros += zeros;
            self.total += part.len() as u64 - skipped;
            lanes.iter_mut().for_each(|c| *c = 0);
        }
        self.min = self.min.min(lo);
        self.max = self.max.max(hi);
    }

    /// Adds `other`'s values. Commutative and associative (see the module notes).
    pub fn merge(&mut self, other: &Histogram) {
        if other.total == 0 {
            return;
        }
        self.fit(other.min, other.max, other.exp);
        let shift = (self.exp - other.exp).min(63) as u32;
        for (k, &c) in other.counts.iter().enumerate().filter(|(_, &c)| c > 0) {
            self.counts[(((other.origin + k as i64) >> shift) - self.origin) as usize] += c;
        }
        self.zeros += other.zeros;
        self.total += other.total;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// The non-empty bins as (lower, upper, count), ascending, with their edges clipped to the
    /// seen min/max; the exact zeros as a bin (0, 0, zeros) in its place.
    pub fn intervals(&self) -> Vec<(f64, f64, u64)> {
        let w = self.width();
        let (lo, hi) = (f64::from(self.min), f64::from(self.max));
        let mut out = Vec::new();
        let mut zeros_done = self.zeros == 0;
        for (k, &c) in self.counts.iter().enumerate() {
            let a = (self.origin + k as i64) as f64 * w;
            if !zeros_done && a >= 0.0 {
                out.push((0.0, 0.0, self.zeros));
                zeros_done = true;
            }
            if c > 0 {
                out.push((a.max(lo), (a + w).min(hi), c));
            }
        }
        if !zeros_done {
            out.push((0.0, 0.0, self.zeros));
        }
        out
    }

    /// The q-quantile (q in [0,1]) as numpy's default (linear) would give it, to within one bin:
    /// the rank q·(n−1) located in its bin, assuming values spread evenly inside it.
    pub fn quantile(&self, q: f64) -> Option<f32> {
        quantile(&self.intervals(), self.total, q).map(|x| x as f32)
    }

    /// The q-quantile of |x|.
    pub fn abs_quantile(&self, q: f64) -> Option<f32> {
        let mut folded: Vec<(f64, f64, u64)> =
            self.intervals().into_iter().map(|(a, b, c)| abs_interval(a, b, c)).collect();
        folded.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.total_cmp(&y.1)));
        quantile(&folded, self.total, q).map(|x| x as f32)
    }
}

/// The smallest and largest finite values, over 8 lanes so the common case vectorizes.
fn finite_min_max(v: &[f32]) -> Option<(f32, f32)> {
    let (mut lo, mut hi) = ([f32::INFINITY; 8], [f32::NEG_INFINITY; 8]);
    let mut chunks = v.chunks_exact(8);
    for c in &mut chunks {
        for i in 0..8 {
            lo[i] = if c[i] < lo[i] { c[i] } else { lo[i] };
            hi[i] = if c[i] > hi[i] { c[i] } else { hi[i] };
        }
    }
    let lo = lo.iter().chain(chunks.remainder()).fold(f32::INFINITY, |a, &x| if x < a { x } else { a });
    let hi = hi.iter().chain(chunks.remainder()).fold(f32::NEG_INFINITY, |a, &x| if x > a { x } else { a });
    if lo.is_finite() && hi.is_finite() {
        return Some((lo, hi));
    }
    // Infinities (rare): the finite extremes by a plain scan.
    let (lo, hi) =
        v.iter().filter(|x| x.is_finite()).fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &x| (l.min(x), h.max(x)));
    (lo <= hi).then_some((lo, hi))
}

fn abs_interval(a: f64, b: f64, c: u64) -> (f64, f64, u64) {
    if b <= 0.0 {
        (-b, -a, c)
    } else {
        (a, b, c)
    }
}

fn quantile(intervals: &[(f64, f64, u64)], total: u64, q: f64) -> Option<f64> {
    if total == 0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * (total - 1) as f64;
    let mut before = 0u64;
    for &(a, b, c) in intervals {
        if (before + c) as f64 > rank {
            let f = ((rank - before as f64 + 0.5) / c as f64).clamp(0.0, 1.0);
            return Some(a + f * (b - a));
        }
        before += c;
    }
    intervals.last().map(|i| i.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarsening_keeps_counts_and_covers_zero() {
        let mut h = Histogram::new();
        h.add(&[1.0, 2.0, 3.0]);
        h.add(&[-1000.0, 0.0]);
        assert_eq!(h.total(), 5);
        assert_eq!(h.counts.iter().sum::<u64>() + h.zeros, 5);
        assert_eq!(h.bins(), BINS);
        assert!(h.width() * BINS as f64 >= 1003.0);
    }

    #[test]
    fn merge_equals_adding_everything() {
        let a: Vec<f32> = (0..500).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
        let b: Vec<f32> = (0..500).map(|i| (i as f32 * 0.11).cos() * 50.0 + 7.0).collect();
        let mut all = Histogram::new();
        all.add(&[a.clone(), b.clone()].concat());
        let (mut ha, mut hb) = (Histogram::new(), Histogram::new());
        ha.add(&a);
        hb.add(&b);
        let mut ab = ha.clone();
        ab.merge(&hb);
        let mut ba = hb.clone();
        ba.merge(&ha);
        assert_eq!(ab, ba);
        assert_eq!(ab, all);
    }
}
