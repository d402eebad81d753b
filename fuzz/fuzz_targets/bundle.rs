//! Fuzzes the TensorBundle checkpoint reader (`tflq::savedmodel::bundle`).
//!
//! Any input may be rejected with an error, but nothing may panic, and reading every
//! tensor of an accepted bundle must return (bytes or an error) without a huge allocation.
//! Under `--cfg fuzzing` the reader skips its CRC comparisons, so mutations get past them.
//!
//! Input layout: one byte `n` (the shard count, taken mod 4), then `n` times a u16 LE length
//! and that many data-shard bytes, then the index file's bytes. A seed from the fixture
//! (run from the repository root; only a stable toolchain is needed):
//!
//! ```text
//! mkdir -p fuzz/corpus/bundle && d=testdata/savedmodel/bundle_dtypes/variables
//! { printf '\001'; python3 -c "import os,sys;sys.stdout.buffer.write(os.path.getsize('$d/variables.data-00000-of-00001').to_bytes(2,'little'))"; \
//!   cat $d/variables.data-00000-of-00001 $d/variables.index; } > fuzz/corpus/bundle/dtypes
//! RUSTC_BOOTSTRAP=1 cargo fuzz run bundle -- -max_total_time=300
//! ```
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use tflq::savedmodel::bundle::Bundle;

fuzz_target!(|data: &[u8]| {
    let Some((&n, mut rest)) = data.split_first() else {
        return;
    };
    let mut shards = Vec::new();
    for _ in 0..n % 4 {
        let Some((len, tail)) = rest.split_first_chunk::<2>() else {
            return;
        };
        let len = usize::from(u16::from_le_bytes(*len));
        if tail.len() < len {
            return;
        }
        shards.push(bytes::Bytes::copy_from_slice(&tail[..len]));
        rest = &tail[len..];
    }
    let Ok(bundle) = Bundle::from_memory(Path::new("fuzz/variables"), rest, shards) else {
        return;
    };
    let mut total = 0;
    for key in bundle.keys() {
        assert!(bundle.entry(key).is_some());
        if let Ok(t) = bundle.tensor(key) {
            total += t.len();
        }
        if let Ok(s) = bundle.strings(key) {
            total += s.iter().map(Vec::len).sum::<usize>();
        }
    }
    // Every returned byte is a view of, or a copy from, the input.
    assert!(total <= data.len() * bundle.keys().count().max(1));
});
