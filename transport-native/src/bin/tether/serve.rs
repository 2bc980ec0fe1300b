//! `tether serve --config tether.toml`.

use crate::Failure;

/// `tether serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) async fn run(_args: Args) -> Result<(), Failure> {
    Err(Failure::Failed("not yet".into()))
}
