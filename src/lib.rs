//! tflq: read TensorFlow models, quantize them, and write TFLite flatbuffers,
//! with no Python or TensorFlow.
//!
//! The flow is one-way: a reader turns the input file into the [`ir::Model`],
//! passes transform the IR, and the writer turns it back into bytes.

pub mod alloc;
pub mod calibrate;
pub mod dump;
pub mod graphdef;
pub mod interp;
pub mod ir;
pub mod quantize;
pub mod schema;
pub mod tflite;

pub use ir::Model;
pub use tflite::{load, save, ReadError, WriteError, WriteOptions};

/// Loads a model from a `.tflite` or a frozen GraphDef `.pb`, told apart by
/// content, with the importer's warnings (e.g. an unknown batch set to 1).
pub fn load_any(path: &std::path::Path, graph: &graphdef::ImportOptions) -> Result<(Model, Vec<String>), LoadError> {
    let source = tflite::reader::map_file(path)?;
    if has_tflite_identifier(&source) || !looks_like_graphdef(&source) {
        return Ok((tflite::read(source)?, Vec::new()));
    }
    Ok(graphdef::import_source(&source, graph)?)
}

/// Whether `head` (a file's first bytes) carries the `.tflite` file identifier `TFL3`.
pub fn has_tflite_identifier(head: &[u8]) -> bool {
    head.get(4..8) == Some(&b"TFL3"[..])
}

/// A GraphDef starts with field 1 (node) or 4 (versions), length-delimited.
fn looks_like_graphdef(head: &[u8]) -> bool {
    matches!(head.first(), Some(0x0A) | Some(0x22))
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Import(#[from] graphdef::ImportError),
}
