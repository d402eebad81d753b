//! The whole-model checks the reader and the output gate share (src/ops/consistency.rs,
//! src/ops/shapes.rs, op versions, quantization counts): one corruption of a fixture per
//! check, written without the gate. Each must be refused by the reader with a line that names
//! the fault, and by `tflq convert` in a mode that never runs the model (weight-int8) with
//! exit 1 and no output. The fixture as it is must pass every check, and LiteRT must refuse
//! each corrupted file too, so no check here refuses what the runtime would run.

mod common;

use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use tflq::ir::{Data, Model, QuantParams, Source};
use tflq::schema::{BuiltinOperator, BuiltinOptionsT, TensorType};
use tflq::tflite::writer::write_unchecked;
use tflq::tflite::{read, WriteOptions};

fn fixture(name: &str) -> Model {
    let bytes = std::fs::read(common::root().join("testdata").join(name)).unwrap();
    read(Arc::new(Source::Owned(bytes))).unwrap()
}

type Edit = fn(&mut Model);

/// Replaces the data of constant `t` of subgraph 0 with `values` (INT32).
fn set_i32(m: &mut Model, t: usize, values: &[i32]) {
    let b = m.subgraphs[0].tensors[t].buffer as usize;
    m.buffers[b].data = Data::from(values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>());
    m.subgraphs[0].tensors[t].shape = Some(vec![values.len() as i32]);
}

/// The index of the first operator of subgraph 0 with builtin `op`.
fn op_index(m: &Model, op: BuiltinOperator) -> usize {
    m.subgraphs[0].operators.iter().position(|o| m.operator_codes[o.opcode_index as usize].builtin == op).unwrap()
}

/// (fixture, what the error must say, the corruption).
fn cases() -> Vec<(&'static str, &'static str, &'static str, Edit)> {
    vec![
        ("conv filter channels", "cnn.tflite", "channels", |m| {
            // The input gets 5 channels; the first filter takes 3.
            let x = m.subgraphs[0].inputs[0] as usize;
            m.subgraphs[0].tensors[x].shape.as_mut().unwrap()[3] = 5;
            m.subgraphs[0].tensors[x].shape_signature = None;
        }),
        ("reshape to another element count", "cnn.tflite", "do not fit target shape", |m| {
            let sg = &mut m.subgraphs[0];
            let t = sg.tensors.iter().position(|t| t.dtype == TensorType::INT32 && t.shape() == [2]).unwrap();
            let b = sg.tensors[t].buffer as usize;
            m.buffers[b].data = Data::from([1i32, 1000].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>());
        }),
        ("op version newer than the runtime", "cnn.tflite", "newest the runtime knows", |m| {
            m.operator_codes[0].version = 999;
        }),
        ("custom op without a name", "custom_op.tflite", "without a name", |m| {
            let c = m.operator_codes.iter_mut().find(|c| c.builtin == BuiltinOperator::CUSTOM).unwrap();
            c.custom_code = None;
        }),
        ("a read of a tensor nothing defines", "mlp.tflite", "no producer", |m| {
            let w = m.subgraphs[0].operators[0].inputs[1] as usize;
            let b = m.subgraphs[0].tensors[w].buffer as usize;
            m.buffers[b].data = Data::from(Vec::new());
        }),
        ("two ops writing one tensor", "mlp.tflite", "already has a value", |m| {
            let first = m.subgraphs[0].operators[0].outputs[0];
            m.subgraphs[0].operators[1].outputs[0] = first;
        }),
        ("an op that changes a type it keeps", "cnn.tflite", "keeps its input's type", |m| {
            let out = m.subgraphs[0].operators[0].outputs[0] as usize;
            m.subgraphs[0].tensors[out].dtype = TensorType::INT64;
        }),
        ("a shape operand of the wrong type", "cnn.tflite", "holds sizes or indices", |m| {
            let sg = &mut m.subgraphs[0];
            let t = sg.tensors.iter().position(|t| t.dtype == TensorType::INT32 && t.shape() == [2]).unwrap();
            sg.tensors[t].dtype = TensorType::FLOAT32;
            sg.tensors[t].shape = Some(vec![2]);
        }),
        ("rank over the kernels' limit", "mlp.tflite", "at most 6", |m| {
            let out = m.subgraphs[0].outputs[0] as usize;
            m.subgraphs[0].tensors[out].shape = Some(vec![1; 7]);
            m.subgraphs[0].tensors[out].shape_signature = None;
        }),
        ("scale and zero-point counts on a float tensor", "mlp.tflite", "zero points", |m| {
            let t = m.subgraphs[0].inputs[0] as usize;
            m.subgraphs[0].tensors[t].quantization =
                Some(QuantParams { scale: Some(vec![0.5; 3]), zero_point: Some(vec![0; 2]), ..Default::default() });
        }),
        ("a variable with constant data", "mlp.tflite", "variable tensor", |m| {
            let w = m.subgraphs[0].operators[0].inputs[1] as usize;
            m.subgraphs[0].tensors[w].is_variable = true;
        }),
        ("a WHILE whose condition is its body", "lstm.tflite", "same subgraph", |m| {
            for op in &mut m.subgraphs[0].operators {
                if let BuiltinOptionsT::WhileOptions(w) = &mut op.builtin_options {
                    w.cond_subgraph_index = w.body_subgraph_index;
                }
            }
        }),
        ("a shape its signature contradicts", "mlp.tflite", "but signature", |m| {
            let x = m.subgraphs[0].inputs[0] as usize;
            m.subgraphs[0].tensors[x].shape = Some(vec![1, 46341]);
        }),
        ("an input with a dimension of size 0", "cnn.tflite", "of size 0", |m| {
            let x = m.subgraphs[0].inputs[0] as usize;
            m.subgraphs[0].tensors[x].shape.as_mut().unwrap()[2] = 0;
            m.subgraphs[0].tensors[x].shape_signature = None;
        }),
        ("weights DEQUANTIZE declares in another shape", "fp16_weights.tflite", "declares output", |m| {
            let dq = m.operator_codes.iter().position(|c| c.builtin == BuiltinOperator::DEQUANTIZE).unwrap();
            let sg = &mut m.subgraphs[0];
            let outs: Vec<usize> =
                sg.operators.iter().filter(|o| o.opcode_index as usize == dq).map(|o| o.outputs[0] as usize).collect();
            let y = outs.into_iter().find(|&y| sg.tensors[y].shape().len() == 2).unwrap();
            sg.tensors[y].shape.as_mut().unwrap()[1] += 1;
        }),
        ("a bias of the wrong length", "mlp.tflite", "a bias of 10 values", |m| {
            let other = m.subgraphs[0].operators[2].inputs[2];
            m.subgraphs[0].operators[0].inputs[2] = other;
        }),
        ("a WHILE that changes a value's type", "lstm.tflite", "as the output", |m| {
            let w = op_index(m, BuiltinOperator::WHILE);
            let sg = &mut m.subgraphs[0];
            let y = sg.operators[w]
                .outputs
                .iter()
                .map(|&t| t as usize)
                .find(|&t| sg.tensors[t].dtype == TensorType::FLOAT32);
            sg.tensors[y.unwrap()].dtype = TensorType::INT64;
        }),
        ("a transposed convolution's output shape", "op_transpose_conv.tflite", "does not come from input", |m| {
            let t = m.subgraphs[0].operators[0].inputs[0] as usize;
            set_i32(m, t, &[1, 1, 16, 16]);
        }),
        ("transposed-convolution weights of type INT32", "op_transpose_conv.tflite", "the runtime takes", |m| {
            let w = m.subgraphs[0].operators[0].inputs[1] as usize;
            m.subgraphs[0].tensors[w].dtype = TensorType::INT32;
        }),
        ("a resize to a negative size", "op_resize.tflite", "size [", |m| {
            let t = m.subgraphs[0].operators[0].inputs[1] as usize;
            set_i32(m, t, &[-1, 16]);
        }),
        ("an FFT length that is not a power of two", "audio_spectrogram.tflite", "powers of two", |m| {
            let r = op_index(m, BuiltinOperator::RFFT2D);
            let t = m.subgraphs[0].operators[r].inputs[1] as usize;
            let len = m.subgraphs[0].tensors[t].clone();
            let b = len.buffer as usize;
            let mut v: Vec<i32> =
                m.buffers[b].data.as_bytes().chunks(4).map(|c| i32::from_le_bytes(c.try_into().unwrap())).collect();
            v[1] -= 1;
            set_i32(m, t, &v);
        }),
        ("a reduction over an axis the input lacks", "dynamic_hw.tflite", "axis 9", |m| {
            let r = op_index(m, BuiltinOperator::MEAN);
            let t = m.subgraphs[0].operators[r].inputs[1] as usize;
            set_i32(m, t, &[1, 9]);
        }),
        ("a padding past 2^31 elements", "op_pad.tflite", "over 2^31 elements", |m| {
            let r = op_index(m, BuiltinOperator::PAD);
            let t = m.subgraphs[0].operators[r].inputs[1] as usize;
            set_i32(m, t, &[0, 0, 100_000, 100_000, 100_000, 100_000, 0, 0]);
        }),
        ("a reshape without its options", "cnn.tflite", "do not fit target shape", |m| {
            let r = op_index(m, BuiltinOperator::RESHAPE);
            m.subgraphs[0].operators[r].inputs.truncate(1);
            m.subgraphs[0].operators[r].builtin_options = BuiltinOptionsT::NONE;
        }),
        ("a concatenation with another op's options", "op_concat.tflite", "do not join", |m| {
            let r = op_index(m, BuiltinOperator::CONCATENATION);
            m.subgraphs[0].operators[r].builtin_options = BuiltinOptionsT::NONE;
        }),
        ("FULLY_CONNECTED weights that are the model input", "mlp.tflite", "a bias of 128 values", |m| {
            let x = m.subgraphs[0].inputs[0];
            m.subgraphs[0].operators[0].inputs[1] = x;
        }),
        ("no subgraphs", "mlp.tflite", "no subgraphs", |m| {
            m.subgraphs.clear();
            m.signature_defs.clear();
        }),
    ]
}

#[test]
fn each_check_refuses_its_corruption_in_the_reader_and_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (name, file, needle, edit) in cases() {
        let mut m = fixture(file);
        // The fixture itself passes (it was read above); only the edit may fail it.
        edit(&mut m);
        let bytes = write_unchecked(&m, &WriteOptions::default()).unwrap();
        match read(Arc::new(Source::Owned(bytes.clone()))) {
            Ok(_) => failures.push(format!("{name}: the reader accepts it")),
            Err(e) if !e.to_string().contains(needle) => failures.push(format!("{name}: {e}")),
            Err(e) => assert!(e.to_string().len() < 300, "{name}: {e}"),
        }
        let input = dir.path().join(format!("{}.tflite", name.replace(' ', "_")));
        std::fs::write(&input, &bytes).unwrap();
        let output = dir.path().join(format!("{}.out.tflite", name.replace(' ', "_")));
        let out = Command::new(env!("CARGO_BIN_EXE_tflq"))
            .args(["convert", "--quantize", "weight-int8", "-o"])
            .arg(&output)
            .arg(&input)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        if out.status.code() != Some(1) || err.trim_end().lines().count() != 1 || output.exists() {
            failures.push(format!("{name}: convert gave {:?}: {err}", out.status.code()));
        }
        // LiteRT runs the fixture as it is (so the oracle works) and refuses the corruption.
        let litert_runs = |path: &Path| {
            Command::new(common::python())
                .arg(common::root().join("tests/oracle.py"))
                .args(["run", "--out"])
                .arg(dir.path().join("oracle"))
                .arg(path)
                .output()
                .unwrap()
                .status
                .success()
        };
        let custom = file.starts_with("custom");
        if !custom && !litert_runs(&common::root().join("testdata").join(file)) {
            failures.push(format!("{name}: LiteRT does not run {file} itself"));
        }
        if litert_runs(&input) {
            failures.push(format!("{name}: LiteRT runs the corrupted model, so the check is too strict"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn outputs_that_are_devices_are_refused_and_symlinks_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::root().join("testdata/mlp.tflite");
    let out =
        Command::new(env!("CARGO_BIN_EXE_tflq")).args(["convert", "-o", "/dev/null"]).arg(&model).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("character device"), "{err}");
    assert!(Path::new("/dev/null").metadata().unwrap().file_type().is_char_device(), "/dev/null was replaced");
    let target = dir.path().join("target.tflite");
    std::fs::write(&target, b"old").unwrap();
    let link = dir.path().join("link.tflite");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tflq")).args(["convert", "-o"]).arg(&link).arg(&model).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link was replaced");
    assert!(std::fs::read(&target).unwrap().len() > 100, "the target was not written");
}
