//! The `retry` module (to be written).
