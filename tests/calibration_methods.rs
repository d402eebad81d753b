//! `--calibration-method minmax|percentile|mse`: minmax is today's output byte for byte; the
//! histogram behind the others is exact to a bin, order-independent and bounded; on a model
//! calibrated with activation outliers both beat minmax in the official interpreter.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use tflq::calibrate::histogram::{Histogram, BINS};

fn convert(out: &Path, data: &Path, mode: &str, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<std::ffi::OsString> = vec!["convert".into(), testdata("cnn.tflite").into(), "-o".into()];
    args.extend([out.into(), "--quantize".into(), mode.into(), "--calibration-data".into(), data.into()]);
    args.extend(extra.iter().map(Into::into));
    tflq_ok(args)
}

#[test]
fn minmax_is_byte_identical_to_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let data = testdata("cnn.calib.npy");
    for mode in ["int8", "int16x8"] {
        let default = dir.path().join(format!("{mode}.default.tflite"));
        let minmax = dir.path().join(format!("{mode}.minmax.tflite"));
        let report = dir.path().join(format!("{mode}.json"));
        convert(&default, &data, mode, &[]);
        let r = report.to_str().unwrap();
        convert(&minmax, &data, mode, &["--calibration-method", "minmax", "--report", r]);
        assert_eq!(std::fs::read(&default).unwrap(), std::fs::read(&minmax).unwrap(), "{mode}");
        let j: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        let c = &j["calibration"];
        assert_eq!(c["method"], "minmax");
        assert!(c["percentile"].is_null());
        let ranges = c["ranges"].as_array().unwrap();
        assert!(ranges.len() >= 8, "{ranges:?}");
        for r in ranges {
            assert_eq!((&r["min"], &r["max"]), (&r["range_min"], &r["range_max"]), "{r}");
        }
    }
}

/// A deterministic skewed sample: a normal bulk and an exponential right tail.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    let mut uniform = move || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..n)
        .map(|i| {
            let (u, v) = (uniform(), uniform());
            let normal = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
            if i % 10 == 0 {
                (-uniform().ln() * 4.0) as f32
            } else if i % 7 == 0 {
                0.0
            } else {
                (normal * 1.5 - 0.5) as f32
            }
        })
        .collect()
}

#[test]
fn histogram_percentiles_are_numpys_to_a_bin() {
    let dir = tempfile::tempdir().unwrap();
    let v = values(200_000, 7);
    let mut h = Histogram::new();
    // In pieces of growing range, as calibration adds one tensor value at a time.
    for chunk in v.chunks(30_000) {
        h.add(chunk);
    }
    let raw = dir.path().join("v.f32");
    std::fs::write(&raw, v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
    let qs = [0.01, 0.1, 1.0, 50.0, 90.0, 99.0, 99.9, 99.99];
    let script = format!(
        "import numpy as np, json; v = np.fromfile({:?}, dtype='<f4').astype(np.float64); \
         print(json.dumps([np.percentile(v, q) for q in {qs:?}] + [np.percentile(np.abs(v), q) for q in {qs:?}]))",
        raw.to_str().unwrap()
    );
    let out = std::process::Command::new(python()).args(["-c", &script]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let want: Vec<f64> = serde_json::from_slice(&out.stdout).unwrap();
    let w = h.width();
    for (k, &q) in qs.iter().enumerate() {
        let got = f64::from(h.quantile(q / 100.0).unwrap());
        assert!((got - want[k]).abs() <= w, "percentile {q}: {got} vs numpy {} (bin {w})", want[k]);
        let got = f64::from(h.abs_quantile(q / 100.0).unwrap());
        let want = want[qs.len() + k];
        assert!((got - want).abs() <= w, "|x| percentile {q}: {got} vs numpy {want} (bin {w})");
    }
}

#[test]
fn histogram_merges_in_any_order_to_the_same_bins() {
    // Pieces of very different ranges, so merging has to rebin.
    let pieces: Vec<Vec<f32>> =
        (0..9).map(|i| values(5_000, i).into_iter().map(|x| x * 10f32.powi(i as i32 - 4)).collect()).collect();
    let hist = |v: &[f32]| {
        let mut h = Histogram::new();
        h.add(v);
        h
    };
    let parts: Vec<Histogram> = pieces.iter().map(|p| hist(p)).collect();
    let fold = |order: &[usize]| {
        let mut h = Histogram::new();
        for &i in order {
            h.merge(&parts[i]);
        }
        h
    };
    let forward = fold(&(0..9).collect::<Vec<_>>());
    assert_eq!(forward, fold(&(0..9).rev().collect::<Vec<_>>()));
    assert_eq!(forward, fold(&[4, 0, 8, 2, 6, 1, 7, 3, 5]));
    // A tree, as rayon reduces.
    let mut left = fold(&[0, 1, 2, 3]);
    let right = fold(&[8, 7, 6, 5, 4]);
    left.merge(&right);
    assert_eq!(forward, left);
    // And one histogram of everything at once.
    assert_eq!(forward, hist(&pieces.concat()));
    assert_eq!(forward.total(), 45_000);
}

#[test]
fn histogram_memory_is_bounded() {
    let mut h = Histogram::new();
    for e in -30..=30 {
        let v: Vec<f32> = values(1_000, (e + 100) as u64).into_iter().map(|x| x * 10f32.powi(e)).collect();
        h.add(&v);
        assert_eq!(h.bins(), BINS);
    }
    h.add(&[f32::NAN, f32::INFINITY, f32::NEG_INFINITY]);
    assert_eq!(h.bins(), BINS);
    assert_eq!(h.total(), 61_000, "NaN and infinities are left out");
}

#[test]
fn histogram_methods_do_not_depend_on_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let data = testdata("cnn.calib.npy");
    for method in ["percentile", "mse"] {
        let mut bytes = Vec::new();
        for threads in ["1", "2", "5"] {
            let out = dir.path().join(format!("{method}.{threads}.tflite"));
            let mut args: Vec<std::ffi::OsString> =
                vec!["convert".into(), testdata("cnn.tflite").into(), "-o".into(), out.clone().into()];
            args.extend(["--quantize", "int8", "--calibration-method", method].map(Into::into));
            args.extend(["--calibration-data".into(), data.clone().into()]);
            let o = std::process::Command::new(env!("CARGO_BIN_EXE_tflq"))
                .args(args)
                .env("RAYON_NUM_THREADS", threads)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            bytes.push(std::fs::read(&out).unwrap());
        }
        assert!(bytes.windows(2).all(|w| w[0] == w[1]), "{method}: output depends on the thread count");
    }
}

/// cnn.calib.npy with three pixels set to 40 (the images are in [0, 1]): 0.001% of the input
/// values, but they set min/max ranges through the network.
fn outlier_data(dir: &Path) -> PathBuf {
    let (descr, shape, mut data) = read_npy(&testdata("cnn.calib.npy"));
    assert_eq!(descr, "<f4");
    let (h, w, c) = (shape[1], shape[2], shape[3]);
    for (s, y, x) in [(5, 10, 10), (17, 20, 5), (40, 3, 22)] {
        let i = ((s * h + y) * w + x) * c;
        data[i * 4..i * 4 + 4].copy_from_slice(&40f32.to_le_bytes());
    }
    let p = dir.join("outliers.npy");
    write_npy(&p, &descr, &shape, &data);
    p
}

/// The first `n` samples of cnn.test_x.npy.
fn held_out(dir: &Path, n: usize) -> PathBuf {
    let (descr, shape, data) = read_npy(&testdata("cnn.test_x.npy"));
    let per: usize = shape[1..].iter().product::<usize>() * 4;
    let mut s = shape.clone();
    s[0] = n;
    let p = dir.join("held_out.npy");
    write_npy(&p, &descr, &s, &data[..n * per]);
    p
}

#[test]
fn percentile_and_mse_beat_minmax_on_outliers_in_litert() {
    let dir = tempfile::tempdir().unwrap();
    let data = outlier_data(dir.path());
    let mut models = Vec::new();
    for mode in ["int8", "int16x8"] {
        for method in ["minmax", "percentile", "mse"] {
            let out = dir.path().join(format!("{mode}.{method}.tflite"));
            let report = dir.path().join(format!("{mode}.{method}.json"));
            let r = report.to_str().unwrap();
            convert(&out, &data, mode, &["--calibration-method", method, "--report", r]);
            let j: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
            assert_eq!(j["calibration"]["method"], method);
            for t in j["calibration"]["ranges"].as_array().unwrap() {
                let (lo, hi) = (t["range_min"].as_f64().unwrap(), t["range_max"].as_f64().unwrap());
                let (min, max) = (t["min"].as_f64().unwrap(), t["max"].as_f64().unwrap());
                assert!(lo <= 0.0 && hi >= 0.0, "{method}: the range covers 0: {t}");
                assert!(lo >= min.min(0.0) && hi <= max.max(0.0), "{method}: never wider than seen: {t}");
            }
            models.push(out);
        }
    }
    let x = held_out(dir.path(), 12);
    let inputs = samples(&x, &dir.path().join("inputs"));
    let refs: Vec<&Path> = models.iter().map(PathBuf::as_path).collect();
    // Every model loads and runs in LiteRT (sqnrs fails otherwise).
    let s = sqnrs(&testdata("cnn.tflite"), &refs, &inputs, dir.path());
    eprintln!(
        "SQNR dB int8 minmax/percentile/mse {:.2} {:.2} {:.2}; int16x8 {:.2} {:.2} {:.2}",
        s[0], s[1], s[2], s[3], s[4], s[5]
    );
    assert!(s.iter().all(|x| x.is_finite()), "{s:?}");
    assert!(s[1] >= s[0] + 3.0, "int8 percentile {:.2} dB vs minmax {:.2} dB", s[1], s[0]);
    assert!(s[2] >= s[0] + 0.3, "int8 mse {:.2} dB vs minmax {:.2} dB", s[2], s[0]);
}

fn fails_with_one_line(args: &[&std::ffi::OsStr], output: &Path) -> String {
    let out = tflq(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(!output.exists(), "no output on failure");
    err
}

#[test]
fn bad_calibration_flags_fail_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.tflite");
    let (model, data) = (testdata("cnn.tflite"), testdata("cnn.calib.npy"));
    let run = |extra: &[&str]| {
        let mut args: Vec<&std::ffi::OsStr> = vec!["convert".as_ref(), model.as_ref(), "-o".as_ref(), out.as_ref()];
        args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
        fails_with_one_line(&args, &out)
    };
    let e = run(&["--quantize", "dynamic", "--calibration-method", "mse"]);
    assert!(e.contains("--calibration-method") && e.contains("int8"), "{e}");
    let e = run(&["--quantize", "weight-int8", "--percentile", "99"]);
    assert!(e.contains("--percentile"), "{e}");
    let d = data.to_str().unwrap();
    for p in ["50", "100.5", "-3", "NaN"] {
        let flag = format!("--percentile={p}");
        let e = run(&["--quantize", "int8", "--calibration-data", d, "--calibration-method", "percentile", &flag]);
        assert!(e.contains("--percentile") && e.contains("50") && e.contains("100"), "{p}: {e}");
    }
    for m in [&["--calibration-method", "mse"][..], &[]] {
        let mut a = vec!["--quantize", "int8", "--calibration-data", d, "--percentile", "99.9"];
        a.extend(m);
        let e = run(&a);
        assert!(e.contains("--calibration-method percentile"), "{e}");
    }
}
