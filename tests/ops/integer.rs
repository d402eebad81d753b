//! Every op with an integer rule in the registry, quantized by tflq in int8 and in 16x8, loads,
//! allocates and runs in LiteRT (its built-in kernels and its default, XNNPACK, resolver) and
//! stays close to the float op. The rule says which widths LiteRT has kernels for: with one,
//! the single-op model converts with `--strict`; without one, the op must stay float (and the
//! model still runs). An op that gains an integer rule without a case here fails the test.

use super::*;
use common::{read_npy_f32, sqnr_db, tflq, tflq_ok, write_npy};
use std::collections::BTreeSet;
use std::path::PathBuf;
use tflq::ops::{registry, OpKey};

/// Calibration samples per input.
const SAMPLES: usize = 8;

/// Least SQNR (dB) of the quantized op against the float op, for int8 and for 16x8.
const MIN_INT8_DB: f64 = 30.0;
const MIN_INT16_DB: f64 = 42.0;

/// Writes `count` samples of every model input of `c` as `{prefix}{i}.npy` ([count, ...shape]),
/// the calibration data (count > 1) or the oracle's inputs (count 1, `input_{i}.npy`).
/// A case's data seed, from its name: adding or reordering cases leaves the others' data alone.
pub(super) fn seed_of(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)) % 1_000_003 + 1
}

pub(super) fn write_inputs(c: &Case, model: &Model, dir: &Path, prefix: &str, count: usize, seed: u64) -> Vec<PathBuf> {
    let sg = &model.subgraphs[0];
    let mut ranges = c.inputs.iter().flatten().filter_map(|(_, data)| match data {
        Data::Input(lo, hi) => Some((*lo, *hi, false)),
        Data::Ids(lo, hi) => Some((*lo as f32, *hi as f32, true)),
        _ => None,
    });
    let mut paths = Vec::new();
    for (i, &t) in sg.inputs.iter().enumerate() {
        let shape: Vec<usize> = sg.tensors[t as usize].shape().iter().map(|&d| d as usize).collect();
        let (lo, hi, integer) = ranges.next().unwrap();
        let n: usize = shape.iter().product::<usize>() * count;
        let v = floats(n, seed * 100 + i as u64, lo, hi);
        let mut full = shape.clone();
        if count > 1 {
            full.insert(0, count);
        }
        let path = dir.join(format!("{prefix}{i}.npy"));
        if integer {
            let v: Vec<u8> = v.iter().flat_map(|x| (x.floor() as i32).min(hi as i32 - 1).to_le_bytes()).collect();
            write_npy(&path, "<i4", &full, &v);
        } else {
            write_npy(&path, "<f4", &full, &v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>());
        }
        paths.push(path);
    }
    paths
}

/// Whether the report at `path` lists an op `op` as left float.
fn left_float(report: &Path, op: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(report).unwrap()).unwrap();
    v["float_ops"].as_array().unwrap().iter().find(|f| f["op"] == op).map(|f| f["reason"].to_string())
}

pub fn check(cases: Vec<Case>) {
    // Coverage: every op with an integer rule has a case.
    let covered: BTreeSet<String> = cases.iter().map(|c| format!("{:?}", c.op)).collect();
    let mut missing = Vec::new();
    for def in registry().entries() {
        if def.integer.is_none() {
            continue;
        }
        match &def.key {
            OpKey::Builtin(b) if covered.contains(&format!("{b:?}")) => {}
            key => missing.push(format!("{key:?}")),
        }
    }
    assert!(missing.is_empty(), "ops with an integer rule but no single-op case in tests/ops: {missing:?}");

    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    for c in &cases {
        let Some(rule) = registry().builtin(c.op).and_then(|d| d.integer) else { continue };
        // A model that is already quantized (an int8 constant) is not tflq's to quantize again.
        if c.inputs.iter().flatten().any(|(_, d)| matches!(d, Data::I8(..) | Data::Quantized(..))) {
            continue;
        }
        let model = build(c);
        let d = dir.path().join(c.name);
        std::fs::create_dir_all(&d).unwrap();
        let float = d.join("float.tflite");
        tflq::save(&model, &float, &Default::default()).unwrap();
        // The input run is the first calibration sample (the same stream), so that the test
        // judges the kernels, not how well 8 samples cover the input range.
        let calib = write_inputs(c, &model, &d, "calib_", SAMPLES, seed_of(c.name));
        write_inputs(c, &model, &d, "input_", 1, seed_of(c.name));
        let op = format!("{:?}", c.op);
        let mut models = Vec::new();
        for (mode, kernel) in [("int8", rule.int8), ("int16x8", rule.int16)] {
            let out = d.join(format!("{mode}.tflite"));
            let report = d.join(format!("{mode}.json"));
            let mut args: Vec<std::ffi::OsString> = vec!["convert".into(), float.clone().into(), "-o".into()];
            args.extend([
                out.clone().into(),
                "--quantize".into(),
                mode.into(),
                "--report".into(),
                report.clone().into(),
            ]);
            for p in &calib {
                args.extend(["--calibration-data".into(), p.into()]);
            }
            if kernel {
                args.push("--strict".into());
                let r = tflq(&args);
                if !r.status.success() {
                    failures.push(format!("{} {mode}: {}", c.name, String::from_utf8_lossy(&r.stderr).trim()));
                    continue;
                }
            } else {
                tflq_ok(&args);
                if left_float(&report, &op).is_none() {
                    failures.push(format!("{} {mode}: the rule has no {mode} kernel, yet {op} was quantized", c.name));
                }
            }
            models.push((mode, kernel, out));
        }
        // The float reference in the default resolver (a float CONCATENATION with a fused
        // activation runs only there), the quantized models in both.
        let reference = d.join("run-float");
        common::oracle([
            "run".as_ref(),
            "--out".as_ref(),
            reference.as_os_str(),
            "--inputs".as_ref(),
            d.as_os_str(),
            float.as_os_str(),
        ] as [&std::ffi::OsStr; 6]);
        for resolver in ["builtin", "default"] {
            let run = d.join(format!("run-{resolver}"));
            let mut args: Vec<std::ffi::OsString> = vec!["run".into(), "--resolver".into(), resolver.into()];
            args.extend(["--out".into(), run.clone().into(), "--inputs".into(), d.clone().into()]);
            args.extend(models.iter().map(|m| m.2.clone().into()));
            let out = std::process::Command::new(common::python())
                .arg(common::root().join("tests/oracle.py"))
                .args(&args)
                .output()
                .unwrap();
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                failures.push(format!("{} ({resolver}): LiteRT refused: {}", c.name, err.trim()));
                continue;
            }
            for (m, (mode, kernel, _)) in models.iter().enumerate() {
                for j in 0..c.outputs.len() {
                    let want = read_npy_f32(&reference.join(format!("m0/output_{j}.f32.npy")));
                    let got = read_npy_f32(&run.join(format!("m{m}/output_{j}.f32.npy")));
                    if c.out_types.get(j) == Some(&TensorType::BOOL) {
                        // A comparison may flip where its operands are within rounding of each other.
                        let same = want.iter().zip(&got).filter(|(a, b)| a == b).count();
                        eprintln!("{:28} {mode:8} {resolver:8} output {j}: {same}/{} equal", c.name, want.len());
                        if same * 100 < want.len() * 97 {
                            failures.push(format!("{} {mode} ({resolver}): {same}/{} equal", c.name, want.len()));
                        }
                        continue;
                    }
                    let db = sqnr_db(&want, &got);
                    let min = match (*mode, kernel) {
                        ("int8", _) => MIN_INT8_DB,
                        (_, true) => MIN_INT16_DB,
                        _ => MIN_INT8_DB, // float op between int16 boundaries
                    };
                    eprintln!("{:28} {mode:8} {resolver:8} output {j}: {db:6.1} dB", c.name);
                    if db < min {
                        failures.push(format!("{} {mode} ({resolver}) output {j}: SQNR {db:.1} dB < {min}", c.name));
                    }
                }
            }
        }
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} integer cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
