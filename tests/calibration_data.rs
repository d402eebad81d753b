//! Calibration data loading: .npy, .npz and image folders, and every error case.
//! Fixtures under testdata/calib/ come from testdata/generate_calib.py.

use std::path::{Path, PathBuf};

use tflq::calibrate::data::{
    load_samples, open_samples, DataError, ImageOptions, InputSpec, Sample, SampleType, SampleValues,
};
use tflq::calibrate::npy;

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(rel)
}

fn spec(name: &str, shape: &[usize], dtype: SampleType) -> InputSpec {
    InputSpec::fixed(name, shape, dtype)
}

fn cnn_input() -> Vec<InputSpec> {
    vec![spec("serving_default_image:0", &[1, 32, 32, 3], SampleType::F32)]
}

fn two_inputs() -> Vec<InputSpec> {
    vec![spec("serving_default_a:0", &[1, 4], SampleType::F32), spec("serving_default_b:0", &[1, 3], SampleType::I32)]
}

fn no_image() -> ImageOptions {
    ImageOptions::default()
}

fn load(paths: &[PathBuf], inputs: &[InputSpec]) -> Result<Vec<Sample>, DataError> {
    load_samples(paths, inputs, None, &no_image())
}

fn err(paths: &[PathBuf], inputs: &[InputSpec]) -> (DataError, String) {
    let e = load(paths, inputs).expect_err("expected an error");
    let msg = e.to_string();
    assert!(!msg.contains('\n'), "message must be one line: {msg}");
    assert!(msg.starts_with("calibration data"), "{msg}");
    (e, msg)
}

fn f32s(v: &SampleValues) -> &[f32] {
    match v {
        SampleValues::F32(v) => v,
        other => panic!("expected f32 values, got {:?}", SampleType::of(other)),
    }
}

fn read_npy(path: &Path) -> npy::NpyArray {
    npy::parse(&std::fs::read(path).unwrap()).unwrap()
}

fn npy_f32(path: &Path) -> (Vec<usize>, Vec<f32>) {
    match read_npy(path) {
        npy::NpyArray { shape, data: npy::NpyData::F32(v) } => (shape, v),
        other => panic!("{other:?}"),
    }
}

fn npy_f64(path: &Path) -> Vec<f64> {
    match read_npy(path).data {
        npy::NpyData::F64(v) => v,
        other => panic!("{:?}", other.dtype()),
    }
}

/// A raw .npy file with the given header dict and body.
fn write_npy(dir: &Path, name: &str, descr: &str, shape: &[usize], body: &[u8]) -> PathBuf {
    let shape = match shape {
        [d] => format!("({d},)"),
        s => format!("({})", s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    write_npy_header(dir, name, &format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"), body)
}

fn write_npy_header(dir: &Path, name: &str, header: &str, body: &[u8]) -> PathBuf {
    let mut bytes = npy::MAGIC.to_vec();
    bytes.extend_from_slice(&[1, 0]);
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(body);
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn i64_bytes(v: &[i64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

// ---------------------------------------------------------------- .npy

#[test]
fn cnn_npy_loads_all_samples_exactly() {
    let path = testdata("cnn.calib.npy");
    let samples = load(std::slice::from_ref(&path), &cnn_input()).unwrap();
    let (shape, raw) = npy_f32(&path);
    assert_eq!(shape, vec![80, 32, 32, 3]);
    assert_eq!(samples.len(), 80);
    let per = 32 * 32 * 3;
    for (i, s) in samples.iter().enumerate() {
        assert_eq!(s.inputs.len(), 1);
        assert_eq!(s.inputs[0].0, vec![1, 32, 32, 3]);
        assert_eq!(f32s(&s.inputs[0].1), &raw[i * per..(i + 1) * per]);
    }
}

#[test]
fn max_samples_caps_the_count() {
    let samples = load_samples(&[testdata("cnn.calib.npy")], &cnn_input(), Some(5), &no_image()).unwrap();
    assert_eq!(samples.len(), 5);
    let all = load(&[testdata("cnn.calib.npy")], &cnn_input()).unwrap();
    assert_eq!(samples[..], all[..5]);
    let more = load_samples(&[testdata("cnn.calib.npy")], &cnn_input(), Some(1000), &no_image()).unwrap();
    assert_eq!(more.len(), 80);
}

#[test]
fn npy_with_leading_batch_axis_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let vals: Vec<f32> = (0..12).map(|i| i as f32).collect();
    let path = write_npy(dir.path(), "x.npy", "<f4", &[3, 1, 4], &f32_bytes(&vals));
    let samples = load(&[path], &[spec("x", &[1, 4], SampleType::F32)]).unwrap();
    assert_eq!(samples.len(), 3);
    assert_eq!(samples[2].inputs[0], (vec![1, 4], SampleValues::F32(vec![8.0, 9.0, 10.0, 11.0].into())));
    // A batch-4 input takes [N,4,3] only.
    let path = write_npy(dir.path(), "b4.npy", "<f4", &[1, 4, 3], &f32_bytes(&vals));
    let samples = load(&[path], &[spec("x", &[4, 3], SampleType::F32)]).unwrap();
    assert_eq!(samples[0].inputs[0].0, vec![4, 3]);
    // Without the sample axis, an array of exactly one sample's shape is that one sample.
    let path = write_npy(dir.path(), "b4one.npy", "<f4", &[4, 3], &f32_bytes(&vals));
    let samples = load(&[path], &[spec("x", &[4, 3], SampleType::F32)]).unwrap();
    assert_eq!(samples.len(), 1);
    assert_eq!(samples[0].inputs[0], (vec![4, 3], SampleValues::F32(vals.clone().into())));
    let path = write_npy(dir.path(), "b4bad.npy", "<f4", &[3, 4], &f32_bytes(&vals));
    let (_, msg) = err(&[path], &[spec("x", &[4, 3], SampleType::F32)]);
    assert!(msg.contains("expects samples of shape [4,3] (model input [4,3]), found array [3,4]"), "{msg}");
}

#[test]
fn v2_header_and_float64_cast() {
    let samples = load(&[testdata("calib/v2_header.npy")], &[spec("x", &[1, 2], SampleType::F32)]).unwrap();
    assert_eq!(samples.len(), 3);
    assert_eq!(samples[1].inputs[0].1, SampleValues::F32(vec![2.0, 3.0].into()));
    let samples = load(&[testdata("calib/f64.npy")], &[spec("x", &[1, 2], SampleType::F32)]).unwrap();
    assert_eq!(samples[2].inputs[0].1, SampleValues::F32(vec![1.0, 1.25].into()));
}

#[test]
fn one_npy_per_input_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_npy(dir.path(), "a.npy", "<f4", &[2, 4], &f32_bytes(&[1.0; 8]));
    let b = write_npy(dir.path(), "b.npy", "<i8", &[2, 3], &i64_bytes(&[1, 2, 3, 4, 5, 6]));
    let samples = load(&[a.clone(), b.clone()], &two_inputs()).unwrap();
    assert_eq!(samples.len(), 2);
    assert_eq!(samples[1].inputs[0], (vec![1, 4], SampleValues::F32(vec![1.0; 4].into())));
    assert_eq!(samples[1].inputs[1], (vec![1, 3], SampleValues::I32(vec![4, 5, 6].into())));

    // Swapped order: b.npy lands on input a, which is a shape error naming input a.
    let (e, msg) = err(&[b, a], &two_inputs());
    assert!(matches!(e, DataError::WrongShape { .. }), "{e:?}");
    assert!(msg.contains("input \"serving_default_a:0\" expects samples of shape [4]"), "{msg}");
}

#[test]
fn integer_casts() {
    let dir = tempfile::tempdir().unwrap();
    let ids = write_npy(dir.path(), "ids.npy", "<i8", &[2, 2], &i64_bytes(&[0, 7, 9, 100]));
    for (dtype, expected) in [
        (SampleType::I32, SampleValues::I32(vec![9, 100].into())),
        (SampleType::I64, SampleValues::I64(vec![9, 100].into())),
        (SampleType::U8, SampleValues::U8(vec![9, 100].into())),
        (SampleType::I8, SampleValues::I8(vec![9, 100].into())),
    ] {
        let samples = load(std::slice::from_ref(&ids), &[spec("ids", &[1, 2], dtype)]).unwrap();
        assert_eq!(samples[1].inputs[0].1, expected);
    }
    let small = write_npy(dir.path(), "u8.npy", "|u1", &[1, 2], &[200, 3]);
    let samples = load(&[small], &[spec("ids", &[1, 2], SampleType::I32)]).unwrap();
    assert_eq!(samples[0].inputs[0].1, SampleValues::I32(vec![200, 3].into()));
    let mask = write_npy(dir.path(), "mask.npy", "|b1", &[1, 2], &[1, 0]);
    let samples = load(&[mask], &[spec("mask", &[1, 2], SampleType::Bool)]).unwrap();
    assert_eq!(samples[0].inputs[0].1, SampleValues::Bool(vec![true, false].into()));
}

// ---------------------------------------------------------------- .npz

#[test]
fn npz_matches_tf_style_names() {
    for file in ["calib/two_inputs.npz", "calib/two_inputs_compressed.npz"] {
        let samples = load(&[testdata(file)], &two_inputs()).unwrap();
        assert_eq!(samples.len(), 6, "{file}");
        let s = &samples[5];
        assert_eq!(s.inputs[0], (vec![1, 4], SampleValues::F32(vec![2.0, 2.1, 2.2, 2.3].into())), "{file}");
        assert_eq!(s.inputs[1], (vec![1, 3], SampleValues::I32(vec![105, 112, 119].into())), "{file}");
    }
    // Plain names match exactly too, and max_samples applies.
    let plain = [spec("b", &[1, 3], SampleType::I64), spec("a", &[1, 4], SampleType::F32)];
    let samples = load_samples(&[testdata("calib/two_inputs.npz")], &plain, Some(2), &no_image()).unwrap();
    assert_eq!(samples.len(), 2);
    assert_eq!(samples[1].inputs[0].1, SampleValues::I64(vec![21, 28, 35].into()));
}

#[test]
fn several_npz_concatenate() {
    let p = testdata("calib/two_inputs.npz");
    let q = testdata("calib/two_inputs_compressed.npz");
    assert_eq!(load(&[p.clone(), q], &two_inputs()).unwrap().len(), 12);
    assert_eq!(load_samples(&[p.clone(), p], &two_inputs(), Some(8), &no_image()).unwrap().len(), 8);
}

#[test]
fn npz_missing_key_lists_expected_and_found() {
    let inputs = [spec("serving_default_a:0", &[1, 4], SampleType::F32), spec("tokens", &[1, 3], SampleType::I32)];
    let (e, msg) = err(&[testdata("calib/two_inputs.npz")], &inputs);
    assert!(matches!(e, DataError::MissingNpzKey { .. }), "{e:?}");
    assert!(msg.contains("no array for input \"tokens\""), "{msg}");
    assert!(msg.contains("expected keys a, tokens; found a, b"), "{msg}");
}

#[test]
fn npz_inconsistent_sample_counts() {
    let (e, msg) = err(&[testdata("calib/counts_mismatch.npz")], &two_inputs());
    assert!(matches!(e, DataError::SampleCountMismatch { .. }), "{e:?}");
    assert!(msg.contains("\"serving_default_a:0\" 6, \"serving_default_b:0\" 5"), "{msg}");
}

#[test]
fn npz_wrong_shape_names_the_array() {
    let inputs = [spec("serving_default_a:0", &[1, 5], SampleType::F32), spec("b", &[1, 3], SampleType::I32)];
    let (_, msg) = err(&[testdata("calib/two_inputs.npz")], &inputs);
    assert!(msg.contains("(array \"a\")"), "{msg}");
    assert!(msg.contains("expects samples of shape [5] (model input [1,5]), found array [6,4]"), "{msg}");
}

#[test]
fn malformed_npz() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.npz");
    std::fs::write(&path, b"PK\x03\x04 this is not really a zip").unwrap();
    let (e, msg) = err(&[path], &two_inputs());
    assert!(matches!(e, DataError::MalformedNpz { .. }), "{e:?}");
    assert!(msg.contains("bad.npz"), "{msg}");
}

#[test]
fn corrupt_npz_member_is_refused_not_read() {
    // Flip one byte of the last array's data (the end of the last local member, before the
    // central directory): a stored member fails its CRC check, a deflated one fails to inflate
    // or its CRC check. Either way the error names the archive and member.
    for file in ["calib/two_inputs.npz", "calib/two_inputs_compressed.npz"] {
        let mut bytes = std::fs::read(testdata(file)).unwrap();
        let central = bytes.windows(4).rposition(|w| w == b"PK\x01\x02").unwrap();
        let first_central = bytes.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
        assert!(first_central <= central);
        bytes[first_central - 3] ^= 0x5a;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flipped.npz");
        std::fs::write(&path, &bytes).unwrap();
        let (e, msg) = err(&[path], &two_inputs());
        assert!(matches!(e, DataError::MalformedNpz { .. }), "{file}: {e:?}");
        assert!(msg.contains("flipped.npz") && msg.contains(".npy:"), "{file}: {msg}");
    }
}

// ---------------------------------------------------------------- images

#[test]
fn png_folder_scaled_to_unit_range() {
    let samples = load(&[testdata("images")], &cnn_input()).unwrap();
    assert_eq!(samples.len(), 8);
    let means = npy_f64(&testdata("calib/images_channel_means.npy"));
    for (i, s) in samples.iter().enumerate() {
        assert_eq!(s.inputs[0].0, vec![1, 32, 32, 3]);
        let v = f32s(&s.inputs[0].1);
        assert_eq!(v.len(), 32 * 32 * 3);
        assert!(v.iter().all(|x| (0.0..=1.0).contains(x)));
        for c in 0..3 {
            let mean: f64 = v.iter().skip(c).step_by(3).map(|&x| x as f64).sum::<f64>() / 1024.0;
            assert!((mean - means[i * 3 + c]).abs() < 1e-6, "image {i} channel {c}: {mean} vs {}", means[i * 3 + c]);
        }
    }
    // Fewer asked for: a seeded sample of the folder, in name order.
    let capped = load_samples(&[testdata("images")], &cnn_input(), Some(3), &no_image()).unwrap();
    assert_eq!(capped.len(), 3);
    let at: Vec<usize> = capped.iter().map(|c| samples.iter().position(|s| s == c).unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{at:?}");
    assert_ne!(at, vec![0, 1, 2]);
}

#[test]
fn mean_std_normalization_per_channel() {
    let plain = load(&[testdata("images")], &cnn_input()).unwrap();
    let opts = ImageOptions {
        mean: Some(vec![0.485, 0.456, 0.406]),
        std: Some(vec![0.229, 0.224, 0.225]),
        ..Default::default()
    };
    let norm = load_samples(&[testdata("images")], &cnn_input(), None, &opts).unwrap();
    for (p, n) in plain.iter().zip(&norm) {
        for (i, (&x, &y)) in f32s(&p.inputs[0].1).iter().zip(f32s(&n.inputs[0].1)).enumerate() {
            let c = i % 3;
            let want = (x - opts.mean.as_ref().unwrap()[c]) / opts.std.as_ref().unwrap()[c];
            assert!((want - y).abs() < 1e-5, "{want} vs {y}");
        }
    }
    // A single value applies to every channel; [-1, 1] scaling.
    let opts = ImageOptions { mean: Some(vec![0.5]), std: Some(vec![0.5]), ..Default::default() };
    let norm = load_samples(&[testdata("images")], &cnn_input(), None, &opts).unwrap();
    let v = f32s(&norm[0].inputs[0].1);
    assert!(v.iter().all(|x| (-1.0..=1.0).contains(x)));
    assert!((v[0] - (f32s(&plain[0].inputs[0].1)[0] * 2.0 - 1.0)).abs() < 1e-6);
}

#[test]
fn mixed_folder_resized_bilinear_matches_reference() {
    let folder = testdata("calib/mixed_images");
    for (channels, reference, tol) in [(3, "calib/mixed_rgb_12x10.npy", 4.0), (1, "calib/mixed_gray_12x10.npy", 4.0)] {
        let inputs = [spec("img", &[1, 12, 10, channels], SampleType::F32)];
        let samples = load(std::slice::from_ref(&folder), &inputs).unwrap();
        // notes.txt is not an image; files come in name order: a_rgba.png, b_rgb.jpg, c_gray.png.
        assert_eq!(samples.len(), 3);
        let (shape, want) = npy_f32(&testdata(reference));
        assert_eq!(shape, vec![3, 12, 10, channels]);
        let per = 12 * 10 * channels;
        for (i, s) in samples.iter().enumerate() {
            let got = f32s(&s.inputs[0].1);
            let want = &want[i * per..(i + 1) * per];
            let max_diff = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            // PNGs are exact up to f32 rounding; the JPEG may decode a few levels apart from libjpeg.
            let limit = if i == 1 { tol / 255.0 } else { 1e-5 };
            assert!(max_diff <= limit, "channels {channels} image {i}: max diff {max_diff}");
        }
    }
}

#[test]
fn jpeg_in_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(testdata("digit.jpg"), dir.path().join("digit.JPG")).unwrap();
    let samples = load(&[dir.path().to_path_buf()], &cnn_input()).unwrap();
    assert_eq!(samples.len(), 1);
    let v = f32s(&samples[0].inputs[0].1);
    let means = npy_f64(&testdata("calib/digit_channel_means.npy"));
    for (c, want) in means.iter().enumerate() {
        let mean: f64 = v.iter().skip(c).step_by(3).map(|&x| x as f64).sum::<f64>() / 1024.0;
        assert!((mean - want).abs() < 2.0 / 255.0, "channel {c}: {mean} vs {want}");
    }
    // Grayscale 28x28 input: converted and resized.
    let gray = [spec("serving_default_image:0", &[1, 28, 28, 1], SampleType::F32)];
    let samples = load(&[dir.path().to_path_buf()], &gray).unwrap();
    assert_eq!(samples[0].inputs[0].0, vec![1, 28, 28, 1]);
    assert_eq!(f32s(&samples[0].inputs[0].1).len(), 28 * 28);
}

// ---------------------------------------------------------------- errors

#[test]
fn error_unreadable_file() {
    let (e, msg) = err(&[testdata("calib/does_not_exist.npy")], &cnn_input());
    assert!(matches!(e, DataError::Unreadable { .. }), "{e:?}");
    assert!(msg.contains("does_not_exist.npy"), "{msg}");
}

#[test]
fn error_not_npy_npz_or_folder() {
    let (e, msg) = err(&[testdata("digit.jpg")], &cnn_input());
    assert!(matches!(e, DataError::UnknownKind { .. }), "{e:?}");
    assert!(msg.contains("digit.jpg: not a .npy, .npz or folder"), "{msg}");
    // An .npy without its extension is recognized by content.
    let dir = tempfile::tempdir().unwrap();
    let path = write_npy(dir.path(), "data.bin", "<f4", &[1, 2], &f32_bytes(&[1.0, 2.0]));
    assert_eq!(load(&[path], &[spec("x", &[1, 2], SampleType::F32)]).unwrap().len(), 1);
}

#[test]
fn error_malformed_npy_header() {
    let dir = tempfile::tempdir().unwrap();
    let x = [spec("x", &[1, 2], SampleType::F32)];
    let path = write_npy_header(dir.path(), "h.npy", "{'descr': '<f4', 'shape': (1, 2)}", &f32_bytes(&[0.0; 2]));
    let (e, msg) = err(&[path], &x);
    assert!(matches!(e, DataError::MalformedNpy { .. }), "{e:?}");
    assert!(msg.contains("h.npy") && msg.contains("fortran_order"), "{msg}");
    let path = dir.path().join("garbage.npy");
    std::fs::write(&path, b"hello world").unwrap();
    let (e, _) = err(&[path], &x);
    assert!(matches!(e, DataError::MalformedNpy { .. }), "{e:?}");
    let path = write_npy(dir.path(), "short.npy", "<f4", &[2, 2], &f32_bytes(&[0.0; 3]));
    let (_, msg) = err(&[path], &x);
    assert!(msg.contains("header says 16 bytes, file has 12"), "{msg}");
}

#[test]
fn error_unsupported_npy_dtype_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let x = [spec("x", &[1, 2], SampleType::F32)];
    for (descr, name) in [("<f2", "'<f2'"), (">f4", "big-endian"), ("<c8", "'<c8'"), ("<U4", "'<U4'")] {
        let path = write_npy(dir.path(), "d.npy", descr, &[1, 2], &[0; 64][..2 * 8]);
        let (e, msg) = err(&[path], &x);
        assert!(matches!(e, DataError::UnsupportedNpyDtype { .. }), "{descr}: {e:?}");
        assert!(msg.contains(name), "{msg}");
    }
}

#[test]
fn error_fortran_order() {
    let dir = tempfile::tempdir().unwrap();
    let header = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }";
    let path = write_npy_header(dir.path(), "f.npy", header, &f32_bytes(&[0.0; 4]));
    let (e, msg) = err(&[path], &[spec("x", &[1, 2], SampleType::F32)]);
    assert!(matches!(e, DataError::FortranOrder { .. }), "{e:?}");
    assert!(msg.contains("fortran"), "{msg}");
}

#[test]
fn error_wrong_shape_names_input_and_shapes() {
    let dir = tempfile::tempdir().unwrap();
    // Header-only check: the body must still match the header, so write a real (small) array
    // whose header claims [80,28,28,1].
    let body = f32_bytes(&vec![0.0; 80 * 28 * 28]);
    let path = write_npy(dir.path(), "cnn.calib.npy", "<f4", &[80, 28, 28, 1], &body);
    let (e, msg) = err(&[path], &cnn_input());
    assert!(matches!(e, DataError::WrongShape { .. }), "{e:?}");
    assert!(
        msg.ends_with(
            "cnn.calib.npy: input \"serving_default_image:0\" expects samples of shape [32,32,3] \
             (model input [1,32,32,3]), found array [80,28,28,1]"
        ),
        "{msg}"
    );
    // A 0-d array has no sample axis.
    let path = write_npy(dir.path(), "scalar.npy", "<f4", &[], &f32_bytes(&[1.0]));
    let (e, _) = err(&[path], &[spec("x", &[1], SampleType::F32)]);
    assert!(matches!(e, DataError::WrongShape { .. }), "{e:?}");
}

#[test]
fn error_wrong_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let floats = write_npy(dir.path(), "ids.npy", "<f4", &[1, 2], &f32_bytes(&[1.0, 2.0]));
    let (e, msg) = err(&[floats], &[spec("ids", &[1, 2], SampleType::I32)]);
    assert!(matches!(e, DataError::WrongDtype { .. }), "{e:?}");
    assert!(msg.contains("input \"ids\" is int32 but the array is float32"), "{msg}");
    let bytes = write_npy(dir.path(), "u8.npy", "|u1", &[1, 2], &[1, 2]);
    let (e, msg) = err(&[bytes], &[spec("x", &[1, 2], SampleType::F32)]);
    assert!(matches!(e, DataError::WrongDtype { .. }), "{e:?}");
    assert!(msg.contains("input \"x\" is float32 but the array is uint8"), "{msg}");
    let big = write_npy(dir.path(), "big.npy", "<i8", &[1, 2], &i64_bytes(&[1, 1 << 40]));
    let (e, msg) = err(&[big], &[spec("ids", &[1, 2], SampleType::I32)]);
    assert!(matches!(e, DataError::OutOfRange { .. }), "{e:?}");
    assert!(msg.contains("1099511627776"), "{msg}");
}

#[test]
fn error_wrong_input_count() {
    let (e, msg) = err(&[testdata("cnn.calib.npy")], &two_inputs());
    assert!(matches!(e, DataError::InputCount { .. }), "{e:?}");
    assert!(
        msg.ends_with(
            ".npy given but the model has 2 inputs: serving_default_a:0, serving_default_b:0; \
             use a .npz with those names or one .npy per input"
        ),
        "{msg}"
    );
    let p = testdata("cnn.calib.npy");
    let (e, msg) = err(&[p.clone(), p.clone()], &cnn_input());
    assert!(matches!(e, DataError::InputCount { .. }), "{e:?}");
    assert!(msg.contains("2 .npy files given but the model has 1 input: serving_default_image:0"), "{msg}");
    let (e, _) = err(&[testdata("images")], &two_inputs());
    assert!(matches!(e, DataError::InputCount { .. }), "{e:?}");
    let (e, _) = err(&[p, testdata("images")], &cnn_input());
    assert!(matches!(e, DataError::MixedKinds { .. }), "{e:?}");
}

#[test]
fn error_empty_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("readme.txt"), "no images").unwrap();
    let (e, msg) = err(&[dir.path().to_path_buf()], &cnn_input());
    assert!(matches!(e, DataError::EmptyFolder { .. }), "{e:?}");
    assert!(msg.contains("no .png/.jpg/.jpeg files"), "{msg}");
}

#[test]
fn error_undecodable_image_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(testdata("images/digit_00.png"), dir.path().join("a.png")).unwrap();
    std::fs::write(dir.path().join("b.png"), b"\x89PNG\r\n\x1a\n truncated").unwrap();
    // Skipped and named; an error only when no image is left.
    let set = open_samples(&[dir.path().to_path_buf()], &cnn_input(), None, &no_image()).unwrap();
    assert_eq!(set.len(), 1);
    assert!(set.notes()[0].contains("skipped 1: 1 not a decodable PNG/JPEG ("), "{:?}", set.notes());
    assert!(set.notes()[0].contains("b.png"), "{:?}", set.notes());
    std::fs::remove_file(dir.path().join("a.png")).unwrap();
    let (e, msg) = err(&[dir.path().to_path_buf()], &cnn_input());
    assert!(matches!(e, DataError::NoUsableImages { .. }), "{e:?}");
    assert!(msg.contains("b.png") && msg.ends_with("no usable images"), "{msg}");
}

#[test]
fn error_image_folder_for_non_image_input() {
    let (e, msg) = err(&[testdata("images")], &[spec("x", &[1, 32, 32, 2], SampleType::F32)]);
    assert!(matches!(e, DataError::NotImageInput { .. }), "{e:?}");
    assert!(msg.contains("input \"x\" is float32 [1,32,32,2]"), "{msg}");
    let (e, _) = err(&[testdata("images")], &[spec("x", &[1, 32, 32, 3], SampleType::U8)]);
    assert!(matches!(e, DataError::NotImageInput { .. }), "{e:?}");
}

#[test]
fn error_bad_mean_std() {
    let opts = ImageOptions { mean: Some(vec![0.5, 0.5]), ..Default::default() };
    let e = load_samples(&[testdata("images")], &cnn_input(), None, &opts).unwrap_err();
    assert!(matches!(e, DataError::BadNormalization { which: "mean", channels: 3, got: 2 }), "{e:?}");
    let opts = ImageOptions { std: Some(vec![0.2, 0.0, 0.2]), ..Default::default() };
    let e = load_samples(&[testdata("images")], &cnn_input(), None, &opts).unwrap_err();
    assert!(matches!(e, DataError::StdNotPositive(_)), "{e:?}");
}

#[test]
fn error_zero_samples() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_npy(dir.path(), "empty.npy", "<f4", &[0, 2], &[]);
    let (e, msg) = err(&[path], &[spec("x", &[1, 2], SampleType::F32)]);
    assert!(matches!(e, DataError::NoSamples { .. }), "{e:?}");
    assert!(msg.contains("empty.npy: no samples"), "{msg}");
    let (e, _) = err(&[], &cnn_input());
    assert!(matches!(e, DataError::NoSamples { .. }), "{e:?}");
}

#[test]
fn error_inconsistent_counts_across_npy_files() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_npy(dir.path(), "a.npy", "<f4", &[3, 4], &f32_bytes(&[0.0; 12]));
    let b = write_npy(dir.path(), "b.npy", "<i4", &[2, 3], &[0; 24]);
    let (e, msg) = err(&[a, b], &two_inputs());
    assert!(matches!(e, DataError::SampleCountMismatch { .. }), "{e:?}");
    assert!(msg.contains("\"serving_default_a:0\" 3, \"serving_default_b:0\" 2"), "{msg}");
}
