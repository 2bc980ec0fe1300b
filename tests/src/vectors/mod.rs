//! Cross-runtime scenario vectors: the Rust runner.
//!
//! A vector (`tests/vectors/*.json`, format in `tests/vectors/README.md`) scripts an upstream,
//! a caller's requests on virtual time, and what every request and the client as a whole must
//! show afterwards. [`run`] plays one vector against the client on the virtual runtime
//! ([`crate::virtual_rt`]) and returns **every** mismatch, each naming the vector, the step,
//! the request and the field. [`run_with`] chooses the [`Driver`]: the async API's (futures on
//! one executor) or, with the `blocking` feature, the blocking API's (a thread per request,
//! each run by the blocking executor) — the same files, the same expectations.
//!
//! ```
//! let vector = tether_tests::vectors::parse(r#"{
//!     "name": "doc", "description": "one GET, one answer",
//!     "upstream": [{"responses": [{"status": 200, "body": "hi", "latency_ms": 5}]}],
//!     "steps": [{"send": [{"id": "a", "url": "http://svc.test/x",
//!                          "expect": {"status": 200, "body": "hi", "elapsed_ms": 5}}]}]
//! }"#).unwrap();
//! assert!(tether_tests::vectors::run(&vector).is_empty());
//! ```
//!
//! The runner is split so that only `adapter` knows the client API; [`model`] is the serde
//! mirror of `schema.json`, `run` drives the client and `check` compares.

mod adapter;
mod check;
pub mod model;
mod run;
#[cfg(feature = "blocking")]
mod threads;

use std::fmt;

pub use model::Vector;
pub use run::{Driver, run, run_recorded, run_with};

/// Every vector of `tests/vectors/` as `(name, JSON text)`, sorted by name, compiled into the
/// library (by its build script) so that runners without a file system — wasm32 under Node
/// or in a browser — play the same files.
pub fn embedded() -> &'static [(&'static str, &'static str)] {
    include!(concat!(env!("OUT_DIR"), "/vectors.rs"))
}

/// FNV-1a (64 bits) of `text`: a short, portable fingerprint of a transcript, for comparing
/// runtimes in a log line.
pub fn fingerprint(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Where in a vector a mismatch was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// The vector could not be set up (format or configuration error).
    Setup,
    /// A step's `check` (or its `at_ms`).
    Step(usize),
    /// A request's expectations.
    Request {
        /// The step that sent it.
        step: usize,
        /// Its id.
        id: String,
    },
    /// The scripted upstream (a call no route answers).
    Upstream,
    /// The vector's final `expect`, or the end-of-run invariants.
    End,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Setup => f.write_str("setup"),
            Location::Step(i) => write!(f, "step {i}"),
            Location::Request { step, id } => write!(f, "step {step}, request {id:?}"),
            Location::Upstream => f.write_str("upstream"),
            Location::End => f.write_str("end"),
        }
    }
}

/// One difference between a vector's expectation and what happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The vector's name.
    pub vector: String,
    /// Where.
    pub location: Location,
    /// The expectation's path inside its object, e.g. `attempts[1].delay_ms`,
    /// `metrics.svc.failures`, `upstream_log[0].headers.if-none-match`.
    pub field: String,
    /// What the vector says.
    pub expected: String,
    /// What happened.
    pub actual: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}] {}: {}: expected {}, got {}",
            self.vector, self.location, self.field, self.expected, self.actual
        )
    }
}

/// Parses a vector from JSON text (serde only; [`run`] also checks [`Vector::problems`]).
pub fn parse(json: &str) -> Result<Vector, String> {
    serde_json::from_str(json).map_err(|e| e.to_string())
}

/// Parses a vector from a JSON value.
pub fn from_value(value: serde_json::Value) -> Result<Vector, String> {
    serde_json::from_value(value).map_err(|e| e.to_string())
}
