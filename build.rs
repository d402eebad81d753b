//! Generates the TFLite bindings from `schema/tflite.fbs` with our own schema
//! compiler (`crates/fbsgen`), so a build needs nothing but cargo.

use std::{env, fs, path::PathBuf};

fn main() {
    let schema = "schema/tflite.fbs";
    println!("cargo:rerun-if-changed={schema}");
    let src = fs::read_to_string(schema).unwrap_or_else(|e| panic!("cannot read {schema}: {e}"));
    let code = fbsgen::compile(&src).unwrap_or_else(|e| panic!("{schema}: {e}"));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo")).join("tflite_generated.rs");
    fs::write(&out, code).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
