//! Monitor tests.
