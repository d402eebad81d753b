//! tflq: read TensorFlow models, quantize them, and write TFLite flatbuffers,
//! with no Python or TensorFlow.
//!
//! The flow is one-way: a reader turns the input file into the [`ir::Model`],
//! passes transform the IR, and the writer turns it back into bytes.

pub mod dump;
pub mod ir;
pub mod quantize;
pub mod schema;
pub mod tflite;

pub use ir::Model;
pub use tflite::{load, save, ReadError, WriteError, WriteOptions};
