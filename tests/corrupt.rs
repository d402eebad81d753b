//! Corrupted inputs: the reader must reject them with an error or accept them,
//! never panic; and whatever it accepts must dump, write, read back, and write
//! again to the same bytes.
//!
//! Every `testdata/*.tflite` fixture is corrupted deterministically (truncated,
//! bytes flipped, 32-bit words overwritten with bad offsets) using a small
//! seeded PRNG, so a failure names a case that reproduces on every run. Files in
//! `tests/regressions/` (inputs that once crashed, e.g. found by `fuzz/`) are
//! checked as they are and corrupted the same way.
//!
//! Each file gets about 20 truncations, 200 byte-flip cases and 100 overwritten
//! words; files over 32 KiB get proportionally fewer flips and words (see
//! `FULL_CASES_UP_TO`) to keep a debug run to a few seconds.

use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tflq::ir::Source;
use tflq::tflite::{read, write, WriteOptions};

const TRUNCATIONS: usize = 20;
const FLIPS: usize = 200;
const WORDS: usize = 100;
/// Files larger than this get proportionally fewer flip and word cases (down to
/// a fifth): an accepted case is written twice, which in a debug build costs
/// time in proportion to the file's size, and the large fixtures (the CNN
/// conversions) share one structure and differ mostly in weights.
const FULL_CASES_UP_TO: usize = 32 << 10;

fn scaled(n: usize, len: usize) -> usize {
    (n * FULL_CASES_UP_TO / len.max(1)).clamp(n / 5, n)
}

/// xorshift64*: tiny, deterministic, good enough to pick positions and values.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// FNV-1a, to give each file its own seed.
fn seed_of(name: &str) -> u64 {
    name.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01B3))
}

fn files_in(dir: &Path, ext: Option<&str>) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && ext.map_or(true, |x| p.extension().is_some_and(|e| e == x)))
        .collect();
    files.sort();
    files
}

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = files_in(&root.join("testdata"), Some("tflite"));
    assert!(!files.is_empty(), "no fixtures in testdata/");
    files.iter().map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(p).unwrap())).collect()
}

fn regressions() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    files_in(&root.join("tests/regressions"), None)
        .iter()
        .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .filter(|p| !p.extension().is_some_and(|e| e == "md"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(p).unwrap()))
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Rejected,
    Accepted,
}

/// Reads `bytes`; on success dumps, writes, re-reads and re-writes. `Err` describes a failure.
fn check(bytes: Vec<u8>) -> Result<Outcome, String> {
    let result = catch_unwind(AssertUnwindSafe(move || {
        let len = bytes.len() as u64;
        let Ok(model) = read(Arc::new(Source::Owned(bytes))) else {
            return Ok(Outcome::Rejected);
        };
        let _ = tflq::dump::to_json(&model, Some(len));
        let _ = tflq::dump::to_text(&model, Some(len));
        let opts = WriteOptions::default();
        let written = write(&model, &opts).map_err(|e| format!("accepted model does not write: {e}"))?;
        let again = read(Arc::new(Source::Owned(written.clone())))
            .map_err(|e| format!("written model does not read back: {e}"))?;
        let rewritten = write(&again, &opts).map_err(|e| format!("re-read model does not write: {e}"))?;
        if written != rewritten {
            return Err("read → write → read → write is not a fixed point".to_string());
        }
        Ok(Outcome::Accepted)
    }));
    match result {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(format!("panicked: {msg}"))
        }
    }
}

/// The parts of the file that are not tensor data or custom options: where a
/// corruption hits the flatbuffer's structure rather than weights.
fn structure_ranges(bytes: &[u8]) -> Vec<Range<usize>> {
    let Ok(model) = read(Arc::new(Source::Owned(bytes.to_vec()))) else {
        return std::iter::once(0..bytes.len()).collect();
    };
    let payloads = model
        .buffers
        .iter()
        .map(|b| &b.data)
        .chain(model.subgraphs.iter().flat_map(|s| &s.operators).filter_map(|o| o.custom_options.as_ref()));
    let mut data: Vec<Range<usize>> = payloads.filter_map(|d| d.mapped_range().map(|(_, r)| r)).collect();
    data.sort_by_key(|r| r.start);
    let mut out = Vec::new();
    let mut pos = 0;
    for r in data {
        if r.start > pos {
            out.push(pos..r.start);
        }
        pos = pos.max(r.end);
    }
    if pos < bytes.len() {
        out.push(pos..bytes.len());
    }
    out
}

/// Corruptions of one file, each with a description that identifies it.
struct Mutator<'a> {
    bytes: &'a [u8],
    rng: Rng,
    structure: Vec<Range<usize>>,
    structure_len: usize,
}

impl<'a> Mutator<'a> {
    fn new(name: &str, bytes: &'a [u8], salt: u64) -> Mutator<'a> {
        let structure = structure_ranges(bytes);
        let structure_len = structure.iter().map(|r| r.len()).sum();
        Mutator { bytes, rng: Rng::new(seed_of(name) ^ salt), structure, structure_len }
    }

    /// A position, three times in four inside the structure, else anywhere.
    fn position(&mut self) -> usize {
        if self.structure_len == 0 || self.rng.below(4) == 0 {
            return self.rng.below(self.bytes.len());
        }
        let mut k = self.rng.below(self.structure_len);
        for r in &self.structure {
            if k < r.len() {
                return r.start + k;
            }
            k -= r.len();
        }
        unreachable!()
    }

    fn truncations(&mut self) -> Vec<(String, Vec<u8>)> {
        let n = self.bytes.len();
        let mut cuts: Vec<usize> = vec![0, 1, 4, 7, 8, 9, 12, 16, n.saturating_sub(1), n.saturating_sub(4)];
        while cuts.len() < TRUNCATIONS {
            cuts.push(self.rng.below(n));
        }
        cuts.retain(|&c| c < n);
        cuts.sort_unstable();
        cuts.dedup();
        cuts.into_iter().map(|c| (format!("truncated to {c} bytes"), self.bytes[..c].to_vec())).collect()
    }

    fn flips(&mut self) -> Vec<(String, Vec<u8>)> {
        (0..scaled(FLIPS, self.bytes.len()))
            .map(|_| {
                let mut b = self.bytes.to_vec();
                let mut what = Vec::new();
                for _ in 0..1 + self.rng.below(3) {
                    let at = self.position();
                    let x = 1 + self.rng.below(255) as u8;
                    b[at] ^= x;
                    what.push(format!("byte {at} ^= {x:#04x}"));
                }
                (what.join(", "), b)
            })
            .collect()
    }

    /// Overwrites 4-byte-aligned words (where flatbuffer offsets and lengths
    /// live) with values that make bad offsets, lengths and indices.
    fn words(&mut self) -> Vec<(String, Vec<u8>)> {
        let n = self.bytes.len();
        if n < 4 {
            return Vec::new();
        }
        (0..scaled(WORDS, n))
            .map(|_| {
                let mut b = self.bytes.to_vec();
                let at = (self.position() & !3).min(n - 4);
                let old = u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
                let v = match self.rng.below(10) {
                    0 => 0xFFFF_FFFF,
                    1 => 0x7FFF_FFFF,
                    2 => 0x8000_0000,
                    3 => 0,
                    4 => n as u32,
                    5 => (n as u32).wrapping_sub(at as u32).wrapping_add(self.rng.below(16) as u32),
                    6 => old.wrapping_add(4 * (self.rng.below(8) as u32 + 1)),
                    7 => old.wrapping_sub(4 * (self.rng.below(8) as u32 + 1)),
                    8 => self.rng.below(64) as u32,
                    _ => self.rng.next() as u32,
                };
                b[at..at + 4].copy_from_slice(&v.to_le_bytes());
                (format!("u32 at {at}: {old:#x} -> {v:#x}"), b)
            })
            .collect()
    }
}

#[derive(Default)]
struct Tally {
    cases: usize,
    accepted: usize,
    failures: Vec<String>,
}

impl Tally {
    fn run(&mut self, file: &str, cases: Vec<(String, Vec<u8>)>) {
        for (what, bytes) in cases {
            self.cases += 1;
            match check(bytes) {
                Ok(Outcome::Accepted) => self.accepted += 1,
                Ok(Outcome::Rejected) => {}
                Err(e) => self.failures.push(format!("{file}, {what}: {e}")),
            }
        }
    }

    fn finish(self, kind: &str) {
        eprintln!("{kind}: {} cases, {} accepted, {} failures", self.cases, self.accepted, self.failures.len());
        assert!(self.failures.is_empty(), "{} of {} {kind} cases failed:\n{}", self.failures.len(), self.cases, {
            let mut f = self.failures;
            f.truncate(50);
            f.join("\n")
        });
    }
}

/// Runs `mutate` on every fixture and every regression file.
/// Named corrupted copies of one file.
type Cases = Vec<(String, Vec<u8>)>;

fn corrupt_all(kind: &str, salt: u64, mutate: fn(&mut Mutator) -> Cases) {
    let mut tally = Tally::default();
    for (name, bytes) in fixtures().into_iter().chain(regressions()) {
        let cases = mutate(&mut Mutator::new(&name, &bytes, salt));
        tally.run(&name, cases);
    }
    tally.finish(kind);
}

#[test]
fn fixtures_round_trip_to_a_fixed_point() {
    for (name, bytes) in fixtures() {
        assert_eq!(check(bytes), Ok(Outcome::Accepted), "{name}");
    }
}

#[test]
fn regressions_do_not_panic() {
    let mut tally = Tally::default();
    for (name, bytes) in regressions() {
        tally.run(&name, vec![("as committed".to_string(), bytes)]);
    }
    tally.finish("regression");
}

#[test]
fn truncated_files_do_not_panic() {
    corrupt_all("truncation", 1, |m| m.truncations());
}

#[test]
fn flipped_bytes_do_not_panic() {
    corrupt_all("byte flip", 2, |m| m.flips());
}

#[test]
fn bad_offsets_do_not_panic() {
    corrupt_all("u32 overwrite", 3, |m| m.words());
}

/// A 3.7 KB file whose subgraphs all share one subgraph table, whose tensors all
/// share one tensor, whose shape is a shared 300-int vector: without limits on
/// shared references it unpacks into 90,000 tensors and 100 MB (the same layout
/// at 12 KB took over 3 GB). The verifier's limits now reject it.
#[test]
fn shared_references_do_not_amplify() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions/shared-tables-amplification.tflite");
    let bytes = std::fs::read(path).unwrap();
    let err = read(Arc::new(Source::Owned(bytes))).expect_err("shared references must be rejected");
    assert!(err.to_string().contains("corrupt"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Structured corruption through the CLI, in every mode, under a memory limit.

mod common;

use std::process::{Command, Output};
use tflq::ir::Model;
use tflq::schema::{BuiltinOptionsT, TensorType};
use tflq::tflite::writer::write_unchecked;

/// The address-space limit each tflq run gets: an allocation the budget should have refused
/// fails the run (SIGABRT) instead of taking the machine's memory.
const MEMORY_LIMIT: u64 = 4 << 30;

/// Runs the tflq binary under [`MEMORY_LIMIT`].
fn tflq_limited(args: &[&std::ffi::OsStr]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tflq"));
    cmd.args(args);
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: setrlimit is async-signal-safe; the closure allocates nothing.
        unsafe {
            cmd.pre_exec(|| {
                let lim = libc::rlimit { rlim_cur: MEMORY_LIMIT, rlim_max: MEMORY_LIMIT };
                if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    cmd.output().expect("tflq runs")
}

fn load_fixture(name: &str) -> Model {
    let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(name)).unwrap();
    read(Arc::new(Source::Owned(bytes))).unwrap()
}

/// Structured mutations of `model` (a CNN: CONV_2D first, with weights and bias), each named.
fn structured(model: &Model) -> Vec<(String, Model)> {
    let mut out: Vec<(String, Model)> = Vec::new();
    let sg = &model.subgraphs[0];
    let conv = &sg.operators[0];
    let (input, weights, bias) = (conv.inputs[0] as usize, conv.inputs[1] as usize, conv.inputs[2] as usize);
    let act = conv.outputs[0] as usize;
    let mut add = |what: &str, f: &dyn Fn(&mut Model)| {
        let mut m = model.clone();
        f(&mut m);
        out.push((what.to_string(), m));
    };
    for (what, d) in [("huge", i32::MAX), ("negative", -5), ("zero", 0), ("big", 46341)] {
        add(&format!("input shape {what}"), &|m| m.subgraphs[0].tensors[input].shape.as_mut().unwrap()[1] = d);
        add(&format!("activation shape {what}"), &|m| m.subgraphs[0].tensors[act].shape.as_mut().unwrap()[1] = d);
        add(&format!("weights shape {what}"), &|m| m.subgraphs[0].tensors[weights].shape.as_mut().unwrap()[0] = d);
    }
    add("a million dimensions of 1", &|m| m.subgraphs[0].tensors[act].shape = Some(vec![1; 1 << 20]));
    add("conv input -1", &|m| m.subgraphs[0].operators[0].inputs[0] = -1);
    add("conv weights -1", &|m| m.subgraphs[0].operators[0].inputs[1] = -1);
    add("conv bias -1", &|m| m.subgraphs[0].operators[0].inputs[2] = -1);
    add("conv no outputs", &|m| m.subgraphs[0].operators[0].outputs.clear());
    add("conv no inputs", &|m| m.subgraphs[0].operators[0].inputs.clear());
    add("conv weights = input", &|m| m.subgraphs[0].operators[0].inputs[1] = input as i32);
    add("cycle", &|m| {
        let last = m.subgraphs[0].operators.last().unwrap().outputs[0];
        m.subgraphs[0].operators[0].inputs[0] = last;
    });
    add("weights INT32", &|m| m.subgraphs[0].tensors[weights].dtype = TensorType::INT32);
    add("input UINT8", &|m| m.subgraphs[0].tensors[input].dtype = TensorType::UINT8);
    add("bias FLOAT16", &|m| m.subgraphs[0].tensors[bias].dtype = TensorType::FLOAT16);
    for (what, v) in [("NaN", f32::NAN), ("Inf", f32::INFINITY), ("-Inf", f32::NEG_INFINITY), ("3.4e38", 3.4e38)] {
        for (role, t) in [("weights", weights), ("bias", bias)] {
            add(&format!("{role} hold {what}"), &|m| {
                let b = m.subgraphs[0].tensors[t].buffer as usize;
                let mut bytes = m.buffers[b].data.as_bytes().to_vec();
                bytes[..4].copy_from_slice(&v.to_le_bytes());
                m.buffers[b].data = tflq::ir::Data::from(bytes);
            });
        }
    }
    for (what, s) in [("0", 0), ("40000", 40000), ("-1", -1)] {
        add(&format!("stride {what}"), &|m| {
            if let BuiltinOptionsT::Conv2DOptions(o) = &mut m.subgraphs[0].operators[0].builtin_options {
                o.stride_w = s;
            }
        });
    }
    add("conv options removed", &|m| m.subgraphs[0].operators[0].builtin_options = BuiltinOptionsT::NONE);
    add("opcode version 0", &|m| m.operator_codes[0].version = 0);
    out
}

/// What a run of tflq must show: exit 1 with one short error line, or exit 0 with an output.
fn judge(out: &Output, output: &Path) -> Result<bool, String> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => Ok(true),
        Some(1) => {
            let lines: Vec<&str> =
                stderr.lines().filter(|l| !l.starts_with("warning:") && !l.starts_with("note:")).collect();
            if lines.len() != 1 || !lines[0].starts_with("error:") {
                return Err(format!("exit 1 without one error line: {:?}", common::cap(&stderr)));
            }
            if lines[0].chars().count() >= 300 {
                return Err(format!("error line of {} characters: {}", lines[0].len(), common::cap(lines[0])));
            }
            if output.exists() {
                return Err("an output file was left behind".into());
            }
            Ok(false)
        }
        code => Err(format!("exit {code:?} (signal or panic): {}", common::cap(&stderr))),
    }
}

#[test]
fn structured_corruptions_fail_cleanly_or_give_models_the_runtime_runs() {
    let dir = tempfile::tempdir().unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let calib = data.join("cnn.calib.npy");
    let model = load_fixture("cnn.tflite");
    let mut failures = Vec::new();
    let mut written = Vec::new();
    let modes: &[&[&str]] = &[
        &["convert"],
        &["convert", "--quantize", "dynamic"],
        &["convert", "--quantize", "float16"],
        &["convert", "--quantize", "weight-int8"],
        &["convert", "--quantize", "int8", "--calibration-data"],
        &["convert", "--quantize", "int16x8", "--calibration-data"],
        &["run"],
    ];
    let cases = structured(&model);
    for (ci, (what, m)) in cases.iter().enumerate() {
        let Ok(bytes) = write_unchecked(m, &WriteOptions::default()) else { continue };
        let input = dir.path().join(format!("case{ci}.tflite"));
        std::fs::write(&input, &bytes).unwrap();
        for (mi, mode) in modes.iter().enumerate() {
            let output = dir.path().join(format!("case{ci}.m{mi}.tflite"));
            let mut args: Vec<&std::ffi::OsStr> = mode.iter().map(std::ffi::OsStr::new).collect();
            if mode.last() == Some(&"--calibration-data") {
                args.push(calib.as_os_str());
            }
            if mode[0] == "run" {
                args.extend([input.as_os_str(), std::ffi::OsStr::new("--input"), calib.as_os_str()]);
            } else {
                args.extend([input.as_os_str(), std::ffi::OsStr::new("-o"), output.as_os_str()]);
            }
            let out = tflq_limited(&args);
            let name = format!("{what}, {}", mode.join(" "));
            match judge(&out, &output) {
                Ok(true) if mode[0] != "run" => written.push((ci, name.clone(), output)),
                Ok(_) => {}
                Err(e) => failures.push(format!("{name}: {e}")),
            }
            if std::fs::read(&input).unwrap() != bytes {
                failures.push(format!("{name}: the input changed"));
            }
        }
    }
    // Every model written loads, allocates and runs in the official interpreter. The modes that
    // never run the model (no --quantize, the weight modes) do not infer shapes: a model whose
    // declared shapes disagree (which the runtime refuses as it came in) goes out as it came
    // in. Those are counted, not failed; every other refusal is a failure.
    let runs = |path: &Path| -> Result<(), String> {
        let out = Command::new(common::python())
            .arg(common::root().join("tests/oracle.py"))
            .args(["run", "--out"])
            .arg(dir.path().join("oracle"))
            .arg(path)
            .output()
            .expect("python runs");
        let err = String::from_utf8_lossy(&out.stderr);
        out.status.success().then_some(()).ok_or_else(|| common::cap(err.lines().last().unwrap_or("")))
    };
    let mut passed_through = 0;
    for (ci, name, path) in &written {
        if let Err(e) = runs(path) {
            let input = dir.path().join(format!("case{ci}.tflite"));
            let runs_model = name.contains("int8 --calibration") || name.contains("int16x8");
            if !runs_model && runs(&input).is_err() {
                passed_through += 1;
            } else {
                failures.push(format!("{name}: the official interpreter refuses the output: {e}"));
            }
        }
    }
    eprintln!(
        "{} structured cases, {} outputs checked in the official interpreter, {passed_through} passed through \
         as invalid as they came in",
        cases.len(),
        written.len()
    );
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// Sets the INT32 constant `t` of `model` to `values`.
fn set_i32s(m: &mut Model, t: usize, values: &[i32]) {
    let b = m.subgraphs[0].tensors[t].buffer as usize;
    m.buffers[b].data = tflq::ir::Data::from(values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>());
}

/// A few-KB model asking for a tensor of gigabytes gives an error naming the size, within the
/// memory limit, in the modes that run it (run, int8).
#[test]
fn tiny_models_asking_for_huge_tensors_hit_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x.npy");
    common::write_npy_f32(&x, &[2, 8, 8, 4], &vec![0.5; 2 * 8 * 8 * 4]);
    let mut pad = load_fixture("op_pad.tflite");
    set_i32s(&mut pad, 3, &[0, 0, 0, i32::MAX, 0, 0, 0, 0]);
    let mut pad_wide = load_fixture("op_pad.tflite");
    set_i32s(&mut pad_wide, 3, &[0, 0, 10000, 10000, 10000, 10000, 0, 0]);
    let mut resize = load_fixture("op_resize.tflite");
    set_i32s(&mut resize, 1, &[23000, 23000]);
    // Intermediate shapes left open (-1), so that the reader's static shape check does not
    // judge them and the budget is what stops them when they are computed.
    for m in [&mut pad, &mut pad_wide, &mut resize] {
        let sg = &mut m.subgraphs[0];
        let outs: Vec<usize> = sg.operators.iter().flat_map(|o| o.outputs.iter().map(|&t| t as usize)).collect();
        for t in outs {
            let rank = sg.tensors[t].shape().len();
            sg.tensors[t].shape_signature = Some(vec![-1; rank]);
        }
    }
    for (name, m) in [("pad 2^31-1", pad), ("pad 20000 x 20000", pad_wide), ("resize 23000 x 23000", resize)] {
        let input = dir.path().join("m.tflite");
        std::fs::write(&input, write_unchecked(&m, &WriteOptions::default()).unwrap()).unwrap();
        let output = dir.path().join("o.tflite");
        for args in [
            vec!["run".as_ref(), input.as_os_str(), "--input".as_ref(), x.as_os_str()],
            vec![
                "convert".as_ref(),
                input.as_os_str(),
                "-o".as_ref(),
                output.as_os_str(),
                "--quantize".as_ref(),
                "int8".as_ref(),
                "--calibration-data".as_ref(),
                x.as_os_str(),
            ],
        ] {
            let out = tflq_limited(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            eprintln!("{name}: {}", err.trim());
            assert_eq!(out.status.code(), Some(1), "{name}: {err}");
            assert!(judge(&out, &output).is_ok(), "{name}: {err}");
            assert!(
                err.contains("memory budget") || err.contains("too large") || err.contains("padding"),
                "{name}: {err}"
            );
        }
    }
}

#[test]
fn max_memory_sets_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x.npy");
    common::write_npy_f32(&x, &[1, 8, 8, 4], &[0.5; 256]);
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/op_resize.tflite");
    let args = |mem: &'static str| -> Vec<std::ffi::OsString> {
        vec!["run".into(), model.clone().into(), "--input".into(), x.clone().into(), "--max-memory".into(), mem.into()]
    };
    let small: Vec<std::ffi::OsString> = args("1K");
    let out = tflq_limited(&small.iter().map(|s| s.as_os_str()).collect::<Vec<_>>());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("over the memory budget of 1 KiB"), "{err}");
    // Each tensor fits in 12 KiB, but CONCATENATION's 8 KiB output does not fit beside the
    // two 4 KiB resizes it reads: refused before it is allocated.
    let mut share = args("12K");
    share.extend(["--threads".into(), "1".into()]);
    let out = tflq_limited(&share.iter().map(|s| s.as_os_str()).collect::<Vec<_>>());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "(CONCATENATION): a tensor of shape [1, 16, 16, 8] needs 8 KiB, over the 4 KiB left of one run's share"
        ),
        "{err}"
    );
    let big: Vec<std::ffi::OsString> = args("1G");
    let out = tflq_limited(&big.iter().map(|s| s.as_os_str()).collect::<Vec<_>>());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
