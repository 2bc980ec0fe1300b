//! Tests of the route table and the monitor state.
