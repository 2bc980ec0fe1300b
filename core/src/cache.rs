//! The `cache` module (to be written).
