//! Helpers shared by the integration tests: a chaos upstream per test, its counters, clients
//! with short timings — for both APIs — and [`api_tests!`], which runs each test body once
//! against the async API (hyper on tokio) and once against the blocking API (ureq on the
//! caller's thread).
//!
//! A test body is written once. Inside it:
//! - `wait!(expr)` is `expr.await` for the async API and `expr` for the blocking one;
//! - `HttpClient`, `ServiceClient`, `Registry`, `fast()`, `pooled(n)`, `control`, `hits`,
//!   `totals` and `pause` come from the API's module ([`async_api`] or [`blocking_api`]);
//! - `all!(n, [shared, ...], |i| expr)` runs `expr` for `i` in `0..n` at once (futures joined
//!   on tokio, OS threads for the blocking API) and returns the results in order;
//! - `pair!(a, b)` runs two expressions at once;
//! - `spawn!(expr)` starts `expr` in the background (a tokio task, an OS thread) and
//!   `finish!(handle)` waits for its result.
#![allow(
    dead_code,
    unreachable_pub,
    unused_imports,
    unused_macros,
    clippy::disallowed_methods
)]

use std::time::Duration;

use tether_chaos::{ChaosHandle, ChaosOptions, spawn_background};
use tether_native::{Backoff, NativeConfig};

/// A chaos upstream for one test (stopped when dropped).
pub fn chaos() -> ChaosHandle {
    spawn_background(ChaosOptions::default())
}

/// A loopback port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A transport configuration keeping `pool_size` connections (and as many attempts per host).
pub fn pool_config(pool_size: usize) -> NativeConfig {
    NativeConfig {
        pool_size,
        ..NativeConfig::default()
    }
}

/// Fast retries (10 ms constant backoff), no retry budget and a 5 s attempt limit, so that
/// tests stay short.
macro_rules! fast_builder {
    ($builder:expr) => {
        $builder
            .timeout(Duration::from_secs(5))
            .backoff(Backoff::Constant(Duration::from_millis(10)))
            .retry_budget(None)
    };
}

/// The async API: `tether_native::{HttpClient, …}` over `HyperTransport` on tokio.
pub mod async_api {
    use super::*;
    use bytes::Bytes;
    use serde_json::Value;
    use tether_core::Transport as _;
    pub use tether_native::{
        HttpClient, HttpClientBuilder, HyperTransport, Registry, ServiceClient,
        ServiceClientBuilder,
    };

    /// Which API this module tests.
    pub const BLOCKING: bool = false;

    /// A builder with fast retries (see [`fast_builder`]).
    pub fn fast() -> HttpClientBuilder {
        fast_builder!(HttpClient::builder())
    }

    /// A transport keeping `pool_size` connections.
    pub fn pooled(pool_size: usize) -> HyperTransport {
        HyperTransport::try_new(pool_config(pool_size)).unwrap()
    }

    /// A transport with `config`.
    pub fn transport(config: NativeConfig) -> HyperTransport {
        HyperTransport::try_new(config).unwrap()
    }

    /// A transport made by `new`, which accepts an invalid `config` (and never panics).
    pub fn new_transport(config: NativeConfig) -> HyperTransport {
        HyperTransport::new(config)
    }

    /// GETs a control route (`/count/...`, `/admin/...`) with a bare transport: no cache, no
    /// retries, no breaker.
    pub async fn control(server: &ChaosHandle, path: &str) -> Value {
        let request = http::Request::get(server.url(path))
            .body(Bytes::new())
            .unwrap();
        let response = HyperTransport::default()
            .send(request, Some(Duration::from_secs(5)))
            .await
            .expect("control route answers");
        serde_json::from_slice(response.body()).expect("control route answers JSON")
    }

    /// Requests that reached the upstream carrying `key`.
    pub async fn hits(server: &ChaosHandle, key: &str) -> u64 {
        control(server, &format!("/count/{key}")).await["hits"]
            .as_u64()
            .unwrap()
    }

    /// `(connections, requests)` the upstream has accepted so far.
    pub async fn totals(server: &ChaosHandle) -> (u64, u64) {
        let v = control(server, "/count").await;
        (
            v["connections"].as_u64().unwrap(),
            v["requests"].as_u64().unwrap(),
        )
    }

    /// Lets time pass.
    pub async fn pause(d: Duration) {
        tokio::time::sleep(d).await;
    }

    /// `expr.await`.
    macro_rules! wait {
        ($e:expr) => {
            $e.await
        };
    }

    /// `job` for every `i` in `0..n`, as futures joined on the test's runtime.
    macro_rules! all {
        ($n:expr, [$($shared:ident),*], |$i:ident| $job:expr) => {{
            $(let $shared = &$shared;)*
            futures::future::join_all((0..$n).map(|$i| async move { $job })).await
        }};
    }

    /// Both expressions at once.
    macro_rules! pair {
        ($a:expr, $b:expr) => {
            tokio::join!(async { $a }, async { $b })
        };
    }

    /// Starts `job` in the background (a task); [`finish!`] waits for its result.
    macro_rules! spawn {
        ($job:expr) => {
            tokio::spawn(async move { $job })
        };
    }

    /// The result of a [`spawn!`]ed job.
    macro_rules! finish {
        ($handle:expr) => {
            $handle.await.expect("the task finished")
        };
    }

    pub(crate) use {all, finish, pair, spawn, wait};
}

/// The blocking API: `tether_native::blocking::{HttpClient, …}` over the blocking
/// `UreqTransport`, on the test's own thread(s).
pub mod blocking_api {
    use super::*;
    use bytes::Bytes;
    use serde_json::Value;
    use tether_core::Transport as _;
    use tether_native::blocking::block_on;
    pub use tether_native::blocking::{
        HttpClient, HttpClientBuilder, Registry, ServiceClient, ServiceClientBuilder, UreqTransport,
    };

    /// Which API this module tests.
    pub const BLOCKING: bool = true;

    /// A builder with fast retries (see [`fast_builder`]) and, as the async client has, a
    /// background driver (on a helper thread).
    pub fn fast() -> HttpClientBuilder {
        fast_builder!(HttpClient::builder()).background_thread(true)
    }

    /// A transport keeping `pool_size` connections.
    pub fn pooled(pool_size: usize) -> UreqTransport {
        UreqTransport::try_new(pool_config(pool_size)).unwrap()
    }

    /// A transport with `config`.
    pub fn transport(config: NativeConfig) -> UreqTransport {
        UreqTransport::try_new(config).unwrap()
    }

    /// A transport made by `new`, which accepts an invalid `config` (and never panics).
    pub fn new_transport(config: NativeConfig) -> UreqTransport {
        UreqTransport::new(config)
    }

    /// GETs a control route with a bare transport.
    pub fn control(server: &ChaosHandle, path: &str) -> Value {
        let request = http::Request::get(server.url(path))
            .body(Bytes::new())
            .unwrap();
        let response =
            block_on(UreqTransport::default().send(request, Some(Duration::from_secs(5))))
                .expect("control route answers");
        serde_json::from_slice(response.body()).expect("control route answers JSON")
    }

    /// Requests that reached the upstream carrying `key`.
    pub fn hits(server: &ChaosHandle, key: &str) -> u64 {
        control(server, &format!("/count/{key}"))["hits"]
            .as_u64()
            .unwrap()
    }

    /// `(connections, requests)` the upstream has accepted so far.
    pub fn totals(server: &ChaosHandle) -> (u64, u64) {
        let v = control(server, "/count");
        (
            v["connections"].as_u64().unwrap(),
            v["requests"].as_u64().unwrap(),
        )
    }

    /// Lets time pass.
    pub fn pause(d: Duration) {
        std::thread::sleep(d);
    }

    /// `expr`: a blocking call returns its result.
    macro_rules! wait {
        ($e:expr) => {
            $e
        };
    }

    /// `job` for every `i` in `0..n`, each on its own OS thread.
    macro_rules! all {
        ($n:expr, [$($shared:ident),*], |$i:ident| $job:expr) => {{
            $(let $shared = &$shared;)*
            std::thread::scope(|scope| {
                let threads: Vec<_> = (0..$n).map(|$i| scope.spawn(move || $job)).collect();
                threads
                    .into_iter()
                    .map(|t| t.join().expect("the thread finished"))
                    .collect::<Vec<_>>()
            })
        }};
    }

    /// Both expressions at once (the first on a second thread).
    macro_rules! pair {
        ($a:expr, $b:expr) => {
            std::thread::scope(|scope| {
                let a = scope.spawn(|| $a);
                let b = $b;
                (a.join().expect("the thread finished"), b)
            })
        };
    }

    /// Starts `job` in the background (a thread); [`finish!`] waits for its result.
    macro_rules! spawn {
        ($job:expr) => {
            std::thread::spawn(move || $job)
        };
    }

    /// The result of a [`spawn!`]ed job.
    macro_rules! finish {
        ($handle:expr) => {
            $handle.join().expect("the thread finished")
        };
    }

    pub(crate) use {all, finish, pair, spawn, wait};
}

/// Runs each `fn name() { body }` against both APIs: `async_api::name` (a tokio test) and
/// `blocking_api::name` (a plain test). See the module documentation for what a body may use.
#[macro_export]
macro_rules! api_tests {
    ($($(#[$meta:meta])* fn $name:ident() $body:block)*) => {
        mod async_api {
            #![allow(unused_imports)]
            use super::*;
            use $crate::common::async_api::*;

            $(
                $(#[$meta])*
                #[tokio::test]
                async fn $name() $body
            )*
        }

        mod blocking_api {
            #![allow(unused_imports)]
            use super::*;
            use $crate::common::blocking_api::*;

            $(
                $(#[$meta])*
                #[test]
                fn $name() $body
            )*
        }
    };
}
