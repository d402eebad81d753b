//! Integer activations and normalisations (LUT and fixed-point methods).
