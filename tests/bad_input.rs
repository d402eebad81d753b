//! Bad input gets one `error: …` line on stderr and exit 1, never a panic,
//! never an output file, never a modified input. Bad usage exits 2.

mod common;

use common::*;
use std::path::Path;

/// Converts `bytes` (written as `file_name`) and checks the failure contract; returns the error line.
fn expect_clean_failure(dir: &Path, file_name: &str, bytes: &[u8]) -> String {
    let input = dir.join(file_name);
    std::fs::write(&input, bytes).unwrap();
    let output = dir.join("out.tflite");
    let out = tflq_any!("convert", input, "-o", output);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{file_name}: want exit 1, got {:?}: {stderr}", out.status);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{file_name}: want one line, got {stderr:?}");
    assert!(lines[0].starts_with("error: "), "{file_name}: {stderr}");
    assert!(!stderr.contains("panicked"), "{file_name}: {stderr}");
    assert!(!output.exists(), "{file_name}: an output file was written");
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{file_name}: temporary files left: {leftovers:?}");
    assert_eq!(std::fs::read(&input).unwrap(), bytes, "{file_name}: the input was modified");
    // dump refuses it the same way.
    let d = tflq_any!("dump", input);
    assert_eq!(d.status.code(), Some(1), "dump {file_name}");
    lines[0].to_string()
}

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let msg = expect_clean_failure(dir.path(), "empty.tflite", &[]);
    assert!(msg.contains("empty"), "{msg}");
}

#[test]
fn truncated_files_at_several_cut_points() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(testdata("cnn.tflite")).unwrap();
    for cut in [1, 4, 7, 8, 12, 64, 1000, bytes.len() / 3, bytes.len() / 2, bytes.len() - 4096, bytes.len() - 100] {
        let msg = expect_clean_failure(dir.path(), &format!("cut{cut}.tflite"), &bytes[..cut]);
        assert!(msg.contains("truncated") || msg.contains("too short"), "cut at {cut}: {msg}");
    }
}

#[test]
fn wrong_file_identifier() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(testdata("mlp.tflite")).unwrap();
    bytes[4..8].copy_from_slice(b"TFL2");
    let msg = expect_clean_failure(dir.path(), "wrong_id.tflite", &bytes);
    assert!(msg.contains("not a TFLite model") && msg.contains("TFL2"), "{msg}");
}

#[test]
fn corrupted_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(testdata("mlp.tflite")).unwrap();
    // The root table offset pointing past the end.
    let mut bytes = good.clone();
    bytes[0..4].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
    let msg = expect_clean_failure(dir.path(), "root.tflite", &bytes);
    assert!(msg.contains("corrupt"), "{msg}");
    // The root table's vtable offset (the soffset at the table start) made absurd.
    let root = u32::from_le_bytes(good[0..4].try_into().unwrap()) as usize;
    let mut bytes = good.clone();
    bytes[root..root + 4].copy_from_slice(&i32::MIN.to_le_bytes());
    let msg = expect_clean_failure(dir.path(), "vtable.tflite", &bytes);
    assert!(msg.contains("corrupt"), "{msg}");
}

#[test]
fn jpeg_renamed_tflite() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(testdata("digit.jpg")).unwrap();
    let msg = expect_clean_failure(dir.path(), "photo.tflite", &bytes);
    assert!(msg.contains("not a TFLite model") && msg.contains("JPEG"), "{msg}");
}

#[test]
fn buffer_index_out_of_range() {
    let mut model = tflq::load(&testdata("mlp.tflite")).unwrap();
    model.subgraphs[0].tensors[1].buffer = 999;
    let err = tflq::tflite::write(&model, &Default::default()).unwrap_err().to_string();
    assert!(err.contains("subgraph 0, tensor 1") && err.contains("buffer index 999"), "{err}");
}

#[test]
fn missing_input_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = tflq_any!("convert", dir.path().join("nope.tflite"), "-o", dir.path().join("o.tflite"));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: ") && err.contains("nope.tflite"), "{err}");
}

#[test]
fn output_over_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("m.tflite");
    std::fs::copy(testdata("mlp.tflite"), &input).unwrap();
    let before = std::fs::read(&input).unwrap();
    let out = tflq_any!("convert", input, "-o", input);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("never modifies its input"));
    assert_eq!(std::fs::read(&input).unwrap(), before);
}

#[test]
fn bad_usage_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("o.tflite");
    for args in [
        vec![
            "convert".into(),
            testdata("mlp.tflite").into_os_string(),
            "-o".into(),
            out_path.clone().into_os_string(),
            "--quantize".into(),
            "int3".into(),
        ],
        vec!["convert".into(), testdata("mlp.tflite").into_os_string()],
        vec!["frobnicate".into()],
    ] {
        let out = tflq(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(!out_path.exists());
    }
}
