//! The console summary of `tflq convert` agrees with its JSON report, on every fixture in
//! every weight mode and in int8 where calibration data exists.

mod common;

use common::*;
use std::path::Path;

/// The number written before `what` in `line` ("91 tensors quantized" → 91), if present.
fn count_before(line: &str, what: &str) -> Option<usize> {
    let at = line.find(what)?;
    line[..at].split_whitespace().last()?.parse().ok()
}

/// The sum of the "xN" group counts after `marker` (up to the next "; ").
fn group_sum(line: &str, marker: &str) -> usize {
    let Some(at) = line.find(marker) else { return 0 };
    let rest = &line[at + marker.len()..];
    let rest = rest.split("; ").next().unwrap_or("");
    let rest = if marker.ends_with('(') { rest.split(')').next().unwrap_or("") } else { rest };
    let counts = rest.split_whitespace().filter_map(|w| w.strip_prefix('x'));
    counts.filter_map(|n| n.trim_end_matches([',', ')']).parse::<usize>().ok()).sum()
}

fn check(input: &Path, args: &[&str], dir: &Path, failures: &mut Vec<String>) {
    let out = dir.join("out.tflite");
    let report = dir.join("report.json");
    let mut cmd: Vec<String> = vec!["convert".into(), input.display().to_string(), "-o".into()];
    cmd.push(out.display().to_string());
    cmd.extend(args.iter().map(|s| s.to_string()));
    cmd.extend(["--report".to_string(), report.display().to_string()]);
    let r = tflq(&cmd);
    let stderr = String::from_utf8_lossy(&r.stderr);
    if !r.status.success() {
        return; // refusals are tested elsewhere
    }
    let line = stderr.lines().find(|l| l.starts_with("wrote ")).unwrap_or_default().to_string();
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let len = |k: &str| v[k].as_array().map_or(0, Vec::len);
    let what = format!("{} {}", name(input), args.join(" "));
    if count_before(&line, "tensors quantized") != Some(len("quantized")) {
        failures.push(format!("{what}: quantized count in {line:?} vs report {}", len("quantized")));
    }
    let skipped = count_before(&line, "left float (").unwrap_or(0);
    if skipped != len("skipped") || group_sum(&line, "left float (") != skipped {
        failures.push(format!("{what}: skipped in {line:?} vs report {}", len("skipped")));
    }
    let ops = count_before(&line, "ops left float").or(count_before(&line, "op left float")).unwrap_or(0);
    if ops != len("float_ops") || group_sum(&line, "left float: ") != ops {
        failures.push(format!("{what}: float ops in {line:?} vs report {}", len("float_ops")));
    }
}

#[test]
fn console_summary_agrees_with_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    for f in tflite_fixtures().iter().filter(|p| float_fixture(p) || name(p).starts_with("custom_")) {
        for mode in ["dynamic", "float16", "weight-int8"] {
            check(f, &["--quantize", mode], dir.path(), &mut failures);
            checked += 1;
        }
    }
    // Full-integer runs with float ops left: a custom op in the middle, sequence models with int8 loops.
    let mlp = dir.path().join("mlp.npy");
    write_npy_f32(&mlp, &[8, 64], &(0..8 * 64).map(|i| ((i * 37) % 101) as f32 / 101.0).collect::<Vec<_>>());
    let mlp = mlp.display().to_string();
    let calibrated = [
        ("custom_mid.tflite", mlp.as_str()),
        ("cnn.tflite", "cnn.calib.npy"),
        ("gru.tflite", "seq.calib.npy"),
        ("sparse_fp16.tflite", "sparse_fp16.calib.npy"),
    ];
    for (model, calib) in calibrated {
        let c = if calib.contains('/') { calib.to_string() } else { testdata(calib).display().to_string() };
        for mode in ["int8", "int16x8"] {
            check(&testdata(model), &["--quantize", mode, "--calibration-data", &c], dir.path(), &mut failures);
            checked += 1;
        }
    }
    assert!(checked > 60, "{checked} runs");
    assert!(failures.is_empty(), "{failures:#?}");
}
