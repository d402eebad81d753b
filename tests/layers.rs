//! The library's modules form layers (README, "Layers"): each may use only the modules below
//! it. This reads every `crate::…` path in `src/` and fails on an edge outside that table.
//! Unit tests (`tests.rs` files and trailing `#[cfg(test)] mod tests` blocks) may use anything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module → the modules it may use. `schema` is generated and uses nothing.
const ALLOWED: &[(&str, &[&str])] = &[
    ("schema", &[]),
    ("flexbuffer", &[]),
    ("ir", &["schema"]),
    ("tflite", &["ops", "ir", "schema"]),
    ("kernels", &["ir"]),
    ("ops", &["kernels", "ir", "schema", "flexbuffer"]),
    ("interp", &["ops", "ir", "schema"]),
    ("calibrate", &["interp", "ir", "schema"]),
    ("quantize", &["ops", "ir", "tflite", "schema"]),
    ("graphdef", &["ops", "ir", "tflite", "schema"]),
    ("savedmodel", &["graphdef", "ops", "ir", "tflite", "schema"]),
    ("dump", &["ir", "tflite", "schema", "flexbuffer"]),
    (
        "pipeline",
        &[
            "calibrate",
            "quantize",
            "graphdef",
            "savedmodel",
            "dump",
            "interp",
            "ops",
            "ir",
            "tflite",
            "schema",
            "flexbuffer",
        ],
    ),
];

/// Names the crate root re-exports, with the module they come from.
const ROOT_REEXPORTS: &[(&str, &str)] = &[
    ("load", "tflite"),
    ("save", "tflite"),
    ("ReadError", "tflite"),
    ("WriteError", "tflite"),
    ("WriteOptions", "tflite"),
    ("Model", "ir"),
    ("map_values", "ir"),
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every module named right after `crate::` in `code` (also inside `crate::{a, b::c}`).
fn crate_edges(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue; // `$crate::` in macros, or part of a longer name
        }
        if let Some(group) = rest.strip_prefix('{') {
            // The first name of each top-level item of the group.
            let (mut depth, mut at_item) = (0usize, true);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => at_item = true,
                    c if at_item && (c.is_alphanumeric() || c == '_') => {
                        let name: String =
                            group[i..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                        found.insert(name);
                        at_item = false;
                    }
                    _ => {}
                }
            }
            continue;
        }
        let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        found.insert(name);
    }
    found
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut bad = Vec::new();
    let mut edges = 0;
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
        let module = first.trim_end_matches(".rs").to_string();
        // The crate root and the CLI (main.rs and its own modules) sit on top; unit tests may
        // use anything.
        if matches!(module.as_str(), "lib" | "main" | "progress") || f.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let Some(ok) = allowed.get(module.as_str()) else {
            bad.push(format!("{}: module {module} is not in the layer table", rel.display()));
            continue;
        };
        let text = std::fs::read_to_string(f).unwrap();
        let text = text.split("#[cfg(test)]\nmod tests {").next().unwrap_or("");
        let code: String = text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
        for name in crate_edges(&code) {
            let target = ROOT_REEXPORTS.iter().find(|r| r.0 == name).map_or(name.as_str(), |r| r.1);
            edges += 1;
            if target != module && !ok.contains(&target) {
                bad.push(format!("{}: {module} uses crate::{name} ({target})", rel.display()));
            }
        }
    }
    assert!(edges > 50, "only {edges} edges found: is the scan broken?");
    assert!(bad.is_empty(), "imports outside the layer table:\n{}", bad.join("\n"));
}

#[test]
fn the_scan_sees_grouped_and_inline_paths() {
    let e = crate_edges("use crate::{ir::{A, B}, ops};\nlet x = crate::kernels::gemm(); $crate::ir::Values");
    assert_eq!(e.into_iter().collect::<Vec<_>>(), ["ir", "kernels", "ops"]);
}
