//! The `metrics` module (to be written).
