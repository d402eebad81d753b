//! Agreement on models TF's converter wrote: every case in `testdata/ops/` (made by
//! `testdata/generate_ops.py`) runs in tflq's interpreter and in the official one on the
//! committed inputs. Float outputs must agree to 1e-5 (max |a − b| / max |b|); integer and
//! bool outputs exactly, with the same shapes.

mod common;

use common::{read_npy, root};
use std::collections::BTreeSet;
use std::path::Path;
use tflq::interp::{Interpreter, Value, Values};

/// Every case directory named in the manifest, with the ops its model holds.
fn cases() -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(root().join("testdata/ops/manifest.json")).unwrap();
    // The manifest is `{"family/case": {"ops": [...], "bytes": n}, ...}`, one case per key.
    let mut out = Vec::new();
    for chunk in text.split("\n \"").skip(1) {
        let name = chunk[..chunk.find('"').unwrap()].to_string();
        let ops_at = chunk.find("\"ops\": [").unwrap() + "\"ops\": [".len();
        let ops_txt = &chunk[ops_at..ops_at + chunk[ops_at..].find(']').unwrap()];
        let ops = ops_txt.split(',').map(|s| s.trim().trim_matches('"').to_string()).filter(|s| !s.is_empty());
        out.push((name, ops.collect()));
    }
    assert!(out.len() > 50, "manifest lists only {} cases", out.len());
    out
}

/// A .npy's numbers (any numeric or bool dtype) and whether they are floats.
fn npy_numbers(path: &Path) -> (bool, Vec<usize>, Vec<f64>) {
    let (descr, shape, data) = read_npy(path);
    let v: Vec<f64> = match descr.as_str() {
        "<f4" => data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        "<i8" => data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        "<i4" => data.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        "<i2" => data.chunks_exact(2).map(|c| i16::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        "<u2" => data.chunks_exact(2).map(|c| u16::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        "|i1" => data.iter().map(|&b| b as i8 as f64).collect(),
        "|u1" | "|b1" => data.iter().map(|&b| b as f64).collect(),
        other => panic!("{}: unsupported npy dtype {other}", path.display()),
    };
    (descr == "<f4", shape, v)
}

fn numbers(v: &Value) -> Vec<f64> {
    match &v.values {
        Values::F32(x) => x.iter().map(|&a| a as f64).collect(),
        Values::I32(x) => x.iter().map(|&a| a as f64).collect(),
        Values::I64(x) => x.iter().map(|&a| a as f64).collect(),
        Values::U8(x) => x.iter().map(|&a| a as f64).collect(),
        Values::I8(x) => x.iter().map(|&a| a as f64).collect(),
        Values::I16(x) => x.iter().map(|&a| a as f64).collect(),
        Values::Bool(x) => x.iter().map(|&a| a as u8 as f64).collect(),
        Values::C64(x) => x.iter().flat_map(|c| [c[0] as f64, c[1] as f64]).collect(),
    }
}

/// Runs one case; None when it agrees, else what differs.
fn check(name: &str, out: &Path) -> Vec<String> {
    let dir = root().join("testdata/ops").join(name);
    let model_path = dir.join("model.tflite");
    let mut inputs = Vec::new();
    while dir.join(format!("input_{}.npy", inputs.len())).exists() {
        inputs.push(common::npy_value(&dir.join(format!("input_{}.npy", inputs.len()))));
    }
    let case_out = out.join(name.replace('/', "_"));
    oracle!("run", "--inputs", dir, "--out", case_out, model_path);
    let model = tflq::load(&model_path).unwrap();
    let got = match Interpreter::new(&model, 0).and_then(|i| i.run(inputs)) {
        Ok(g) => g,
        Err(e) => return vec![format!("{name}: {e}")],
    };
    let mut failures = Vec::new();
    for (j, g) in got.iter().enumerate() {
        let (float, shape, want) = npy_numbers(&case_out.join(format!("m0/output_{j}.npy")));
        if g.shape != shape {
            failures.push(format!("{name} output {j}: shape {:?}, official {shape:?}", g.shape));
            continue;
        }
        let have = numbers(g);
        if float {
            let num = have.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            let den = want.iter().map(|b| b.abs()).fold(0.0, f64::max).max(1e-6);
            let nan_differs = have.iter().zip(&want).any(|(a, b)| a.is_nan() != b.is_nan());
            let r = num / den;
            eprintln!("{name:44} output {j}: max rel diff {r:.2e}");
            if r > 1e-5 || nan_differs || r.is_nan() {
                failures.push(format!("{name} output {j}: max rel diff {r:e} (NaN mismatch: {nan_differs})"));
            }
        } else if let Some(k) = have.iter().zip(&want).position(|(a, b)| a != b) {
            failures.push(format!("{name} output {j}: element {k} is {}, official {}", have[k], want[k]));
        } else {
            eprintln!("{name:44} output {j}: exact");
        }
    }
    if got.len() != std::fs::read_dir(case_out.join("m0")).unwrap().count() / 2 {
        failures.push(format!("{name}: {} outputs, the official interpreter has more or fewer", got.len()));
    }
    failures
}

#[test]
fn every_tf_converted_case_agrees_with_the_official_interpreter() {
    let out = tempfile::tempdir().unwrap();
    let failures: Vec<String> = cases().iter().flat_map(|(name, _)| check(name, out.path())).collect();
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// Every builtin with a float kernel is exercised by an agreement case: here, in the
/// single-op models that `tests/ops/` builds (read from their sources), or in a float fixture
/// that `tests/interp.rs` runs in both interpreters.
#[test]
fn every_float_kernel_has_an_agreement_case() {
    let mut covered: BTreeSet<String> = cases().into_iter().flat_map(|(_, ops)| ops).collect();
    for e in std::fs::read_dir(root().join("tests/ops")).unwrap() {
        let src = std::fs::read_to_string(e.unwrap().path()).unwrap();
        for part in src.split("B::").chain(src.split("BuiltinOperator::")).skip(1) {
            covered.insert(
                part.chars().take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_').collect(),
            );
        }
    }
    for path in common::tflite_fixtures().iter().filter(|p| common::float_fixture(p)) {
        let model = tflq::load(path).unwrap();
        covered.extend(model.operator_codes.iter().map(|c| format!("{:?}", c.builtin)));
    }
    let missing: Vec<String> = tflq::ops::registry()
        .entries()
        .into_iter()
        .filter(|d| d.kernel.is_some())
        .filter_map(|d| match &d.key {
            tflq::ops::OpKey::Builtin(b) => Some(format!("{b:?}")),
            tflq::ops::OpKey::Custom(_) => None,
        })
        .filter(|n| !covered.contains(n))
        .collect();
    assert!(missing.is_empty(), "float kernels without an agreement case: {}", missing.join(" "));
}
