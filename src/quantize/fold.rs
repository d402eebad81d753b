//! fold_dequantize and densify: turn FLOAT16 constants behind DEQUANTIZE and
//! sparse constants behind DENSIFY into plain float32 constants.
