//! Integer reductions, resizes and data movers with their own arithmetic.
