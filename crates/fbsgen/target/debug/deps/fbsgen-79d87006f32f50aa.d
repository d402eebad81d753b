/work/main/crates/fbsgen/target/debug/deps/fbsgen-79d87006f32f50aa.d: src/lib.rs src/emit.rs src/parse.rs src/tests.rs

/work/main/crates/fbsgen/target/debug/deps/fbsgen-79d87006f32f50aa: src/lib.rs src/emit.rs src/parse.rs src/tests.rs

src/lib.rs:
src/emit.rs:
src/parse.rs:
src/tests.rs:
