//! Fuzzes the TFLite reader, and everything that runs on what it accepts.
//!
//! Any input may be rejected with an error, but nothing may panic, and a model
//! the reader accepts must dump, write, read back, and write again to the very
//! same bytes (the writer is deterministic and the round trip is lossless).
//!
//! Run from the repository root (only a stable toolchain is needed):
//!
//! ```text
//! mkdir -p fuzz/corpus/read && cp testdata/*.tflite fuzz/corpus/read/
//! RUSTC_BOOTSTRAP=1 cargo fuzz run read -- -max_total_time=300
//! ```
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::Arc;
use tflq::ir::Source;
use tflq::tflite::{read, write, WriteOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(model) = read(Arc::new(Source::Owned(data.to_vec()))) else {
        return;
    };
    let _ = tflq::dump::to_json(&model, Some(data.len() as u64));
    let _ = tflq::dump::to_text(&model, Some(data.len() as u64));
    let opts = WriteOptions::default();
    let written = write(&model, &opts).expect("a model the reader accepted must write");
    let again = read(Arc::new(Source::Owned(written.clone()))).expect("the writer's output must read back");
    let rewritten = write(&again, &opts).expect("a re-read model must write");
    assert!(written == rewritten, "read → write → read → write is not a fixed point");
});
