//! Replays the whole-path fuzz targets' checks (`tflq::pipeline::fuzz`) on their seeds (the
//! committed fixtures) and on every input a fuzz run found (`tests/regressions/fuzz/TARGET/`,
//! where `scripts/fuzz.sh` copies crashes): no panic, and every output passes the gate and
//! round-trips.

use std::path::{Path, PathBuf};

fn files(dir: &Path, ext: &[&str]) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut v: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| ext.is_empty() || p.extension().is_some_and(|e| ext.iter().any(|x| e == *x)))
        .collect();
    v.sort();
    v
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn replay(target: &str, seeds: Vec<PathBuf>, check: fn(&[u8])) {
    let found = files(&root().join("tests/regressions/fuzz").join(target), &[]);
    assert!(!seeds.is_empty(), "{target}: no seeds found");
    for p in seeds.iter().chain(&found) {
        let bytes = std::fs::read(p).unwrap();
        let r = std::panic::catch_unwind(|| check(&bytes));
        assert!(r.is_ok(), "{target}: {} fails its check", p.display());
    }
}

#[test]
fn modes_seeds_and_findings() {
    let mut seeds = files(&root().join("testdata"), &["tflite"]);
    seeds.retain(|p| std::fs::metadata(p).is_ok_and(|m| m.len() < 200_000));
    replay("modes", seeds, tflq::pipeline::fuzz::tflite_every_mode);
}

#[test]
fn graphdef_seeds_and_findings() {
    let mut seeds = files(&root().join("testdata"), &["pb"]);
    seeds.extend(files(&root().join("testdata/tf2ops"), &["pb"]));
    seeds.extend(files(&root().join("testdata/control"), &["pb"]));
    replay("graphdef", seeds, tflq::pipeline::fuzz::graphdef_import);
}

#[test]
fn data_seeds_and_findings() {
    let mut seeds = files(&root().join("testdata"), &["npy", "npz"]);
    seeds.extend(files(&root().join("testdata/savedmodel"), &["npz"]));
    replay("data", seeds, tflq::pipeline::fuzz::calibration_data);
}
