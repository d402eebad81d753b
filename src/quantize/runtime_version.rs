//! The minimum runtime version a model needs, from its (op, version) pairs.
