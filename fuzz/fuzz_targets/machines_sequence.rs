//! machines_sequence — stateful fuzzing of two of the engine's machines on their own, under one
//! shared clock (`engine_sequence` fuzzes the whole `Engine`; this target stays because it is
//! cheap and catches a regression closer to its cause). Each keeps its invariants whatever the
//! input:
//!
//! * **breaker** (`tether_core::Breaker`, arbitrary valid config): arbitrary acquire / report
//!   (success, failure, ignored; any duration) / drop-without-report / `handle_timeout` /
//!   isolate / reset / disable / enable, with arbitrary time steps. Invariants: never more than
//!   `half_open_probes` probes of one half-open episode in flight (counted independently from
//!   the permits we hold, and from the snapshot); after `handle_timeout(now)`, `poll_timeout()`
//!   is `None` or later than `now`; a rejection's `retry_at` is not in the past; every event is a
//!   real state change stamped `now`.
//! * **cache** (`tether_core::Cache`, arbitrary small config): lookups of requests built from
//!   arbitrary method / path / header bytes (inputs `http` rejects are skipped), upstream
//!   responses with arbitrary status and arbitrary `Cache-Control` / `Expires` / `ETag` /
//!   `Vary` / … bytes, errors and cancellations; every `Fill` completed exactly once; flight
//!   events drained after each completion; time only moves forward. Invariants:
//!   `len() <= max_entries`, `bytes() <= max_bytes`, every waiting follower gets exactly one
//!   flight event (none for a ticket that left or never followed), and once every fill is
//!   completed nobody is left waiting and no flight is in progress.
#![no_main]

use std::collections::HashMap;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, StatusCode};
use libfuzzer_sys::fuzz_target;
use tether_tests::lifecycle::VALUES;
use tether_core::{
    BreakDuration, Breaker, BreakerConfig, BreakerEvent, BreakerPermit, BreakerState,
    BreakerWindow, Cache, CacheConfig, CallKind, CallResult, Fill, FlightEvent, FlightId,
    FreshnessMode, Lookup, RatioTrigger, Request, Response, SlowCall, StoreResult, Timestamp,
    WallClock,
};

// ===== input =====
//
// The input decodes strictly front to back, with compact encodings: enums take a one-byte tag
// (the derive spends four), byte strings and lists a one-byte length prefix (the derive takes
// lengths from the end of the input), and the operation list runs to the end of the input (the
// derive spends a continue-byte per element, so half of all mutations would cut the sequence
// short). "Pick from a list or take raw bytes" choices prefer the list, so short inputs already
// reach stores, hits, revalidations, followers and half-open probes. The sequential layout also
// lets `fuzz/seeds/gen_seeds.py` write seed inputs by hand (keep the two in sync).

#[derive(Debug, Arbitrary)]
struct Input {
    start_micros: u32,
    wall_base_secs: u32,
    breaker: BreakerSetup,
    cache: CacheSetup,
    ops: Ops,
}

/// Operations until the input runs out.
#[derive(Debug)]
struct Ops(Vec<Op>);

#[derive(Debug)]
enum Op {
    AdvanceMicros(u16),
    AdvanceSecs(u16),
    AdvanceHuge(u64),
    Breaker(BreakerOp),
    Cache(CacheOp),
}

#[derive(Debug, Arbitrary)]
struct BreakerSetup {
    consecutive: u8,
    ratio: Option<RatioSetup>,
    break_micros: u16,
    exponential: Option<(u8, u32)>,
    half_open_probes: u8,
    probe_timeout_micros: u16,
    max_events: u8,
}

#[derive(Debug, Arbitrary)]
struct RatioSetup {
    count_window: Option<u8>,
    time_window: (u32, u8),
    failure_ratio: u8,
    min_throughput: u8,
    slow_call: Option<(u32, u8)>,
}

#[derive(Debug)]
enum BreakerOp {
    Acquire,
    Report {
        idx: u8,
        kind: u8,
        duration_micros: u32,
        wall: bool,
    },
    Drop(u8),
    HandleTimeout,
    Isolate,
    Reset,
    Disable,
    Enable,
    /// Acquire, then report at once (keeps the breaker moving with short inputs).
    Call {
        kind: u8,
        duration_micros: u16,
    },
}

#[derive(Debug, Arbitrary)]
struct CacheSetup {
    max_entries: u8,
    max_bytes: u16,
    max_entry_bytes: u16,
    ttl_only: bool,
    default_ttl_secs: u16,
    max_ttl_secs: u16,
    stale_if_error_secs: Option<u16>,
    heuristic: bool,
    include_query: bool,
    key_accept: bool,
    cache_post: bool,
    strip_set_cookie: bool,
    seed: u64,
}

#[derive(Debug)]
enum CacheOp {
    /// Build a request, remember it (pool of 16), look it up.
    Lookup {
        req: ReqSpec,
        bypass_resp: RespSpec,
    },
    /// Look up a remembered request again (the way hits happen).
    Again(u8),
    /// Complete a pending fill.
    Complete {
        idx: u8,
        how: Completion,
    },
    /// A waiting follower gives up.
    Leave(u8),
    InvalidateAll,
    InvalidateUrl(u8),
    InvalidateKey(u8),
    InvalidatePrefix(Blob),
    PurgeExpired,
}

#[derive(Debug)]
enum Completion {
    Respond(RespSpec),
    Error,
    Abandon,
}

/// An element of a list of meaningful values (method, path, header name or value), or raw
/// bytes (one time in eight).
#[derive(Debug)]
enum Pick {
    Known(u8),
    Raw(Blob),
}

/// Up to 255 bytes, length-prefixed.
#[derive(Debug)]
struct Blob(Vec<u8>);

/// Up to 5 header fields, count-prefixed.
#[derive(Debug)]
struct Fields(Vec<(Pick, Pick)>);

#[derive(Debug)]
enum StatusSpec {
    Known(u8),
    Raw(u16),
}

#[derive(Debug, Arbitrary)]
struct ReqSpec {
    method: Pick,
    host: u8,
    path: Pick,
    headers: Fields,
    body: Blob,
}

#[derive(Debug, Arbitrary)]
struct RespSpec {
    status: StatusSpec,
    headers: Fields,
    body_len: u8,
}

type U<'a, 'b> = &'b mut Unstructured<'a>;

fn tag(u: U<'_, '_>, n: u8) -> arbitrary::Result<u8> {
    Ok(u.arbitrary::<u8>()? % n)
}

impl<'a> Arbitrary<'a> for Ops {
    fn arbitrary(u: U<'a, '_>) -> arbitrary::Result<Self> {
        let mut ops = Vec::new();
        while !u.is_empty() && ops.len() < MAX_OPS {
            ops.push(u.arbitrary()?);
        }
        Ok(Ops(ops))
    }

    fn arbitrary_take_rest(mut u: Unstructured<'a>) -> arbitrary::Result<Self> {
        Self::arbitrary(&mut u)
    }
}

impl<'a> Arbitrary<'a> for Blob {
    fn arbitrary(u: U<'a, '_>) -> arbitrary::Result<Self> {
        let n = usize::from(u.arbitrary::<u8>()?).min(u.len());
        Ok(Blob(u.bytes(n)?.to_vec()))
    }
}

impl<'a> Arbitrary<'a> for Fields {
    fn arbitrary(u: U<'a, '_>) -> arbitrary::Result<Self> {
        let n = tag(u, 6)?;
        (0..n)
            .map(|_| Ok((u.arbitrary()?, u.arbitrary()?)))
            .collect::<arbitrary::Result<_>>()
            .map(Fields)
    }
}

impl<'a> Arbitrary<'a> for Op {
    fn arbitrary(u: U<'a, '_>) -> arbitrary::Result<Self> {
        Ok(match tag(u, 16)? {
            0 | 1 => Op::AdvanceMicros(u.arbitrary()?),
            2 | 3 => Op::AdvanceSecs(u.arbitrary::<u8>()?.into()),
            4 => Op::AdvanceHuge(u.arbitrary()?),
            5..=9 => Op::Breaker(u.arbitrary()?),
            _ => Op::Cache(u.arbitrary()?),
        })
    }
}

impl<'a> Arbitrary<'a> for BreakerOp {
    fn arbitrary(u: U<'a, '_>) -> arbitrary::Result<Self> {
        Ok(match tag(u, 16)? {
            0 | 1 => BreakerOp::Acquire,
            2 | 3 => BreakerOp::Report {
                idx: u.arbitrary()?,
                kind: u.arbitrary()?,
                duration_micros: u.arbitrary()?,
                wall: u.arbitrary()?,
            },
            4 => BreakerOp::Drop(u.arbitrary()?),
            5 | 6 => BreakerOp::HandleTimeout,
            7 => BreakerOp::Isolate,
            8 => BreakerOp::Reset,
            9 => BreakerOp::Disable,
            10 => BreakerOp::Enable,
            _ => BreakerOp::Call {
                kind: u.arbitrary()?,
                duration_micros: u.arbitrary()?,
            },
        })
    }
}

impl<'a> Arbitrary<'a> for CacheOp {
    fn arbitrary(u: U<'a, '_>) -> arbitrary::Result<Self> {
        Ok(match tag(u, 16)? {
            0..=4 => CacheOp::Lookup {
                req: u.arbitrary()?,
                bypass_resp: u.arbitrary()?,
            },
            5..=7 => CacheOp::Again(u.arbitrary()?),
            8..=11 => CacheOp::Complete {
                idx: u.arbitrary()?,
                how: u.arbitrary()?,
            },
            12 => CacheOp::Leave(u.arbitrary()?),
            13 => CacheOp::InvalidateUrl(u.arbitrary()?),
            _ => match tag(u, 4)? {
                0 => CacheOp::InvalidateAll,
                1 => CacheOp::InvalidateKey(u.arbitrary()?),
                2 => CacheOp::InvalidatePrefix(u.arbitrary()?),
                _ => CacheOp::PurgeExpired,
            },
        })
    }
}

impl<'a> Arbitrary<'a> for Completion {
    fn arbitrary(u: U<'a, '_>) -> arbitrary::Result<Self> {
        Ok(match tag(u, 4)? {
            0 | 1 => Completion::Respond(u.arbitrary()?),
            2 => Completion::Error,
            _ => Completion::Abandon,
        })
    }
}

impl<'a> Arbitrary<'a> for Pick {
    fn arbitrary(u: U<'a, '_>) -> arbitrary::Result<Self> {
        let b: u8 = u.arbitrary()?;
        Ok(if b >= 224 {
            Pick::Raw(u.arbitrary()?)
        } else {
            Pick::Known(b)
        })
    }
}

impl<'a> Arbitrary<'a> for StatusSpec {
    fn arbitrary(u: U<'a, '_>) -> arbitrary::Result<Self> {
        let b: u8 = u.arbitrary()?;
        Ok(if b >= 240 {
            StatusSpec::Raw(u.arbitrary()?)
        } else {
            StatusSpec::Known(b)
        })
    }
}

const MAX_OPS: usize = 512;
const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];
const HOSTS: &[&str] = &[
    "https://api.example.com",
    "http://api.example.com:8080",
    "https://user:pw@API.example.com",
    "http://other.example",
];
const REQ_HEADERS: &[&str] = &[
    "accept",
    "authorization",
    "cookie",
    "x-api-key",
    "cache-control",
    "pragma",
    "range",
    "if-none-match",
    "if-modified-since",
    "accept-language",
    "content-type",
];
const RESP_HEADERS: &[&str] = &[
    "cache-control",
    "expires",
    "etag",
    "vary",
    "last-modified",
    "date",
    "age",
    "set-cookie",
    "location",
    "content-location",
    "pragma",
    "connection",
    "content-length",
];
const STATUSES: &[u16] = &[200, 200, 304, 203, 204, 206, 301, 404, 410, 429, 500, 503];
const PATHS: &[&str] = &[
    "/",
    "/v1/items?b=2&a=1",
    "/v1/items?a=1&b=2",
    "/v1/items?api_key=s3cret&a=1",
    "/v1/items/1",
    "/v1/other#frag",
];

// ===== helpers =====

fn header_name(spec: &Pick, known: &[&'static str]) -> Option<HeaderName> {
    match spec {
        Pick::Known(i) => Some(HeaderName::from_static(known[*i as usize % known.len()])),
        Pick::Raw(b) => HeaderName::from_bytes(&b.0).ok(),
    }
}

fn header_value(spec: &Pick) -> Option<HeaderValue> {
    match spec {
        Pick::Known(i) => Some(HeaderValue::from_static(VALUES[*i as usize % VALUES.len()])),
        Pick::Raw(b) => HeaderValue::from_bytes(&b.0).ok(),
    }
}

fn build_request(spec: &ReqSpec) -> Option<Request> {
    let method = match &spec.method {
        Pick::Known(i) => Method::from_bytes(METHODS[*i as usize % METHODS.len()].as_bytes())
            .expect("known method"),
        Pick::Raw(b) => Method::from_bytes(&b.0).ok()?,
    };
    let mut uri = HOSTS[spec.host as usize % HOSTS.len()].as_bytes().to_vec();
    match &spec.path {
        Pick::Known(i) => uri.extend_from_slice(PATHS[*i as usize % PATHS.len()].as_bytes()),
        Pick::Raw(b) => uri.extend_from_slice(&b.0),
    }
    let mut b = http::Request::builder().method(method).uri(uri);
    for (name, value) in &spec.headers.0 {
        b = b.header(header_name(name, REQ_HEADERS)?, header_value(value)?);
    }
    let req = b.body(Bytes::copy_from_slice(&spec.body.0)).ok()?;
    // The core's contract: absolute URIs only.
    (req.uri().scheme().is_some() && req.uri().authority().is_some()).then_some(req)
}

fn build_response(spec: &RespSpec) -> Option<Response> {
    let status = match spec.status {
        StatusSpec::Known(i) => STATUSES[i as usize % STATUSES.len()],
        StatusSpec::Raw(s) => s,
    };
    let mut b = http::Response::builder().status(StatusCode::from_u16(status).ok()?);
    for (name, value) in &spec.headers.0 {
        // An unusable header is left out rather than losing the whole response.
        if let (Some(n), Some(v)) = (header_name(name, RESP_HEADERS), header_value(value)) {
            b = b.header(n, v);
        }
    }
    b.body(Bytes::from(vec![b'x'; usize::from(spec.body_len) * 8]))
        .ok()
}

fn breaker_config(s: &BreakerSetup) -> BreakerConfig {
    let micros = |m: u32| Duration::from_micros(u64::from(m).max(1));
    let ratio = s.ratio.as_ref().map(|r| {
        let window = match r.count_window {
            Some(n) => BreakerWindow::Count(u32::from(n).max(1)),
            None => BreakerWindow::Time {
                duration: micros(r.time_window.0).max(Duration::from_micros(256)),
                buckets: u32::from(r.time_window.1).max(1),
            },
        };
        let cap = match window {
            BreakerWindow::Count(n) => n,
            _ => 255,
        };
        RatioTrigger {
            window,
            failure_ratio: f64::from(r.failure_ratio.max(1)) / 255.0,
            min_throughput: u32::from(r.min_throughput).clamp(1, cap),
            slow_call: r.slow_call.map(|(d, ratio)| SlowCall {
                duration: micros(d),
                ratio: f64::from(ratio.max(1)) / 255.0,
            }),
        }
    });
    let break_duration = match s.exponential {
        None => BreakDuration::Constant(micros(s.break_micros.into())),
        Some((factor, max)) => {
            let base = micros(s.break_micros.into());
            BreakDuration::Exponential {
                base,
                factor: 1.0 + f64::from(factor) / 16.0,
                max: base.max(micros(max).saturating_mul(16)),
            }
        }
    };
    let config = BreakerConfig {
        consecutive_failures: Some(u32::from(s.consecutive % 8)).filter(|n| *n != 0),
        ratio,
        break_duration,
        half_open_probes: u32::from(s.half_open_probes % 8) + 1,
        probe_timeout: micros(u32::from(s.probe_timeout_micros) * 16),
        max_events: usize::from(s.max_events),
        ..BreakerConfig::default()
    };
    if config.validate().is_ok() {
        config
    } else {
        BreakerConfig::default()
    }
}

fn cache_config(s: &CacheSetup) -> CacheConfig {
    // Entries cost at least ENTRY_OVERHEAD (256) bytes: keep room for a few.
    let max_bytes = 1024 + usize::from(s.max_bytes);
    let mut methods = vec!["GET".to_owned(), "HEAD".to_owned()];
    if s.cache_post {
        methods.push("POST".to_owned());
    }
    let config = CacheConfig {
        mode: if s.ttl_only {
            FreshnessMode::TtlOnly
        } else {
            FreshnessMode::Rfc9111
        },
        default_ttl: Duration::from_secs(u64::from(s.default_ttl_secs)),
        // Zero stands for "no cap" (the default).
        max_ttl: (s.max_ttl_secs > 0).then(|| Duration::from_secs(u64::from(s.max_ttl_secs))),
        max_entries: usize::from(s.max_entries % 16) + 1,
        max_bytes,
        max_entry_bytes: max_bytes - usize::from(s.max_entry_bytes) % (max_bytes / 2),
        stale_if_error: s.stale_if_error_secs.map(|x| Duration::from_secs(x.into())),
        heuristic_freshness: s.heuristic,
        include_query: s.include_query,
        key_headers: if s.key_accept {
            vec!["accept".to_owned()]
        } else {
            Vec::new()
        },
        methods,
        strip_set_cookie: s.strip_set_cookie,
        ..CacheConfig::default()
    };
    config
        .validate()
        .expect("harness builds valid cache configs");
    config
}

// ===== the world =====

struct World {
    now: Timestamp,
    wall_base: WallClock,

    breaker: Breaker,
    probes_max: usize,
    /// Permits we hold (not yet reported).
    permits: Vec<BreakerPermit>,

    cache: Cache,
    max_entries: usize,
    max_bytes: usize,
    pool: Vec<Request>,
    pool_next: usize,
    /// Fills not yet completed, with the request they were issued for.
    pending: Vec<(Fill, Request)>,
    /// Followers waiting for a flight event: ticket → (flight, request).
    waiting: HashMap<u64, (FlightId, Request)>,
    next_ticket: u64,
}

impl World {
    fn wall(&self) -> WallClock {
        self.wall_base.saturating_add(self.now.as_duration())
    }

    fn advance(&mut self, micros: u64) {
        self.now = Timestamp::from_micros(self.now.as_micros().saturating_add(micros));
    }

    // ----- breaker -----

    fn breaker_op(&mut self, op: &BreakerOp) {
        let now = self.now;
        match op {
            BreakerOp::Acquire => match self.breaker.try_acquire(now) {
                Ok(p) => self.permits.push(p),
                Err(r) => assert!(
                    r.retry_at >= now,
                    "rejection retry_at {:?} before now {now:?} ({:?})",
                    r.retry_at,
                    r.state
                ),
            },
            BreakerOp::Report {
                idx,
                kind,
                duration_micros,
                wall,
            } => {
                if self.permits.is_empty() {
                    return;
                }
                let p = self.permits.swap_remove(*idx as usize % self.permits.len());
                let kind = match kind % 3 {
                    0 => CallKind::Success,
                    1 => CallKind::Failure,
                    _ => CallKind::Ignored,
                };
                let mut r = CallResult::new(kind, Duration::from_micros((*duration_micros).into()));
                if *wall {
                    r = r.with_wall(self.wall());
                }
                self.breaker.on_result(now, p, r);
            }
            BreakerOp::Drop(idx) => {
                if !self.permits.is_empty() {
                    let p = self.permits.swap_remove(*idx as usize % self.permits.len());
                    drop(p);
                }
            }
            BreakerOp::HandleTimeout => {
                self.breaker.handle_timeout(now);
                if let Some(t) = self.breaker.poll_timeout() {
                    assert!(
                        t > now || t == Timestamp::MAX,
                        "poll_timeout {t:?} not after now {now:?} after handle_timeout (state {:?})",
                        self.breaker.state()
                    );
                }
            }
            BreakerOp::Call {
                kind,
                duration_micros,
            } => {
                if let Ok(p) = self.breaker.try_acquire(now) {
                    let kind = match kind % 3 {
                        0 => CallKind::Success,
                        1 => CallKind::Failure,
                        _ => CallKind::Ignored,
                    };
                    let d = Duration::from_micros((*duration_micros).into());
                    self.breaker.on_result(now, p, CallResult::new(kind, d));
                }
            }
            BreakerOp::Isolate => self.breaker.isolate(now),
            BreakerOp::Reset => self.breaker.reset(now),
            BreakerOp::Disable => self.breaker.disable(now),
            BreakerOp::Enable => self.breaker.enable(now),
        }
        while let Some(ev) = self.breaker.poll_event() {
            let BreakerEvent::StateChanged { from, to, at, .. } = ev else {
                continue;
            };
            assert_ne!(from, to, "event without a state change: {ev:?}");
            assert_eq!(at, now, "event stamped {at:?} at {now:?}");
        }
        self.check_breaker();
    }

    fn check_breaker(&self) {
        // Independent count: probe permits of one generation (= one half-open episode) that
        // have not reported.
        let mut per_generation: HashMap<u64, usize> = HashMap::new();
        for p in self.permits.iter().filter(|p| p.is_probe()) {
            *per_generation.entry(p.generation()).or_default() += 1;
        }
        // Dropped permits may still hold slots, so the breaker's own count can be larger than
        // ours, but never above the limit.
        for (g, n) in per_generation {
            assert!(
                n <= self.probes_max,
                "{n} probes of generation {g} in flight, limit {}",
                self.probes_max
            );
        }
        let snap = self.breaker.snapshot(self.now);
        let n = self.probes_max as u32;
        assert!(
            snap.half_open_in_flight + snap.half_open_successes <= n,
            "snapshot: {} in flight + {} successes > {n}",
            snap.half_open_in_flight,
            snap.half_open_successes
        );
        if snap.state != BreakerState::HalfOpen {
            assert_eq!(snap.half_open_in_flight, 0);
        }
    }

    // ----- cache -----

    fn remember(&mut self, req: Request) {
        if self.pool.len() < 16 {
            self.pool.push(req);
        } else {
            self.pool[self.pool_next % 16] = req;
            self.pool_next += 1;
        }
    }

    fn pooled(&self, i: u8) -> Option<Request> {
        (!self.pool.is_empty()).then(|| self.pool[i as usize % self.pool.len()].clone())
    }

    fn lookup(&mut self, req: Request, ticket: u64, bypass_resp: Option<&RespSpec>) {
        let now = self.now;
        match self.cache.lookup(now, &req, ticket) {
            Lookup::Fresh(r) => {
                let _ = r.to_response(now);
            }
            Lookup::Stale {
                response,
                revalidate,
            } => {
                let _ = response.to_response(now);
                if let Some(fill) = revalidate {
                    assert!(fill.is_background());
                    self.pending.push((fill, req));
                }
            }
            Lookup::Miss(fill) => self.pending.push((fill, req)),
            Lookup::Follow(flight) => {
                let prev = self.waiting.insert(ticket, (flight, req));
                assert!(prev.is_none(), "ticket {ticket} already waiting");
            }
            Lookup::Bypass => {
                if let Some(resp) = bypass_resp.and_then(build_response) {
                    let _ = self.cache.on_unsafe_response(&req, &resp);
                }
            }
            Lookup::Unsatisfiable => {}
            other => panic!("unknown lookup result {other:?}"),
        }
    }

    fn drain_flight_events(&mut self) {
        while let Some(ev) = self.cache.poll_flight_event() {
            match ev {
                FlightEvent::Ready { ticket, response } => {
                    assert!(
                        self.waiting.remove(&ticket).is_some(),
                        "Ready for ticket {ticket}, which is not waiting"
                    );
                    let _ = response.to_response(self.now);
                }
                FlightEvent::Relookup { ticket } => {
                    let Some((_, req)) = self.waiting.remove(&ticket) else {
                        panic!("Relookup for ticket {ticket}, which is not waiting");
                    };
                    self.lookup(req, ticket, None);
                }
                FlightEvent::FetchYourself { ticket, fill } => {
                    let Some((_, req)) = self.waiting.remove(&ticket) else {
                        panic!("FetchYourself for ticket {ticket}, which is not waiting");
                    };
                    self.pending.push((fill, req));
                }
                other => panic!("unknown flight event {other:?}"),
            }
        }
    }

    fn complete(&mut self, idx: usize, how: &Completion) {
        let (fill, req) = self.pending.swap_remove(idx);
        let (now, wall) = (self.now, self.wall());
        let resp = match how {
            Completion::Respond(spec) => build_response(spec),
            Completion::Error | Completion::Abandon => None,
        };
        match (how, resp) {
            (_, Some(resp)) => match self.cache.on_response(now, wall, fill, &req, &resp) {
                StoreResult::Stored(r) | StoreResult::Revalidated(r) => {
                    let _ = r.to_response(now);
                }
                StoreResult::StaleIfError(r) => {
                    assert!(resp.status().is_server_error());
                    let _ = r.to_response(now);
                }
                StoreResult::NotStored(_) => {}
                other => panic!("unknown store result {other:?}"),
            },
            (Completion::Abandon, None) => self.cache.abandon(now, fill),
            (_, None) => {
                let _ = self.cache.on_error(now, fill, &req);
            }
        }
        self.drain_flight_events();
    }

    fn cache_op(&mut self, op: &CacheOp) {
        match op {
            CacheOp::Lookup { req, bypass_resp } => {
                let Some(req) = build_request(req) else {
                    return;
                };
                self.remember(req.clone());
                let ticket = self.next_ticket;
                self.next_ticket += 1;
                self.lookup(req, ticket, Some(bypass_resp));
            }
            CacheOp::Again(i) => {
                if let Some(req) = self.pooled(*i) {
                    let ticket = self.next_ticket;
                    self.next_ticket += 1;
                    self.lookup(req, ticket, None);
                }
            }
            CacheOp::Complete { idx, how } => {
                if !self.pending.is_empty() {
                    self.complete(*idx as usize % self.pending.len(), how);
                }
            }
            CacheOp::Leave(i) => {
                let mut tickets: Vec<u64> = self.waiting.keys().copied().collect();
                if tickets.is_empty() {
                    return;
                }
                tickets.sort_unstable();
                let ticket = tickets[*i as usize % tickets.len()];
                let (flight, _) = self.waiting.remove(&ticket).expect("listed");
                assert!(
                    self.cache.leave_flight(flight, ticket),
                    "waiting ticket {ticket} could not leave flight {flight:?}"
                );
                assert!(
                    !self.cache.leave_flight(flight, ticket),
                    "ticket {ticket} left flight {flight:?} twice"
                );
            }
            CacheOp::InvalidateAll => {
                let _ = self.cache.invalidate_all();
                assert_eq!(self.cache.len(), 0);
                assert_eq!(self.cache.bytes(), 0);
            }
            CacheOp::InvalidateUrl(i) => {
                if let Some(req) = self.pooled(*i) {
                    let _ = self.cache.invalidate_url(req.uri());
                }
            }
            CacheOp::InvalidateKey(i) => {
                if let Some(req) = self.pooled(*i) {
                    let key = self.cache.key_for(&req);
                    let _ = self.cache.invalidate_key(key);
                }
            }
            CacheOp::InvalidatePrefix(p) => {
                let _ = self.cache.invalidate_prefix(&String::from_utf8_lossy(&p.0));
            }
            CacheOp::PurgeExpired => {
                let _ = self.cache.purge_expired(self.now);
            }
        }
        self.check_cache();
    }

    fn check_cache(&self) {
        let (len, bytes) = (self.cache.len(), self.cache.bytes());
        assert!(
            len <= self.max_entries,
            "{len} entries > max {}",
            self.max_entries
        );
        assert!(
            bytes <= self.max_bytes,
            "{bytes} bytes > max {}",
            self.max_bytes
        );
        let stats = self.cache.stats();
        assert_eq!((stats.entries, stats.bytes), (len, bytes));
        assert_eq!(len == 0, self.cache.is_empty());
    }

    /// Completes every outstanding fill (alternating errors and cancellations), then checks
    /// that nobody is left waiting.
    fn finish(&mut self) {
        let mut round = 0u32;
        while !self.pending.is_empty() {
            let how = if round.is_multiple_of(2) {
                Completion::Error
            } else {
                Completion::Abandon
            };
            round += 1;
            self.complete(self.pending.len() - 1, &how);
            self.check_cache();
        }
        assert!(
            self.waiting.is_empty(),
            "followers still waiting after every fill completed: {:?}",
            self.waiting.keys().collect::<Vec<_>>()
        );
        assert_eq!(self.cache.flights_in_progress(), 0, "flights left over");
    }
}

fuzz_target!(|input: Input| {
    let breaker_cfg = breaker_config(&input.breaker);
    let probes_max = breaker_cfg.half_open_probes as usize;
    let cache_cfg = cache_config(&input.cache);
    let mut w = World {
        now: Timestamp::from_micros(input.start_micros.into()),
        wall_base: WallClock::from_unix_secs(input.wall_base_secs.into()),
        breaker: Breaker::new(breaker_cfg).expect("validated"),
        probes_max,
        permits: Vec::new(),
        max_entries: cache_cfg.max_entries,
        max_bytes: cache_cfg.max_bytes,
        cache: Cache::new(cache_cfg, input.cache.seed).expect("validated"),
        pool: Vec::new(),
        pool_next: 0,
        pending: Vec::new(),
        waiting: HashMap::new(),
        next_ticket: 1,
    };
    for op in &input.ops.0 {
        match op {
            Op::AdvanceMicros(us) => w.advance(u64::from(*us)),
            Op::AdvanceSecs(s) => w.advance(u64::from(*s) * 1_000_000),
            Op::AdvanceHuge(us) => w.advance(*us),
            Op::Breaker(op) => w.breaker_op(op),
            Op::Cache(op) => w.cache_op(op),
        }
    }
    w.finish();
});
