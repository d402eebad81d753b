//! tflq: read TensorFlow models, quantize them, and write TFLite flatbuffers,
//! with no Python or TensorFlow.
//!
//! The flow is one-way: a reader turns the input file into the [`ir::Model`],
//! passes transform the IR, and the writer turns it back into bytes.

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
    let bytes_head = {
        use std::io::Read;
        let mut head = [0u8; 8];
        let n = std::fs::File::open(path)
            .and_then(|mut f| f.read(&mut head))
            .map_err(|err| LoadError::Read(ReadError::Io { path: path.to_path_buf(), err }))?;
        head[..n].to_vec()
    };
    let tflite = bytes_head.len() >= 8 && &bytes_head[4..8] == b"TFL3";
    if tflite || !looks_like_graphdef(&bytes_head) {
        return Ok((load(path)?, Vec::new()));
    }
    let io = |err| LoadError::Read(ReadError::Io { path: path.to_path_buf(), err });
    let file = std::fs::File::open(path).map_err(io)?;
    // SAFETY: the map is read-only; as for .tflite input, the file must not be
    // modified while the model is alive (its untouched constants stay views of it).
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
    let source = std::sync::Arc::new(ir::Source::Mapped { map, file });
    Ok(graphdef::import_source(&source, graph)?)
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
