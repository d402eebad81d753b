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
