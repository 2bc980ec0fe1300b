//! The `alerts` module (to be written).
