//! The TFLite flatbuffer format: the verified reader (bytes → IR), the writer (IR → bytes),
//! and the runtime releases that first shipped each op version.

pub mod check;
pub mod reader;
pub mod staged;
pub mod versions;
pub mod writer;

pub use check::{check, ModelFault};
pub use reader::{load, read, ReadError};
pub use staged::Staged;
pub use writer::{gate, save, save_staged, write, Layout, WriteError, WriteOptions};
