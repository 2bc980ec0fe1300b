//! `tether`: Tether's command-line program.
//!
//! * `tether get URL` — one request through the resilient client; prints the status, the
//!   timing and the decision trace (`--json` for the trace as JSON).
//! * `tether load URL -n N -c C` — a bounded load with a progress bar and a latency summary.
//! * `tether serve --config tether.toml` — the monitoring server for the services of a
//!   configuration file.
//! * `tether demo` — a chaos upstream, traffic whose failures come and go, and the monitoring
//!   server, with a live status line per service.
//!
//! Exit status: 0 on success; 1 when the request, the load or the server failed; 2 for a
//! usage or configuration error.

mod clock;
mod config;
mod demo;
mod duration;
mod get;
mod load;
mod monitoring;
mod request;
mod serve;
mod shutdown;
mod status;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Resilient HTTP from the command line: one request and its decision trace, a bounded load,
/// the monitoring server, and a live demo.
#[derive(Debug, Parser)]
#[command(name = "tether", version, propagate_version = true)]
struct Cli {
    /// Log the client's decisions (retries, breaker transitions, errors) to stderr at this
    /// level: error, warn, info, debug or trace.
    #[arg(long, global = true, value_name = "LEVEL")]
    log: Option<tracing::Level>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send one request and print its status, timing and decision trace.
    Get(get::Args),
    /// Send a bounded load and print a latency summary with percentiles.
    Load(load::Args),
    /// Serve the monitoring routes for the services of a configuration file.
    Serve(serve::Args),
    /// Run a chaos upstream, traffic whose failures come and go, and the monitoring server.
    Demo(demo::Args),
}

/// How a command ended.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A usage or configuration mistake: exit 2.
    Usage(String),
    /// The work itself failed: exit 1 (the command has already said why, if the message is
    /// empty).
    Failed(String),
}

impl Failure {
    fn exit(self) -> ExitCode {
        match self {
            Failure::Usage(message) => {
                eprintln!("tether: {message}");
                ExitCode::from(2)
            }
            Failure::Failed(message) => {
                if !message.is_empty() {
                    eprintln!("tether: {message}");
                }
                ExitCode::FAILURE
            }
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(level) = cli.log {
        tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(std::io::stderr)
            // Colours only for a person at a terminal, never in a file or a pipe.
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("tether")
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return Failure::Failed(format!("cannot start the tokio runtime: {e}")).exit(),
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Get(args) => get::run(args).await,
            Command::Load(args) => load::run(args).await,
            Command::Serve(args) => serve::run(args).await,
            Command::Demo(args) => demo::run(args).await,
        }
    });
    // Blocking transport work still running (an attempt whose caller gave up) must not keep
    // the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.exit(),
    }
}
