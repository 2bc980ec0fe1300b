//! The `batch` module (to be written).
