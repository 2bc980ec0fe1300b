//! `make bench-wasm`: what the client layer and the engine cost per request when the network
//! costs nothing — the same code, the same requests, timed the same way in Chromium, in Node
//! and natively.
//!
//! The transport ([`Scripted`]) answers every attempt at once with a prepared ~200-byte JSON
//! response, so each request's future completes in its first poll; the loop polls it once
//! ([`futures::FutureExt::now_or_never`]) and never yields to an executor. What is timed is everything
//! a request does in the client layer and the engine: parsing and checking the URL, the
//! default headers, the deadline, the cache lookup (key derivation with the credential
//! partition), the breaker, the permit, the attempt raced against its time limit, the outcome
//! (breaker result, metrics and histogram, retry decision, cache store decision), the decision
//! trace and the `Response`. The client is each frontend's real one over this transport: the
//! browser runtime and hooks in wasm, tokio's and `tracing`'s natively, with
//! `EngineConfig::default()` (every policy on).
//!
//! Time is read from the frontend's own runtime (`performance.now()` in wasm, which browsers
//! coarsen to 5 µs in a cross-origin-isolated page such as the test runner's; `Instant`
//! natively) around rounds of [`REQUESTS`] requests. Rounds are short (a few milliseconds, under
//! a scheduler time slice), so on a shared machine the fastest round is one the process ran
//! undisturbed: it is the figure to compare, and the median shows the noise.

use std::fmt;
use std::future::{Ready, ready};
use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt as _;
use tether_core::client::{Hooks, HttpClient};
use tether_core::{Decision, Engine, EngineConfig, Outcome, Request, Response, Runtime, Transport};

/// A transport that answers every attempt at once: `no-store` under `/no-store`, `max-age=60`
/// elsewhere.
#[derive(Clone, Copy, Debug, Default)]
pub struct Scripted;

/// The body every attempt gets (the shape of a small API response).
const BODY: &[u8] = br#"{"id":42,"name":"tether","tags":["cache","breaker","retry"],"owner":{"id":7,"login":"ops"},"updated_at":"2026-11-26T00:00:00Z","active":true,"score":0.97,"links":{"self":"/items/42"}}"#;

impl Transport for Scripted {
    type Send = Ready<Outcome>;

    fn send(&self, request: Request, _timeout: Option<Duration>) -> Ready<Outcome> {
        ready(Ok(answer(&request)))
    }
}

/// The scripted answer to `request`.
fn answer(request: &Request) -> Response {
    {
        let cache_control = if request.uri().path() == "/no-store" {
            "no-store"
        } else {
            "max-age=60"
        };
        let mut response = Response::new(Bytes::from_static(BODY));
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        headers.insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static(cache_control),
        );
        response
    }
}

/// What was measured for one case.
#[derive(Clone, Debug)]
pub struct Report {
    /// `miss` (every request reaches the transport; the response is `no-store`) or `hit`
    /// (answered from the cache) through the client; `engine-miss` and `engine-hit`: the same
    /// through the bare [`Engine`] (its inputs called directly, as the client's driver does);
    /// `uri-parse`: the client's URL parsing alone.
    pub case: &'static str,
    /// Where it ran: `native`, `node` or `chromium`.
    pub runtime: &'static str,
    /// Nanoseconds per request in the median round.
    pub median_ns: f64,
    /// Nanoseconds per request in the fastest round.
    pub min_ns: f64,
    /// The slowest round.
    pub max_ns: f64,
    /// Requests per round.
    pub requests: usize,
    /// Rounds.
    pub rounds: usize,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bench: case={} runtime={} ns_per_request={:.0} min={:.0} max={:.0} requests={} rounds={}",
            self.case,
            self.runtime,
            self.median_ns,
            self.min_ns,
            self.max_ns,
            self.requests,
            self.rounds
        )
    }
}

/// Requests per round.
pub const REQUESTS: usize = 1_000;
/// Rounds per case (the fastest and the median are reported).
pub const ROUNDS: usize = 201;

/// Sends one GET and returns at once: the transport is ready, so one poll finishes it.
fn one<T, R, H>(client: &HttpClient<T, R, H>, url: &str)
where
    T: Transport,
    R: Runtime,
    H: Hooks,
{
    let response = client
        .get(url)
        .send()
        .now_or_never()
        .expect("a ready transport finishes a request in one poll")
        .expect("the scripted upstream answers 200");
    black_box(response);
}

/// One request through the bare engine: `begin`, and for a miss `on_response` with the
/// scripted answer, then the outputs drained — what the client's driver calls, without it.
fn engine_one<R: Runtime>(engine: &mut Engine, clock: &R, request: &Request) {
    let decision = engine
        .begin(clock.now(), clock.wall(), request, None)
        .expect("a valid request");
    match decision {
        Decision::Send(permit) => {
            let next = engine
                .on_response(
                    clock.now(),
                    clock.wall(),
                    permit,
                    request,
                    Ok(answer(request)),
                )
                .expect("a live permit");
            let _ = black_box(next);
        }
        other => {
            let _ = black_box(other);
        }
    }
    while let Some(output) = engine.poll_output() {
        black_box(output);
    }
}

/// Times `one` in [`ROUNDS`] rounds of [`REQUESTS`] calls, after a warm-up.
fn measure<R: Runtime>(
    clock: &R,
    case: &'static str,
    runtime: &'static str,
    mut one: impl FnMut(),
) -> Report {
    for _ in 0..REQUESTS * 5 {
        one();
    }
    let mut rounds: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let started = clock.now();
            for _ in 0..REQUESTS {
                one();
            }
            let took = clock.now().saturating_duration_since(started);
            took.as_nanos() as f64 / REQUESTS as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    Report {
        case,
        runtime,
        median_ns: rounds[ROUNDS / 2],
        min_ns: rounds[0],
        max_ns: rounds[ROUNDS - 1],
        requests: REQUESTS,
        rounds: ROUNDS,
    }
}

/// The two URLs: a `no-store` one (every request misses) and a cacheable one.
const CASES: [(&str, &str); 2] = [
    ("miss", "http://api.bench.test/no-store"),
    ("hit", "http://api.bench.test/cached"),
];

/// Runs every case on `client` (built over [`Scripted`], with `EngineConfig::default()`) and
/// on a bare engine with the same configuration, and reports them under `runtime`.
pub fn run<T, R, H>(client: &HttpClient<T, R, H>, runtime: &'static str) -> Vec<Report>
where
    T: Transport,
    R: Runtime,
    H: Hooks,
{
    let clock = client.runtime();
    let mut reports: Vec<Report> = CASES
        .iter()
        .map(|&(case, url)| measure(clock, case, runtime, || one(client, url)))
        .collect();
    for (case, url) in CASES {
        let mut engine = Engine::new(EngineConfig::default(), 7).expect("the default is valid");
        let mut request = Request::new(Bytes::new());
        *request.uri_mut() = url.parse().expect("a valid URL");
        let name = if case == "miss" {
            "engine-miss"
        } else {
            "engine-hit"
        };
        reports.push(measure(clock, name, runtime, || {
            engine_one(&mut engine, clock, &request);
        }));
    }
    // One step of the client layer on its own, for the breakdown: the URL as typed, parsed
    // (WHATWG) and checked into the request's URI.
    reports.push(measure(clock, "uri-parse", runtime, || {
        let uri = tether_core::uri::parse(CASES[0].1, &[] as &[(&str, &str)]);
        black_box(uri.expect("a valid URL"));
    }));
    reports
}
