//! The checks every model passes when it is read, imported or written: indices in range,
//! constants the size their shape and type need, quantization parameters the runtime accepts,
//! operands, options, whole-graph consistency and static shapes (`ops`), and op versions the
//! runtime knows. One list, so the reader, the GraphDef importer and the output gate agree.

use super::versions::{check_versions, VersionError};
use crate::ir::{IndexError, Model, TensorError};
use crate::ops::arity::OperandError;

/// The first check a model fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelFault {
    #[error("the model has no subgraphs")]
    NoSubgraphs,
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Data(#[from] TensorError),
    #[error(transparent)]
    Operand(#[from] OperandError),
    #[error(transparent)]
    Version(#[from] VersionError),
}

/// Runs every check, in order (the cheap structural ones first). Linear in the model's size.
pub fn check(model: &Model) -> Result<(), ModelFault> {
    if model.subgraphs.is_empty() {
        return Err(ModelFault::NoSubgraphs);
    }
    model.validate()?;
    model.validate_data()?;
    model.validate_quantization()?;
    crate::ops::check_model(model)?;
    crate::ops::check_options(model)?;
    check_versions(model)?;
    Ok(())
}
