//! The only code of the vector runner that knows the client API. Everything else works on
//! [`Observed`] and [`EngineSnapshot`]; another frontend's runner rewrites these four
//! functions for its own client.

use bytes::Bytes;
use http::HeaderMap;
use tether_core::client::{HttpClient, HttpClientBuilder, SharedHooks};
use tether_core::{DecisionTrace, EngineConfig, EngineSnapshot, Request};

use crate::virtual_rt::{ScriptedTransport, VirtualRuntime};

/// The client under test: the user-facing client layer over the scripted transport and the
/// virtual runtime (shareable between threads, for the blocking driver).
pub(crate) type VectorClient = HttpClient<ScriptedTransport, VirtualRuntime, SharedHooks>;

/// What one request ended with, in the runner's own terms.
#[derive(Debug)]
pub(crate) struct Observed {
    /// Final status when it ended with a response.
    pub(crate) status: Option<u16>,
    /// Error kind when it ended without one (`timeout`, `circuit_open`, …).
    pub(crate) error: Option<String>,
    /// Response headers (empty on error).
    pub(crate) headers: HeaderMap,
    /// Response body (empty on error).
    pub(crate) body: Bytes,
    /// Whether the response came from the cache.
    pub(crate) from_cache: bool,
    /// The decision trace, when the engine saw the request.
    pub(crate) trace: Option<DecisionTrace>,
}

/// A client with `config` over the scripted transport and the virtual runtime.
pub(crate) fn build(
    config: EngineConfig,
    transport: ScriptedTransport,
    runtime: VirtualRuntime,
) -> Result<VectorClient, String> {
    // No default headers: a vector's requests reach the upstream exactly as it wrote them.
    HttpClientBuilder::new(transport, runtime)
        .engine_config(config)
        .default_headers(HeaderMap::new())
        .build()
        .map_err(|e| e.to_string())
}

/// Sends one request and reports how it ended.
pub(crate) async fn send(
    client: &VectorClient,
    request: Request,
    service: Option<&str>,
) -> Observed {
    match client.execute(request, service).await {
        Ok(r) => Observed {
            status: Some(r.status().as_u16()),
            error: None,
            headers: r.headers().clone(),
            body: r.bytes().clone(),
            from_cache: r.from_cache(),
            trace: Some(r.trace().clone()),
        },
        Err(e) => Observed {
            status: None,
            // The format names every refusal of the caller's input `invalid_request`.
            error: Some(
                if e.is_request() {
                    "invalid_request"
                } else {
                    e.kind()
                }
                .to_owned(),
            ),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            from_cache: false,
            trace: e.trace().cloned(),
        },
    }
}

/// Everything observable about the client now.
pub(crate) fn snapshot(client: &VectorClient) -> EngineSnapshot {
    client.engine_snapshot()
}

/// The client's background driver (runs until dropped).
pub(crate) async fn background(client: &VectorClient) {
    client.run_background().await;
}
