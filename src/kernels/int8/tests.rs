//! Every int8 kernel variant this CPU runs against the scalar definitions ([`reference`] and
//! [`AddParams::apply`]) on random geometries: both paddings, strides, dilations, depth
//! multipliers, channel counts around the vector blocks, per-tensor and per-channel
//! multipliers (some above 1), both roundings of the depthwise output stage, fused clamps,
//! extreme zero points and values.

use super::*;

/// Every GEMM variant this CPU runs: the ISA, and the VNNI kernel the weights are packed for
/// (which the AVX2 ISA then runs).
fn gemm_variants() -> Vec<(Isa, Vnni)> {
    let mut v: Vec<(Isa, Vnni)> = Isa::available().into_iter().map(|isa| (isa, Vnni::Off)).collect();
    #[cfg(target_arch = "x86_64")]
    if v.contains(&(Isa::Avx2Fma, Vnni::Off)) {
        if vnni::available() {
            v.push((Isa::Avx2Fma, Vnni::Avx));
        }
        if vnni::wide_available() {
            v.push((Isa::Avx2Fma, Vnni::Avx512));
        }
    }
    v
}

/// A small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    /// Uniform in lo..=hi.
    fn int(&mut self, lo: i32, hi: i32) -> i32 {
        lo + (self.next() % (i64::from(hi) - i64::from(lo) + 1) as u64) as i32
    }

    fn size(&mut self, lo: usize, hi: usize) -> usize {
        self.int(lo as i32, hi as i32) as usize
    }

    fn i8s(&mut self, n: usize) -> Vec<i8> {
        // Now and then the extremes, which the pairs of products must hold.
        (0..n)
            .map(|_| match self.next() % 16 {
                0 => -128,
                1 => 127,
                _ => self.int(-128, 127) as i8,
            })
            .collect()
    }

    /// A multiplier as `QuantizeMultiplier` gives it, for a real in about [2^-14, 2^lg_max].
    fn multiplier(&mut self, lg_max: i32) -> (i32, i32) {
        let e = self.int(-14, lg_max);
        let real = (1.0 + self.next() as f64 / (1u64 << 31) as f64) * 2f64.powi(e - 1);
        fp::quantize_multiplier(real)
    }
}

/// A random output stage for `oc` channels: per-channel or per-tensor, optionally clamped.
fn stage(rng: &mut Rng, oc: usize, x86_below: usize) -> (OutStage, Vec<(i32, i32)>) {
    let per_channel = rng.next() % 2 == 0;
    let lg_max = if rng.next() % 4 == 0 { 2 } else { -2 };
    let params: Vec<(i32, i32)> = (0..if per_channel { oc } else { 1 }).map(|_| rng.multiplier(lg_max)).collect();
    let zo = rng.int(-128, 127);
    let (lo, hi) = match rng.next() % 3 {
        0 => (-128, 127),
        1 => (zo.max(-128), 127),
        _ => (rng.int(-128, 0), rng.int(0, 127)),
    };
    (OutStage::new(&params, oc, x86_below, zo, lo, hi).unwrap(), params)
}

fn geom(rng: &mut Rng, depthwise: bool) -> Geom {
    let (kh, kw) = (rng.size(1, 4), rng.size(1, 4));
    let (sh, sw) = (rng.size(1, 3), rng.size(1, 3));
    let (dh, dw) = if rng.next() % 3 == 0 { (rng.size(1, 3), rng.size(1, 3)) } else { (1, 1) };
    let same = rng.next() % 2 == 0;
    let (n, c) = (rng.size(1, 2), rng.size(1, 40));
    let oc = if depthwise { c * rng.size(1, 3) } else { rng.size(1, 40) };
    let (h, w) = (rng.size(1, 12), rng.size(1, 12));
    let (oh, ph) = crate::kernels::out_and_pad(same, h, kh, sh as i32, dh as i32).unwrap();
    let (ow, pw) = crate::kernels::out_and_pad(same, w, kw, sw as i32, dw as i32).unwrap();
    Geom { n, h, w, c, kh, kw, oc, oh, ow, ph, pw, sh, sw, dh, dw }
}

fn check_conv(rng: &mut Rng, g: Geom, depthwise: bool) {
    let x = rng.i8s(g.n * g.h * g.w * g.c);
    let wlen = if depthwise { g.kh * g.kw * g.oc } else { g.oc * g.kh * g.kw * g.c };
    let w = rng.i8s(wlen);
    let zi = match rng.next() % 4 {
        0 => -128,
        1 => 127,
        _ => rng.int(-128, 127),
    };
    let bias: Option<Vec<i32>> = (rng.next() % 4 != 0).then(|| (0..g.oc).map(|_| rng.int(-40000, 40000)).collect());
    let x86_below = if depthwise { g.oc / 8 * 8 } else { usize::MAX };
    let (stage, _) = stage(rng, g.oc, x86_below);
    let xi: Vec<i32> = x.iter().map(|&v| i32::from(v)).collect();
    let bias64: Option<Vec<i64>> = bias.as_ref().map(|b| b.iter().map(|&v| i64::from(v)).collect());
    let want = reference::conv(&g, &xi, zi, &w, bias64.as_deref(), depthwise, |a, o| stage.apply(a as i32, o));
    for (isa, vnni) in gemm_variants() {
        let mut got = vec![0i8; g.n * g.oh * g.ow * g.oc];
        if depthwise {
            // The AVX-512 variant runs 3×3 filters on its own row kernel.
            let wide = vnni == Vnni::Avx512;
            depthwise_with(isa, wide, &g, &x, zi, &w, bias.as_deref(), &stage, &mut got).unwrap();
        } else {
            let pw = PackedW8::pack(&w, g.oc, g.kh * g.kw * g.c, 0, vnni).unwrap();
            assert_eq!(pw.quads.is_some(), vnni != Vnni::Off);
            conv(isa, &g, &x, zi, &pw, bias.as_deref(), &stage, &mut got).unwrap();
        }
        let got: Vec<i32> = got.iter().map(|&v| i32::from(v)).collect();
        let what = if depthwise { "depthwise" } else { "conv" };
        assert_eq!(got, want, "{isa:?} vnni {vnni:?} {what} {g:?} zi {zi}");
    }
}

#[test]
fn conv_matches_the_reference() {
    let mut rng = Rng(1);
    for _ in 0..300 {
        let g = geom(&mut rng, false);
        check_conv(&mut rng, g, false);
    }
    // Pointwise (the input read as GEMM rows) and wide, deep ones (several panels, long sums).
    for (c, oc, h) in [(3, 16, 5), (17, 33, 7), (64, 48, 3), (300, 20, 2)] {
        let g = Geom { n: 1, h, w: h, c, kh: 1, kw: 1, oc, oh: h, ow: h, ph: 0, pw: 0, sh: 1, sw: 1, dh: 1, dw: 1 };
        check_conv(&mut rng, g, false);
    }
}

#[test]
fn depthwise_matches_the_reference() {
    let mut rng = Rng(2);
    for _ in 0..300 {
        let g = geom(&mut rng, true);
        check_conv(&mut rng, g, true);
    }
    // 3×3 filters, which the AVX-512 variant runs 16 channels at a time.
    for _ in 0..150 {
        let g = geom(&mut rng, true);
        let (h, w) = (g.h + 2, g.w + 2);
        let same = rng.next() % 2 == 0;
        let (oh, ph) = crate::kernels::out_and_pad(same, h, 3, g.sh as i32, g.dh as i32).unwrap();
        let (ow, pw) = crate::kernels::out_and_pad(same, w, 3, g.sw as i32, g.dw as i32).unwrap();
        check_conv(&mut rng, Geom { h, w, kh: 3, kw: 3, oh, ow, ph, pw, ..g }, true);
    }
}

#[test]
fn fully_connected_matches_the_reference() {
    let mut rng = Rng(3);
    for _ in 0..200 {
        let (batches, depth, units) = (rng.size(1, 7), rng.size(1, 70), rng.size(1, 40));
        let x = rng.i8s(batches * depth);
        let w = rng.i8s(units * depth);
        let zi = rng.int(-128, 127);
        let zw = if rng.next() % 2 == 0 { 0 } else { rng.int(-128, 127) };
        let bias: Option<Vec<i32>> = (rng.next() % 3 != 0).then(|| (0..units).map(|_| rng.int(-9999, 9999)).collect());
        let (stage, _) = stage(&mut rng, units, usize::MAX);
        let xi: Vec<i32> = x.iter().map(|&v| i32::from(v)).collect();
        let bias64: Option<Vec<i64>> = bias.as_ref().map(|b| b.iter().map(|&v| i64::from(v)).collect());
        let want =
            reference::fully_connected(&xi, zi, &w, zw, depth, bias64.as_deref(), |a, o| stage.apply(a as i32, o));
        for (isa, vnni) in gemm_variants() {
            // With a weight zero point, w − zw may leave i8: then there is no VNNI packing.
            let pw = PackedW8::pack(&w, units, depth, zw, vnni).unwrap();
            let mut got = vec![0i8; batches * units];
            fully_connected(isa, &x, zi, &pw, bias.as_deref(), &stage, &mut got).unwrap();
            let got: Vec<i32> = got.iter().map(|&v| i32::from(v)).collect();
            assert_eq!(got, want, "{isa:?} vnni {vnni:?} {batches}x{depth} -> {units}, zi {zi} zw {zw}");
        }
    }
}

#[test]
fn add_matches_the_reference() {
    let mut rng = Rng(4);
    for k in 0..300 {
        let n = rng.size(0, 70);
        let (x, y) = (rng.i8s(n), rng.i8s(n));
        // As ops::integer::add_sub derives them from three scales.
        let [sa, sb, so] = [0; 3].map(|_| 2f64.powf(f64::from(rng.int(-900, 100)) / 100.0));
        let twice = 2.0 * sa.max(sb);
        let zo = rng.int(-128, 127);
        let (lo, hi) = if k % 3 == 0 { (zo.max(-128), 127) } else { (-128, 127) };
        let p = AddParams {
            za: rng.int(-128, 127),
            zb: rng.int(-128, 127),
            left: 20,
            ma: fp::quantize_multiplier(sa / twice),
            mb: fp::quantize_multiplier(sb / twice),
            mo: fp::quantize_multiplier(twice / ((1i64 << 20) as f64 * so)),
            zo,
            lo,
            hi,
            sub: k % 2 == 1,
        };
        // LiteRT's ADD: its vector-lane formula for whole blocks of 16, the reference one after.
        let lanes = p.lanes(n);
        let want: Vec<i32> = x
            .iter()
            .zip(&y)
            .enumerate()
            .map(|(i, (&a, &b))| {
                let (a, b) = (i32::from(a), i32::from(b));
                if i < lanes {
                    p.apply_lane(a, b)
                } else {
                    p.apply(a, b)
                }
            })
            .collect();
        for isa in Isa::available() {
            let mut got = vec![0i8; n];
            add_same_shape(isa, &p, &x, &y, &mut got).unwrap();
            let got: Vec<i32> = got.iter().map(|&v| i32::from(v)).collect();
            assert_eq!(got, want, "{isa:?} {p:?}");
        }
    }
}

#[test]
fn the_vector_high_multiply_is_the_scalar_one() {
    // Through the output stage: products near every rounding boundary and both signs.
    let mut rng = Rng(5);
    for _ in 0..2000 {
        let m = rng.multiplier(3);
        let acc: Vec<i32> = (0..16)
            .map(|_| match rng.next() % 4 {
                0 => rng.int(i32::MIN, i32::MAX),
                1 => rng.int(-70000, 70000),
                2 => [i32::MIN, i32::MAX, -1, 0, 1][rng.size(0, 4)],
                _ => rng.int(-300, 300) << rng.int(0, 20),
            })
            .collect();
        let zo = rng.int(-128, 127);
        let stage = OutStage::new(&[m], 16, usize::MAX, zo, -128, 127).unwrap();
        // A one-row GEMM of depth 2 with a = (1, 0) and w = (0, 0): the sums are the bias.
        let want: Vec<i32> = acc.iter().enumerate().map(|(c, &a)| stage.apply(a, c)).collect();
        for (isa, vnni) in gemm_variants() {
            let pw = PackedW8::pack(&[0i8; 32], 16, 2, 0, vnni).unwrap();
            let mut got = vec![0i8; 16];
            fully_connected(isa, &[1, 0], 0, &pw, Some(&acc), &stage, &mut got).unwrap();
            let got: Vec<i32> = got.iter().map(|&v| i32::from(v)).collect();
            assert_eq!(got, want, "{isa:?} multiplier {m:?} {acc:?}");
        }
    }
}

#[test]
fn add_lanes_round_once_where_the_reference_rounds_twice() {
    // iris_landmark's add_11 (int8): inputs 0.0734/-50 and 0.0975/92, output 0.117/45. Both
    // formulas agree on most pairs; LiteRT's vector lanes and its reference differ on some.
    let [sa, sb, so] = [0.073_411_02f32, 0.097_496_45, 0.116_991_9].map(f64::from);
    let twice = 2.0 * sa.max(sb);
    let p = AddParams {
        za: -50,
        zb: 92,
        left: 20,
        ma: fp::quantize_multiplier(sa / twice),
        mb: fp::quantize_multiplier(sb / twice),
        mo: fp::quantize_multiplier(twice / ((1i64 << 20) as f64 * so)),
        zo: 45,
        lo: -128,
        hi: 127,
        sub: false,
    };
    // LiteRT's builtin kernel gave 36 for this pair inside a block of 16 (the reference: 37).
    assert_eq!((p.apply_lane(-33, 69), p.apply(-33, 69)), (36, 37));
}

#[test]
fn extreme_products_do_not_saturate() {
    // x = 127 is the byte 255 to vpdpbusd: four 255·−128 products per lane and long sums, and
    // x = −128 (byte 0) against 127, all with the extreme zero points.
    let mut rng = Rng(6);
    for (xv, wv, zi, depth) in
        [(127i8, -128i8, -128, 301), (127, 127, 127, 64), (-128, 127, -128, 7), (-128, -128, 127, 260)]
    {
        let (batches, units) = (7, 19);
        let (x, w) = (vec![xv; batches * depth], vec![wv; units * depth]);
        let (stage, _) = stage(&mut rng, units, usize::MAX);
        let xi: Vec<i32> = x.iter().map(|&v| i32::from(v)).collect();
        let want = reference::fully_connected(&xi, zi, &w, 0, depth, None, |a, o| stage.apply(a as i32, o));
        for (isa, vnni) in gemm_variants() {
            let pw = PackedW8::pack(&w, units, depth, 0, vnni).unwrap();
            let mut got = vec![0i8; batches * units];
            fully_connected(isa, &x, zi, &pw, None, &stage, &mut got).unwrap();
            let got: Vec<i32> = got.iter().map(|&v| i32::from(v)).collect();
            assert_eq!(got, want, "{isa:?} vnni {vnni:?} x {xv} w {wv} zi {zi}");
        }
    }
}
