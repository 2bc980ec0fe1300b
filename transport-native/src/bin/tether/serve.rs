//! `tether serve --config tether.toml`: the monitoring server for the services of a
//! configuration file.

use std::path::PathBuf;

use tether_native::tether_core::redact_url;

use crate::Failure;
use crate::config::{self, Config};

/// `tether serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The configuration file (see tether.example.toml).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: PathBuf,
    /// Check the configuration, print what would be served, and exit.
    #[arg(long)]
    check: bool,
}

/// Reads and checks the configuration file.
fn load(path: &std::path::Path) -> Result<Config, Failure> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("cannot read the configuration {shown}: {e}")))?;
    config::parse(&shown, &text).map_err(|e| Failure::Usage(e.to_string()))
}

pub(crate) async fn run(args: Args) -> Result<(), Failure> {
    let config = load(&args.config)?;
    if args.check {
        println!(
            "{}: valid — {} service{}, server on {}:{}",
            args.config.display(),
            config.services.len(),
            if config.services.len() == 1 { "" } else { "s" },
            config.server.bind,
            config.server.port.0
        );
        for s in &config.services {
            println!("  {} -> {}", s.name.get_ref().0, redact_url(&s.base_url.0));
        }
        return Ok(());
    }
    Err(Failure::Failed(
        "the monitoring server is not built into this binary yet".into(),
    ))
}
