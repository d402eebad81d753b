//! The kernels against plain loops over many geometries (strides, dilations, both paddings,
//! channel counts that are and are not multiples of the SIMD blocks, batches), run on every
//! variant this CPU has.

use super::*;

/// Defines tests that run their body once per kernel variant, with `$isa` bound to it.
macro_rules! for_every_variant {
    ($($(#[$m:meta])* fn $name:ident($isa:ident) $body:block)*) => {
        $(
            $(#[$m])*
            #[test]
            fn $name() {
                for $isa in Isa::available() {
                    $body
                }
            }
        )*
    };
}

/// Deterministic values in [-1, 1).
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

const CLAMPS: [Clamp; 3] = [Clamp::NONE, Clamp { lo: 0.0, hi: 6.0 }, Clamp { lo: -1.0, hi: 1.0 }];

fn close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (&g, &e)) in got.iter().zip(want).enumerate() {
        assert!((g - e).abs() <= 1e-4 * (1.0 + e.abs()), "{what}: element {i} is {g}, expected {e}");
    }
}

/// A tracked range must be the min and max of the values (up to the kernels' rounding).
fn check_range(range: Option<(f32, f32)>, values: &[f32], what: &str) {
    let Some((lo, hi)) = range else { return };
    let want_lo = values.iter().copied().fold(f32::INFINITY, f32::min);
    let want_hi = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    close(&[lo, hi], &[want_lo, want_hi], &format!("{what}: range"));
}

/// The geometry of a convolution of an [n, h, wd, c] input with a kh×kw window.
#[allow(clippy::too_many_arguments)]
fn geom(
    n: usize,
    h: usize,
    wd: usize,
    c: usize,
    kh: usize,
    kw: usize,
    oc: usize,
    s: usize,
    d: usize,
    same: bool,
) -> ConvGeom {
    let (oh, pad_h) = out_and_pad(same, h, kh, s as i32, d as i32).unwrap();
    let (ow, pad_w) = out_and_pad(same, wd, kw, s as i32, d as i32).unwrap();
    ConvGeom {
        n,
        h,
        wd,
        c,
        kh,
        kw,
        oc,
        mm: oc / c,
        oh,
        ow,
        pad_h,
        pad_w,
        sh: s,
        sw: s,
        dh: d,
        dw: d,
        clamp: Clamp::NONE,
    }
}

/// Plain NHWC convolution; `depthwise` reads input channel `o / mult` for output `o`.
fn reference(g: &ConvGeom, x: &[f32], w: &[f32], bias: Option<&[f32]>, depthwise: bool) -> Vec<f32> {
    let ConvGeom { n, h, wd, c, kh, kw, oc, oh, ow, pad_h, pad_w, sh, sw, dh, dw, clamp, .. } = *g;
    let mut out = vec![0f32; n * oh * ow * oc];
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for o in 0..oc {
                    let mut acc = bias.map_or(0.0, |b| f64::from(b[o]));
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let iy = (oy * sh + ky * dh) as isize - pad_h as isize;
                            let ix = (ox * sw + kx * dw) as isize - pad_w as isize;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                continue;
                            }
                            let px = ((b * h + iy as usize) * wd + ix as usize) * c;
                            if depthwise {
                                acc += f64::from(x[px + o / (oc / c)]) * f64::from(w[(ky * kw + kx) * oc + o]);
                            } else {
                                for i in 0..c {
                                    acc += f64::from(x[px + i]) * f64::from(w[((o * kh + ky) * kw + kx) * c + i]);
                                }
                            }
                        }
                    }
                    out[((b * oh + oy) * ow + ox) * oc + o] = clamp.apply(acc as f32);
                }
            }
        }
    }
    out
}

/// Every geometry of the grid, with a case number that seeds its data.
fn geometries(mut f: impl FnMut(u64, [usize; 3], [usize; 2], usize, usize, bool, Clamp)) {
    let mut case = 0;
    for &(n, h, wd) in &[(1, 1, 1), (1, 5, 7), (2, 9, 6), (1, 12, 13)] {
        for &(kh, kw) in &[(1, 1), (3, 3), (2, 5)] {
            for &(s, d) in &[(1usize, 1usize), (2, 1), (1, 2), (3, 1)] {
                for same in [true, false] {
                    for clamp in CLAMPS {
                        case += 1;
                        f(case, [n, h, wd], [kh, kw], s, d, same, clamp);
                    }
                }
            }
        }
    }
}

for_every_variant! {
    fn depthwise_matches_plain_loops(isa) {
        geometries(|case, [n, h, wd], [kh, kw], s, d, same, clamp| {
            for &(c, mult) in &[(1, 1), (16, 1), (20, 1), (35, 1), (48, 1), (3, 2), (8, 4)] {
                let oc = c * mult;
                let g = ConvGeom { clamp, ..geom(n, h, wd, c, kh, kw, oc, s, d, same) };
                let x = values(n * h * wd * c, case);
                let w = values(kh * kw * oc, case + 1000);
                let bias = values(oc, case + 2000);
                for b in [None, Some(&bias[..])] {
                    let what = format!("{isa:?} case {case} c {c} mult {mult} bias {} k {kh}x{kw}", b.is_some());
                    let want = reference(&g, &x, &w, b, true);
                    // NaN shows any output the kernel did not write.
                    let mut out = vec![f32::NAN; want.len()];
                    let mut seen = None;
                    // SAFETY: the kernel stores only values.
                    depthwise(isa, &g, &x, &w, b, unsafe { as_slots(&mut out) }, &mut seen).unwrap();
                    close(&out, &want, &what);
                    check_range(seen.as_ref().and_then(seen_range), &want, &what);
                }
            }
        });
    }

    fn im2col_and_packed_gemm_match_a_plain_convolution(isa) {
        geometries(|case, [n, h, wd], [kh, kw], s, d, same, clamp| {
            for &(c, oc) in &[(1, 1), (3, 16), (5, 24), (16, 7), (20, 33)] {
                let g = ConvGeom { clamp, mm: 1, ..geom(n, h, wd, c, kh, kw, oc, s, d, same) };
                let x = values(n * h * wd * c, case);
                let w = values(oc * kh * kw * c, case + 1000);
                let bias = values(oc, case + 2000);
                let want = reference(&g, &x, &w, Some(&bias), false);
                let pw = PackedW::new(&w, oc, kh * kw * c).unwrap();
                let mut out = vec![f32::NAN; want.len()];
                let mut seen = None;
                // SAFETY: the GEMM stores only values.
                let slots = unsafe { as_slots(&mut out) };
                g.for_row_blocks(&x, slots, |rows, a, o| gemm_packed(isa, rows, a, &pw, Some(&bias), clamp, o, &mut seen))
                    .unwrap();
                let what = format!("{isa:?} case {case} c {c} oc {oc} k {kh}x{kw}");
                close(&out, &want, &what);
                check_range(seen.as_ref().and_then(seen_range), &want, &what);
            }
        });
    }

    fn packed_gemm_matches_plain_loops(isa) {
        // n = 24 and 40 end in a narrow panel; m = 23 and 30 take every narrow row count.
        for &(m, k, n) in &[(1, 1, 1), (5, 3, 16), (7, 20, 17), (13, 33, 40), (100, 9, 5), (23, 7, 24), (30, 96, 24)] {
            let x = values(m * k, (m * k) as u64);
            let w = values(n * k, (n * k) as u64 + 7);
            let bias = values(n, n as u64);
            let pw = PackedW::new(&w, n, k).unwrap();
            for clamp in CLAMPS {
                let mut out = vec![f32::NAN; m * n];
                let mut seen = None;
                // SAFETY: the kernel stores only values.
                gemm_packed(isa, m, &x, &pw, Some(&bias), clamp, unsafe { as_slots(&mut out) }, &mut seen).unwrap();
                let what = format!("{isa:?} m {m} k {k} n {n}");
                check_range(seen.as_ref().and_then(seen_range), &out, &what);
                for r in 0..m {
                    for j in 0..n {
                        let dot: f64 = (0..k).map(|i| f64::from(x[r * k + i]) * f64::from(w[j * k + i])).sum();
                        let want = clamp.apply((dot + f64::from(bias[j])) as f32);
                        close(&[out[r * n + j]], &[want], &format!("{what} at ({r}, {j})"));
                    }
                }
            }
        }
    }

    fn gemv_matches_plain_loops(isa) {
        for &(b, k, o) in &[(1, 1, 1), (1, 17, 5), (3, 64, 10), (4, 100, 33)] {
            let x = values(b * k, k as u64);
            let w = values(o * k, o as u64);
            let mut out = vec![0.5f32; b * o];
            gemv(isa, &x, &w, k, &mut out).unwrap();
            for r in 0..b {
                for j in 0..o {
                    let dot: f64 = (0..k).map(|i| f64::from(x[r * k + i]) * f64::from(w[j * k + i])).sum();
                    close(&[out[r * o + j]], &[(dot + 0.5) as f32], &format!("{isa:?} b {b} k {k} o {o}"));
                }
            }
        }
    }

    fn fused_expand_depthwise_equals_the_two_kernels(isa) {
        // Strides, paddings, windows and dilations vary; channels are multiples of 16.
        let cases: [(usize, usize, usize, usize, usize, usize, bool); 5] = [
            (12, 12, 32, 3, 1, 1, true),
            (13, 11, 48, 3, 2, 1, true),
            (13, 11, 48, 3, 2, 1, false),
            (12, 13, 32, 5, 1, 2, true),
            (14, 12, 32, 3, 3, 1, false),
        ];
        for (case, &(h, wd, c, k, s, d, same)) in cases.iter().enumerate() {
            let cin = 8;
            let mut xs = values(h * wd * cin, case as u64);
            // The last row, which a stride-3 VALID window skips, holds the expanded tensor's
            // extremes: its range must still be taken.
            xs[(h - 1) * wd * cin..].iter_mut().for_each(|v| *v *= 50.0);
            let w1 = values(c * cin, case as u64 + 1);
            let b1 = values(c, case as u64 + 2);
            let w2 = values(k * k * c, case as u64 + 3);
            let b2 = values(c, case as u64 + 4);
            let relu6 = CLAMPS[1];
            let pw = PackedW::new(&w1, c, cin).unwrap();
            let mut mid = vec![0f32; h * wd * c];
            let mut mid_seen = None;
            // SAFETY: the kernel stores only values.
            let mid_slots = unsafe { as_slots(&mut mid) };
            gemm_packed(isa, h * wd, &xs, &pw, Some(&b1), relu6, mid_slots, &mut mid_seen).unwrap();
            let g = ConvGeom { clamp: relu6, ..geom(1, h, wd, c, k, k, c, s, d, same) };
            let mut want = vec![0f32; g.oh * g.ow * c];
            let mut want_seen = None;
            // SAFETY: the kernel stores only values.
            let want_slots = unsafe { as_slots(&mut want) };
            depthwise(isa, &g, &mid, &w2, Some(&b2), want_slots, &mut want_seen).unwrap();
            let (got, got_mid, got_out) =
                expand_depthwise(isa, &g, &xs, cin, &pw, Some(&b1), relu6, &w2, Some(&b2)).expect("the pair qualifies");
            assert_eq!(&got[..], &want[..], "{isa:?} case {case}");
            assert_eq!(got_mid, mid_seen.as_ref().and_then(seen_range), "{isa:?} case {case}: expanded range");
            assert_eq!(got_out, want_seen.as_ref().and_then(seen_range), "{isa:?} case {case}: output range");
        }
    }
}
