//! `tether demo`.

use crate::Failure;

/// `tether demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) async fn run(_args: Args) -> Result<(), Failure> {
    Err(Failure::Failed("not yet".into()))
}
