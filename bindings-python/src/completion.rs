//! The completion queue of one event loop: where tokio threads leave finished work for the
//! loop thread, and the file descriptor that wakes the loop.
//!
//! Producers (tokio worker threads) push a [`Completion`] under a short mutex and write one
//! byte to the wake socket only when the queue goes from empty to non-empty, so a burst of
//! completions costs the loop one wake-up. The consumer (the loop thread, in its reader
//! callback) first drains the wake socket, then takes the whole queue. That order keeps the
//! protocol free of lost wake-ups: any completion the take misses was pushed onto the empty
//! queue the take left behind, and that push writes a new byte.
//!
//! Nothing here knows about Python: a completion's payload is an opaque boxed value the loop
//! side turns into Python objects.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// One finished task: the token of the asyncio future waiting for it, and its outcome.
pub(crate) struct Completion<T> {
    /// Identifies the waiting call within its loop (never reused).
    pub(crate) token: u64,
    /// What the task produced (or why it stopped).
    pub(crate) value: T,
}

struct State<T> {
    items: Vec<Completion<T>>,
    closed: bool,
}

/// The producer side of one loop's queue, shared with every task started from that loop.
pub(crate) struct Completions<T> {
    state: Mutex<State<T>>,
    /// Write end of the wake socket; `None` once the loop's bridge is torn down.
    waker: Mutex<Option<UnixStream>>,
}

/// The consumer side: the read end of the wake socket, owned by the loop's bridge.
pub(crate) struct WakeReader {
    socket: UnixStream,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // No code path panics while holding these locks; if one ever did, the data (a list of
    // completions, an optional socket) is still consistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<T> Completions<T> {
    /// A queue and its wake socket pair (both ends non-blocking).
    pub(crate) fn new() -> std::io::Result<(Self, WakeReader)> {
        let (reader, writer) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        let queue = Self {
            state: Mutex::new(State {
                items: Vec::new(),
                closed: false,
            }),
            waker: Mutex::new(Some(writer)),
        };
        Ok((queue, WakeReader { socket: reader }))
    }

    /// Queues a completion; wakes the loop if the queue was empty. After [`close`](Self::close)
    /// the completion is dropped (on the calling thread: it must not hold Python objects).
    pub(crate) fn push(&self, completion: Completion<T>) {
        let first = {
            let mut state = lock(&self.state);
            if state.closed {
                return;
            }
            state.items.push(completion);
            state.items.len() == 1
        };
        if first {
            self.wake();
        }
    }

    fn wake(&self) {
        if let Some(socket) = lock(&self.waker).as_ref() {
            // A full socket buffer (impossible: at most two bytes are ever pending) or a
            // closed reader both mean the loop needs no further wake-up.
            let _ = (&*socket).write(&[1]);
        }
    }

    /// Everything queued so far, in completion order.
    pub(crate) fn take(&self) -> Vec<Completion<T>> {
        std::mem::take(&mut lock(&self.state).items)
    }

    /// Stops accepting completions, closes the write end of the wake socket, and returns what
    /// was still queued (for the caller to drop where it sees fit).
    pub(crate) fn close(&self) -> Vec<Completion<T>> {
        let items = {
            let mut state = lock(&self.state);
            state.closed = true;
            std::mem::take(&mut state.items)
        };
        drop(lock(&self.waker).take());
        items
    }
}

impl WakeReader {
    /// The file descriptor the event loop watches for readability.
    pub(crate) fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    /// Reads every pending wake byte. Call before [`Completions::take`].
    pub(crate) fn drain(&self) {
        let mut buffer = [0_u8; 64];
        loop {
            match (&self.socket).read(&mut buffer) {
                Ok(n) if n == buffer.len() => {}
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                // Fewer bytes than asked: drained. WouldBlock: nothing left. End of file or
                // another error: nothing more will come.
                Ok(_) | Err(_) => return,
            }
        }
    }

    /// Reads and counts the pending wake bytes (tests: "was the loop woken, how often").
    #[cfg(test)]
    fn take_wakes(&self) -> usize {
        let mut buffer = [0_u8; 64];
        let mut total = 0;
        while let Ok(n @ 1..) = (&self.socket).read(&mut buffer) {
            total += n;
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn completion(token: u64) -> Completion<u64> {
        Completion {
            token,
            value: token * 10,
        }
    }

    #[test]
    fn one_wake_byte_per_batch() {
        let (queue, reader) = Completions::new().unwrap();
        assert_eq!(reader.take_wakes(), 0);
        queue.push(completion(1));
        queue.push(completion(2));
        queue.push(completion(3));
        assert_eq!(
            reader.take_wakes(),
            1,
            "three pushes onto an empty queue wake once"
        );
        let taken: Vec<_> = queue
            .take()
            .into_iter()
            .map(|c| (c.token, c.value))
            .collect();
        assert_eq!(taken, vec![(1, 10), (2, 20), (3, 30)]);
        queue.push(completion(4));
        assert_eq!(reader.take_wakes(), 1, "a push after a take wakes again");
    }

    #[test]
    #[expect(
        clippy::disallowed_methods,
        reason = "real threads stand in for tokio's workers; a real deadline guards against a hang"
    )]
    fn drain_then_take_never_loses_a_wake() {
        // Producers race a consumer that follows the loop's protocol: it looks at the queue
        // only after a wake byte arrived, draining the socket before taking. Every completion
        // must be seen; a lost wake-up would leave the consumer waiting at the deadline.
        let (queue, reader) = Completions::new().unwrap();
        let queue = Arc::new(queue);
        let producers: Vec<_> = (0..4)
            .map(|p| {
                let queue = Arc::clone(&queue);
                #[expect(
                    clippy::disallowed_methods,
                    reason = "producer threads stand in for tokio's"
                )]
                std::thread::spawn(move || {
                    for i in 0..5_000 {
                        queue.push(completion(p * 100_000 + i));
                    }
                })
            })
            .collect();
        let mut seen = 0;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while seen < 20_000 {
            assert!(
                std::time::Instant::now() < deadline,
                "lost wake-up: {seen} seen"
            );
            if reader.take_wakes() > 0 {
                seen += queue.take().len();
            } else {
                std::thread::yield_now();
            }
        }
        for producer in producers {
            producer.join().unwrap();
        }
        assert_eq!(seen, 20_000);
        assert!(queue.take().is_empty());
    }

    #[test]
    fn close_drops_later_pushes_and_closes_the_writer() {
        let (queue, reader) = Completions::new().unwrap();
        queue.push(completion(1));
        let left = queue.close();
        assert_eq!(left.len(), 1);
        queue.push(completion(2));
        assert!(queue.take().is_empty());
        reader.drain();
        // The write end is closed: the reader sees end of file, not a would-block.
        let mut byte = [0_u8; 1];
        assert_eq!((&reader.socket).read(&mut byte).unwrap(), 0);
    }
}
