//! The TFLite flatbuffer format: the verified reader (bytes → IR) and the writer (IR → bytes).

pub mod reader;
pub mod writer;

pub use reader::{load, read, ReadError};
pub use writer::{save, write, Layout, WriteError, WriteOptions};
