//! Fuzzes SavedModel import (`tflq::savedmodel::import_parts`): the saved_model.pb decoder,
//! signature and MetaGraph choice, the freezer (inlining, variables, control-flow bodies)
//! and the GraphDef lowering behind it.
//!
//! Any input may be rejected with an error; nothing may panic, hang or allocate without
//! bound. The input is the saved_model.pb bytes; variables come from the committed
//! `module_dict` fixture's checkpoint, so mutated graphs can still bind them. Seeds:
//!
//! ```text
//! mkdir -p fuzz/corpus/savedmodel && for d in testdata/savedmodel/*/; do
//!   cp "$d/saved_model.pb" "fuzz/corpus/savedmodel/$(basename "$d")"; done
//! RUSTC_BOOTSTRAP=1 cargo fuzz run savedmodel -- -max_total_time=300
//! ```
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::OnceLock;
use tflq::savedmodel::{bundle::Bundle, import_parts, SavedModelOptions};

fn bundle() -> Option<&'static Bundle> {
    static B: OnceLock<Option<Bundle>> = OnceLock::new();
    B.get_or_init(|| Bundle::open(Path::new("testdata/savedmodel/module_dict/variables/variables")).ok()).as_ref()
}

fuzz_target!(|data: &[u8]| {
    let _ = import_parts(Path::new("fuzz/saved_model.pb"), data, bundle(), &SavedModelOptions::default());
});
