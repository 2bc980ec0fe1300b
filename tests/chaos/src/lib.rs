//! `tether-chaos`: a deterministic, scriptable, fault-injecting HTTP upstream for the
//! integration tests of every Tether frontend (native Rust, Python, browser).
//!
//! It listens on loopback only, keeps all its state in process, and keys that state by the
//! `{key}` path segment or a `?key=K` query parameter, so tests that use unique keys stay
//! isolated even when they share one server.
//!
//! # Starting it
//!
//! From Rust tests, in process:
//!
//! ```no_run
//! let server = tether_chaos::spawn_background(tether_chaos::ChaosOptions::default());
//! let url = server.url("/flaky/my-test?fail=2");
//! // ... drive a client at `url`, then read `server.url("/count/my-test")` ...
//! server.shutdown(); // or just drop the handle
//! ```
//!
//! From a shell: `tether-chaos --port 0 [--host 127.0.0.1] [--cors]` prints
//! `listening on 127.0.0.1:PORT` as its first stdout line and stops on SIGTERM or SIGINT.
//!
//! # Routes
//!
//! Every route below the line "counted" increments the hit counter of its key(s) — the
//! `{key}` path segment and/or `?key=K` — **before** it responds. Any route also accepts
//! `?cache_control=V`, which replaces the response's `Cache-Control` with `V`.
//!
//! Counted:
//! - `GET /health` → 200 `{"status":"healthy"}`.
//! - `ANY /status/{code}[?body=TEXT][&retry_after=V][&location=URL]` → status `code`
//!   (200..=599) with `{"status":code}` (or `TEXT` as text/plain); 204/205/304 have no body.
//! - `ANY /delay/{ms}` → sleeps `ms` (at most 60 000) then 200 httpbin-like JSON with
//!   `delay_ms`.
//! - `ANY /flaky/{key}?fail=N[&status=S][&retry_after=V]` → attempts 1..=N of `key` answer `S`
//!   (default 503; default N = 1) with `{"key","attempt","failing":true}` and optional
//!   `Retry-After: V`; later attempts answer 200 `{"key","attempt"}`.
//! - `ANY /reset[?at=body|headers]` → `at=body` (default): 200 headers with
//!   `Content-Length: 1024`, 16 body bytes, then the connection is dropped (incomplete
//!   message). `at=headers`: the connection is closed before any response byte (empty reply).
//! - `ANY /slow-body?chunks=N&interval_ms=M[&chunk_size=B][&content_length=1]` → headers at
//!   once, then N chunks (default 5) of B bytes (default 16; letters, last byte `\n`) M ms
//!   apart (default 100); chunked unless `content_length=1`.
//! - `ANY /retry-after/{value}[?status=S][&key=K&fail=N]` → `S` (default 503) with
//!   `Retry-After: value` verbatim (so malformed values can be tested). With `key`, attempts
//!   1..=N (default 1) fail and later ones answer 200 `{"key","attempt"}`; without `key` it
//!   always fails.
//! - `ANY /retry-after-date/{seconds}[...]` → the same with `Retry-After` as an HTTP-date of
//!   now + `seconds` (negative → in the past; whole-second resolution).
//! - `GET /etag/{key}[?max_age=N]` → 200 `{"key","version","etag"}` with
//!   `ETag: "v<version>-<key>"`, `Last-Modified`, `Cache-Control: max-age=N` (default 0). A
//!   matching `If-None-Match` (weak comparison, lists, `*`) or — when there is no
//!   `If-None-Match` — an `If-Modified-Since` not older than `Last-Modified` → 304, no body.
//!   The version starts at 1 and moves with `/admin/bump/{key}`.
//! - `GET /cache/{max_age}`, `/cache/no-store`, `/cache/no-cache`,
//!   `/cache/swr/{max_age}/{swr}`, `/cache/sie/{max_age}/{sie}` → 200
//!   `{"path","key","counter","cache_control"}` with the matching `Cache-Control`; `counter`
//!   increases by one per request to that path and `?key=`.
//! - `ANY /vary[?on=Header][&max_age=N]` → `Vary: Header` (default `Accept`), `Cache-Control:
//!   max-age=N` (default 60), body `{"vary","value","counter"}` echoing the header's value.
//! - `ANY /echo` → `{"method","path","query","headers":{lowercase: value},"body","body_len"}`.
//! - `GET /get`, `POST /post`, `PUT /put`, `PATCH /patch`, `DELETE /delete`, `ANY
//!   /anything[/...]` → httpbin shapes (`args`, `headers`, `origin`, `url`; plus `data`,
//!   `form`, `json`, `files`, `method` for the body routes).
//! - `ANY /auth/{key}[?max_age=N]` → without `Authorization`: 401 with `WWW-Authenticate`;
//!   with it: 200 `{"key","authenticated":true,"scheme","fingerprint"}` where `fingerprint` is
//!   an FNV-1a hash of the header (never the secret), `Cache-Control: max-age=N` (default 60).
//! - `GET /json/small` → a fixed ~200-byte JSON with `Cache-Control: max-age=60`.
//!
//! While a key is down (`/admin/down/{key}`), every counted request carrying it answers the
//! down status (default 503) with `{"down":true,...}`; while the server is globally down
//! (`/admin/down`), every counted route does. While a key is slow (`/admin/slow/{key}?ms=N`),
//! every counted request carrying it waits `N` ms before it is answered (down or not); while the
//! server is globally slow (`/admin/slow?ms=N`), every counted route does (the longest delay
//! that applies wins).
//!
//! Not counted:
//! - `GET /count/{key}` → `{"key","hits","connections","requests"}`; `GET /count` →
//!   `{"connections","requests"}`. `connections` counts accepted TCP connections, `requests`
//!   every HTTP request received (including these).
//! - `ANY /admin/down/{key}?on=1|0[&status=S]` and `ANY /admin/down?on=1|0[&status=S]` → the
//!   per-key and global down switches.
//! - `ANY /admin/slow/{key}?ms=N` and `ANY /admin/slow?ms=N` → the per-key and global slow
//!   switches (`N` at most 60 000; `ms=0` switches off).
//! - `ANY /admin/bump/{key}` → moves `/etag/{key}` to its next version.
//! - `POST /reset-state` → clears every counter, attempt, switch and version, and the totals.
//!
//! With `cors`, every response carries `Access-Control-Allow-Origin: *`,
//! `Access-Control-Allow-Headers: *` and `Access-Control-Expose-Headers: *`, and preflight
//! `OPTIONS` requests are answered 204 without reaching (or counting on) any route.

// This crate is test infrastructure doing real I/O: it spawns its own runtime thread and
// tasks and reads the wall clock, which the workspace's purity rules forbid in the core.
#![allow(clippy::disallowed_methods)]

mod routes;
mod server;
mod state;

use std::future::Future;
use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// How a chaos server behaves.
#[derive(Debug, Clone)]
pub struct ChaosOptions {
    /// Add permissive CORS headers and answer preflights (for browser tests).
    pub cors: bool,
    /// How long shutdown waits for open connections to finish before dropping them.
    pub shutdown_grace: Duration,
}

impl Default for ChaosOptions {
    fn default() -> Self {
        Self {
            cors: false,
            shutdown_grace: Duration::from_secs(1),
        }
    }
}

impl ChaosOptions {
    /// These options with CORS switched on or off.
    pub fn with_cors(mut self, cors: bool) -> Self {
        self.cors = cors;
        self
    }
}

/// Serves the chaos routes on `listener` forever (until the task is dropped).
pub async fn serve(listener: TcpListener, opts: ChaosOptions) -> std::io::Result<()> {
    serve_with_shutdown(listener, opts, std::future::pending()).await
}

/// Serves the chaos routes on `listener` until `shutdown` resolves, then lets open
/// connections finish for at most [`ChaosOptions::shutdown_grace`].
pub async fn serve_with_shutdown(
    listener: TcpListener,
    opts: ChaosOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    server::run(listener, opts, shutdown).await
}

/// A chaos server running on its own thread; dropping it shuts the server down.
#[derive(Debug)]
pub struct ChaosHandle {
    /// The address the server listens on (127.0.0.1 and an ephemeral port).
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ChaosHandle {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The absolute URL of `path_and_query` (which starts with `/`) on this server.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    /// Stops the server and waits for its thread to finish.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            // The server may already be gone; either way it stops.
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // A panic on the server thread has already been printed; don't panic in drop.
            let _ = thread.join();
        }
    }
}

impl Drop for ChaosHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Starts a chaos server on 127.0.0.1 with an ephemeral port, on its own thread and tokio
/// runtime. Panics if the port cannot be bound (see [`try_spawn_background`]).
pub fn spawn_background(opts: ChaosOptions) -> ChaosHandle {
    try_spawn_background(opts).expect("tether-chaos: cannot start the background server")
}

/// Like [`spawn_background`], returning the error instead of panicking.
pub fn try_spawn_background(opts: ChaosOptions) -> std::io::Result<ChaosHandle> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name(format!("tether-chaos-{}", addr.port()))
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match TcpListener::from_std(listener) {
                    Ok(listener) => listener,
                    Err(err) => {
                        eprintln!("tether-chaos: cannot register the listener: {err}");
                        return;
                    }
                };
                // A dropped handle closes the channel, which stops the server too.
                let shutdown = async move {
                    let _ = stopped.await;
                };
                if let Err(err) = serve_with_shutdown(listener, opts, shutdown).await {
                    eprintln!("tether-chaos: server failed: {err}");
                }
            });
        })?;
    Ok(ChaosHandle {
        addr,
        stop: Some(stop),
        thread: Some(thread),
    })
}
