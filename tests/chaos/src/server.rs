//! The accept loop: counts TCP connections, sets `TCP_NODELAY`, serves HTTP/1.1 (and h2c with
//! prior knowledge) through hyper, and injects the faults that need to act below axum.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

use crate::ChaosOptions;
use crate::routes;
use crate::state::Chaos;

/// Is this `/reset?at=headers` (close the connection before any response byte)? If so, the
/// keys it carries, to count.
fn reset_before_response(req: &Request<Incoming>) -> Option<Vec<String>> {
    if req.uri().path() != "/reset" || req.method() == Method::OPTIONS {
        return None;
    }
    let axum::extract::Query(params) =
        axum::extract::Query::<Vec<(String, String)>>::try_from_uri(req.uri()).ok()?;
    let at = params
        .iter()
        .rev()
        .find(|(k, _)| k == "at")
        .map(|(_, v)| v.as_str());
    if !matches!(at, Some("headers" | "start")) {
        return None;
    }
    let key = params
        .into_iter()
        .rev()
        .find(|(k, _)| k == "key")
        .map(|(_, v)| v);
    Some(key.into_iter().collect())
}

/// Serves until `shutdown` resolves, then drains connections for at most the grace period.
pub(crate) async fn run(
    listener: TcpListener,
    opts: ChaosOptions,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let state = Arc::new(Chaos::default());
    let app = routes::router(Arc::clone(&state), opts.cors);
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Typically EMFILE or a connection aborted before accept: keep serving.
                    eprintln!("tether-chaos: accept failed: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        state.connection_accepted();
        // Best effort: a socket that refuses NODELAY is still served.
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let state = Arc::clone(&state);
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            let app = app.clone();
            let state = Arc::clone(&state);
            async move {
                state.request_received();
                if let Some(keys) = reset_before_response(&req) {
                    state.hit(keys.iter().map(String::as_str));
                    // hyper answers a service error by closing the connection unanswered.
                    return Err(io::Error::other("chaos: reset before response"));
                }
                req.extensions_mut().insert(ConnectInfo(peer));
                let resp = app.oneshot(req.map(Body::new)).await;
                let Ok(resp) = resp;
                Ok::<_, io::Error>(resp)
            }
        });
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // Aborted connections are the point of this server: nothing to report.
            let _ = conn.await;
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(opts.shutdown_grace) => {}
    }
    Ok(())
}
