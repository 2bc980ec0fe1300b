//! Allocation-counting tests of `tether-core`'s hot paths; everything lives in `tests/`.
//!
//! A separate crate because the tests install a counting `#[global_allocator]`, which needs
//! `unsafe impl GlobalAlloc`, and the workspace forbids `unsafe_code` (a forbid cannot be
//! relaxed locally).
