//! Quantization passes over the Model IR, and the per-op policy table that
//! says which operand of which op is quantized, on which axis, at which version.

pub mod fold;
pub mod prune;
pub mod runtime_version;
