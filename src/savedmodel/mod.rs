//! SavedModel input: the directory's protos, its variables checkpoint, and freezing.

pub mod bundle;
mod table;
