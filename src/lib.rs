//! tflq: read TensorFlow models, quantize them, and write TFLite flatbuffers,
//! with no Python or TensorFlow.
//!
//! The flow is one-way: a reader turns the input file into the [`ir::Model`], passes
//! transform the IR, and the writer turns it back into bytes. What tflq knows about each
//! operator is in one registry ([`ops`]), which the interpreter, the passes and the importer
//! read. The modules form layers (see the README's design notes; a test checks the imports):
//! `pipeline` over `quantize`, `calibrate`, `savedmodel` (over `graphdef`), `graphdef` and
//! `dump`, over `interp`, over `ops`, over `kernels`, `tflite` and `ir`.

#![warn(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

pub mod calibrate;
pub mod dump;
pub mod flexbuffer;
pub mod graphdef;
pub mod interp;
pub mod ir;
pub mod kernels;
pub mod ops;
pub mod pipeline;
pub mod quantize;
pub mod savedmodel;
pub mod schema;
pub mod tflite;

pub use ir::{budget, Model};
pub use tflite::{load, save, ReadError, WriteError, WriteOptions};
