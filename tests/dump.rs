//! `tflq dump`: golden files (refresh with `BLESS=1 cargo test --test dump`)
//! and agreement with the official wheel's Python schema reader on every fixture.

mod common;

use common::*;
use serde_json::Value;
use tflq::schema::BuiltinOperator;

fn check_golden(fixture: &str, args: &[&str], golden: &str) {
    let out = tflq_ok(
        ["dump"]
            .iter()
            .copied()
            .chain(args.iter().copied())
            .map(std::ffi::OsString::from)
            .chain([testdata(fixture).into_os_string()]),
    );
    let got = String::from_utf8(out.stdout).unwrap();
    let path = root().join("tests/golden").join(golden);
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (BLESS=1 creates it)", path.display()));
    assert!(got == want, "dump of {fixture} differs from {}; run with BLESS=1 to accept:\n{got}", path.display());
}

#[test]
fn json_matches_golden_files() {
    check_golden("cnn.int8.tflite", &["--json"], "cnn.int8.json");
    check_golden("with_signature.tflite", &["--json"], "with_signature.json");
}

#[test]
fn text_matches_golden_files() {
    check_golden("cnn.int8.tflite", &[], "cnn.int8.txt");
    check_golden("sparse_densify.tflite", &[], "sparse_densify.txt");
}

#[test]
fn json_has_exactly_the_documented_keys() {
    let out = tflq!("dump", "--json", testdata("cnn.int8.tflite"));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(
        keys(&v),
        [
            "version",
            "description",
            "operator_codes",
            "subgraphs",
            "signature_defs",
            "metadata",
            "buffers",
            "file_bytes"
        ]
    );
    assert_eq!(keys(&v["operator_codes"][0]), ["index", "builtin", "custom", "version"]);
    let sg = &v["subgraphs"][0];
    assert_eq!(keys(sg), ["index", "name", "inputs", "outputs", "tensors", "operators"]);
    assert_eq!(
        keys(&sg["tensors"][0]),
        ["index", "name", "type", "shape", "shape_signature", "buffer", "data_bytes", "is_variable", "quantization"]
    );
    let quantized = sg["tensors"].as_array().unwrap().iter().find(|t| !t["quantization"].is_null()).unwrap();
    assert_eq!(keys(&quantized["quantization"]), ["scale", "zero_point", "quantized_dimension", "min", "max"]);
    assert_eq!(keys(&sg["operators"][0]), ["index", "opcode", "version", "inputs", "outputs"]);
    assert_eq!(keys(&v["signature_defs"][0]), ["key", "subgraph_index", "inputs", "outputs"]);
    assert_eq!(v["metadata"]["min_runtime_version"], "1.14.0");
    assert_eq!(v["file_bytes"], std::fs::metadata(testdata("cnn.int8.tflite")).unwrap().len());
}

fn f32s(v: &Value) -> Option<Vec<f32>> {
    v.as_array().map(|a| a.iter().map(|x| x.as_f64().unwrap() as f32).collect())
}

fn ints(v: &Value) -> Option<Vec<i64>> {
    v.as_array().map(|a| a.iter().map(|x| x.as_i64().unwrap()).collect())
}

/// Our dump and the Python schema reader agree on everything both show.
#[test]
fn json_agrees_with_the_official_schema_reader_on_every_fixture() {
    let mut failures = Vec::new();
    for f in tflite_fixtures() {
        let n = name(&f);
        let ours: Value = serde_json::from_slice(&tflq!("dump", "--json", f).stdout).unwrap();
        let theirs = oracle!("schema", f);
        let mut check = |what: String, a: Value, b: Value| {
            if a != b {
                failures.push(format!("{n}: {what}: ours {a} vs python {b}"));
            }
        };
        check("buffers".into(), ours["buffers"].clone(), theirs["buffers"].clone());
        check("description".into(), ours["description"].clone(), theirs["description"].clone());
        for (i, (a, b)) in ours["operator_codes"]
            .as_array()
            .unwrap()
            .iter()
            .zip(theirs["operator_codes"].as_array().unwrap())
            .enumerate()
        {
            let code = match a["builtin"].as_str() {
                Some(name) => BuiltinOperator::from_name(name).unwrap().0 as i64,
                None => BuiltinOperator::CUSTOM.0 as i64,
            };
            check(format!("opcode {i}"), code.into(), b["builtin"].clone());
            check(format!("opcode {i} custom"), a["custom"].clone(), b["custom"].clone());
            check(format!("opcode {i} version"), a["version"].clone(), b["version"].clone());
        }
        let sgs = theirs["subgraphs"].as_array().unwrap();
        check("subgraph count".into(), ours["subgraphs"].as_array().unwrap().len().into(), sgs.len().into());
        for (si, (a, b)) in ours["subgraphs"].as_array().unwrap().iter().zip(sgs).enumerate() {
            for key in ["name", "inputs", "outputs"] {
                check(format!("subgraph {si} {key}"), a[key].clone(), b[key].clone());
            }
            let (ta, tb) = (a["tensors"].as_array().unwrap(), b["tensors"].as_array().unwrap());
            check(format!("subgraph {si} tensor count"), ta.len().into(), tb.len().into());
            for (ti, (x, y)) in ta.iter().zip(tb).enumerate() {
                for key in ["name", "type", "shape", "shape_signature", "buffer", "is_variable"] {
                    check(format!("tensor {ti} {key}"), x[key].clone(), y[key].clone());
                }
                let q = &x["quantization"];
                let scale = if q.is_null() { None } else { f32s(&q["scale"]).filter(|s| !s.is_empty()) };
                let their_scale = f32s(&y["scale"]).filter(|s| !s.is_empty());
                check(format!("tensor {ti} scale"), format!("{scale:?}").into(), format!("{their_scale:?}").into());
                let zp = if q.is_null() { None } else { ints(&q["zero_point"]).filter(|s| !s.is_empty()) };
                let their_zp = ints(&y["zero_point"]).filter(|s| !s.is_empty());
                check(format!("tensor {ti} zero_point"), format!("{zp:?}").into(), format!("{their_zp:?}").into());
                let dim = if q.is_null() { 0 } else { q["quantized_dimension"].as_i64().unwrap() };
                check(format!("tensor {ti} quantized_dimension"), dim.into(), y["quantized_dimension"].clone());
            }
            let (oa, ob) = (a["operators"].as_array().unwrap(), b["operators"].as_array().unwrap());
            check(format!("subgraph {si} operator count"), oa.len().into(), ob.len().into());
            for (oi, (x, y)) in oa.iter().zip(ob).enumerate() {
                for key in ["inputs", "outputs"] {
                    check(format!("operator {oi} {key}"), x[key].clone(), y[key].clone());
                }
            }
        }
        check("signature_defs".into(), ours["signature_defs"].clone(), theirs["signature_defs"].clone());
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
