//! Structural operator mutations of every fixture, through every mode: an op with no outputs,
//! with no inputs, with input k set to -1, with input 1 equal to input 0. Each mutated model
//! is written and read back (the reader sees what a file would hold), then converted in every
//! mode (dynamic, float16, weight-int8, int8, int16x8) and run. Every step must return an error
//! or succeed; none may panic, and whatever a mode produces must pass the output gate (write).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;
use tflq::calibrate::data::{Sample, SampleSet, SampleType, SampleValues};
use tflq::ir::{Buf, Model, Source};
use tflq::pipeline::{self, quantize_calibrated};
use tflq::quantize::full_integer::{Activations, IntegerOptions, IoType};
use tflq::quantize::{quantize_weights, WeightMode, WeightOptions};
use tflq::tflite::writer::write_unchecked;
use tflq::tflite::{read, write, WriteOptions};

fn fixtures() -> Vec<(String, Model)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut out = Vec::new();
    for dir in [root.clone(), root.join("ops"), root.join("control")] {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut files: Vec<_> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "tflite") && p.is_file())
            .collect();
        files.sort();
        for p in files {
            let bytes = std::fs::read(&p).unwrap();
            if let Ok(m) = read(Arc::new(Source::Owned(bytes))) {
                out.push((p.strip_prefix(&root).unwrap().display().to_string(), m));
            }
        }
    }
    assert!(out.len() > 20, "fixtures missing");
    out
}

/// One deterministic sample for the model's inputs (open dimensions 1), or None when an input
/// type has no sample form.
fn sample(model: &Model) -> Option<SampleSet> {
    let specs = tflq::calibrate::input_specs(model, None).ok()?;
    let mut inputs = Vec::new();
    for s in &specs {
        let shape: Vec<usize> = s.shape.iter().map(|d| d.unwrap_or(1)).collect();
        let n: usize = shape.iter().product();
        if n > 1 << 20 {
            return None;
        }
        let f = |i: usize| ((i * 7919 % 200) as f32 / 100.0) - 1.0;
        let v = match s.dtype {
            SampleType::F32 => SampleValues::F32(Buf::from((0..n).map(f).collect::<Vec<_>>())),
            SampleType::I32 => SampleValues::I32(Buf::from(vec![1i32; n])),
            SampleType::I64 => SampleValues::I64(Buf::from(vec![1i64; n])),
            SampleType::U8 => SampleValues::U8(Buf::from(vec![1u8; n])),
            SampleType::I8 => SampleValues::I8(Buf::from(vec![1i8; n])),
            SampleType::I16 => SampleValues::I16(Buf::from(vec![1i16; n])),
            SampleType::Bool => SampleValues::Bool(Buf::from(vec![true; n])),
            SampleType::C64 => return None,
        };
        inputs.push((shape, v));
    }
    Some(SampleSet::from(vec![Sample { inputs }]))
}

/// Operators mutated per subgraph (the first, then evenly spaced), to keep a debug run short.
const OPS_PER_SUBGRAPH: usize = 6;

/// Models larger than this are only read back, not converted (a debug build is slow on them).
const CONVERT_UP_TO: usize = 200 << 10;

/// Every mutation of every operator of `model`, each with a description.
fn mutations(model: &Model) -> Vec<(String, Model)> {
    let mut out = Vec::new();
    for (si, sg) in model.subgraphs.iter().enumerate() {
        // At most OPS_PER_SUBGRAPH operators of each subgraph, spread over it.
        let step = sg.operators.len().div_ceil(OPS_PER_SUBGRAPH).max(1);
        for (oi, op) in sg.operators.iter().enumerate().step_by(step) {
            let name = model.operator_codes.get(op.opcode_index as usize).map_or("?".into(), |c| c.name());
            let mut add = |what: String, f: &dyn Fn(&mut tflq::ir::Operator)| {
                let mut m = model.clone();
                f(&mut m.subgraphs[si].operators[oi]);
                out.push((format!("subgraph {si} op {oi} ({name}): {what}"), m));
            };
            add("no outputs".into(), &|o| o.outputs.clear());
            add("no inputs".into(), &|o| o.inputs.clear());
            for k in 0..op.inputs.len() {
                if op.inputs[k] != -1 {
                    add(format!("input {k} = -1"), &|o| o.inputs[k] = -1);
                }
            }
            if op.inputs.len() >= 2 && op.inputs[0] != op.inputs[1] {
                add("input 1 = input 0".into(), &|o| o.inputs[1] = o.inputs[0]);
            }
        }
    }
    out
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
}

/// Runs every mode on `model` (as read back from a file). `Err` names a panic.
fn every_mode(model: &Model, run: bool) -> Result<(), String> {
    let opts = WeightOptions { min_weight_elements: 16, per_tensor: false };
    let samples = if run { sample(model) } else { None };
    let modes: [&str; 6] = ["dynamic", "float16", "weight-int8", "int8", "int16x8", "run"];
    for mode in modes {
        let r = catch_unwind(AssertUnwindSafe(|| -> Option<Model> {
            let mut m = model.clone();
            let ok = match mode {
                "dynamic" => quantize_weights(&mut m, WeightMode::Dynamic, &opts).is_ok(),
                "float16" => quantize_weights(&mut m, WeightMode::Float16, &opts).is_ok(),
                "weight-int8" => quantize_weights(&mut m, WeightMode::WeightInt8, &opts).is_ok(),
                "int8" | "int16x8" => {
                    let Some(s) = &samples else { return None };
                    let activations = if mode == "int8" { Activations::Int8 } else { Activations::Int16 };
                    let o = IntegerOptions {
                        activations,
                        input_type: IoType::Float32,
                        output_type: IoType::Float32,
                        per_tensor: false,
                        strict: false,
                        loop_activations: None,
                    };
                    quantize_calibrated(&mut m, s, &o, tflq::calibrate::Method::MinMax, &|_| {}).is_ok()
                }
                _ => {
                    if let Some(s) = &samples {
                        let _ = pipeline::run::run(&m, s);
                    }
                    return None;
                }
            };
            ok.then_some(m)
        }));
        match r {
            Err(p) => return Err(format!("{mode}: panicked: {}", panic_message(p))),
            Ok(Some(out)) => {
                // The output gate: whatever a mode returns is written or refused, never panics.
                let w = catch_unwind(AssertUnwindSafe(|| write(&out, &WriteOptions::default()).map(drop)));
                if let Err(p) = w {
                    return Err(format!("{mode}: writing the output panicked: {}", panic_message(p)));
                }
            }
            Ok(None) => {}
        }
    }
    Ok(())
}

#[test]
fn operator_mutations_give_errors_in_every_mode() {
    let mut failures = Vec::new();
    let mut cases = 0;
    let mut read_back = 0;
    for (file, model) in fixtures() {
        // A mutated loop may never end: the interpreter stops it after a million iterations,
        // which is correct but slow here, so loops are only converted in the weight modes.
        let run = !file.starts_with("control");
        let start = std::time::Instant::now();
        for (what, m) in mutations(&model) {
            cases += 1;
            let small = m.buffers.iter().map(|b| b.data.len()).sum::<usize>() <= CONVERT_UP_TO;
            // The passes check what they are given: a model built in memory, never read.
            if small {
                if let Err(e) = every_mode(&m, run) {
                    failures.push(format!("{file}, {what}, in memory: {e}"));
                }
            }
            // What a file holding it gives: the reader refuses it, or every mode handles it.
            let bytes = write_unchecked(&m, &WriteOptions::default()).expect("indices are in range");
            let back = match catch_unwind(AssertUnwindSafe(|| read(Arc::new(Source::Owned(bytes))))) {
                Ok(Ok(back)) => back,
                Ok(Err(_)) => continue,
                Err(p) => {
                    failures.push(format!("{file}, {what}: read panicked: {}", panic_message(p)));
                    continue;
                }
            };
            read_back += 1;
            if small {
                if let Err(e) = every_mode(&back, run) {
                    failures.push(format!("{file}, {what}: {e}"));
                }
            }
        }
        eprintln!("{file}: {:.1} s", start.elapsed().as_secs_f64());
    }
    eprintln!("{cases} mutations, {read_back} accepted by the reader");
    assert!(cases > 200, "only {cases} mutations");
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}
