//! Shared helpers for the integration tests: fixtures, the `tflq` binary, and
//! the official interpreter via `tests/oracle.py` in the pinned `.venv`.

#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn testdata(name: &str) -> PathBuf {
    root().join("testdata").join(name)
}

/// Every committed `.tflite` fixture, sorted.
/// Fixtures that are float models (the quantized ones and the custom op are not for the
/// float interpreter).
pub fn float_fixture(path: &Path) -> bool {
    let n = name(path);
    !(n.contains(".int8") || n.contains(".int16x8") || n.contains(".dynamic") || n.starts_with("custom_"))
}

pub fn tflite_fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("testdata"))
        .expect("testdata/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tflite"))
        .collect();
    v.sort();
    assert!(v.len() >= 20, "expected the committed fixtures in testdata/, found {}", v.len());
    v
}

/// Fixtures the official interpreter cannot run (they need ops it does not have).
pub fn runnable(path: &Path) -> bool {
    !path.file_name().unwrap().to_string_lossy().starts_with("custom_")
}

pub fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// Runs the tflq binary.
pub fn tflq<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_tflq")).args(args).output().expect("tflq runs")
}

/// Runs tflq and panics with its stderr unless it succeeds.
pub fn tflq_ok<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = tflq(args);
    assert!(out.status.success(), "tflq failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// The pinned venv's python. scripts/test.sh creates it; without it these tests cannot judge anything, so they fail.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("TFLQ_PYTHON") {
        return PathBuf::from(p);
    }
    let p = root().join(".venv/bin/python");
    assert!(p.exists(), "no .venv: run the tests through scripts/test.sh, which installs the pinned ai-edge-litert");
    p
}

/// Runs `tests/oracle.py` with `args` and returns its JSON output.
pub fn oracle<I, S>(args: I) -> Value
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = Command::new(python()).arg(root().join("tests/oracle.py")).args(args).output().expect("python runs");
    assert!(out.status.success(), "oracle failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("oracle prints JSON")
}

/// A minimal .npy reader: (dtype descr, shape, raw little-endian data).
pub fn read_npy(path: &Path) -> (String, Vec<usize>, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{} is not .npy", path.display());
    let (header_len, start) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        (u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize, 12)
    };
    let header = std::str::from_utf8(&bytes[start..start + header_len]).unwrap();
    let descr = header.split("'descr':").nth(1).unwrap().split('\'').nth(1).unwrap().to_string();
    let shape_txt = header.split("'shape':").nth(1).unwrap();
    let shape_txt = &shape_txt[shape_txt.find('(').unwrap() + 1..shape_txt.find(')').unwrap()];
    let shape = shape_txt.split(',').filter(|s| !s.trim().is_empty()).map(|s| s.trim().parse().unwrap()).collect();
    assert!(!header.contains("'fortran_order': True"));
    (descr, shape, bytes[start + header_len..].to_vec())
}

/// Reads a float32 .npy as values.
pub fn read_npy_f32(path: &Path) -> Vec<f32> {
    let (descr, _, data) = read_npy(path);
    assert_eq!(descr, "<f4", "{}", path.display());
    data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

/// Runs tflq with mixed `&str`/path arguments and requires success: `tflq!("convert", input, "-o", out)`.
#[macro_export]
macro_rules! tflq {
    ($($a:expr),* $(,)?) => {
        $crate::common::tflq_ok([$(std::ffi::OsStr::new(&$a)),*])
    };
}

/// Runs tflq with mixed arguments and returns its output whatever the exit code.
#[macro_export]
macro_rules! tflq_any {
    ($($a:expr),* $(,)?) => {
        $crate::common::tflq([$(std::ffi::OsStr::new(&$a)),*])
    };
}

/// Runs the oracle with mixed arguments.
#[macro_export]
macro_rules! oracle {
    ($($a:expr),* $(,)?) => {
        $crate::common::oracle([$(std::ffi::OsStr::new(&$a)),*])
    };
}

/// Writes a float32 .npy with the given shape.
pub fn write_npy_f32(path: &Path, shape: &[usize], data: &[f32]) {
    write_npy(path, "<f4", shape, &data.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>());
}

/// Writes a .npy of raw little-endian data.
pub fn write_npy(path: &Path, descr: &str, shape: &[usize], data: &[u8]) {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_txt = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_txt}, }}").into_bytes();
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(b' ');
    }
    h.push(b'\n');
    let mut f = b"\x93NUMPY\x01\x00".to_vec();
    f.extend_from_slice(&(h.len() as u16).to_le_bytes());
    f.extend_from_slice(&h);
    f.extend_from_slice(data);
    std::fs::write(path, f).unwrap();
}

/// A .npy file as an interpreter value.
pub fn npy_value(path: &Path) -> tflq::interp::Value {
    use tflq::interp::Values;
    let (descr, shape, data) = read_npy(path);
    let values = match descr.as_str() {
        "<f4" => Values::F32(data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()),
        "<i4" => Values::I32(data.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap())).collect()),
        "<i8" => Values::I64(data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect()),
        "|u1" => Values::U8(data.into()),
        "|i1" => Values::I8(data.iter().map(|&b| b as i8).collect()),
        "<i2" => Values::I16(data.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect()),
        "|b1" => Values::Bool(data.iter().map(|&b| b != 0).collect()),
        "<c8" => Values::C64(
            data.chunks_exact(8)
                .map(|c| {
                    [f32::from_le_bytes(c[..4].try_into().unwrap()), f32::from_le_bytes(c[4..].try_into().unwrap())]
                })
                .collect(),
        ),
        other => panic!("{}: unsupported npy dtype {other}", path.display()),
    };
    tflq::interp::Value { shape, values }
}

pub fn as_f32(v: &tflq::interp::Value) -> Vec<f32> {
    use tflq::interp::Values;
    match &v.values {
        Values::F32(x) => x.to_vec(),
        Values::I32(x) => x.iter().map(|&a| a as f32).collect(),
        Values::I64(x) => x.iter().map(|&a| a as f32).collect(),
        Values::U8(x) => x.iter().map(|&a| f32::from(a)).collect(),
        Values::I8(x) => x.iter().map(|&a| f32::from(a)).collect(),
        Values::I16(x) => x.iter().map(|&a| f32::from(a)).collect(),
        Values::Bool(x) => x.iter().map(|&a| f32::from(u8::from(a))).collect(),
        // Complex values as (real, imaginary) pairs, as numpy's view(float32) reads them.
        Values::C64(x) => x.iter().flat_map(|c| *c).collect(),
    }
}

/// max|a-b| / max(max|b|, 1e-6).
pub fn rel_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let num = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    let den = b.iter().map(|y| y.abs()).fold(0f32, f32::max).max(1e-6);
    num / den
}

/// SQNR in dB of `got` against `want`.
pub fn sqnr_db(want: &[f32], got: &[f32]) -> f64 {
    let s: f64 = want.iter().map(|&x| f64::from(x).powi(2)).sum();
    let n: f64 = want.iter().zip(got).map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2)).sum();
    if n == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (s / n).log10()
    }
}

/// One oracle input directory per held-out sample of `x` (float, first axis = samples).
pub fn samples(x: &Path, dir: &Path) -> Vec<PathBuf> {
    let (descr, shape, data) = read_npy(x);
    assert_eq!(descr, "<f4");
    let per: usize = shape[1..].iter().product();
    let mut one = vec![1];
    one.extend_from_slice(&shape[1..]);
    (0..shape[0])
        .map(|i| {
            let d = dir.join(format!("sample-{i}"));
            std::fs::create_dir_all(&d).unwrap();
            write_npy(&d.join("input_0.npy"), "<f4", &one, &data[i * per * 4..(i + 1) * per * 4]);
            d
        })
        .collect()
}

/// The SQNR of each of `models` against `float` in LiteRT's built-in kernels over `inputs`.
pub fn sqnrs(float: &Path, models: &[&Path], inputs: &[PathBuf], dir: &Path) -> Vec<f64> {
    let mut want = Vec::new();
    let mut got = vec![Vec::new(); models.len()];
    for (i, input) in inputs.iter().enumerate() {
        let out = dir.join(format!("run-{i}"));
        let mut args: Vec<std::ffi::OsString> = vec!["run".into(), "--resolver".into(), "builtin".into()];
        args.extend(["--out".into(), out.clone().into(), "--inputs".into(), input.into(), float.into()]);
        args.extend(models.iter().map(|m| m.into()));
        oracle(&args);
        want.extend(read_npy_f32(&out.join("m0/output_0.f32.npy")));
        for (k, g) in got.iter_mut().enumerate() {
            g.extend(read_npy_f32(&out.join(format!("m{}/output_0.f32.npy", k + 1))));
        }
    }
    got.iter().map(|g| sqnr_db(&want, g)).collect()
}

/// `s` cut to 400 characters, for test messages.
pub fn cap(s: &str) -> String {
    s.chars().take(400).collect()
}

/// A GraphDef node with `attrs`.
pub fn node(
    name: &str,
    op: &str,
    inputs: &[&str],
    attrs: Vec<(&str, tflq::graphdef::proto::attr_value::Value)>,
) -> tflq::graphdef::proto::NodeDef {
    tflq::graphdef::proto::NodeDef {
        name: name.into(),
        op: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        device: String::new(),
        attr: attrs
            .into_iter()
            .map(|(k, v)| (k.to_string(), tflq::graphdef::proto::AttrValue { value: Some(v) }))
            .collect(),
    }
}

/// Deterministic xorshift for the fuzz-style tests.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
