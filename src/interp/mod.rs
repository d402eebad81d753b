//! Reference float interpreter: runs a model's subgraph on f32 tensors, for calibration and comparison.
