//! Compatibility with the Python system Tether replaces: its shapes, strings and formats,
//! byte for byte, for the Python layer that must be a drop-in replacement.
//!
//! Nothing else in the core uses this module — the policy modules (cache, breaker, retry,
//! metrics, health, alerts, export, batch, engine) never import it, and a test
//! (`compat_stays_at_the_edge` in `core/tests/layering.rs`) fails if one does. What lives here
//! exists only so that an existing Python caller sees what it saw before:
//!
//! * [`compat_key`]: the original public cache key (an MD5 hex string, without credential
//!   partitioning — only ever shown, never used to look anything up);
//! * [`python_float_repr`], [`python_json_float`], [`python_json_dumps`]: Python's text forms
//!   of numbers and JSON, which the key and the original exports depend on;
//! * [`compat_prometheus`], [`compat_influx`]: the original exporter's text, defects included
//!   (HELP/TYPE repeated per service, nothing escaped, no trailing newline);
//! * [`breaker_state`]: the original upper-case breaker state names;
//! * [`cache_config`], [`cache_config_strict`], [`retry_config`]: the original cache and retry
//!   timings, expressed with the policy modules' ordinary settings;
//! * [`metrics_config`]: the original's `error_counts` names for transport failures (httpx
//!   class names).
//!
//! `docs/compat.md` describes the original contract these reproduce, and which of its defects
//! are reproduced on purpose and which are fixed.

mod cache_key;
mod export;
mod presets;
mod python;

pub use cache_key::compat_key;
pub use export::{compat_influx, compat_prometheus};
pub use presets::{cache_config, cache_config_strict, metrics_config, retry_config};
pub use python::{python_float_repr, python_json_dumps, python_json_float};

use crate::breaker::BreakerState;

/// The original breaker's upper-case state name: `CLOSED`, `OPEN` or `HALF_OPEN`. An
/// isolated breaker reports `OPEN` (it refuses calls) and a disabled one `CLOSED` (it admits
/// them): the original had neither state.
///
/// ```
/// use tether_core::BreakerState;
/// use tether_core::compat::breaker_state;
///
/// assert_eq!(breaker_state(BreakerState::HalfOpen), "HALF_OPEN");
/// ```
pub const fn breaker_state(state: BreakerState) -> &'static str {
    match state {
        BreakerState::Closed | BreakerState::Disabled => "CLOSED",
        BreakerState::Open | BreakerState::Isolated => "OPEN",
        BreakerState::HalfOpen => "HALF_OPEN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_states_map_to_the_three_original_names() {
        for (st, upper) in [
            (BreakerState::Closed, "CLOSED"),
            (BreakerState::Open, "OPEN"),
            (BreakerState::HalfOpen, "HALF_OPEN"),
            (BreakerState::Isolated, "OPEN"),
            (BreakerState::Disabled, "CLOSED"),
        ] {
            assert_eq!(breaker_state(st), upper);
        }
    }
}
