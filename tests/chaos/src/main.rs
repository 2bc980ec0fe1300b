//! `tether-chaos`: runs the chaos upstream from a shell.
//!
//! `tether-chaos --port 0` prints `listening on 127.0.0.1:PORT` as its first stdout line, then
//! serves until SIGTERM or SIGINT.

// Test infrastructure doing real I/O (signals, sockets): the core's purity rules don't apply.
#![allow(clippy::disallowed_methods)]

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use clap::Parser;
use tether_chaos::ChaosOptions;

/// A deterministic, scriptable fault-injecting HTTP server for Tether's integration tests.
#[derive(Debug, Parser)]
#[command(name = "tether-chaos", version)]
struct Cli {
    /// Port to listen on; 0 picks a free one (printed on the first stdout line).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Loopback address to bind (only loopback addresses are accepted).
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// Add permissive CORS headers and answer preflights (for browser tests).
    #[arg(long)]
    cors: bool,
}

/// Resolves on SIGTERM or SIGINT. The handlers are registered when this is called, not when
/// the future is first polled: `main` calls it before printing the listening line, so a signal
/// sent as soon as that line is read is never left to the default action (which would kill
/// the process instead of shutting it down cleanly).
fn termination() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async move {
            match (term, int) {
                (Some(mut term), Some(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                (Some(mut one), None) | (None, Some(mut one)) => {
                    one.recv().await;
                }
                (None, None) => std::future::pending().await,
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if !cli.host.is_loopback() {
        eprintln!("tether-chaos: refusing to bind {}: loopback only", cli.host);
        return ExitCode::from(2);
    }
    let listener = match tokio::net::TcpListener::bind(SocketAddr::new(cli.host, cli.port)).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("tether-chaos: cannot bind {}:{}: {err}", cli.host, cli.port);
            return ExitCode::FAILURE;
        }
    };
    let addr = match listener.local_addr() {
        Ok(addr) => addr,
        Err(err) => {
            eprintln!("tether-chaos: {err}");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = termination();
    {
        let mut out = std::io::stdout().lock();
        if writeln!(out, "listening on {addr}")
            .and_then(|()| out.flush())
            .is_err()
        {
            return ExitCode::FAILURE;
        }
    }
    let opts = ChaosOptions::default().with_cors(cli.cors);
    match tether_chaos::serve_with_shutdown(listener, opts, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tether-chaos: {err}");
            ExitCode::FAILURE
        }
    }
}
