//! The `health` module (to be written).
