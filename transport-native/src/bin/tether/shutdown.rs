//! Ctrl-C (SIGINT) and SIGTERM as one future.

/// SIGINT and SIGTERM listeners, registered when made: a signal that arrives after
/// [`Signals::listen`] and before anyone waits is not lost (and does not kill the process
/// with the default action while a command is still printing its banner).
pub(crate) struct Signals {
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Registers the handlers now. Needs a tokio runtime with I/O enabled.
    pub(crate) fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Signals {
                int: signal(SignalKind::interrupt()).ok(),
                term: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        {
            Signals {}
        }
    }

    /// Resolves on the first SIGINT or SIGTERM.
    pub(crate) async fn recv(&mut self) {
        #[cfg(unix)]
        {
            async fn next(signal: Option<&mut tokio::signal::unix::Signal>) {
                match signal {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            if self.int.is_none() && self.term.is_none() {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
            tokio::select! {
                () = next(self.int.as_mut()) => {}
                () = next(self.term.as_mut()) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }

    /// Resolves on SIGINT or SIGTERM, or after `limit` when there is one; says which.
    pub(crate) async fn recv_or(&mut self, limit: Option<std::time::Duration>) -> Stop {
        if let Some(limit) = limit {
            tokio::select! {
                () = self.recv() => Stop::Signal,
                () = tokio::time::sleep(limit) => Stop::Elapsed,
            }
        } else {
            self.recv().await;
            Stop::Signal
        }
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
