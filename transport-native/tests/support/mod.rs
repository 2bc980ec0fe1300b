//! Helpers for the transport tests: the three transports behind one type, a macro that runs a
//! test against each, and a raw TCP server that records the exact bytes it receives.
#![allow(dead_code, unreachable_pub, clippy::disallowed_methods)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use tether_chaos::{ChaosHandle, ChaosOptions, spawn_background};
use tether_core::{Outcome, Request, Transport, TransportErrorKind};
use tether_native::{HyperTransport, NativeConfig, SendFuture, UreqTransport, blocking};

/// Which transport a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The async API's ureq transport (tokio's blocking pool).
    Ureq,
    /// The async API's hyper transport.
    Hyper,
    /// The blocking API's ureq transport, each attempt run by `blocking::block_on` on an OS
    /// thread of its own (tokio's blocking pool, so that tests can run many at once).
    Blocking,
}

/// Any of the three transports.
#[derive(Clone, Debug)]
pub enum AnyTransport {
    Ureq(UreqTransport),
    Hyper(HyperTransport),
    Blocking(blocking::UreqTransport),
}

impl Transport for AnyTransport {
    type Send = SendFuture;

    fn send(&self, request: Request, timeout: Option<Duration>) -> SendFuture {
        match self {
            AnyTransport::Ureq(t) => t.send(request, timeout),
            AnyTransport::Hyper(t) => t.send(request, timeout),
            AnyTransport::Blocking(t) => {
                let attempt = t.send(request, timeout);
                Box::pin(async move {
                    tokio::task::spawn_blocking(move || blocking::block_on(attempt))
                        .await
                        .expect("the blocking attempt finished")
                })
            }
        }
    }
}

impl AnyTransport {
    /// Starts `n` GETs of `url` as tasks, each with `timeout`.
    pub fn spawn_gets(
        &self,
        url: &str,
        n: usize,
        timeout: Duration,
    ) -> Vec<tokio::task::JoinHandle<Outcome>> {
        (0..n)
            .map(|_| {
                let t = self.clone();
                let request = get(url);
                tokio::spawn(async move { t.send(request, Some(timeout)).await })
            })
            .collect()
    }

    /// Free attempt slots of the origin of `url`.
    pub fn attempt_slots(&self, url: &str) -> usize {
        let uri = url.parse().unwrap();
        match self {
            AnyTransport::Ureq(t) => t.available_attempt_slots(&uri),
            AnyTransport::Hyper(t) => t.available_attempt_slots(&uri),
            AnyTransport::Blocking(t) => t.available_attempt_slots(&uri),
        }
        .unwrap()
    }
}

impl Kind {
    /// A transport of this kind; panics on an invalid configuration.
    pub fn make(self, config: NativeConfig) -> AnyTransport {
        match self {
            Kind::Ureq => AnyTransport::Ureq(UreqTransport::try_new(config).expect("valid config")),
            Kind::Hyper => {
                AnyTransport::Hyper(HyperTransport::try_new(config).expect("valid config"))
            }
            Kind::Blocking => AnyTransport::Blocking(
                blocking::UreqTransport::try_new(config).expect("valid config"),
            ),
        }
    }

    /// A transport of this kind with the default configuration.
    pub fn default_transport(self) -> AnyTransport {
        self.make(NativeConfig::default())
    }
}

/// Runs each named `async fn name(kind: Kind)` of the test file once per transport, as
/// `ureq_transport::name`, `hyper_transport::name` and `blocking_transport::name`, on a
/// two-worker runtime.
#[macro_export]
macro_rules! each {
    ($($name:ident),* $(,)?) => {
        mod ureq_transport {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Kind::Ureq).await;
                }
            )*
        }
        mod hyper_transport {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Kind::Hyper).await;
                }
            )*
        }
        mod blocking_transport {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Kind::Blocking).await;
                }
            )*
        }
    };
}

/// A chaos upstream for one test (stopped when dropped).
pub fn chaos() -> ChaosHandle {
    spawn_background(ChaosOptions::default())
}

pub fn get(url: &str) -> Request {
    http::Request::get(url).body(Bytes::new()).unwrap()
}

pub fn json(outcome: &Outcome) -> Value {
    let response = outcome.as_ref().expect("a response");
    serde_json::from_slice(response.body()).expect("a JSON body")
}

pub fn kind(outcome: &Outcome) -> TransportErrorKind {
    match outcome {
        Ok(response) => panic!("expected an error, got {}", response.status()),
        Err(error) => error.kind,
    }
}

/// How a [`Recorder`] answers each request it records.
#[derive(Clone, Debug)]
pub enum Reply {
    /// `200 OK` with the body `via-recorder`, keeping the connection open. A `CONNECT` is
    /// answered `200 Connection established`, and what follows on that connection is served
    /// the same way (a loopback "proxy" that is also its own target).
    Ok,
    /// Never answers; notices when the client closes the connection.
    Silent,
    /// Writes these bytes (a whole HTTP response) and closes the connection.
    Canned(Vec<u8>),
}

/// A raw TCP HTTP/1.1 server on loopback that records every request's bytes exactly as they
/// arrived (head and body). Each connection gets a thread; the server lives as long as the
/// test process.
#[derive(Clone, Debug)]
pub struct Recorder {
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<Vec<u8>>>>,
    accepted: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
}

impl Recorder {
    pub fn start(reply: Reply) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let recorder = Recorder {
            addr: listener.local_addr().unwrap(),
            log: Arc::default(),
            accepted: Arc::default(),
            closed: Arc::default(),
        };
        let shared = recorder.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                shared.accepted.fetch_add(1, Ordering::SeqCst);
                let conn = shared.clone();
                let reply = reply.clone();
                std::thread::spawn(move || conn.serve(stream, &reply));
            }
        });
        recorder
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request received so far, as (lossy) text.
    pub fn requests(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect()
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Connections the client closed.
    pub fn closed(&self) -> usize {
        self.closed.load(Ordering::SeqCst)
    }

    fn serve(&self, mut stream: TcpStream, reply: &Reply) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
        let mut buf = Vec::new();
        loop {
            let Some(end) = read_request(&mut stream, &mut buf) else {
                self.closed.fetch_add(1, Ordering::SeqCst);
                return;
            };
            let request: Vec<u8> = buf.drain(..end).collect();
            let connect = request.starts_with(b"CONNECT ");
            self.log
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(request);
            if connect {
                let _ = stream.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                continue;
            }
            match reply {
                Reply::Ok => {
                    let _ = stream.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 12\r\n\r\nvia-recorder",
                    );
                }
                Reply::Silent => {
                    let mut sink = [0_u8; 1024];
                    while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
                    self.closed.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                Reply::Canned(bytes) => {
                    let _ = stream.write_all(bytes);
                    let _ = stream.shutdown(std::net::Shutdown::Write);
                    return;
                }
            }
        }
    }
}

/// Reads one whole request (head, and a body framed by `Content-Length` or chunked) into
/// `buf`; returns its length, or `None` when the peer closed first.
fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<usize> {
    let mut chunk = [0_u8; 16 * 1024];
    let mut fill = |buf: &mut Vec<u8>| -> Option<()> {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                Some(())
            }
        }
    };
    let head_end = loop {
        if buf.first() == Some(&0x16) {
            // A TLS ClientHello (through a tunnel): this server speaks no TLS; hang up.
            return None;
        }
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        fill(buf)?;
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let chunked = head
        .lines()
        .any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"));
    let length = head.lines().find_map(|l| {
        l.strip_prefix("content-length:")
            .and_then(|v| v.trim().parse::<usize>().ok())
    });
    if chunked {
        loop {
            if let Some(i) = find(&buf[head_end..], b"0\r\n\r\n") {
                return Some(head_end + i + 5);
            }
            fill(buf)?;
        }
    }
    let end = head_end + length.unwrap_or(0);
    while buf.len() < end {
        fill(buf)?;
    }
    Some(end)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The header lines of a recorded request, lower-cased names with their values.
pub fn header_lines(request: &str) -> Vec<(String, String)> {
    let head = request.split("\r\n\r\n").next().unwrap_or_default();
    head.lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect()
}

/// A whole HTTP/1.1 response with `Content-Encoding: encoding` and `body`.
pub fn canned(encoding: &str, body: &[u8]) -> Vec<u8> {
    let mut message = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-encoding: {encoding}\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    message.extend_from_slice(body);
    message
}
