//! The only code of the vector runner that knows the client API. Everything else works on
//! [`Observed`] and [`EngineSnapshot`]; switching the runner to another client type (say, the
//! user-facing `HttpClient`) means rewriting these four functions.

use bytes::Bytes;
use http::HeaderMap;
use tether_core::{Client, DecisionTrace, EngineConfig, EngineSnapshot, Request, Runtime as _};

use crate::virtual_rt::{ScriptedTransport, VirtualRuntime};

/// The client under test.
pub(crate) type VectorClient = Client<ScriptedTransport, VirtualRuntime>;

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
    Client::new(config, transport, runtime).map_err(|e| e.to_string())
}

/// Sends one request and reports how it ended.
pub(crate) async fn send(
    client: &VectorClient,
    request: Request,
    service: Option<&str>,
) -> Observed {
    match client.send(request, service).await {
        Ok(r) => Observed {
            status: Some(r.response.status().as_u16()),
            error: None,
            headers: r.response.headers().clone(),
            body: r.response.body().clone(),
            from_cache: r.from_cache,
            trace: Some(r.trace),
        },
        Err(e) => Observed {
            status: None,
            error: Some(e.kind().to_owned()),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            from_cache: false,
            trace: e.trace().cloned(),
        },
    }
}

/// Everything observable about the client now.
pub(crate) fn snapshot(client: &VectorClient) -> EngineSnapshot {
    let (now, wall) = (client.runtime().now(), client.runtime().wall());
    client.with_engine(|e| e.snapshot(now, wall))
}

/// The client's background driver (runs until dropped).
pub(crate) async fn background(client: &VectorClient) {
    client.run_background().await;
}
