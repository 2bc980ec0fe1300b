//! The monitor and its server for `serve` and `demo`: started over a registry, announced with
//! the URLs worth opening, stopped gracefully.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tether_native::Registry;
use tether_native::monitor::{Monitor, MonitorConfig};
use tether_native::server::{Server, ServerConfig};
use tether_native::tether_core::monitoring::RouteConfig;

use crate::Failure;

/// Where and how to serve.
#[derive(Debug)]
pub(crate) struct Serving {
    pub(crate) bind: SocketAddr,
    /// `None`: one is generated and printed.
    pub(crate) token: Option<String>,
    pub(crate) protect_reads: bool,
    pub(crate) dashboard_dir: PathBuf,
}

/// A running monitor and server.
pub(crate) struct Running {
    pub(crate) monitor: Monitor,
    pub(crate) server: Server,
    /// The dashboard folder, when it exists and is served.
    pub(crate) dashboard: Option<PathBuf>,
}

/// Starts the monitor over `registry` and the server in front of it.
pub(crate) async fn start(
    registry: Arc<Registry>,
    monitor: MonitorConfig,
    serving: Serving,
) -> Result<Running, Failure> {
    let monitor = Monitor::new(registry, monitor)
        .map_err(|e| Failure::Usage(format!("invalid monitor settings: {e}")))?;
    let dashboard = serving
        .dashboard_dir
        .is_dir()
        .then(|| serving.dashboard_dir.clone());
    let config = ServerConfig {
        bind: serving.bind,
        routes: RouteConfig {
            token: serving.token,
            protect_reads: serving.protect_reads,
            ..RouteConfig::default()
        },
        dashboard_dir: dashboard.clone(),
        ..ServerConfig::default()
    };
    let server = Server::builder(monitor.clone())
        .config(config)
        .start()
        .await
        .map_err(|e| Failure::Failed(format!("cannot start the monitoring server: {e}")))?;
    Ok(Running {
        monitor,
        server,
        dashboard,
    })
}

impl Running {
    /// The URLs to open and the commands to try, with the token when it was generated.
    pub(crate) fn announce(&self, wanted_dashboard: &Path) -> String {
        let base = self.server.url();
        let root = format!("http://{}", self.server.local_addr());
        let token = self.server.token();
        let mut s = String::new();
        let _ = writeln!(s, "Monitoring server on {root} — what to look at:");
        match &self.dashboard {
            Some(dir) => {
                let _ = writeln!(
                    s,
                    "  dashboard         {root}/   (open it in a browser; files from {})",
                    dir.display()
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "  dashboard         not built ({} is missing); the JSON it reads: curl {base}/dashboard",
                    wanted_dashboard.display()
                );
            }
        }
        let routes = [
            ("services", "/services"),
            ("circuit breakers", "/circuit-breakers"),
            ("alerts", "/alerts"),
            ("dashboard data", "/dashboard"),
            ("health", "/health"),
            ("history", "/history?hours=1"),
            ("cache", "/cache/stats"),
        ];
        for (what, path) in routes {
            let _ = writeln!(s, "  {what:<17} curl {base}{path}");
        }
        let _ = writeln!(
            s,
            "  {:<17} curl '{base}/metrics?format=prometheus'",
            "prometheus"
        );
        let _ = writeln!(s, "  {:<17} curl {base}/health/live", "liveness");
        if self.server.token_generated() {
            let _ = writeln!(
                s,
                "  {:<17} curl -X POST -H 'Authorization: Bearer {token}' {base}/refresh",
                "refresh (POST)"
            );
            let _ = writeln!(s, "Token for the POST routes (generated): {token}");
        } else {
            let _ = writeln!(
                s,
                "  {:<17} curl -X POST -H \"Authorization: Bearer $TOKEN\" {base}/refresh   (the configured token)",
                "refresh (POST)"
            );
        }
        s
    }

    /// Stops the server (requests in progress finish), then the monitor.
    pub(crate) async fn stop(self) -> Result<(), Failure> {
        let result = self.server.shutdown().await;
        self.monitor.shutdown().await;
        result.map_err(|e| Failure::Failed(format!("monitoring server: {e}")))
    }
}
