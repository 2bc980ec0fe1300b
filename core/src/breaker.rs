//! The `breaker` module (to be written).
