//! The monitoring HTTP server (axum): the route table of [`tether_core::monitoring`] under
//! `/monitoring`, and the dashboard's static files under `/` when a folder is configured.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use tether_native::monitor::{Monitor, MonitorConfig};
//! use tether_native::server::Server;
//!
//! let monitor = Monitor::new(tether_native::default_registry(), MonitorConfig::default())?;
//! let server = Server::builder(monitor).port(8001).start().await?;
//! println!("monitoring on {}", server.url());
//! if server.token_generated() {
//!     println!("token for POST routes: {}", server.token());
//! }
//! // … later, or from a signal handler through `server.shutdown_handle()`:
//! server.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! Security defaults: bound to loopback; `POST` routes need the bearer token (the one
//! configured, or a random one generated at start — print [`Server::token`] once); read routes
//! open unless [`ServerBuilder::protect_reads`]; no CORS unless an allow-list is given (the
//! dashboard is served from the same origin); request bodies over 16 KiB refused (413) and
//! query strings over 2 KiB (414); `X-Content-Type-Options: nosniff` on every response.

use std::fmt::{self, Write as _};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, Uri, header};
use axum::routing::any;
use tether_core::Runtime as _;
use tether_core::monitoring::{self, RouteConfig, RouteRequest, RouteResponse};
use tokio::sync::watch;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::TokioRuntime;
use crate::monitor::{Monitor, MonitorError};

/// The original gateway's port.
pub const DEFAULT_PORT: u16 = 8001;

/// Largest request body accepted by default (the routes take none).
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024;

/// Length of a generated token, in random bytes (written as twice as many hex digits).
const TOKEN_BYTES: usize = 32;

/// How the server listens and what it serves.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Where to listen (default `127.0.0.1:8001`; port 0 picks a free one, see
    /// [`Server::local_addr`]).
    pub bind: SocketAddr,
    /// The route table's settings: prefix, token, whether reads need it, query bound.
    pub routes: RouteConfig,
    /// A folder whose files are served under `/` (`index.html` for `/`), if any.
    pub dashboard_dir: Option<PathBuf>,
    /// Origins allowed to call the routes from a browser (default none: no CORS headers).
    pub cors_origins: Vec<String>,
    /// Largest request body accepted (default 16 KiB); larger is a 413.
    pub max_body_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_PORT)),
            routes: RouteConfig::default(),
            dashboard_dir: None,
            cors_origins: Vec::new(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("bind", &self.bind)
            .field("routes", &self.routes)
            .field("dashboard_dir", &self.dashboard_dir)
            .field("cors_origins", &self.cors_origins)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish()
    }
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: io::Error,
    },
    /// A setting is invalid.
    #[error("invalid server setting `{field}`: {reason}")]
    Config {
        /// The setting.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The monitor could not start.
    #[error(transparent)]
    Monitor(#[from] MonitorError),
    /// No random token could be drawn from the OS.
    #[error("cannot generate a token: {0}")]
    Token(String),
    /// Serving failed.
    #[error("server error: {0}")]
    Serve(io::Error),
}

/// Configures a [`Server`]; start from [`Server::builder`].
#[must_use = "a builder does nothing until `start` is awaited"]
#[derive(Debug)]
pub struct ServerBuilder {
    monitor: Monitor,
    config: ServerConfig,
}

impl ServerBuilder {
    /// Replaces the whole configuration.
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// The address to listen on (use loopback unless you put a proxy in front).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.config.bind = addr;
        self
    }

    /// Listens on `127.0.0.1:port` (0: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.config.bind = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        self
    }

    /// The bearer token (otherwise a random one is generated at start).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.config.routes.token = Some(token.into());
        self
    }

    /// Whether the read routes need the token too.
    pub fn protect_reads(mut self, protect: bool) -> Self {
        self.config.routes.protect_reads = protect;
        self
    }

    /// Serves the files of `dir` under `/`.
    pub fn dashboard_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.dashboard_dir = Some(dir.into());
        self
    }

    /// Allows these origins (e.g. `http://localhost:5173`) to call the routes from a browser.
    pub fn cors_allow<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.cors_origins = origins.into_iter().map(Into::into).collect();
        self
    }

    /// The largest request body accepted.
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.config.max_body_bytes = max;
        self
    }

    /// Starts the monitor if it is not running, binds, and serves in the background.
    pub async fn start(self) -> Result<Server, ServerError> {
        let ServerBuilder {
            monitor,
            mut config,
        } = self;
        check_prefix(&config.routes.prefix)?;
        let generated = config.routes.token.is_none();
        if let Some(t) = &config.routes.token
            && (t.is_empty() || t.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(ServerError::Config {
                field: "routes.token",
                reason: "must be non-empty, without spaces or control characters".to_owned(),
            });
        }
        if generated {
            config.routes.token = Some(generate_token()?);
        }
        let cors = cors_layer(&config.cors_origins)?;
        monitor.start()?;
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|source| ServerError::Bind {
                addr: config.bind,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: config.bind,
            source,
        })?;
        let app = Arc::new(App {
            monitor,
            routes: config.routes.clone(),
            runtime: TokioRuntime::new(),
        });
        let router = router(&config, app, cors);
        let (stop, mut stopped) = watch::channel(false);
        let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
            let _ = stopped.wait_for(|s| *s).await;
        });
        #[expect(
            clippy::disallowed_methods,
            reason = "the server's accept loop; it ends on shutdown"
        )]
        let task = tokio::spawn(async move { serve.await });
        Ok(Server {
            local_addr,
            prefix: config.routes.prefix.clone(),
            token: config.routes.token.unwrap_or_default(),
            token_generated: generated,
            stop: ShutdownHandle {
                stop: Arc::new(stop),
            },
            task,
        })
    }
}

/// A running monitoring server. It stops on [`shutdown`](Self::shutdown), on
/// [`ShutdownHandle::shutdown`], or when the `Server` and every [`ShutdownHandle`] are dropped:
/// keep it alive (or `wait` on it) for as long as it should serve.
pub struct Server {
    local_addr: SocketAddr,
    prefix: String,
    token: String,
    token_generated: bool,
    stop: ShutdownHandle,
    task: tokio::task::JoinHandle<io::Result<()>>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("prefix", &self.prefix)
            .field("token", &tether_core::REDACTED)
            .field("token_generated", &self.token_generated)
            .finish_non_exhaustive()
    }
}

/// Stops a [`Server`] gracefully from anywhere (a signal handler, another task). Cheap to
/// clone.
#[derive(Clone, Debug)]
pub struct ShutdownHandle {
    stop: Arc<watch::Sender<bool>>,
}

impl ShutdownHandle {
    /// Stops accepting connections; requests in progress finish.
    pub fn shutdown(&self) {
        self.stop.send_replace(true);
    }
}

impl Server {
    /// A builder serving `monitor` with the defaults.
    pub fn builder(monitor: Monitor) -> ServerBuilder {
        ServerBuilder {
            monitor,
            config: ServerConfig::default(),
        }
    }

    /// The address it listens on (with the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The routes' base URL, e.g. `http://127.0.0.1:8001/monitoring`.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.local_addr, self.prefix)
    }

    /// The bearer token the `POST` routes (and protected reads) need.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Whether the token was generated at start (none was configured): print it once.
    pub fn token_generated(&self) -> bool {
        self.token_generated
    }

    /// A handle that stops the server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.stop.clone()
    }

    /// Stops accepting connections, lets requests in progress finish, and waits.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        self.stop.shutdown();
        self.wait().await
    }

    /// Waits until the server stops (after a [`ShutdownHandle::shutdown`]).
    pub async fn wait(self) -> Result<(), ServerError> {
        match self.task.await {
            Ok(result) => result.map_err(ServerError::Serve),
            Err(e) => Err(ServerError::Serve(io::Error::other(e))),
        }
    }
}

/// What the route handler needs.
struct App {
    monitor: Monitor,
    routes: RouteConfig,
    runtime: TokioRuntime,
}

fn router(config: &ServerConfig, app: Arc<App>, cors: Option<CorsLayer>) -> Router {
    let prefix = config.routes.prefix.as_str();
    let mut router = Router::new()
        .route(prefix, any(monitoring_route))
        .route(&format!("{prefix}/{{*rest}}"), any(monitoring_route))
        .with_state(app);
    router = match &config.dashboard_dir {
        Some(dir) => router.fallback_service(ServeDir::new(dir)),
        None => router.fallback(not_found),
    };
    if let Some(cors) = cors {
        router = router.layer(cors);
    }
    router
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
}

async fn monitoring_route(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response<Body> {
    // Only `Authorization` is read by the route table.
    let auth: Vec<(&str, &str)> = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| ("authorization", v))
        .collect();
    let request = RouteRequest {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers: &auth,
    };
    let response = match monitoring::parse(&app.routes, &request) {
        Err(refused) => refused,
        Ok(route) => {
            let snapshot = app.monitor.snapshot();
            let response = monitoring::respond(&route, &snapshot, app.runtime.wall());
            match response.action.as_ref().map(|a| app.monitor.perform(a)) {
                // The service left the registry between the snapshot and the action.
                Some(Err(e)) => RouteResponse::error(404, &format!("Service {} not found", e.0)),
                _ => response,
            }
        }
    };
    into_response(response)
}

async fn not_found() -> Response<Body> {
    into_response(RouteResponse::error(404, "Not Found"))
}

fn into_response(r: RouteResponse) -> Response<Body> {
    let mut response = Response::new(Body::from(r.body));
    *response.status_mut() =
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(r.content_type),
    );
    for (name, value) in r.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.append(HeaderName::from_static(name), value);
        }
    }
    response
}

/// A prefix axum can route: `/` then path segments of letters, digits, `-`, `_`, `.`.
fn check_prefix(prefix: &str) -> Result<(), ServerError> {
    let ok = prefix.len() > 1
        && prefix.starts_with('/')
        && !prefix.ends_with('/')
        && !prefix.contains("//")
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ServerError::Config {
            field: "routes.prefix",
            reason: format!("{prefix:?} must look like `/monitoring`"),
        })
    }
}

fn cors_layer(origins: &[String]) -> Result<Option<CorsLayer>, ServerError> {
    if origins.is_empty() {
        return Ok(None);
    }
    let list = origins
        .iter()
        .map(|o| {
            HeaderValue::from_str(o).map_err(|_| ServerError::Config {
                field: "cors_origins",
                reason: format!("{o:?} is not a valid origin"),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(list))
            .allow_methods([Method::GET, Method::HEAD, Method::POST])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]),
    ))
}

/// 32 random bytes from the OS, as 64 lower-case hex digits.
fn generate_token() -> Result<String, ServerError> {
    let mut bytes = [0_u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| ServerError::Token(e.to_string()))?;
    let mut hex = String::with_capacity(TOKEN_BYTES * 2);
    for b in bytes {
        let _ = write!(hex, "{b:02x}");
    }
    Ok(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_hex() {
        let a = generate_token().unwrap();
        let b = generate_token().unwrap();
        assert_eq!(a.len(), 64);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(a, b);
    }

    #[test]
    fn prefixes() {
        for ok in ["/monitoring", "/api/v1/monitoring", "/m-1_x.y"] {
            check_prefix(ok).unwrap();
        }
        for bad in [
            "",
            "/",
            "monitoring",
            "/monitoring/",
            "/a//b",
            "/{x}",
            "/a b",
        ] {
            assert!(check_prefix(bad).is_err(), "{bad:?}");
        }
    }
}
