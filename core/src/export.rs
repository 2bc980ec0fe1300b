//! The `export` module (to be written).
