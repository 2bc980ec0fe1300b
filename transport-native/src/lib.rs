//! # tether-native — Tether's native frontend
//!
//! The I/O half of Tether for native Rust programs: a [`UreqTransport`] that sends requests
//! with a pooled ureq [`Agent`](ureq::Agent) on tokio's blocking pool, and a [`TokioRuntime`]
//! that gives the core a monotonic clock, a wall clock, tokio timers and an OS-entropy seed.
//! Together they are the `Transport` + `Runtime` pair the `tether-core` client drives; every
//! decision (cache, breaker, retry, metrics) stays in the core.
//!
//! ```no_run
//! # async fn demo() {
//! use std::time::Duration;
//! use tether_core::{Runtime, Transport};
//! use tether_native::{NativeConfig, TokioRuntime, UreqTransport};
//!
//! let transport = UreqTransport::new(NativeConfig {
//!     pool_size: 16,
//!     ..NativeConfig::default()
//! });
//! let runtime = TokioRuntime::new();
//!
//! let request = http::Request::get("http://127.0.0.1:8080/get")
//!     .body(bytes::Bytes::new())
//!     .unwrap();
//! let started = runtime.now();
//! match transport.send(request, Some(Duration::from_secs(2))).await {
//!     Ok(response) => println!("{} in {:?}", response.status(), runtime.now().saturating_duration_since(started)),
//!     Err(error) => println!("{} failure: {}", error.kind, error.message),
//! }
//! # }
//! ```
//!
//! Both must be used inside a tokio runtime with the time driver enabled
//! (`#[tokio::main]` or `Builder::enable_time`).

#![forbid(unsafe_code)]

mod clock;
mod runtime;
mod transport;

pub use runtime::TokioRuntime;
pub use transport::{NativeConfig, SendFuture, UreqTransport};
