//! Frozen TensorFlow GraphDef (.pb) → Model IR.

use crate::ir::Model;

/// What the caller says about the graph's boundary, with TF's meaning:
/// names in the short form ("x" for output 0, "x:1" otherwise).
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub input_arrays: Option<Vec<String>>,
    pub output_arrays: Option<Vec<String>>,
    /// One shape per input array, in order.
    pub input_shapes: Option<Vec<Vec<i64>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("frozen GraphDef import is not available in this version yet")]
    NotYetAvailable,
}

/// Imports a binary GraphDef.
pub fn import(bytes: &[u8], opts: &ImportOptions) -> Result<Model, ImportError> {
    let _ = (bytes, opts);
    Err(ImportError::NotYetAvailable)
}
