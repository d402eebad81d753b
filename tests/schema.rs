//! Our schema matches the published format: every field id, type, default and
//! enum value that the official wheel's generated schema knows.

mod common;

#[test]
fn schema_matches_the_official_wheel() {
    let out = std::process::Command::new(common::python())
        .arg(common::root().join("scripts/check_schema.py"))
        .arg(common::root().join("schema/tflite.fbs"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("schema ok"), "{text}");
}
