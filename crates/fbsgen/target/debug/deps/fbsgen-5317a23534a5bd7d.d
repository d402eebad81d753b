/work/main/crates/fbsgen/target/debug/deps/fbsgen-5317a23534a5bd7d.d: src/lib.rs src/emit.rs src/parse.rs

/work/main/crates/fbsgen/target/debug/deps/libfbsgen-5317a23534a5bd7d.rlib: src/lib.rs src/emit.rs src/parse.rs

/work/main/crates/fbsgen/target/debug/deps/libfbsgen-5317a23534a5bd7d.rmeta: src/lib.rs src/emit.rs src/parse.rs

src/lib.rs:
src/emit.rs:
src/parse.rs:
