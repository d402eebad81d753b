//! tflq's integer kernels against LiteRT's built-in kernels (XNNPACK off), byte for byte.
//!
//! Every case of an op with an integer kernel is quantized by tflq in int8 (per-channel, and
//! per-tensor where the op has weights) and in 16x8, with integer model inputs and outputs,
//! then run on the same integer inputs in tflq's interpreter and in LiteRT's `builtin`
//! resolver: the output bytes must be identical. The same models also run in LiteRT's default
//! resolver (XNNPACK), and the largest difference in LSBs between its two paths is printed per
//! op (the README's table).

use super::*;
use common::{read_npy, tflq};
use std::collections::BTreeMap;
use tflq::ops::registry;

/// A quantization mode: its `convert` arguments and the integer I/O type.
struct Mode {
    name: &'static str,
    args: &'static [&'static str],
    io: &'static str,
    /// Only for ops with weights (per-tensor).
    weights_only: bool,
}

const MODES: [Mode; 3] = [
    Mode { name: "int8", args: &["--quantize", "int8"], io: "int8", weights_only: false },
    Mode { name: "int8-per-tensor", args: &["--quantize", "int8", "--per-tensor"], io: "int8", weights_only: true },
    Mode { name: "int16x8", args: &["--quantize", "int16x8"], io: "int16", weights_only: false },
];

/// Integer .npy descriptor and bytes of a value.
fn npy_of(v: &Value) -> Option<(&'static str, Vec<u8>)> {
    Some(match &v.values {
        Values::I8(x) => ("|i1", x.iter().map(|&a| a as u8).collect()),
        Values::I16(x) => ("<i2", x.iter().flat_map(|a| a.to_le_bytes()).collect()),
        Values::I32(x) => ("<i4", x.iter().flat_map(|a| a.to_le_bytes()).collect()),
        Values::F32(x) => ("<f4", x.iter().flat_map(|a| a.to_le_bytes()).collect()),
        Values::Bool(x) => ("|b1", x.iter().map(|&a| u8::from(a)).collect()),
        _ => return None,
    })
}

/// Elements of an integer .npy as i64.
fn npy_ints(descr: &str, bytes: &[u8]) -> Vec<i64> {
    match descr {
        "|i1" => bytes.iter().map(|&b| i64::from(b as i8)).collect(),
        "|b1" => bytes.iter().map(|&b| i64::from(b)).collect(),
        "<i2" => bytes.chunks_exact(2).map(|c| i64::from(i16::from_le_bytes([c[0], c[1]]))).collect(),
        "<i4" => bytes.chunks_exact(4).map(|c| i64::from(i32::from_le_bytes(c.try_into().unwrap()))).collect(),
        _ => Vec::new(),
    }
}

/// Runs `model` on the .npy inputs in `inputs` in LiteRT with `resolver`, outputs to `out`.
pub(super) fn run_litert(resolver: &str, model: &Path, inputs: &Path, out: &Path) -> Result<(), String> {
    let r = std::process::Command::new(common::python())
        .arg(common::root().join("tests/oracle.py"))
        .args(["run", "--resolver", resolver, "--out"])
        .arg(out)
        .arg("--inputs")
        .arg(inputs)
        .arg(model)
        .output()
        .unwrap();
    if r.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&r.stderr).trim().to_string())
    }
}

/// Cases (name, mode) whose integer form tflq has no kernel for yet: the interpreter must
/// refuse them (not run them approximately).
const NOT_YET: [(&str, &str); 0] = [];

pub fn check(cases: Vec<Case>) {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut exact: BTreeMap<(String, &str), (usize, usize)> = BTreeMap::new();
    let mut xnn_lsb: BTreeMap<(String, &str), i64> = BTreeMap::new();
    for c in &cases {
        let Some(def) = registry().builtin(c.op) else { continue };
        let Some(rule) = def.integer else { continue };
        // Float outputs become integer; BOOL (comparisons) and INT32 (SHAPE) outputs stay.
        let kept = |t: TensorType| matches!(t, TensorType::FLOAT32 | TensorType::BOOL | TensorType::INT32);
        if def.int_kernel.is_none() || !c.out_types.iter().all(|&t| kept(t)) {
            continue;
        }
        if c.inputs.iter().flatten().any(|(_, d)| matches!(d, Data::I8(..) | Data::Quantized(..) | Data::State)) {
            continue;
        }
        let model = build(c);
        let d = dir.path().join(c.name);
        std::fs::create_dir_all(&d).unwrap();
        let float = d.join("float.tflite");
        tflq::save(&model, &float, &Default::default()).unwrap();
        let calib = super::integer::write_inputs(c, &model, &d, "calib_", 8, super::integer::seed_of(c.name));
        let real = super::integer::write_inputs(c, &model, &d, "real_", 1, super::integer::seed_of(c.name));
        let op = format!("{:?}", c.op);
        for mode in &MODES {
            if (mode.weights_only && def.weights().is_none()) || (mode.io == "int16" && !rule.int16) || !rule.int8 {
                continue;
            }
            let md = d.join(mode.name);
            std::fs::create_dir_all(&md).unwrap();
            let q = md.join("model.tflite");
            let mut args: Vec<std::ffi::OsString> =
                vec!["convert".into(), float.clone().into(), "-o".into(), q.clone().into()];
            args.extend(mode.args.iter().map(Into::into));
            args.extend(["--input-type", mode.io, "--output-type", mode.io, "--strict"].iter().map(Into::into));
            for p in &calib {
                args.extend(["--calibration-data".into(), p.into()]);
            }
            let r = tflq(&args);
            if !r.status.success() {
                failures.push(format!(
                    "{} {}: convert: {}",
                    c.name,
                    mode.name,
                    String::from_utf8_lossy(&r.stderr).trim()
                ));
                continue;
            }
            let loaded = tflq::load(&q).unwrap();
            let sg = &loaded.subgraphs[0];
            // The integer inputs: the real samples quantized with the model's input parameters
            // (index inputs stay int32).
            let mut inputs = Vec::new();
            for (i, &t) in sg.inputs.iter().enumerate() {
                let v = npy_value(&real[i]);
                let v = match v.values {
                    Values::F32(_) => tflq::ops::quantize_to(&sg.tensors[t as usize], &v).unwrap(),
                    _ => v,
                };
                let (descr, bytes) = npy_of(&v).unwrap();
                common::write_npy(&md.join(format!("input_{i}.npy")), descr, &v.shape, &bytes);
                inputs.push(v);
            }
            let not_yet = NOT_YET.contains(&(c.name, mode.name));
            let got = match Interpreter::new(&loaded, 0).and_then(|i| i.run(inputs)) {
                Ok(_) if not_yet => {
                    failures.push(format!("{} {}: runs, yet is listed as NOT_YET", c.name, mode.name));
                    continue;
                }
                Ok(g) => g,
                Err(e) if not_yet => {
                    eprintln!("{:28} {:16} refused (no integer kernel yet): {e}", c.name, mode.name);
                    continue;
                }
                Err(e) => {
                    failures.push(format!("{} {}: tflq: {e}", c.name, mode.name));
                    continue;
                }
            };
            let (builtin, default) = (md.join("builtin"), md.join("default"));
            if let Err(e) = run_litert("builtin", &q, &md, &builtin) {
                failures.push(format!("{} {}: LiteRT builtin: {e}", c.name, mode.name));
                continue;
            }
            let xnn = run_litert("default", &q, &md, &default);
            let entry = exact.entry((op.clone(), mode.name)).or_default();
            entry.1 += 1;
            let mut same = true;
            for (j, g) in got.iter().enumerate() {
                let (descr, shape, want) = read_npy(&builtin.join(format!("m0/output_{j}.npy")));
                let (gd, gb) = npy_of(g).unwrap();
                if gd != descr || shape != g.shape || gb != want {
                    let (a, b) = (npy_ints(&descr, &want), npy_ints(gd, &gb));
                    let diff = a.iter().zip(&b).filter(|(x, y)| x != y).count();
                    let lsb = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).max().unwrap_or(0);
                    failures.push(format!(
                        "{} {} output {j}: {diff}/{} differ (max {lsb} LSB; {descr}{shape:?} vs {gd}{:?})",
                        c.name,
                        mode.name,
                        a.len(),
                        g.shape
                    ));
                    same = false;
                }
                if xnn.is_ok() {
                    let (xd, _, xb) = read_npy(&default.join(format!("m0/output_{j}.npy")));
                    let (a, b) = (npy_ints(&descr, &want), npy_ints(&xd, &xb));
                    let lsb = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).max().unwrap_or(0);
                    let e = xnn_lsb.entry((op.clone(), mode.io)).or_insert(0);
                    *e = (*e).max(lsb);
                }
            }
            if same {
                entry.0 += 1;
            }
            eprintln!("{:28} {:16} {}", c.name, mode.name, if same { "byte-identical" } else { "DIFFERS" });
        }
    }
    eprintln!("\nop | mode | byte-identical cases");
    for ((op, mode), (ok, n)) in &exact {
        eprintln!("{op} | {mode} | {ok}/{n}");
    }
    eprintln!("\nLSB, LiteRT builtin vs default (XNNPACK):\nop | int8 | int16");
    let ops: std::collections::BTreeSet<&String> = xnn_lsb.keys().map(|k| &k.0).collect();
    for op in ops {
        let cell = |io: &str| xnn_lsb.get(&(op.clone(), io)).map_or("–".to_string(), |v| v.to_string());
        eprintln!("{op} | {} | {}", cell("int8"), cell("int16"));
    }
    assert!(exact.len() >= 10, "only {} op × mode pairs checked", exact.len());
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// testdata/cnn.tflite quantized by tflq (int8 with integer and with float I/O, and 16x8) runs
/// byte-identically in tflq and in LiteRT's builtin resolver on test samples.
pub fn cnn() {
    let dir = tempfile::tempdir().unwrap();
    let x = npy_value(&common::testdata("cnn.test_x.npy"));
    let xs = x.as_f32().unwrap();
    let per: usize = x.shape[1..].iter().product();
    let mut failures = Vec::new();
    for (mode, args, io) in
        [("int8", "int8", "int8"), ("int8-float-io", "int8", "float32"), ("int16x8", "int16x8", "int16")]
    {
        let md = dir.path().join(mode);
        std::fs::create_dir_all(&md).unwrap();
        let q = md.join("model.tflite");
        let calib = common::testdata("cnn.calib.npy");
        let mut a: Vec<std::ffi::OsString> =
            vec!["convert".into(), common::testdata("cnn.tflite").into(), "-o".into(), q.clone().into()];
        a.extend(["--quantize", args, "--input-type", io, "--output-type", io].iter().map(Into::into));
        a.extend(["--calibration-data".into(), calib.into()]);
        common::tflq_ok(&a);
        let loaded = tflq::load(&q).unwrap();
        let interp = Interpreter::new(&loaded, 0).unwrap();
        let t = &loaded.subgraphs[0].tensors[loaded.subgraphs[0].inputs[0] as usize];
        let mut identical = 0;
        let samples = 6;
        for s in 0..samples {
            let mut shape = x.shape.clone();
            shape[0] = 1;
            let real = Value::f32(shape, xs[s * per..(s + 1) * per].to_vec());
            let input = if io == "float32" { real } else { tflq::ops::quantize_to(t, &real).unwrap() };
            let sd = md.join(format!("s{s}"));
            std::fs::create_dir_all(&sd).unwrap();
            let (descr, bytes) = npy_of(&input).unwrap();
            common::write_npy(&sd.join("input_0.npy"), descr, &input.shape, &bytes);
            let got = interp.run(vec![input]).unwrap();
            run_litert("builtin", &q, &sd, &sd.join("out")).unwrap();
            let (wd, _, want) = read_npy(&sd.join("out/m0/output_0.npy"));
            let (gd, gb) = npy_of(&got[0]).unwrap();
            if wd == gd && want == gb {
                identical += 1;
            } else {
                failures.push(format!("cnn {mode} sample {s}: {wd} {want:?} vs {gd} {gb:?}"));
            }
        }
        eprintln!("cnn {mode}: {identical}/{samples} samples byte-identical");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
