//! The response cache: key derivation, RFC 9111 freshness (private cache), conditional
//! revalidation, `Vary`, an LRU bounded by entries and bytes, stale-while-revalidate,
//! stale-if-error and single-flight — as a pure state machine. No I/O, no clock: `now`
//! (monotonic) and `wall` (calendar) come in as arguments.
//!
//! The design notes are on [`Cache`].

mod directives;
mod flight;
mod freshness;
mod key;
mod partition;
mod store;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    AGE, CONNECTION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_LOCATION, CONTENT_RANGE, ETAG,
    EXPIRES, HeaderName, HeaderValue, IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE,
    IF_UNMODIFIED_SINCE, LAST_MODIFIED, LOCATION, PRAGMA, PROXY_AUTHENTICATE, RANGE, SET_COOKIE,
    TE, TRAILER, TRANSFER_ENCODING, UPGRADE, VARY,
};
use http::{HeaderMap, Method, StatusCode, Uri, Version};
use serde::{Deserialize, Serialize};

pub use directives::{
    CacheControl, DELTA_SECONDS_CAP, Vary, parse_cache_control, parse_delta_seconds,
    parse_http_date, parse_vary,
};
pub use flight::{FlightEvent, FlightId};
pub use freshness::{Freshness, FreshnessMode, LifetimeSource, Usability};
pub(crate) use key::{AuthorityShape, scan_authority, split_authority};
pub use key::{CacheKey, STACK_PARAMS};
pub(crate) use partition::check_host;
pub use partition::{NON_IDENTIFYING_HEADERS, host_matches};

use directives::header_delta;
use flight::{Flight, Flights, Uncacheable};
use freshness::Policy;
use key::{KeyDeriver, KeyMemo};
use partition::Partition;
use store::Store;

use crate::{ConfigError, Request, Response, Timestamp, WallClock};

/// Fixed per-entry overhead counted against `max_bytes` (slot, maps, `Arc`, bookkeeping).
pub const ENTRY_OVERHEAD: usize = 256;

/// Per-header overhead counted against `max_bytes` (on top of name and value lengths).
pub const HEADER_OVERHEAD: usize = 32;

// ===== config =====

/// Configuration of the response cache.
///
/// The default is RFC 9111 for a private cache, with nothing assumed: a response is served
/// from the cache without revalidation only for as long as its own `max-age` or `Expires`
/// says (no cap), a response without explicit freshness is kept only if it has a validator
/// (and every use revalidates it), and every request header that may identify the caller
/// partitions the cache. The engine uses this same default (`EngineConfig::default().cache`
/// equals `CacheConfig::default()`). To cache responses without freshness information for a
/// fixed time, set `default_ttl` (or use [`FreshnessMode::TtlOnly`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CacheConfig {
    /// Master switch. When off, every lookup is `Bypass` and nothing is stored.
    pub enabled: bool,
    /// How freshness is decided.
    pub mode: FreshnessMode,
    /// Rfc9111: the lifetime assumed for a response without explicit freshness (`max-age`,
    /// `Expires`) whose status is in `statuses` or which is `public`, when the
    /// `Last-Modified` heuristic does not apply. TtlOnly: the lifetime of every stored
    /// response (the original's `ttl_seconds`). Default zero: nothing is assumed.
    pub default_ttl: Duration,
    /// Optional cap on any lifetime, except for `immutable` responses (Rfc9111 only).
    /// Default `None`: explicit freshness is honoured as the origin gives it.
    pub max_ttl: Option<Duration>,
    /// Maximum number of entries (the original's `max_size`, now enforced on insert).
    pub max_entries: usize,
    /// Maximum total size of all entries, in bytes (body + headers + URL + overheads).
    pub max_bytes: usize,
    /// Responses larger than this (same accounting) are not stored.
    pub max_entry_bytes: usize,
    /// Default `stale-if-error` window when the response has none.
    pub stale_if_error: Option<Duration>,
    /// Allow the `Last-Modified` heuristic for responses without explicit freshness.
    pub heuristic_freshness: bool,
    /// The heuristic's fraction of `Date − Last-Modified` (RFC 9111 suggests 0.1).
    pub heuristic_fraction: f64,
    /// Cap on a heuristic lifetime.
    pub heuristic_max: Duration,
    /// Cacheable request methods (upper-case tokens).
    pub methods: Vec<String>,
    /// Status codes stored even without explicit freshness, which may then be given an
    /// assumed lifetime (heuristic or `default_ttl`). Default: RFC 9110 §15.1's
    /// heuristically cacheable codes except `206` (200, 203, 204, 300, 301, 308, 404, 405,
    /// 410, 414, 501); `206` cannot be listed, since partial responses are never combined.
    /// In TtlOnly, the only statuses stored.
    pub statuses: Vec<u16>,
    /// Rfc9111: also store responses with any other final status (302, 307, 403, 500, …)
    /// when they carry explicit freshness (`max-age` or `Expires`), as RFC 9111 §3 allows.
    /// Default on; off restricts storage to `statuses`.
    pub any_status_with_explicit_freshness: bool,
    /// Whether the (normalised) query string is part of the key. Credential parameters
    /// always partition, whatever this says.
    pub include_query: bool,
    /// Order query parameters by name in the key, so that `?b=2&a=1` and `?a=1&b=2` share
    /// an entry; a repeated name always keeps the order of its values (`?id=1&id=2` and
    /// `?id=2&id=1` never share one). Off: the query is keyed in the order it was sent, as
    /// RFC 3986 normalisation does, for a server to which the order of different names
    /// matters. Default on.
    pub sort_query_by_name: bool,
    /// Query parameter names (exact, case-sensitive) left out of the key, e.g. `utm_source`.
    pub exclude_query_params: Vec<String>,
    /// Request header names whose values are part of the key (e.g. `accept`).
    pub key_headers: Vec<String>,
    /// Request header names that always partition the cache, even when listed as
    /// non-identifying (built in or in `non_identifying_headers`). Every header not known to
    /// be non-identifying partitions anyway; this list makes sure a credential stays a
    /// partition whatever the other lists say. Default `authorization`, `cookie`,
    /// `proxy-authorization`, `x-api-key`.
    pub credential_headers: Vec<String>,
    /// Request headers known not to identify the caller, in addition to the built-in
    /// [`NON_IDENTIFYING_HEADERS`]: they do not partition the cache. A header name, or a
    /// prefix ending in `*` (`x-feature-*`). Every other request header partitions, so list
    /// here the per-request or per-client headers of your own (a client version, a feature
    /// flag) that would otherwise cost hits. Never list a header that can say who is calling.
    pub non_identifying_headers: Vec<String>,
    /// Query parameter names (case-insensitive) that carry credentials and partition the
    /// cache; they are stripped from the stored URL.
    pub credential_query_params: Vec<String>,
    /// Do not store `Set-Cookie` in cached responses (it would be replayed to every caller
    /// of the same partition, handing one session's cookie to another).
    pub strip_set_cookie: bool,
    /// After a response that cannot be stored (`no-store`, a status that is not cached,
    /// `Vary: *`, too large, unusable), identical requests go out on their own for this long
    /// instead of queueing behind one another's fetch — Varnish's *hit-for-miss*. Without it,
    /// concurrent requests for an uncacheable URL wait for a leader only to learn that its
    /// answer cannot be shared, then each fetch again: two round trips instead of one. A
    /// storable response for the key ends the window early, so nothing that can be cached
    /// is lost, only the coalescing of that key's misses. Default 120 s (Varnish's); zero
    /// coalesces every miss.
    pub hit_for_miss: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: true,
            mode: FreshnessMode::Rfc9111,
            default_ttl: Duration::ZERO,
            max_ttl: None,
            max_entries: 1000,
            max_bytes: 64 * 1024 * 1024,
            max_entry_bytes: 8 * 1024 * 1024,
            stale_if_error: None,
            heuristic_freshness: false,
            heuristic_fraction: 0.1,
            heuristic_max: Duration::from_hours(24),
            methods: vec!["GET".into(), "HEAD".into()],
            statuses: vec![200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501],
            any_status_with_explicit_freshness: true,
            include_query: true,
            sort_query_by_name: true,
            exclude_query_params: Vec::new(),
            key_headers: Vec::new(),
            credential_headers: vec![
                "authorization".into(),
                "cookie".into(),
                "proxy-authorization".into(),
                "x-api-key".into(),
            ],
            non_identifying_headers: Vec::new(),
            credential_query_params: [
                "api_key",
                "apikey",
                "access_token",
                "token",
                "key",
                "sig",
                "signature",
                "password",
                "secret",
                "client_secret",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            strip_set_cookie: true,
            hit_for_miss: Duration::from_secs(120),
        }
    }
}

impl CacheConfig {
    /// Checks every field; [`Cache::new`] calls it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_entries == 0 || self.max_entries >= u32::MAX as usize {
            return Err(ConfigError::invalid(
                "cache.max_entries",
                "must be in 1..4294967295",
            ));
        }
        if self.max_bytes == 0 {
            return Err(ConfigError::invalid("cache.max_bytes", "must be > 0"));
        }
        if self.max_entry_bytes == 0 || self.max_entry_bytes > self.max_bytes {
            return Err(ConfigError::invalid(
                "cache.max_entry_bytes",
                "must be in 1..=max_bytes",
            ));
        }
        if self.max_ttl == Some(Duration::ZERO) {
            return Err(ConfigError::invalid(
                "cache.max_ttl",
                "must be > 0 (or none)",
            ));
        }
        if !(self.heuristic_fraction.is_finite()
            && self.heuristic_fraction > 0.0
            && self.heuristic_fraction <= 1.0)
        {
            return Err(ConfigError::invalid(
                "cache.heuristic_fraction",
                "must be in (0, 1]",
            ));
        }
        for m in &self.methods {
            if Method::from_bytes(m.as_bytes()).is_err() {
                return Err(ConfigError::invalid(
                    "cache.methods",
                    "must be valid method tokens",
                ));
            }
        }
        if self.statuses.iter().any(|s| !(100..=599).contains(s)) {
            return Err(ConfigError::invalid(
                "cache.statuses",
                "must be in 100..=599",
            ));
        }
        if self.statuses.contains(&304) || self.statuses.contains(&206) {
            return Err(ConfigError::invalid(
                "cache.statuses",
                "304 and 206 cannot be stored",
            ));
        }
        for h in &self.key_headers {
            if HeaderName::from_bytes(h.as_bytes()).is_err() {
                return Err(ConfigError::invalid(
                    "cache.key_headers",
                    "must be valid header names",
                ));
            }
        }
        for h in &self.credential_headers {
            if HeaderName::from_bytes(h.as_bytes()).is_err() {
                return Err(ConfigError::invalid(
                    "cache.credential_headers",
                    "must be valid header names",
                ));
            }
        }
        if !self
            .non_identifying_headers
            .iter()
            .all(|h| partition::valid_pattern(h))
        {
            return Err(ConfigError::invalid(
                "cache.non_identifying_headers",
                "must be header names, or a name prefix followed by `*`",
            ));
        }
        if self.credential_query_params.iter().any(String::is_empty) {
            return Err(ConfigError::invalid(
                "cache.credential_query_params",
                "names must be non-empty",
            ));
        }
        if self.exclude_query_params.iter().any(String::is_empty) {
            return Err(ConfigError::invalid(
                "cache.exclude_query_params",
                "names must be non-empty",
            ));
        }
        Ok(())
    }
}

// ===== cached response =====

/// A stored response, shared by `Arc` between the cache and everyone it is served to. Its
/// `Debug` output redacts secret headers and shows the body's length only.
pub struct CachedResponse {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
    stored_at: Timestamp,
    stored_wall: WallClock,
    freshness: Freshness,
}

impl CachedResponse {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stored header fields (hop-by-hop fields, `Age` and, by default, `Set-Cookie`
    /// removed).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// When it was stored or last revalidated (monotonic).
    pub fn stored_at(&self) -> Timestamp {
        self.stored_at
    }

    /// When it was stored or last revalidated (wall clock).
    pub fn stored_wall(&self) -> WallClock {
        self.stored_wall
    }

    /// Its freshness facts.
    pub fn freshness(&self) -> &Freshness {
        &self.freshness
    }

    /// Its current age (RFC 9111 §4.2.3): initial age + time resident in the cache.
    pub fn age(&self, now: Timestamp) -> Duration {
        self.freshness
            .initial_age
            .saturating_add(now.saturating_duration_since(self.stored_at))
    }

    /// Whether it is fresh at `now`.
    pub fn is_fresh(&self, now: Timestamp) -> bool {
        self.freshness.is_fresh(self.age(now))
    }

    /// Its `ETag`, if any.
    pub fn etag(&self) -> Option<&HeaderValue> {
        self.headers.get(ETAG)
    }

    /// Its `Last-Modified`, if any.
    pub fn last_modified(&self) -> Option<&HeaderValue> {
        self.headers.get(LAST_MODIFIED)
    }

    /// The bytes it is accounted for (without the URL and entry overhead).
    pub fn size(&self) -> usize {
        self.body.len() + headers_size(&self.headers)
    }

    /// An owned response to hand to the caller: the body is shared (`Bytes`), the headers
    /// are cloned and an `Age` header (whole seconds) is added as RFC 9111 §5.1 requires.
    pub fn to_response(&self, now: Timestamp) -> Response {
        let mut r = Response::new(self.body.clone());
        *r.status_mut() = self.status;
        *r.version_mut() = self.version;
        let mut h = self.headers.clone();
        h.insert(AGE, HeaderValue::from(self.age(now).as_secs()));
        *r.headers_mut() = h;
        r
    }
}

fn headers_size(h: &HeaderMap) -> usize {
    h.iter()
        .map(|(k, v)| k.as_str().len() + v.len() + HEADER_OVERHEAD)
        .sum()
}

// ===== decisions =====

/// The capability to complete one upstream fetch on the cache's behalf: handed out as the
/// leader of a miss, as a background revalidation, or to a follower told to fetch itself.
///
/// Not `Clone`: complete it exactly once with [`Cache::on_response`], [`Cache::on_error`] or
/// [`Cache::abandon`]. Dropping it instead leaves its followers waiting forever.
#[must_use = "complete a Fill with Cache::on_response, on_error or abandon"]
#[derive(Debug)]
pub struct Fill {
    key: CacheKey,
    flight: Option<FlightId>,
    started: Timestamp,
    /// Boxed: only revalidations have it, and it would triple the size of every fill.
    conditional: Option<Box<HeaderMap>>,
    background: bool,
}

impl Fill {
    /// The cache key being filled.
    pub fn key(&self) -> CacheKey {
        self.key
    }

    /// The flight followers wait on, if any.
    pub fn flight(&self) -> Option<FlightId> {
        self.flight
    }

    /// `If-None-Match` / `If-Modified-Since` to add to the outgoing request when revalidating
    /// a stored response; `None` for a plain fetch.
    pub fn conditional_headers(&self) -> Option<&HeaderMap> {
        self.conditional.as_deref()
    }

    /// Adds [`conditional_headers`](Self::conditional_headers) to `req`.
    pub fn apply_conditional(&self, req: &mut Request) {
        if let Some(c) = &self.conditional {
            for (k, v) in c.iter() {
                req.headers_mut().insert(k, v.clone());
            }
        }
    }

    /// Whether this is a stale-while-revalidate background refresh: the caller has already
    /// been answered; the result only updates the cache.
    pub fn is_background(&self) -> bool {
        self.background
    }
}

/// The answer to [`Cache::lookup`].
#[must_use]
#[derive(Debug)]
#[non_exhaustive]
pub enum Lookup {
    /// A fresh stored response: serve it.
    Fresh(Arc<CachedResponse>),
    /// A stale response that may be served now. With `revalidate: Some(fill)`
    /// (stale-while-revalidate), also refresh it in the background using `fill`; `None` when
    /// a refresh is already under way or the request's `max-stale` accepted it.
    Stale {
        /// The response to serve.
        response: Arc<CachedResponse>,
        /// The background revalidation to run, if this caller should run it.
        revalidate: Option<Fill>,
    },
    /// Nothing usable: this caller leads the fetch (or revalidation, when the fill carries
    /// conditional headers).
    Miss(Fill),
    /// An identical fetch is in flight: wait for this ticket's [`FlightEvent`].
    Follow(FlightId),
    /// The cache takes no part: send the request as is. For unsafe methods, call
    /// [`Cache::on_unsafe_response`] with the result.
    Bypass,
    /// `only-if-cached` and nothing usable is stored: answer 504 (RFC 9111 §5.2.1.7).
    Unsatisfiable,
}

/// Why a response was not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NotStoredReason {
    /// The cache is disabled.
    Disabled,
    /// The request method is not cacheable.
    MethodNotCacheable,
    /// The status is not stored: not in the `statuses` list and without explicit freshness
    /// (or `any_status_with_explicit_freshness` is off, or the mode is TtlOnly), or a status
    /// never stored (`206`, `1xx`).
    StatusNotCacheable,
    /// `no-store` on the request or the response.
    NoStore,
    /// `Vary: *`.
    VaryStar,
    /// Larger than `max_entry_bytes`.
    TooLarge,
    /// Would never be usable: zero lifetime without validators or stale windows, or
    /// `no-cache` without validators.
    Unusable,
    /// The response was already stale when it was sent: an `Age` at or beyond its explicit
    /// lifetime, or `Expires` at or before `Date`.
    StaleOnArrival,
    /// The request carried its own validators, preconditions or `Range`
    /// (`If-None-Match`, `If-Modified-Since`, `If-Match`, `If-Unmodified-Since`, `If-Range`,
    /// `Range`): its response answers that request only, so it is neither stored nor used to
    /// refresh a stored response.
    ConditionalRequest,
    /// `must-understand` on a response whose status code the cache does not implement.
    MustUnderstand,
    /// A 304 arrived but no stored response matches it any more (evicted meanwhile): if you
    /// made the request conditional yourself, re-send it unconditionally.
    NotModifiedWithoutEntry,
    /// A 304 whose `ETag` differs from the stored one; the stored entry was dropped. Re-send
    /// unconditionally.
    ValidatorMismatch,
}

impl NotStoredReason {
    /// Whether the response itself could not be stored (its status, directives, size or
    /// lifetime), as opposed to the request, the configuration or a 304 without a match: the
    /// cases that start a hit-for-miss window ([`CacheConfig::hit_for_miss`]).
    pub fn is_the_responses(self) -> bool {
        matches!(
            self,
            NotStoredReason::StatusNotCacheable
                | NotStoredReason::NoStore
                | NotStoredReason::VaryStar
                | NotStoredReason::TooLarge
                | NotStoredReason::Unusable
                | NotStoredReason::StaleOnArrival
                | NotStoredReason::MustUnderstand
        )
    }
}

/// The result of [`Cache::on_response`].
#[must_use]
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreResult {
    /// Stored. Serve the upstream response you already hold (it still has `Set-Cookie`).
    Stored(Arc<CachedResponse>),
    /// A 304 was merged into the stored response (RFC 9111 §4.3.4): serve this instead of
    /// the 304 (unless the caller sent its own conditional request, which the cache bypasses).
    Revalidated(Arc<CachedResponse>),
    /// A 5xx arrived and a stored response is usable under stale-if-error: serve this.
    StaleIfError(Arc<CachedResponse>),
    /// Not stored: serve the upstream response as is.
    NotStored(NotStoredReason),
}

/// A snapshot of the cache's counters and occupancy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheStats {
    /// Whether the cache is enabled.
    pub enabled: bool,
    /// Lookups answered `Fresh`.
    pub hits: u64,
    /// Lookups that led a fetch or revalidation (`Miss`), plus `Unsatisfiable`.
    pub misses: u64,
    /// Stale responses served: `Stale` lookups and stale-if-error.
    pub stale_hits: u64,
    /// 304s merged into stored responses.
    pub revalidations: u64,
    /// Lookups that joined an in-flight fetch (`Follow`).
    pub coalesced: u64,
    /// Misses sent without coalescing because the key's last response could not be stored
    /// ([`CacheConfig::hit_for_miss`]); also counted in `misses`.
    pub uncoalesced: u64,
    /// Lookups answered `Bypass`.
    pub bypasses: u64,
    /// Responses stored (including replacements).
    pub stores: u64,
    /// Entries evicted to respect `max_entries` / `max_bytes`.
    pub evictions: u64,
    /// Entries removed by invalidation (explicit or after unsafe methods).
    pub invalidations: u64,
    /// Entries now.
    pub entries: usize,
    /// Bytes now (same accounting as `max_bytes`).
    pub bytes: usize,
    /// Configured entry bound.
    pub max_entries: usize,
    /// Configured byte bound.
    pub max_bytes: usize,
}

impl CacheStats {
    /// `(hits + stale_hits) / (hits + stale_hits + misses)`; `0.0` before any lookup.
    /// Followers and bypasses are not counted.
    pub fn hit_ratio(&self) -> f64 {
        let served = self.hits + self.stale_hits;
        let total = served + self.misses;
        if total == 0 {
            0.0
        } else {
            served as f64 / total as f64
        }
    }
}

// ===== the cache =====

#[derive(Debug)]
struct Entry {
    response: Arc<CachedResponse>,
    /// Redacted URL (no userinfo, no credential parameters).
    url: Box<str>,
    /// The `Vary` secondary key, when the response varies.
    vary: Option<VaryKey>,
}

/// The `Vary` field names of a stored response and the hash of the storing request's values
/// for them.
#[derive(Debug)]
struct VaryKey {
    names: Box<[HeaderName]>,
    hash: u64,
}

/// The response cache: one state machine for lookups, stores, revalidation and single-flight.
///
/// ```
/// use bytes::Bytes;
/// use tether_core::{Cache, CacheConfig, FlightEvent, Lookup, StoreResult};
/// use tether_core::{Timestamp, WallClock};
///
/// let mut cache = Cache::new(CacheConfig::default(), 0x5eed).unwrap();
/// let req = http::Request::get("https://api.example.com/items").body(Bytes::new()).unwrap();
/// let (now, wall) = (Timestamp::from_secs(1), WallClock::from_unix_secs(1_700_000_000));
///
/// let Lookup::Miss(fill) = cache.lookup(now, &req, 1) else { unreachable!() };
/// // A second identical request while the first is in flight waits for it.
/// assert!(matches!(cache.lookup(now, &req, 2), Lookup::Follow(_)));
///
/// let mut outgoing = req.clone();
/// fill.apply_conditional(&mut outgoing); // nothing to add for a first fetch
/// // ... send `outgoing` upstream ...
/// let resp = http::Response::builder()
///     .header("cache-control", "max-age=60")
///     .body(Bytes::from_static(b"[]"))
///     .unwrap();
/// let stored = cache.on_response(now, wall, fill, &req, &resp);
/// assert!(matches!(stored, StoreResult::Stored(_)));
/// while let Some(ev) = cache.poll_flight_event() {
///     // Wake follower 2 with the stored response.
///     assert!(matches!(ev, FlightEvent::Ready { ticket: 2, .. }));
/// }
/// assert!(matches!(cache.lookup(now, &req, 3), Lookup::Fresh(_)));
/// ```
///
/// # How the engine drives it
///
/// ```text
/// lookup(now, &req, ticket) ──► Fresh(resp)              serve resp.to_response(now)
///                           ├─► Stale{resp, revalidate}  serve; if Some(fill): fetch in the
///                           │                            background with fill's conditional headers
///                           ├─► Miss(fill)               you lead: send req (+ fill.conditional_headers())
///                           ├─► Follow(flight)           wait for a FlightEvent for `ticket`
///                           ├─► Bypass                   send; afterwards on_unsafe_response(&req, &resp)
///                           └─► Unsatisfiable            only-if-cached and nothing usable: answer 504
///
/// with a Fill:  on_response(now, wall, fill, &req, &resp) ─► Stored | Revalidated | StaleIfError | NotStored
///               on_error(now, fill, &req)                 ─► Some(stale) to serve, or None
///               abandon(fill)                              (cancelled; promotes a follower)
/// then drain:   poll_flight_event() ─► Ready{ticket, resp} | Relookup{ticket} | FetchYourself{ticket, fill}
/// ```
///
/// # Life of one key
///
/// ```text
///                 lookup: miss                 on_response: storable
///   [Absent] ───────────────────► [Filling] ─────────────────────────► [Fresh]
///      ▲  ▲   on_error / abandon /   │   ▲                                  │ age ≥ lifetime
///      │  └── unstorable response ───┘   │ 304 merged, 200 replaced         ▼
///      │      (followers: FetchYourself) └──────────── [Revalidating] ◄─ [Stale] ──┐
///      │                                                 │    lookup: must revalidate │
///      │                                                 │    (leader + followers)    │ lookup within
///      │                      error/5xx within           │                            │ stale-while-revalidate:
///      │                      stale-if-error: serve stale└─► [Stale]                  │ serve stale + one
///      │                                                                              │ background revalidation
///      └─────────────── evicted (LRU by count/bytes) / invalidated ◄──────────────────┘
/// ```
///
/// # Semantics worth knowing
///
/// * **Private cache, partitioned by caller.** `private` responses and responses to requests
///   with credentials are stored, but every key includes a *partition*: a seeded hash of URL
///   userinfo, credential query parameters and **every request header that may identify the
///   caller**. The rule fails closed: a header partitions unless it is known not to identify
///   the caller ([`NON_IDENTIFYING_HEADERS`]: content negotiation, `User-Agent`, the request's
///   own directives, trace and correlation ids, hop-by-hop fields; `Host` only while it names
///   the URL's authority), extended by [`CacheConfig::non_identifying_headers`]. So two
///   callers differing only in `Authorization`, `X-Auth-Token`, `Api-Key` or a header nobody
///   listed never share an entry. No secret is stored: entries keep a redacted URL and
///   hashes only, and `Set-Cookie` is stripped from stored responses by default.
/// * **What is stored** ([`FreshnessMode::Rfc9111`], RFC 9111 §3): a final response whose
///   status is heuristically cacheable (RFC 9110 §15.1; the `statuses` list), or any final
///   status with explicit freshness (`max-age` or `Expires`; `s-maxage` is for shared caches
///   and ignored). Never `206` (ranges are not combined), `no-store`, `Vary: *`, a response
///   that arrived already stale (an `Age` at or beyond its lifetime, `Expires` at or before
///   `Date`), or the answer to a request carrying its own validators or preconditions.
/// * **Lifetimes.** Explicit freshness is honoured as given (`max-age=31536000` stays a year)
///   unless a `max_ttl` cap is configured. Without explicit freshness, only a heuristically
///   cacheable status or a `public` response gets an assumed lifetime: the `Last-Modified`
///   heuristic when enabled, else `default_ttl` — zero by default, so such a response is kept
///   only if it has a validator, and every use revalidates it.
/// * **`TtlOnly`** is a plain TTL from storage time, ignoring the response's freshness headers
///   (the original's behaviour, except that its TTL slid on every hit, so an entry read often
///   enough never expired); only `statuses` are stored.
/// * **Requests the cache leaves alone** (`Bypass`): methods not in `methods`, `no-store`
///   requests, `Range` requests and requests carrying their own conditional headers
///   (`If-None-Match`, `If-Modified-Since`, `If-Match`, `If-Unmodified-Since`, `If-Range`):
///   not answered from the cache, their responses not stored, a `304` of theirs refreshing
///   nothing.
/// * **Looking without touching**: [`Cache::peek`] reports what is stored for a request
///   (age, freshness, validators) without moving counters, LRU order or single-flight state;
///   [`storability`] says whether a response would be stored, and for how long.
/// * **Single-flight failure policy.** When a leader fails or its response cannot be
///   stored, every follower gets `FetchYourself` (a herd bounded by the number of waiters,
///   which the breaker then protects) rather than being chained behind another leader
///   (which would multiply latency by the number of followers). When a stale entry is usable
///   on error, followers get it instead. A *cancelled* leader (`abandon`) promotes its first
///   follower.
/// * **Hit-for-miss.** A key whose response could not be stored (`no-store`, an uncached
///   status, `Vary: *`, too large) stops coalescing for [`CacheConfig::hit_for_miss`]
///   (120 s): its misses are `Miss` fills without a flight, sent at once, since waiting for
///   a leader would only end in `FetchYourself` and a second round trip. A storable
///   response for the key ends the window; failures (`on_error`) do not open one. Counted
///   in [`CacheStats::uncoalesced`].
///
/// Cache hits do not allocate (one `Arc` clone); the key is hashed in place.
#[derive(Debug)]
pub struct Cache {
    config: CacheConfig,
    rules: Rules,
    keys: KeyDeriver,
    /// The last looked-up URI's part of the key (see [`KeyMemo`]).
    memo: KeyMemo,
    store: Store<Entry>,
    flights: Flights,
    /// Keys whose last response could not be stored, until when (see
    /// [`CacheConfig::hit_for_miss`]).
    uncacheable: Uncacheable,
    events: VecDeque<FlightEvent>,
    stats: CacheStats,
}

/// Request headers that make the cache step aside: the caller's own validators and
/// preconditions, and `Range`.
fn is_bypass_header(name: &HeaderName) -> bool {
    name == RANGE
        || name == IF_NONE_MATCH
        || name == IF_MODIFIED_SINCE
        || name == IF_MATCH
        || name == IF_UNMODIFIED_SINCE
        || name == IF_RANGE
}

/// Whether a request carries a header that makes the cache step aside.
fn is_conditional(headers: &HeaderMap) -> bool {
    headers.keys().any(is_bypass_header)
}

/// Final status codes whose caching requirements the cache implements, for
/// `must-understand` (RFC 9111 §5.2.2.3): those RFC 9110 defines, except `206`.
fn understood(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        200..=205 | 300..=305 | 307 | 308 | 400..=417 | 421 | 422 | 426 | 500..=505
    )
}

/// What may be stored, and with what freshness: the configuration compiled once.
#[derive(Debug)]
struct Rules {
    enabled: bool,
    methods: Vec<Method>,
    statuses: Vec<StatusCode>,
    any_status_with_explicit_freshness: bool,
    policy: Policy,
}

impl Rules {
    /// Entries [`CacheConfig::validate`] refuses are skipped.
    fn new(config: &CacheConfig) -> Rules {
        Rules {
            enabled: config.enabled,
            methods: config
                .methods
                .iter()
                .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
                .collect(),
            statuses: config
                .statuses
                .iter()
                .filter_map(|s| StatusCode::from_u16(*s).ok())
                .collect(),
            any_status_with_explicit_freshness: config.any_status_with_explicit_freshness,
            policy: Policy {
                mode: config.mode,
                default_ttl: config.default_ttl,
                max_ttl: config.max_ttl,
                heuristic: config
                    .heuristic_freshness
                    .then_some((config.heuristic_fraction, config.heuristic_max)),
                stale_if_error: config.stale_if_error,
            },
        }
    }

    fn method_cacheable(&self, m: &Method) -> bool {
        self.methods.iter().any(|x| x == m)
    }

    /// Whether freshness may be assumed for a response that gives none: a listed
    /// (heuristically cacheable) status, or `public` (RFC 9111 §5.2.2.9).
    fn heuristic(&self, status: StatusCode, cc: &CacheControl) -> bool {
        self.statuses.contains(&status) || cc.public
    }

    /// Whether `resp` to `req` may be stored, and its freshness (RFC 9111 §3, private cache).
    /// Everything but the size bounds and `304` merging, which need the store.
    fn assess(
        &self,
        req: &Request,
        resp: &Response,
        wall: WallClock,
        response_delay: Duration,
    ) -> Result<Freshness, NotStoredReason> {
        use NotStoredReason as R;
        if !self.enabled {
            return Err(R::Disabled);
        }
        if !self.method_cacheable(req.method()) {
            return Err(R::MethodNotCacheable);
        }
        if is_conditional(req.headers()) {
            return Err(R::ConditionalRequest);
        }
        let status = resp.status();
        if status.is_informational()
            || status == StatusCode::PARTIAL_CONTENT
            || status == StatusCode::NOT_MODIFIED
        {
            return Err(R::StatusNotCacheable);
        }
        if CacheControl::from_request_headers(req.headers()).no_store {
            return Err(R::NoStore);
        }
        let cc = CacheControl::from_headers(resp.headers());
        if cc.must_understand {
            // A cache that implements the status may store it and ignore `no-store`; one that
            // does not must not store it.
            if !understood(status) {
                return Err(R::MustUnderstand);
            }
        } else if cc.no_store {
            return Err(R::NoStore);
        }
        if Vary::from_headers(resp.headers()) == Vary::Any {
            return Err(R::VaryStar);
        }
        let heuristic = self.heuristic(status, &cc);
        let allowed = if self.policy.mode == FreshnessMode::TtlOnly {
            self.statuses.contains(&status)
        } else {
            let explicit = cc.max_age.is_some() || resp.headers().contains_key(EXPIRES);
            heuristic || (explicit && self.any_status_with_explicit_freshness)
        };
        if !allowed {
            return Err(R::StatusNotCacheable);
        }
        let freshness = freshness::compute(
            &self.policy,
            resp.headers(),
            &cc,
            wall,
            response_delay,
            heuristic,
        );
        if freshness.arrived_stale(resp.headers()) {
            return Err(R::StaleOnArrival);
        }
        let has_validators =
            resp.headers().contains_key(ETAG) || resp.headers().contains_key(LAST_MODIFIED);
        if !freshness.is_useful(freshness.initial_age, has_validators) {
            return Err(R::Unusable);
        }
        Ok(freshness)
    }
}

/// Whether `response` to `request` may be stored under `config`, and with what freshness
/// (lifetime, where it came from — explicit, heuristic, default — initial age, stale windows):
/// the rules [`Cache::on_response`] applies, as a pure function. `received` is the wall-clock
/// time the response arrived, `response_delay` how long after its request was sent.
///
/// Not covered, because they need a cache's state: the size bounds (`max_entry_bytes`) and
/// the merging of a `304` into a stored response. Configuration entries
/// [`CacheConfig::validate`] would refuse are ignored.
///
/// ```
/// use std::time::Duration;
/// use bytes::Bytes;
/// use tether_core::{storability, CacheConfig, LifetimeSource, NotStoredReason, WallClock};
///
/// let config = CacheConfig::default();
/// let req = http::Request::get("https://h/a").body(Bytes::new()).unwrap();
/// let at = WallClock::from_unix_secs(1_700_000_000);
/// let redirect = |cc: &str| {
///     http::Response::builder().status(302).header("cache-control", cc)
///         .body(Bytes::new()).unwrap()
/// };
/// let f = storability(&config, &req, &redirect("max-age=600"), at, Duration::ZERO).unwrap();
/// assert_eq!((f.lifetime, f.source), (Duration::from_secs(600), LifetimeSource::MaxAge));
/// assert_eq!(
///     storability(&config, &req, &redirect("private"), at, Duration::ZERO),
///     Err(NotStoredReason::StatusNotCacheable),
/// );
/// ```
pub fn storability(
    config: &CacheConfig,
    request: &Request,
    response: &Response,
    received: WallClock,
    response_delay: Duration,
) -> Result<Freshness, NotStoredReason> {
    Rules::new(config).assess(request, response, received, response_delay)
}

/// What the cache holds for a request, seen without touching anything: see [`Cache::peek`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CachePeek {
    /// The request's key.
    pub key: CacheKey,
    /// The stored response (its [`freshness`](CachedResponse::freshness) says how long it
    /// lives and where that came from).
    pub response: Arc<CachedResponse>,
    /// Its current age (RFC 9111 §4.2.3).
    pub age: Duration,
    /// Whether it is fresh.
    pub fresh: bool,
    /// How long it stays fresh (zero once stale).
    pub remaining: Duration,
    /// How long past its lifetime it is (zero while fresh).
    pub staleness: Duration,
    /// What a lookup of this request would do with it, given the request's own directives
    /// (`max-age`, `min-fresh`, `max-stale`, `no-cache`). A lookup may still bypass the
    /// cache (see `bypass`) or join an identical fetch in flight.
    pub usability: Usability,
    /// A lookup of this request would bypass the cache (its method, `no-store`, `Range` or
    /// its own conditional headers).
    pub bypass: bool,
    /// The stored `ETag`, if any.
    pub etag: Option<HeaderValue>,
    /// The stored `Last-Modified`, if any.
    pub last_modified: Option<HeaderValue>,
}

/// Header fields never stored (RFC 9111 §3.1): hop-by-hop fields, and `Age` (regenerated).
fn is_unstored_header(name: &HeaderName) -> bool {
    name == CONNECTION
        || name == TE
        || name == TRANSFER_ENCODING
        || name == UPGRADE
        || name == TRAILER
        || name == PROXY_AUTHENTICATE
        || name == AGE
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

/// Weak comparison of two entity tags (RFC 9110 §8.8.3.2).
fn etag_weak_eq(a: &HeaderValue, b: &HeaderValue) -> bool {
    let strip = |v: &HeaderValue| {
        let s = v.as_bytes().trim_ascii();
        s.strip_prefix(b"W/").unwrap_or(s).to_vec()
    };
    strip(a) == strip(b)
}

impl Cache {
    /// A cache with `config`; `seed` keys the hash so collisions cannot be precomputed (the
    /// frontend should draw it from OS randomness).
    pub fn new(config: CacheConfig, seed: u64) -> Result<Cache, ConfigError> {
        config.validate()?;
        let keys = KeyDeriver::new(
            seed,
            config
                .key_headers
                .iter()
                .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok())
                .collect(),
            Partition::new(&config.credential_headers, &config.non_identifying_headers),
            config.credential_query_params.clone(),
            config.exclude_query_params.clone(),
            config.include_query,
            config.sort_query_by_name,
        );
        Ok(Cache {
            rules: Rules::new(&config),
            keys,
            memo: KeyMemo::new(),
            store: Store::new(config.max_entries, config.max_bytes, config.max_entry_bytes),
            flights: Flights::default(),
            uncacheable: Uncacheable::default(),
            events: VecDeque::new(),
            stats: CacheStats {
                enabled: config.enabled,
                max_entries: config.max_entries,
                max_bytes: config.max_bytes,
                ..CacheStats::default()
            },
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// The primary key of a request (method, normalised URL, key headers, body digest,
    /// partition: credentials and every identifying header). Does not allocate.
    pub fn key_for(&self, req: &Request) -> CacheKey {
        self.keys.key(req)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.store.len() == 0
    }

    /// Bytes held (accounting of `max_bytes`).
    pub fn bytes(&self) -> usize {
        self.store.bytes()
    }

    /// Number of fetches in flight (leaders not yet completed).
    pub fn flights_in_progress(&self) -> usize {
        self.flights.len()
    }

    /// A snapshot of counters and occupancy.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            entries: self.store.len(),
            bytes: self.store.bytes(),
            ..self.stats
        }
    }

    fn method_cacheable(&self, m: &Method) -> bool {
        self.rules.method_cacheable(m)
    }

    /// What is stored for `req` at `now`, without touching anything: no counter moves, the
    /// LRU order stays, no single-flight starts, nothing is remembered. `None` when nothing
    /// is stored for the request (or only a variant for other `Vary` values).
    pub fn peek(&self, now: Timestamp, req: &Request) -> Option<CachePeek> {
        let key = self.keys.key(req);
        let entry = self.store.get(self.store.find(&key)?);
        if !self.vary_matches(entry, req.headers()) {
            return None;
        }
        let r = &entry.response;
        let f = &r.freshness;
        let age = r.age(now);
        let rcc = CacheControl::from_request_headers(req.headers());
        Some(CachePeek {
            key,
            response: Arc::clone(r),
            age,
            fresh: f.is_fresh(age),
            remaining: f.remaining(age),
            staleness: f.staleness(age),
            usability: f.usability(age, &rcc),
            bypass: !self.config.enabled
                || !self.method_cacheable(req.method())
                || is_conditional(req.headers())
                || rcc.no_store,
            etag: r.etag().cloned(),
            last_modified: r.last_modified().cloned(),
        })
    }

    /// [`storability`] under this cache's configuration.
    pub fn storability(
        &self,
        request: &Request,
        response: &Response,
        received: WallClock,
        response_delay: Duration,
    ) -> Result<Freshness, NotStoredReason> {
        self.rules
            .assess(request, response, received, response_delay)
    }

    fn vary_matches(&self, entry: &Entry, headers: &HeaderMap) -> bool {
        match &entry.vary {
            None => true,
            Some(v) => self.keys.vary_hash(&v.names, headers) == v.hash,
        }
    }

    /// Decides how to answer `req` at `now`. `ticket` identifies the caller if it has to
    /// wait as a follower (it appears in its [`FlightEvent`]).
    ///
    /// Hits do not allocate. Every `Miss` and `Stale { revalidate: Some(_) }` fill must be
    /// completed.
    pub fn lookup(&mut self, now: Timestamp, req: &Request, ticket: u64) -> Lookup {
        if !self.config.enabled || !self.method_cacheable(req.method()) {
            self.stats.bypasses += 1;
            return Lookup::Bypass;
        }
        let headers = req.headers();
        let mut has_directives = false;
        for name in headers.keys() {
            if is_bypass_header(name) {
                self.stats.bypasses += 1;
                return Lookup::Bypass;
            }
            has_directives |= name == http::header::CACHE_CONTROL || name == PRAGMA;
        }
        let rcc = if has_directives {
            CacheControl::from_request_headers(headers)
        } else {
            CacheControl::default()
        };
        if rcc.no_store {
            self.stats.bypasses += 1;
            return Lookup::Bypass;
        }
        let key = self.keys.key_memo(req, &mut self.memo);
        let mut conditional = None;
        if let Some(idx) = self.store.find(&key) {
            let entry = self.store.get(idx);
            if self.vary_matches(entry, headers) {
                let resp = &entry.response;
                match resp.freshness.usability(resp.age(now), &rcc) {
                    Usability::Fresh => {
                        let r = Arc::clone(resp);
                        self.store.touch(idx);
                        self.stats.hits += 1;
                        return Lookup::Fresh(r);
                    }
                    Usability::StaleAccepted => {
                        let r = Arc::clone(resp);
                        self.store.touch(idx);
                        self.stats.stale_hits += 1;
                        return Lookup::Stale {
                            response: r,
                            revalidate: None,
                        };
                    }
                    Usability::StaleWhileRevalidate => {
                        let r = Arc::clone(resp);
                        self.store.touch(idx);
                        self.stats.stale_hits += 1;
                        let revalidate = if self.flights.contains(&key) {
                            None
                        } else {
                            let id = self.flights.start(key);
                            Some(Fill {
                                key,
                                flight: Some(id),
                                started: now,
                                conditional: conditional_headers(&r),
                                background: true,
                            })
                        };
                        return Lookup::Stale {
                            response: r,
                            revalidate,
                        };
                    }
                    Usability::Revalidate => {
                        conditional = conditional_headers(resp);
                    }
                }
            }
        }
        if rcc.only_if_cached {
            self.stats.misses += 1;
            return Lookup::Unsatisfiable;
        }
        if self.uncacheable.active(&key, now) {
            // Hit-for-miss: this key's last answer could not be shared; do not queue.
            self.stats.misses += 1;
            self.stats.uncoalesced += 1;
            return Lookup::Miss(Fill {
                key,
                flight: None,
                started: now,
                conditional,
                background: false,
            });
        }
        if let Some(id) = self.flights.join(&key, ticket) {
            self.stats.coalesced += 1;
            return Lookup::Follow(id);
        }
        self.stats.misses += 1;
        let id = self.flights.start(key);
        Lookup::Miss(Fill {
            key,
            flight: Some(id),
            started: now,
            conditional,
            background: false,
        })
    }

    /// Feeds the upstream response obtained with `fill` (for the request `req` as the caller
    /// made it, without the conditional headers). Stores it if allowed, merges a 304 into the
    /// stored response, or falls back to a stale entry on 5xx (stale-if-error). Completes the
    /// fill's flight: drain [`poll_flight_event`](Self::poll_flight_event) afterwards.
    #[expect(
        clippy::needless_pass_by_value,
        reason = "a Fill is a single-use capability: completing it consumes it"
    )]
    pub fn on_response(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        fill: Fill,
        req: &Request,
        resp: &Response,
    ) -> StoreResult {
        let Fill {
            key,
            flight,
            started,
            background,
            ..
        } = fill;
        let status = resp.status();
        let result = if is_conditional(req.headers()) {
            // The caller's own conditional request: its answer is for it alone.
            StoreResult::NotStored(NotStoredReason::ConditionalRequest)
        } else if status == StatusCode::NOT_MODIFIED {
            self.merge_not_modified(now, wall, key, req, resp)
        } else if status.is_server_error()
            && let Some(stale) = self.usable_on_error(now, key, req)
        {
            // A background refresh already served its caller.
            self.stats.stale_hits += u64::from(!background);
            StoreResult::StaleIfError(stale)
        } else {
            self.store_response(now, wall, key, started, req, resp)
        };
        match &result {
            StoreResult::Stored(_) | StoreResult::Revalidated(_) => self.uncacheable.clear(&key),
            StoreResult::NotStored(reason) if reason.is_the_responses() => {
                let until = now.saturating_add(self.config.hit_for_miss);
                self.uncacheable.mark(key, now, until);
            }
            StoreResult::NotStored(_) | StoreResult::StaleIfError(_) => {}
        }
        if let Some(id) = flight {
            let shared = match &result {
                StoreResult::Stored(r)
                | StoreResult::Revalidated(r)
                | StoreResult::StaleIfError(r) => Some(r),
                StoreResult::NotStored(_) => None,
            };
            self.finish_flight(now, key, id, shared);
        }
        result
    }

    /// The fetch made with `fill` failed (transport error, timeout, breaker rejection, …).
    /// Returns a stored response to serve instead if one is usable on error (stale-if-error,
    /// or still fresh). Completes the fill's flight.
    #[expect(
        clippy::needless_pass_by_value,
        reason = "a Fill is a single-use capability: completing it consumes it"
    )]
    pub fn on_error(
        &mut self,
        now: Timestamp,
        fill: Fill,
        req: &Request,
    ) -> Option<Arc<CachedResponse>> {
        let stale = self.usable_on_error(now, fill.key, req);
        if stale.is_some() && !fill.background {
            self.stats.stale_hits += 1;
        }
        if let Some(id) = fill.flight {
            self.finish_flight(now, fill.key, id, stale.as_ref());
        }
        stale
    }

    /// The fetch made with `fill` will not happen or was cancelled. Its first follower (if
    /// any) is promoted to leader (a `FetchYourself` event whose fill keeps the flight).
    pub fn abandon(&mut self, now: Timestamp, fill: Fill) {
        let Some(id) = fill.flight else { return };
        let Some(mut flight) = self.flights.take(&fill.key, id) else {
            return;
        };
        if flight.followers.is_empty() {
            return;
        }
        let ticket = flight.followers.remove(0);
        self.events.push_back(FlightEvent::FetchYourself {
            ticket,
            fill: Fill {
                key: fill.key,
                flight: Some(id),
                started: now,
                conditional: fill.conditional,
                background: false,
            },
        });
        self.flights.restore(fill.key, flight);
    }

    /// A follower gives up waiting (its own timeout or cancellation): it will get no event.
    pub fn leave_flight(&mut self, flight: FlightId, ticket: u64) -> bool {
        self.flights.leave(flight, ticket)
    }

    /// The next follower event, if any. Events appear after `on_response`, `on_error` and
    /// `abandon`; drain them after each of those calls.
    pub fn poll_flight_event(&mut self) -> Option<FlightEvent> {
        self.events.pop_front()
    }

    fn finish_flight(
        &mut self,
        now: Timestamp,
        key: CacheKey,
        id: FlightId,
        shared: Option<&Arc<CachedResponse>>,
    ) {
        let Some(Flight { followers, .. }) = self.flights.take(&key, id) else {
            return;
        };
        for ticket in followers {
            let ev = match shared {
                Some(r) if r.headers.contains_key(VARY) => FlightEvent::Relookup { ticket },
                Some(r) => FlightEvent::Ready {
                    ticket,
                    response: Arc::clone(r),
                },
                None => FlightEvent::FetchYourself {
                    ticket,
                    fill: Fill {
                        key,
                        flight: None,
                        started: now,
                        conditional: None,
                        background: false,
                    },
                },
            };
            self.events.push_back(ev);
        }
    }

    fn usable_on_error(
        &self,
        now: Timestamp,
        key: CacheKey,
        req: &Request,
    ) -> Option<Arc<CachedResponse>> {
        let idx = self.store.find(&key)?;
        let entry = self.store.get(idx);
        if !self.vary_matches(entry, req.headers()) {
            return None;
        }
        let r = &entry.response;
        r.freshness
            .usable_on_error(r.age(now))
            .then(|| Arc::clone(r))
    }

    fn stored_headers(&self, src: &HeaderMap, into: &mut HeaderMap, skip_entity: bool) {
        let listed_in_connection = |name: &HeaderName| {
            src.get_all(CONNECTION).iter().any(|v| {
                v.as_bytes().split(|c| *c == b',').any(|t| {
                    t.trim_ascii()
                        .eq_ignore_ascii_case(name.as_str().as_bytes())
                })
            })
        };
        for name in src.keys() {
            if is_unstored_header(name)
                || (self.config.strip_set_cookie && name == SET_COOKIE)
                || (skip_entity
                    && (name == CONTENT_LENGTH
                        || name == CONTENT_ENCODING
                        || name == CONTENT_RANGE))
                || listed_in_connection(name)
            {
                continue;
            }
            into.remove(name);
            for v in src.get_all(name) {
                into.append(name.clone(), v.clone());
            }
        }
    }

    fn vary_of(
        &self,
        headers: &HeaderMap,
        req: &Request,
    ) -> Result<Option<VaryKey>, NotStoredReason> {
        match Vary::from_headers(headers) {
            Vary::Any => Err(NotStoredReason::VaryStar),
            Vary::Fields(f) if f.is_empty() => Ok(None),
            Vary::Fields(f) => {
                let names: Box<[HeaderName]> = f
                    .iter()
                    .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
                    .collect();
                let hash = self.keys.vary_hash(&names, req.headers());
                Ok(Some(VaryKey { names, hash }))
            }
        }
    }

    fn insert_entry(
        &mut self,
        key: CacheKey,
        req: &Request,
        response: CachedResponse,
        vary: Option<VaryKey>,
    ) -> Result<Arc<CachedResponse>, NotStoredReason> {
        let url = self.keys.redacted_url(req.uri());
        let size = response.size() + url.len() + ENTRY_OVERHEAD;
        if size > self.config.max_entry_bytes {
            return Err(NotStoredReason::TooLarge);
        }
        let response = Arc::new(response);
        let entry = Entry {
            response: Arc::clone(&response),
            url: url.into_boxed_str(),
            vary,
        };
        let url_id = self.keys.url_id(req.uri());
        match self.store.insert(key, entry, size, url_id) {
            Ok(evicted) => {
                self.stats.evictions += evicted as u64;
                Ok(response)
            }
            Err(_) => Err(NotStoredReason::TooLarge),
        }
    }

    fn store_response(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        key: CacheKey,
        started: Timestamp,
        req: &Request,
        resp: &Response,
    ) -> StoreResult {
        let freshness =
            match self
                .rules
                .assess(req, resp, wall, now.saturating_duration_since(started))
            {
                Ok(f) => f,
                Err(r) => return StoreResult::NotStored(r),
            };
        let vary = match self.vary_of(resp.headers(), req) {
            Ok(v) => v,
            Err(r) => return StoreResult::NotStored(r),
        };
        let mut headers = HeaderMap::with_capacity(resp.headers().keys_len());
        self.stored_headers(resp.headers(), &mut headers, false);
        let response = CachedResponse {
            status: resp.status(),
            version: resp.version(),
            headers,
            body: resp.body().clone(),
            stored_at: now,
            stored_wall: wall,
            freshness,
        };
        match self.insert_entry(key, req, response, vary) {
            Ok(r) => {
                self.stats.stores += 1;
                StoreResult::Stored(r)
            }
            Err(r) => StoreResult::NotStored(r),
        }
    }

    fn merge_not_modified(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        key: CacheKey,
        req: &Request,
        resp: &Response,
    ) -> StoreResult {
        use NotStoredReason as R;
        let Some(idx) = self.store.find(&key) else {
            return StoreResult::NotStored(R::NotModifiedWithoutEntry);
        };
        let old = Arc::clone(&self.store.get(idx).response);
        if let (Some(new_tag), Some(old_tag)) = (resp.headers().get(ETAG), old.etag())
            && !etag_weak_eq(new_tag, old_tag)
        {
            self.store.remove(&key);
            return StoreResult::NotStored(R::ValidatorMismatch);
        }
        let mut headers = old.headers.clone();
        self.stored_headers(resp.headers(), &mut headers, true);
        let cc = CacheControl::from_headers(&headers);
        if cc.no_store && !(cc.must_understand && understood(old.status)) {
            self.store.remove(&key);
            return StoreResult::NotStored(R::NoStore);
        }
        let vary = match self.vary_of(&headers, req) {
            Ok(v) => v,
            Err(r) => {
                self.store.remove(&key);
                return StoreResult::NotStored(r);
            }
        };
        // Freshness from the merged fields plus the 304's own Age (stored fields carry none).
        let mut for_freshness = headers.clone();
        if let Some(age) = header_delta(resp.headers(), AGE) {
            for_freshness.insert(AGE, HeaderValue::from(age.as_secs()));
        }
        let freshness = freshness::compute(
            &self.rules.policy,
            &for_freshness,
            &cc,
            wall,
            Duration::ZERO,
            self.rules.heuristic(old.status, &cc),
        );
        let response = CachedResponse {
            status: old.status,
            version: old.version,
            headers,
            body: old.body.clone(),
            stored_at: now,
            stored_wall: wall,
            freshness,
        };
        match self.insert_entry(key, req, response, vary) {
            Ok(r) => {
                self.stats.revalidations += 1;
                StoreResult::Revalidated(r)
            }
            Err(r) => {
                self.store.remove(&key);
                StoreResult::NotStored(r)
            }
        }
    }

    /// RFC 9111 §4.4: after a non-error response to an unsafe method (anything but GET,
    /// HEAD, OPTIONS, TRACE), drop every stored response for the target URL (all methods,
    /// variants and partitions) and for same-origin `Location` /
    /// `Content-Location` URLs. Safe to call for any request; returns how many were removed.
    pub fn on_unsafe_response(&mut self, req: &Request, resp: &Response) -> usize {
        let m = req.method();
        if m == Method::GET || m == Method::HEAD || m == Method::OPTIONS || m == Method::TRACE {
            return 0;
        }
        let s = resp.status().as_u16();
        if !(200..400).contains(&s) {
            return 0;
        }
        let target = req.uri();
        let mut n = self.store.remove_url(self.keys.url_id(target));
        for name in [LOCATION, CONTENT_LOCATION] {
            let Some(v) = resp.headers().get(name) else {
                continue;
            };
            let Some(uri) = resolve_same_origin(target, v.as_bytes()) else {
                continue;
            };
            n += self.store.remove_url(self.keys.url_id(&uri));
        }
        self.stats.invalidations += n as u64;
        n
    }

    /// Drops every entry; returns how many. In-flight fetches are unaffected.
    pub fn invalidate_all(&mut self) -> usize {
        let n = self.store.clear();
        self.stats.invalidations += n as u64;
        n
    }

    /// Drops the entry under `key`.
    pub fn invalidate_key(&mut self, key: CacheKey) -> bool {
        let hit = self.store.remove(&key).is_some();
        self.stats.invalidations += u64::from(hit);
        hit
    }

    /// Drops every entry of one URL (all methods, variants and partitions).
    pub fn invalidate_url(&mut self, uri: &Uri) -> usize {
        let n = self.store.remove_url(self.keys.url_id(uri));
        self.stats.invalidations += n as u64;
        n
    }

    /// Drops every entry whose stored URL starts with `prefix`. Stored URLs are normalised:
    /// lower-case scheme and host, default port elided, no userinfo or credential parameters
    /// (e.g. `https://api.example.com/v1/users?page=2`). Linear in the number of entries.
    pub fn invalidate_prefix(&mut self, prefix: &str) -> usize {
        let n = self.store.retain(|_, e| !e.url.starts_with(prefix));
        self.stats.invalidations += n as u64;
        n
    }

    /// Drops entries that can no longer be used at `now` (stale beyond every stale window
    /// and without validators to revalidate them). Optional housekeeping; linear.
    pub fn purge_expired(&mut self, now: Timestamp) -> usize {
        self.store.retain(|_, e| {
            let r = &e.response;
            let has_validators = r.etag().is_some() || r.last_modified().is_some();
            r.freshness.is_useful(r.age(now), has_validators)
        })
    }
}

/// Resolves a `Location` / `Content-Location` value against `base` when it is same-origin
/// (absolute with the same scheme and authority, or an absolute path).
fn resolve_same_origin(base: &Uri, value: &[u8]) -> Option<Uri> {
    let s = std::str::from_utf8(value).ok()?.trim();
    if s.starts_with('/') && !s.starts_with("//") {
        let mut parts = http::uri::Parts::default();
        parts.scheme = base.scheme().cloned();
        parts.authority = base.authority().cloned();
        parts.path_and_query = Some(s.parse().ok()?);
        return Uri::from_parts(parts).ok();
    }
    let uri: Uri = s.parse().ok()?;
    let same = uri.scheme() == base.scheme()
        && uri.host().map(str::to_ascii_lowercase) == base.host().map(str::to_ascii_lowercase)
        && uri.port_u16() == base.port_u16();
    same.then_some(uri)
}

/// `If-None-Match` / `If-Modified-Since` from a stored response's validators.
fn conditional_headers(r: &CachedResponse) -> Option<Box<HeaderMap>> {
    let etag = r.etag();
    let lm = r.last_modified();
    if etag.is_none() && lm.is_none() {
        return None;
    }
    let mut h = HeaderMap::with_capacity(2);
    if let Some(e) = etag {
        h.insert(IF_NONE_MATCH, e.clone());
    }
    if let Some(l) = lm {
        h.insert(IF_MODIFIED_SINCE, l.clone());
    }
    Some(Box::new(h))
}

#[cfg(test)]
mod spec_tests;
#[cfg(test)]
mod tests;
