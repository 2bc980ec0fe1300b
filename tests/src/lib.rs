//! Test support for Tether: the simulation harness lives here.
