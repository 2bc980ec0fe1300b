//! Ctrl-C (SIGINT) and SIGTERM as one future.

/// Resolves on the first SIGINT or SIGTERM.
pub(crate) async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Resolves on SIGINT or SIGTERM, or after `limit` when there is one; says which.
pub(crate) async fn signal_or(limit: Option<std::time::Duration>) -> Stop {
    if let Some(limit) = limit {
        tokio::select! {
            () = signal() => Stop::Signal,
            () = tokio::time::sleep(limit) => Stop::Elapsed,
        }
    } else {
        signal().await;
        Stop::Signal
    }
}

/// Why a long-running command stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Ctrl-C or SIGTERM.
    Signal,
    /// Its `--duration` elapsed.
    Elapsed,
}
