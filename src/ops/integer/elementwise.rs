//! Integer element-wise binary ops, comparisons and selects.
