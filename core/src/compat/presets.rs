//! Configurations that reproduce the original client's caching and retry timings with the
//! policy modules' ordinary knobs. The Python layer uses them so that its users see the timings
//! they know; every other frontend keeps the core's defaults.

use std::time::Duration;

use crate::TransportErrorKind;
use crate::cache::{CacheConfig, FreshnessMode};
use crate::metrics::MetricsConfig;
use crate::retry::{Backoff, LongRetryAfter, RetryConfig};

/// The original client's caching, with its defects fixed: GET only, status 200 only,
/// [`FreshnessMode::TtlOnly`] with 300 s measured from storage (the original slid the TTL on
/// every read, so an entry read often enough never expired), 1000 entries enforced on insert.
/// Credential partitioning and `no-store` stay on: the original served one user's cached
/// response to another and cached what the server said must not be stored.
pub fn cache_config_strict() -> CacheConfig {
    CacheConfig {
        mode: FreshnessMode::TtlOnly,
        default_ttl: Duration::from_mins(5),
        methods: vec!["GET".into()],
        statuses: vec![200],
        ..CacheConfig::default()
    }
}

/// [`cache_config_strict`] from the original `CacheConfig(enabled, ttl_seconds, max_size,
/// include_headers, include_query_params)`; `include_headers` keys on `Accept` and
/// `Content-Type` (`Authorization` always partitions).
pub fn cache_config(
    enabled: bool,
    ttl_seconds: u64,
    max_size: usize,
    include_headers: bool,
    include_query_params: bool,
) -> CacheConfig {
    CacheConfig {
        enabled,
        default_ttl: Duration::from_secs(ttl_seconds),
        max_entries: max_size,
        include_query: include_query_params,
        key_headers: if include_headers {
            vec!["accept".into(), "content-type".into()]
        } else {
            Vec::new()
        },
        ..cache_config_strict()
    }
}

/// The original client's retries, as closely as the core expresses them: `max_retries + 1`
/// attempts, every 5xx and 429 retried, every transport failure except a caller's cancellation
/// retried, every method retried, backoff `min(2^attempt + U(0,1), 30)` s
/// ([`Backoff::Original`]), `Retry-After` capped at 60 s, no budget, no deadline.
///
/// Differences that remain on purpose: a 429 waits `max(backoff, Retry-After)` instead of
/// exactly `Retry-After` (or 1 s when absent), and an HTTP-date `Retry-After` is honoured
/// instead of raising `ValueError` and failing the call.
pub fn retry_config(max_retries: u32) -> RetryConfig {
    let mut statuses = vec![429];
    statuses.extend(500..=599);
    RetryConfig {
        max_attempts: max_retries.saturating_add(1),
        backoff: Backoff::Original,
        max_delay: Duration::from_secs(30),
        retryable_statuses: statuses,
        retryable_errors: vec![
            TransportErrorKind::Connect,
            TransportErrorKind::Timeout,
            TransportErrorKind::Reset,
            TransportErrorKind::BodyTooLarge,
            TransportErrorKind::Protocol,
            TransportErrorKind::Other,
        ],
        respect_retry_after: true,
        max_retry_after: Duration::from_mins(1),
        on_long_retry_after: LongRetryAfter::Cap,
        retry_non_idempotent: true,
        retry_connect_non_idempotent: true,
        idempotency_header: "Idempotency-Key".to_owned(),
        deadline: None,
        budget: None,
    }
}

/// The original's metrics naming: a failed attempt without a response counts in
/// `error_counts` under the httpx exception class it raised (`ConnectError`, `ReadTimeout`,
/// `ReadError`, `RemoteProtocolError`, `TransportError`), as `error_counts[<class name>]`
/// did. The names go by the transport error kind alone, so every timeout counts as
/// `ReadTimeout` — the read (or whole-attempt) limit, the usual case; a connect, write or
/// pool timeout raises its own class (`ConnectTimeout`, …) but is counted with the reads.
pub fn metrics_config() -> MetricsConfig {
    let names = [
        (TransportErrorKind::Connect, "ConnectError"),
        (TransportErrorKind::Timeout, "ReadTimeout"),
        (TransportErrorKind::Reset, "ReadError"),
        (TransportErrorKind::BodyTooLarge, "ReadError"),
        (TransportErrorKind::Protocol, "RemoteProtocolError"),
        (TransportErrorKind::Other, "TransportError"),
    ];
    MetricsConfig {
        transport_error_names: names
            .into_iter()
            .map(|(kind, name)| (kind.as_str().to_owned(), name.to_owned()))
            .collect(),
        ..MetricsConfig::default()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::cache::{Cache, Lookup, NotStoredReason, StoreResult};
    use crate::retry::{GiveUpReason, RetryDecision, RetryPolicy};
    use crate::{Outcome, Request, Response, Rng, Timestamp, WallClock};

    const WALL: WallClock = WallClock::from_unix_secs(1_431_704_061);

    fn request(method: &str) -> Request {
        http::Request::builder()
            .method(method)
            .uri("http://h/p")
            .body(Bytes::new())
            .unwrap()
    }

    fn response(status: u16) -> Response {
        http::Response::builder()
            .status(status)
            .header("cache-control", "max-age=0, must-revalidate")
            .body(Bytes::new())
            .unwrap()
    }

    #[test]
    fn the_strict_cache_stores_only_get_200_for_five_minutes() {
        let mut c = Cache::new(cache_config_strict(), 1).unwrap();
        let get = request("GET");
        let now = Timestamp::from_secs(1);
        let Lookup::Miss(fill) = c.lookup(now, &get, 1) else {
            panic!("empty cache misses")
        };
        let not_stored = c.on_response(now, WALL, fill, &get, &response(404));
        assert!(matches!(
            not_stored,
            StoreResult::NotStored(NotStoredReason::StatusNotCacheable)
        ));
        assert!(matches!(c.lookup(now, &request("HEAD"), 2), Lookup::Bypass));
        assert!(matches!(c.lookup(now, &request("POST"), 3), Lookup::Bypass));
        // Freshness headers are ignored: a `max-age=0` 200 is served for the whole TTL, then expires.
        let Lookup::Miss(fill) = c.lookup(now, &get, 4) else {
            panic!("still empty")
        };
        assert!(matches!(
            c.on_response(now, WALL, fill, &get, &response(200)),
            StoreResult::Stored(_)
        ));
        let later = Timestamp::from_secs(1 + 299);
        assert!(matches!(c.lookup(later, &get, 5), Lookup::Fresh(_)));
        let expired = Timestamp::from_secs(1 + 300);
        assert!(!matches!(c.lookup(expired, &get, 6), Lookup::Fresh(_)));
        assert_eq!(c.config().max_entries, 1000);
    }

    #[test]
    fn the_original_cache_constructor_maps_its_arguments() {
        let o = cache_config(true, 60, 5, true, false);
        assert_eq!(
            (o.max_entries, o.default_ttl, o.include_query),
            (5, Duration::from_mins(1), false)
        );
        assert_eq!(
            o.key_headers,
            vec!["accept".to_string(), "content-type".to_string()]
        );
        assert_eq!(o.mode, FreshnessMode::TtlOnly);
        assert!(!cache_config(false, 60, 5, false, true).enabled);
        assert!(o.validate().is_ok());
    }

    #[test]
    fn the_original_retry_timings() {
        // max_retries = 3: sleeps U[1,2), U[2,3), U[4,5) s, then the last 5xx is returned.
        let cfg = retry_config(3);
        assert!(cfg.validate().is_ok());
        let p = RetryPolicy::new(cfg).unwrap();
        assert!(
            p.is_retryable_status(501) && p.is_retryable_status(599) && p.is_retryable_status(429)
        );
        assert!(!p.is_retryable_status(404) && !p.is_retryable_status(600));
        let mut rng = Rng::new(42);
        let mut st = p.begin(Timestamp::ZERO, &request("POST"));
        let mut now = Timestamp::ZERO;
        let failed: Outcome = Ok(response(500));
        for (lo, hi) in [(1_000, 2_000), (2_000, 3_000), (4_000, 5_000)] {
            let d = p.decide(now, WALL, &mut st, &mut rng, &failed, None);
            let RetryDecision::Retry { delay, at, .. } = d else {
                panic!("{d:?}")
            };
            assert!(delay >= Duration::from_millis(lo) && delay < Duration::from_millis(hi));
            now = at;
        }
        let d = p.decide(now, WALL, &mut st, &mut rng, &failed, None);
        assert_eq!(d, RetryDecision::GiveUp(GiveUpReason::AttemptsExhausted));
    }

    #[test]
    fn the_metrics_preset_is_valid_and_names_httpx_classes() {
        let m = metrics_config();
        m.validate().unwrap();
        assert_eq!(m.transport_error_names["connect"], "ConnectError");
        assert_eq!(m.transport_error_names["timeout"], "ReadTimeout");
        assert!(!m.transport_error_names.contains_key("invalid_request"));
    }
}
