//! The everyday workflow: image folders as users have them (class subfolders, sampling,
//! skipped files, channel conversion, memory budget), normalisation flags and their errors,
//! `.npz` size checks, single-sample `.npy`, and progress output without a terminal.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use tflq::calibrate::data::{
    load_samples, open_samples, DataError, ImageOptions, InputRange, InputSpec, SampleType, SampleValues,
};

fn cnn_input() -> Vec<InputSpec> {
    vec![InputSpec::fixed("serving_default_image:0", &[1, 32, 32, 3], SampleType::F32)]
}

/// A small deterministic generator for the test images.
struct Lcg(u64);
impl Lcg {
    fn byte(&mut self) -> u8 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 56) as u8
    }
}

/// `classes` subfolders of `per_class` images each (PNG and JPEG alternating, seeded pixels).
fn image_tree(root: &Path, classes: &[&str], per_class: usize, seed: u64) {
    let mut rng = Lcg(seed);
    for class in classes {
        let dir = root.join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..per_class {
            let img = image::RgbImage::from_fn(40, 36, |_, _| image::Rgb([rng.byte(), rng.byte(), rng.byte()]));
            let ext = if i % 2 == 0 { "png" } else { "jpg" };
            let stem = Path::new(class).file_name().map_or("root".into(), |n| n.to_string_lossy().into_owned());
            img.save(dir.join(format!("{stem}_{i:03}.{ext}"))).unwrap();
        }
    }
}

fn chosen(paths: &[PathBuf], max: Option<usize>, opts: &ImageOptions) -> (Vec<PathBuf>, String) {
    let set = open_samples(paths, &cnn_input(), max, opts).unwrap();
    let files = (0..set.len()).map(|i| set.image(i).unwrap().to_path_buf()).collect();
    (files, set.notes().join("\n"))
}

trait F32s {
    fn f32s(&self) -> &[f32];
}
impl F32s for SampleValues {
    fn f32s(&self) -> &[f32] {
        match self {
            SampleValues::F32(v) => v,
            other => panic!("not float32: {other:?}"),
        }
    }
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn stratified_sample_takes_ten_per_class_the_same_every_run() {
    let dir = tempfile::tempdir().unwrap();
    // Sorted by name, the first 30 would all be "ant".
    image_tree(dir.path(), &["ant", "bee", "cat"], 40, 7);
    let root = vec![dir.path().to_path_buf()];
    let (files, note) = chosen(&root, Some(30), &ImageOptions::default());
    assert_eq!(files.len(), 30);
    for class in ["ant", "bee", "cat"] {
        let n = files.iter().filter(|f| f.parent().unwrap().ends_with(class)).count();
        assert_eq!(n, 10, "{class}: {files:?}");
    }
    // Not simply the first ten of each.
    assert!(files
        .iter()
        .any(|f| *f.file_name().unwrap().to_string_lossy() > *"ant_009.jpg" && f.starts_with(dir.path().join("ant"))));
    assert!(
        note.contains("using 30 of 120 images, from 3 folders (ant 10/40, bee 10/40, cat 10/40), sampled with seed 0"),
        "{note}"
    );
    // The same ones every run; another seed, others.
    assert_eq!(chosen(&root, Some(30), &ImageOptions::default()).0, files);
    let other = chosen(&root, Some(30), &ImageOptions { seed: 1, ..Default::default() }).0;
    assert_ne!(other, files);
    assert_eq!(other.len(), 30);

    // And through the CLI: the printed line, and the model, are the same on every run.
    let out1 = dir.path().join("a.tflite");
    let out2 = dir.path().join("b.tflite");
    let run = |out: &Path| {
        let o = tflq!(
            "convert",
            testdata("cnn.tflite"),
            "-o",
            out,
            "--quantize",
            "int8",
            "--calibration-data",
            dir.path(),
            "--calibration-samples",
            "30"
        );
        stderr(&o).lines().find(|l| l.starts_with("note: ")).unwrap().to_string()
    };
    let (l1, l2) = (run(&out1), run(&out2));
    assert_eq!(l1, l2);
    assert!(l1.contains("(ant 10/40, bee 10/40, cat 10/40)"), "{l1}");
    assert_eq!(std::fs::read(&out1).unwrap(), std::fs::read(&out2).unwrap());
}

#[test]
fn folders_are_searched_recursively_and_all_taken_without_a_cap() {
    let dir = tempfile::tempdir().unwrap();
    image_tree(&dir.path().join("train"), &["a", "b/deep"], 3, 1);
    image_tree(dir.path(), &["."], 2, 2);
    // Hidden files (macOS "._x.jpg" resource forks) and non-images are not looked at.
    std::fs::write(dir.path().join("train/a/._a_000.png"), b"resource fork").unwrap();
    std::fs::write(dir.path().join("train/a/labels.txt"), b"a").unwrap();
    let (files, note) = chosen(&[dir.path().to_path_buf()], None, &ImageOptions::default());
    assert_eq!(files.len(), 8, "{files:?}");
    assert!(note.contains("using 8 of 8 images, from 3 folders (. 2/2, train/a 3/3, train/b/deep 3/3)"), "{note}");
    assert!(!note.contains("seed"), "{note}");
}

#[test]
fn unusable_images_are_skipped_and_named() {
    let dir = tempfile::tempdir().unwrap();
    image_tree(dir.path(), &["x"], 2, 3);
    let x = dir.path().join("x");
    std::fs::write(x.join("broken.png"), b"\x89PNG\r\n\x1a\n truncated").unwrap();
    std::fs::write(x.join("text.jpg"), b"not an image").unwrap();
    image::GrayImage::from_pixel(8, 8, image::Luma([100])).save(x.join("gray.png")).unwrap();
    image::RgbaImage::from_pixel(8, 8, image::Rgba([10, 20, 30, 0])).save(x.join("rgba.png")).unwrap();
    let set = open_samples(&[dir.path().to_path_buf()], &cnn_input(), None, &ImageOptions::default()).unwrap();
    // The two generated images, the gray one (replicated) and the RGBA one (alpha dropped).
    assert_eq!(set.len(), 4);
    let note = &set.notes()[0];
    assert!(note.contains("using 4 of 6 images"), "{note}");
    assert!(note.contains("; 1 grayscale converted to 3 channels"), "{note}");
    assert!(note.contains("; skipped 2: 2 not a decodable PNG/JPEG ("), "{note}");
    assert!(note.contains("broken.png") && note.contains("text.jpg"), "{note}");
    let rgba = (0..set.len()).find(|&i| set.image(i).unwrap().ends_with("rgba.png")).unwrap();
    let v = set.get(rgba).unwrap().inputs.remove(0).1;
    let v = v.f32s();
    assert_eq!(&v[..3], &[10.0 / 255.0, 20.0 / 255.0, 30.0 / 255.0]);

    // Nothing usable: one error line saying why.
    let none = tempfile::tempdir().unwrap();
    std::fs::write(none.path().join("empty.png"), b"").unwrap();
    let e = open_samples(&[none.path().to_path_buf()], &cnn_input(), None, &ImageOptions::default()).unwrap_err();
    assert!(matches!(e, DataError::NoUsableImages { .. }), "{e:?}");
    assert!(e.to_string().contains("skipped 1: 1 not a decodable PNG/JPEG ("), "{e}");
}

#[test]
fn channel_conversion_follows_the_input() {
    let dir = tempfile::tempdir().unwrap();
    image::GrayImage::from_pixel(4, 4, image::Luma([51])).save(dir.path().join("g.png")).unwrap();
    image::RgbImage::from_pixel(4, 4, image::Rgb([255, 0, 0])).save(dir.path().join("r.png")).unwrap();
    image::RgbaImage::from_pixel(4, 4, image::Rgba([0, 0, 255, 128])).save(dir.path().join("t.png")).unwrap();
    let paths = [dir.path().to_path_buf()];
    let gray = [InputSpec::fixed("x", &[1, 4, 4, 1], SampleType::F32)];
    let s = load_samples(&paths, &gray, None, &ImageOptions::default()).unwrap();
    let first: Vec<f32> = s.iter().map(|s| s.inputs[0].1.f32s()[0]).collect();
    // Gray as it is; red and blue with PIL's convert("L") weights.
    assert_eq!(first, vec![51.0 / 255.0, 76.0 / 255.0, 29.0 / 255.0]);
    let rgba = [InputSpec::fixed("x", &[1, 4, 4, 4], SampleType::F32)];
    let s =
        load_samples(&paths[..], &rgba, None, &ImageOptions { range: Some(InputRange::Byte), ..Default::default() });
    // Gray is replicated; RGB gets an opaque alpha.
    let s = s.unwrap();
    assert_eq!(s.len(), 3);
    assert_eq!(&s[0].inputs[0].1.f32s()[..4], &[51.0, 51.0, 51.0, 255.0]);
    assert_eq!(&s[1].inputs[0].1.f32s()[..4], &[255.0, 0.0, 0.0, 255.0]);
    assert_eq!(&s[2].inputs[0].1.f32s()[..4], &[0.0, 0.0, 255.0, 128.0]);
    let set = open_samples(&paths, &gray, None, &ImageOptions::default()).unwrap();
    assert!(set.notes()[0].ends_with("; 2 color converted to grayscale"), "{:?}", set.notes());
}

#[test]
fn input_ranges_scale_before_mean_and_std() {
    let dir = tempfile::tempdir().unwrap();
    image::RgbImage::from_pixel(32, 32, image::Rgb([0, 51, 255])).save(dir.path().join("p.png")).unwrap();
    let paths = [dir.path().to_path_buf()];
    let first = |opts: ImageOptions| {
        load_samples(&paths, &cnn_input(), None, &opts).unwrap()[0].inputs[0].1.f32s()[..3].to_vec()
    };
    assert_eq!(first(ImageOptions::default()), vec![0.0, 0.2, 1.0]);
    assert_eq!(first(ImageOptions { range: Some(InputRange::Signed), ..Default::default() }), vec![-1.0, -0.6, 1.0]);
    assert_eq!(first(ImageOptions { range: Some(InputRange::Byte), ..Default::default() }), vec![0.0, 51.0, 255.0]);
    // (x - 127.5) / 127.5, as TF code writes it.
    let tf = first(ImageOptions {
        range: Some(InputRange::Byte),
        mean: Some(vec![127.5]),
        std: Some(vec![127.5]),
        ..Default::default()
    });
    assert_eq!(tf, vec![-1.0, (51.0 - 127.5) / 127.5, 1.0]);
}

/// Runs convert with an image folder and extra flags and returns its one error line.
fn convert_error(data: &Path, flags: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.tflite");
    let mut args: Vec<std::ffi::OsString> = vec![
        "convert".into(),
        testdata("cnn.tflite").into(),
        "-o".into(),
        out.clone().into(),
        "--quantize".into(),
        "int8".into(),
        "--calibration-data".into(),
        data.into(),
    ];
    args.extend(flags.iter().map(|f| f.into()));
    let o = tflq(&args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{flags:?}: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{flags:?}: {err}");
    assert!(lines[0].starts_with("error: ") && lines[0].len() < 300, "{flags:?}: {err}");
    assert!(!out.exists());
    lines[0].to_string()
}

#[test]
fn every_normalisation_mistake_is_one_error_line() {
    let images = testdata("images");
    let cases: &[(&[&str], &str)] = &[
        (&["--mean", "127.5"], "--mean 127.5 is outside --input-range 0,1 (--mean/--std are in the units of --input-range); it looks like 0,255 units: use --input-range 0,255"),
        (&["--mean", "0.5", "--input-range", "0,255", "--std", "0.5"], "--std 0.5 does not fit --input-range 0,255: smaller than one 8-bit step (1), so values would reach ±510"),
        (&["--std", "58.395"], "--std 58.395 does not fit --input-range 0,1: larger than the range is wide (1)"),
        (&["--mean", "-0.5"], "--mean -0.5 is outside --input-range 0,1"),
        (&["--mean", "nan"], "--mean NaN is not a finite number"),
        (&["--std", "inf"], "--std inf is not a finite number"),
        (&["--std", "0"], "--std 0 must be positive"),
        (&["--std", "-0.5"], "--std -0.5 must be positive"),
        (&["--mean", "0.5,0.5"], "--mean needs 1 or 3 values (one per channel), got 2"),
        (&["--std", "0.2,0.2,0.2,0.2"], "--std needs 1 or 3 values (one per channel), got 4"),
        (&["--input-range=-1,1", "--mean", "2"], "--mean 2 is outside --input-range -1,1"),
    ];
    for (flags, want) in cases {
        let line = convert_error(&images, flags);
        assert!(line.contains(want), "{flags:?}: {line}");
    }
    // With arrays, the flags are refused: the data is used as it is.
    for (data, flags) in [
        (testdata("cnn.calib.npy"), &["--mean", "0.5"][..]),
        (testdata("cnn.calib.npy"), &["--input-range", "0,255"][..]),
        (testdata("cnn.calib.npy"), &["--mean", "0.5", "--std", "0.5"][..]),
    ] {
        let line = convert_error(&data, flags);
        assert!(line.contains("to image folders only; .npy/.npz data is used as it is"), "{flags:?}: {line}");
    }
    let line = convert_error(&testdata("cnn.calib.npy"), &["--mean", "0.5", "--std", "0.5"]);
    assert!(line.contains("--mean/--std apply to image folders only"), "{line}");
    // An unknown range is a usage error (exit 2), as clap reports it.
    let o = tflq_any!(
        "convert",
        testdata("cnn.tflite"),
        "-o",
        "/nonexistent/o.tflite",
        "--quantize",
        "int8",
        "--calibration-data",
        images,
        "--input-range",
        "0,2"
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("use 0,1, -1,1 or 0,255"), "{}", stderr(&o));
}

#[test]
fn run_and_compare_take_the_same_flags() {
    let dir = tempfile::tempdir().unwrap();
    let o = tflq!(
        "run",
        testdata("cnn.tflite"),
        "--input",
        testdata("images"),
        "--input-range",
        "-1,1",
        "--mean",
        "0",
        "--json"
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("\"samples\""));
    let o = tflq_any!("run", testdata("cnn.tflite"), "--input", testdata("cnn.calib.npy"), "--std", "0.5");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("input data testdata") || stderr(&o).contains("--std applies to image folders only"),
        "{}",
        stderr(&o)
    );
    let o = tflq_any!(
        "compare",
        testdata("cnn.tflite"),
        testdata("cnn.int8.tflite"),
        "--data",
        testdata("images"),
        "--mean",
        "127.5"
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--mean 127.5 is outside --input-range 0,1"), "{}", stderr(&o));
    let o = tflq!(
        "compare",
        testdata("cnn.tflite"),
        testdata("cnn.int8.tflite"),
        "--data",
        testdata("images"),
        "--input-range",
        "0,255",
        "--mean",
        "127.5",
        "--std",
        "127.5",
        "--json"
    );
    assert!(o.status.success());
    drop(dir);
}

#[test]
fn memory_budget_is_checked_before_decoding() {
    // [1,46341,46341,3] float32 is 24 GiB per image: refused before anything is read.
    let huge = [InputSpec::fixed("x", &[1, 46341, 46341, 3], SampleType::F32)];
    let two_gib = ImageOptions { max_bytes: 2 << 30, ..ImageOptions::default() };
    let e = open_samples(&[testdata("images")], &huge, None, &two_gib).unwrap_err();
    assert!(matches!(e, DataError::OverBudget { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("input \"x\" [1,46341,46341,3] needs 24.0 GiB per decoded image"), "{msg}");
    assert!(msg.contains("over the 2.0 GiB memory budget"), "{msg}");
    // An open size takes each image's own; an image too large to decode is skipped.
    let dir = tempfile::tempdir().unwrap();
    image::RgbImage::from_pixel(600, 600, image::Rgb([1, 2, 3])).save(dir.path().join("big.png")).unwrap();
    image::RgbImage::from_pixel(6, 6, image::Rgb([1, 2, 3])).save(dir.path().join("small.png")).unwrap();
    let open =
        [InputSpec { name: "x".into(), shape: vec![Some(1), None, None, Some(3)], dtype: SampleType::F32, raw: None }];
    let opts = ImageOptions { max_bytes: 1 << 20, ..Default::default() };
    let set = open_samples(&[dir.path().to_path_buf()], &open, None, &opts).unwrap();
    assert_eq!(set.len(), 1);
    assert!(set.notes()[0].contains("too large to decode within the memory budget"), "{}", set.notes()[0]);
}

/// A `.npz` of one deflated member `x.npy` holding `npy`.
fn npz(path: &Path, npy: &[u8]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("x.npy", opts).unwrap();
    std::io::Write::write_all(&mut zip, npy).unwrap();
    zip.finish().unwrap();
}

fn npy_bytes(shape: &str, body: &[u8]) -> Vec<u8> {
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(body);
    bytes
}

/// Sets the uncompressed size of every entry in both its local and central headers.
fn patch_declared_size(bytes: &mut [u8], size: u32) {
    for i in 0..bytes.len().saturating_sub(4) {
        if bytes[i..].starts_with(b"PK\x03\x04") {
            bytes[i + 22..i + 26].copy_from_slice(&size.to_le_bytes());
        } else if bytes[i..].starts_with(b"PK\x01\x02") {
            bytes[i + 24..i + 28].copy_from_slice(&size.to_le_bytes());
        }
    }
}

#[test]
fn npz_sizes_are_checked_before_inflating() {
    let dir = tempfile::tempdir().unwrap();
    let x = [InputSpec::fixed("x", &[1, 4], SampleType::F32)];
    // 1 MiB of zeros inflates from a few KB: over a 64 KiB budget, refused from the header.
    let path = dir.path().join("bomb.npz");
    npz(&path, &npy_bytes("(65536, 4)", &vec![0; 65536 * 16]));
    assert!(std::fs::metadata(&path).unwrap().len() < 8192);
    let opts = ImageOptions { max_bytes: 64 << 10, ..Default::default() };
    let e = open_samples(std::slice::from_ref(&path), &x, None, &opts).unwrap_err();
    assert!(matches!(e, DataError::OverBudget { .. }), "{e:?}");
    assert!(
        e.to_string().ends_with("bomb.npz (array \"x\") needs 1 MiB inflated, over the 64 KiB memory budget"),
        "{e}"
    );
    // Within the default budget it loads.
    assert_eq!(open_samples(std::slice::from_ref(&path), &x, None, &ImageOptions::default()).unwrap().len(), 65536);

    // A zip header that lies about the size: it disagrees with the .npy header.
    let mut bytes = std::fs::read(&path).unwrap();
    patch_declared_size(&mut bytes, 1000);
    let liar = dir.path().join("liar.npz");
    std::fs::write(&liar, &bytes).unwrap();
    let e = open_samples(std::slice::from_ref(&liar), &x, None, &ImageOptions::default()).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("the zip header declares 1000 bytes but the .npy header's shape [65536,4] float32 needs 10487"),
        "{msg}"
    );

    // Both headers agree, but the member inflates past them.
    let path = dir.path().join("long.npz");
    npz(&path, &npy_bytes("(2, 4)", &vec![0; 32 + 4096]));
    let mut bytes = std::fs::read(&path).unwrap();
    let honest = npy_bytes("(2, 4)", &[0; 32]).len();
    patch_declared_size(&mut bytes, honest as u32);
    std::fs::write(&path, &bytes).unwrap();
    let e = open_samples(std::slice::from_ref(&path), &x, None, &ImageOptions::default()).unwrap_err();
    assert!(e.to_string().contains(&format!("inflates past the {honest} bytes its zip header declares")), "{e}");
    // Through the CLI: one line.
    let line = convert_error(&path, &[]);
    assert!(line.contains("long.npz"), "{line}");
}

#[test]
fn a_npy_of_one_sample_without_sample_axis_is_one_sample() {
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one.npy");
    let values: Vec<f32> = (0..32 * 32 * 3).map(|i| (i % 7) as f32 / 7.0).collect();
    write_npy_f32(&one, &[32, 32, 3], &values);
    let set = open_samples(std::slice::from_ref(&one), &cnn_input(), None, &ImageOptions::default()).unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!(set.shapes(), vec![vec![vec![1, 32, 32, 3]]]);
    assert_eq!(set.get(0).unwrap().inputs[0].1.f32s(), &values[..]);
    assert!(set.notes()[0].contains("one.npy has the shape of one sample of input \"serving_default_image:0\" ([32,32,3], no sample axis): taken as one sample"), "{:?}", set.notes());
    let out = dir.path().join("o.tflite");
    let o = tflq!("convert", testdata("cnn.tflite"), "-o", out, "--quantize", "int8", "--calibration-data", one);
    assert!(stderr(&o).contains("taken as one sample"), "{}", stderr(&o));
    // A file with a sample axis is read as before.
    let two = dir.path().join("two.npy");
    write_npy_f32(&two, &[2, 32, 32, 3], &[values.clone(), values].concat());
    let set = open_samples(std::slice::from_ref(&two), &cnn_input(), None, &ImageOptions::default()).unwrap();
    assert_eq!(set.len(), 2);
    assert!(set.notes().is_empty());
}

#[test]
fn progress_lines_at_the_interval_without_a_terminal_and_none_when_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("many.npy");
    let n = 40;
    let values: Vec<f32> = (0..n * 32 * 32 * 3).map(|i| (i % 251) as f32 / 251.0).collect();
    write_npy_f32(&data, &[n, 32, 32, 3], &values);
    let out = dir.path().join("o.tflite");
    let run = |extra: &[&str], interval: &str| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tflq"));
        cmd.args(["convert".as_ref(), testdata("cnn.tflite").as_os_str(), "-o".as_ref(), out.as_os_str()]);
        cmd.args(["--quantize", "int8", "--calibration-data"]).arg(&data).args(extra);
        cmd.env("TFLQ_PROGRESS_INTERVAL_MS", interval);
        let start = std::time::Instant::now();
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        (stderr(&o), start.elapsed())
    };
    let (err, elapsed) = run(&["--verbose"], "20");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("calibrating: ")).collect();
    assert!(!lines.is_empty(), "{err}");
    // No more lines than intervals, each a full line (no carriage returns off a terminal).
    assert!(lines.len() as u128 <= elapsed.as_millis() / 20 + 1, "{} lines in {elapsed:?}", lines.len());
    assert!(!err.contains('\r'), "{err:?}");
    for l in &lines {
        assert!(l.contains(&format!("/{n} samples, ")) && l.contains(" samples/s, ETA "), "{l}");
    }
    let stages = err.lines().find(|l| l.starts_with("stages: ")).expect("--verbose prints stage times");
    for stage in ["read ", "data ", "fold ", "calibrate ", "quantize ", "write "] {
        assert!(stages.contains(stage), "{stages}");
    }
    // The default interval is seconds: a short run prints none.
    let (err, _) = run(&[], "5000");
    assert!(!err.contains("calibrating"), "{err}");
    assert!(err.starts_with("wrote "), "{err}");
    // --quiet: nothing at all.
    let (err, _) = run(&["--quiet"], "1");
    assert_eq!(err, "");
}

#[test]
fn a_huge_image_input_is_one_error_line_not_an_abort() {
    // Issue 17: an image-folder calibration for a huge input ([1,46341,46341,3] in the issue; the
    // reader now refuses tensors over 2^31 elements, so the largest shape it takes).
    let dir = tempfile::tempdir().unwrap();
    let mut model = tflq::load(&testdata("cnn.tflite")).unwrap();
    let sg = &mut model.subgraphs[0];
    let input = sg.inputs[0] as usize;
    // Open height and width, given at calibration time: a model that declares such a shape is
    // refused by the reader's shape check before any image is decoded.
    sg.tensors[input].shape = Some(vec![1, 1, 1, 3]);
    sg.tensors[input].shape_signature = Some(vec![1, -1, -1, 3]);
    let huge = dir.path().join("huge.tflite");
    std::fs::write(&huge, tflq::tflite::write(&model, &Default::default()).unwrap()).unwrap();
    let out = dir.path().join("o.tflite");
    let o = tflq_any!(
        "convert",
        huge,
        "-o",
        out,
        "--quantize",
        "int8",
        "--calibration-data",
        testdata("images"),
        "--input-shapes",
        "1,26754,26754,3"
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("[1,26754,26754,3] needs 8.0 GiB per decoded image"), "{err}");
    assert!(!out.exists());
}
