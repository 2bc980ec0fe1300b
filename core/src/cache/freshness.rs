//! Freshness (RFC 9111 §4.2, private-cache semantics) and the decision of whether a stored
//! response may be used for a request.
//!
//! Computed once when a response is stored (or re-validated) into a [`Freshness`]; at lookup
//! only integer arithmetic on durations remains.
//!
//! Lifetime, in [`FreshnessMode::Rfc9111`], first match wins:
//! 1. response `max-age` (`s-maxage` is ignored: we are a private cache);
//! 2. `Expires − Date` (an invalid `Expires` means already expired; no `Date` means the
//!    receipt time);
//! 3. only for a heuristically cacheable status or a `public` response (RFC 9111 §4.2.2,
//!    §5.2.2.9): the heuristic `fraction × (Date − Last-Modified)`, capped, when enabled in
//!    the config; else the configured `default_ttl`;
//! 4. otherwise none: zero, stale at once;
//!
//! then capped at `max_ttl` (when one is configured) unless the response is `immutable`.
//!
//! Age follows RFC 9111 §4.2.3: `initial_age = max(now_wall − Date, Age + response_delay)`,
//! `age(now) = initial_age + (now − stored_at)` on the monotonic clock.
//!
//! In [`FreshnessMode::TtlOnly`] headers are ignored: the lifetime is `default_ttl`, the age is
//! the time since storage (never sliding: a hit does not renew it).

use std::time::Duration;

use http::HeaderMap;
use http::header::{AGE, DATE, EXPIRES, LAST_MODIFIED};
use serde::{Deserialize, Serialize};

use super::directives::{CacheControl, DateField, header_date, header_delta};
use crate::WallClock;

/// How the cache decides how long a response stays fresh.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FreshnessMode {
    /// RFC 9111 private-cache semantics, with `default_ttl` as the lifetime of responses that
    /// carry no explicit freshness information, and `max_ttl` as a cap.
    #[default]
    Rfc9111,
    /// The original client's behaviour (fixed): every stored response lives exactly
    /// `default_ttl` from its storage time, whatever its headers say. `no-store` and `Vary`
    /// are still honoured (they are correctness, not freshness).
    TtlOnly,
}

/// Where a stored response's freshness lifetime came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LifetimeSource {
    /// `Cache-Control: max-age`.
    MaxAge,
    /// `Expires` (possibly invalid, hence zero).
    Expires,
    /// The `Last-Modified` heuristic.
    Heuristic,
    /// The configured default TTL (no explicit freshness in the response).
    DefaultTtl,
    /// None: no explicit freshness, and none may be assumed for the response's status. Zero,
    /// so every use revalidates.
    Absent,
    /// [`FreshnessMode::TtlOnly`].
    TtlOnly,
}

/// The freshness facts of one stored response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Freshness {
    /// How long the response is fresh, counted in age.
    pub lifetime: Duration,
    /// Where `lifetime` came from.
    pub source: LifetimeSource,
    /// The response's age when it was stored (RFC 9111 §4.2.3 `corrected_initial_age`).
    pub initial_age: Duration,
    /// `stale-while-revalidate` window, if any.
    pub stale_while_revalidate: Option<Duration>,
    /// `stale-if-error` window: the response's directive, else the configured default.
    pub stale_if_error: Option<Duration>,
    /// `must-revalidate`: never served stale.
    pub must_revalidate: bool,
    /// Response `no-cache`: every use needs a successful validation first.
    pub no_cache: bool,
    /// `immutable`.
    pub immutable: bool,
}

/// The configuration inputs to [`compute`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Policy {
    pub(crate) mode: FreshnessMode,
    pub(crate) default_ttl: Duration,
    pub(crate) max_ttl: Option<Duration>,
    /// `(fraction, cap)` when heuristic freshness is enabled.
    pub(crate) heuristic: Option<(f64, Duration)>,
    pub(crate) stale_if_error: Option<Duration>,
}

/// Freshness of a response received at `wall`, `response_delay` after its request was sent.
/// `heuristic` says whether freshness may be assumed when the response gives none (its
/// status is heuristically cacheable, or it is `public`).
pub(crate) fn compute(
    policy: &Policy,
    headers: &HeaderMap,
    cc: &CacheControl,
    wall: WallClock,
    response_delay: Duration,
    heuristic: bool,
) -> Freshness {
    if policy.mode == FreshnessMode::TtlOnly {
        return Freshness {
            lifetime: policy.default_ttl,
            source: LifetimeSource::TtlOnly,
            initial_age: Duration::ZERO,
            stale_while_revalidate: None,
            stale_if_error: policy.stale_if_error,
            must_revalidate: false,
            no_cache: false,
            immutable: false,
        };
    }
    let date = match header_date(headers, DATE) {
        DateField::Valid(d) => d,
        DateField::Absent | DateField::Invalid => wall,
    };
    let apparent_age = wall.saturating_duration_since(date);
    let age_value = header_delta(headers, AGE).unwrap_or(Duration::ZERO);
    let initial_age = apparent_age.max(age_value.saturating_add(response_delay));

    let expires = match header_date(headers, EXPIRES) {
        DateField::Absent => None,
        DateField::Invalid => Some(Duration::ZERO),
        DateField::Valid(e) => Some(e.saturating_duration_since(date)),
    };
    let (lifetime, source) = if let Some(ma) = cc.max_age {
        (ma, LifetimeSource::MaxAge)
    } else if let Some(l) = expires {
        (l, LifetimeSource::Expires)
    } else if !heuristic {
        (Duration::ZERO, LifetimeSource::Absent)
    } else if let (Some((fraction, cap)), DateField::Valid(lm)) =
        (policy.heuristic, header_date(headers, LAST_MODIFIED))
    {
        let since = date.saturating_duration_since(lm);
        (since.mul_f64(fraction).min(cap), LifetimeSource::Heuristic)
    } else {
        (policy.default_ttl, LifetimeSource::DefaultTtl)
    };
    let lifetime = match policy.max_ttl {
        Some(cap) if !cc.immutable => lifetime.min(cap),
        _ => lifetime,
    };
    Freshness {
        lifetime,
        source,
        initial_age,
        stale_while_revalidate: cc.stale_while_revalidate,
        stale_if_error: cc.stale_if_error.or(policy.stale_if_error),
        must_revalidate: cc.must_revalidate,
        no_cache: cc.no_cache,
        immutable: cc.immutable,
    }
}

/// What a stored response may be used for, given its age and the request's directives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Usability {
    /// Serve it.
    Fresh,
    /// Stale, but the request's `max-stale` accepts it: serve, no revalidation.
    StaleAccepted,
    /// Stale within `stale-while-revalidate`: serve and revalidate in the background.
    StaleWhileRevalidate,
    /// Must be validated (or refetched) before use.
    Revalidate,
}

impl Freshness {
    /// Whether the lifetime is the origin's own (`max-age` or `Expires`), not assumed.
    pub fn is_explicit(&self) -> bool {
        matches!(
            self.source,
            LifetimeSource::MaxAge | LifetimeSource::Expires
        )
    }

    /// Whether the response was already stale when it was sent, by the origin's or an
    /// intermediary's own account: an `Age` at or beyond an explicit lifetime, or an
    /// `Expires` at or before `Date` (or invalid). Such a response is never stored. The
    /// origin's own `max-age=0` (no `Age`) is not "arrived stale": it is the "store, but
    /// revalidate every use" idiom. Staleness that comes only from our clock disagreeing with
    /// `Date`, or from network delay, does not count here (it is age, handled as usual).
    pub(crate) fn arrived_stale(&self, headers: &HeaderMap) -> bool {
        let age = header_delta(headers, AGE).unwrap_or(Duration::ZERO);
        let declared_stale = !age.is_zero() && age >= self.lifetime;
        match self.source {
            LifetimeSource::MaxAge => declared_stale,
            LifetimeSource::Expires => self.lifetime.is_zero() || declared_stale,
            _ => false,
        }
    }

    /// How long a response of this `age` stays fresh (zero once stale).
    pub fn remaining(&self, age: Duration) -> Duration {
        self.lifetime.saturating_sub(age)
    }

    /// Whether a response of this `age` is fresh (`age < lifetime`).
    pub fn is_fresh(&self, age: Duration) -> bool {
        age < self.lifetime
    }

    /// How long past its lifetime a response of this `age` is (zero while fresh).
    pub fn staleness(&self, age: Duration) -> Duration {
        age.saturating_sub(self.lifetime)
    }

    pub(crate) fn usability(&self, age: Duration, req: &CacheControl) -> Usability {
        if req.no_cache || self.no_cache {
            return Usability::Revalidate;
        }
        if let Some(ma) = req.max_age
            && (ma.is_zero() || age > ma)
        {
            return Usability::Revalidate;
        }
        if self.is_fresh(age) {
            let remaining = self.lifetime.saturating_sub(age);
            match req.min_fresh {
                Some(mf) if remaining < mf => {}
                _ => return Usability::Fresh,
            }
        }
        if self.must_revalidate {
            return Usability::Revalidate;
        }
        let staleness = self.staleness(age);
        if let Some(ms) = req.max_stale
            && staleness <= ms
        {
            return Usability::StaleAccepted;
        }
        if let Some(w) = self.stale_while_revalidate
            && staleness <= w
        {
            return Usability::StaleWhileRevalidate;
        }
        Usability::Revalidate
    }

    /// Whether the response may be served because the upstream failed (RFC 5861
    /// `stale-if-error`, or still fresh). Never for `no-cache`; never stale for
    /// `must-revalidate`.
    pub fn usable_on_error(&self, age: Duration) -> bool {
        if self.no_cache {
            return false;
        }
        if self.is_fresh(age) {
            return true;
        }
        if self.must_revalidate {
            return false;
        }
        self.stale_if_error
            .is_some_and(|w| self.staleness(age) <= w)
    }

    /// Whether the response can still be of any use at this age (fresh, or within a stale
    /// window); `has_validators` keeps revalidatable entries useful.
    pub(crate) fn is_useful(&self, age: Duration, has_validators: bool) -> bool {
        if has_validators {
            return true;
        }
        if self.no_cache {
            return false;
        }
        if self.is_fresh(age) {
            return true;
        }
        if self.must_revalidate {
            return false;
        }
        let swr = self.stale_while_revalidate.unwrap_or(Duration::ZERO);
        let sie = self.stale_if_error.unwrap_or(Duration::ZERO);
        let window = swr.max(sie);
        !window.is_zero() && self.staleness(age) <= window
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::directives::parse_cache_control;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn policy() -> Policy {
        Policy {
            mode: FreshnessMode::Rfc9111,
            default_ttl: S(300),
            max_ttl: Some(S(86_400)),
            heuristic: None,
            stale_if_error: None,
        }
    }

    fn hdrs(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn fresh(p: &Policy, pairs: &[(&str, &str)], wall: u64) -> Freshness {
        let h = hdrs(pairs);
        let cc = CacheControl::from_headers(&h);
        compute(
            p,
            &h,
            &cc,
            WallClock::from_unix_secs(wall),
            Duration::ZERO,
            true,
        )
    }

    // 1994-11-06 08:49:37 GMT
    const T0: u64 = 784_111_777;
    const DATE0: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    const DATE_PLUS_100: &str = "Sun, 06 Nov 1994 08:51:17 GMT";
    const DATE_MINUS_1000: &str = "Sun, 06 Nov 1994 08:32:57 GMT";

    #[test]
    fn max_age_beats_expires() {
        let f = fresh(
            &policy(),
            &[
                ("cache-control", "max-age=60"),
                ("date", DATE0),
                ("expires", DATE_PLUS_100),
            ],
            T0,
        );
        assert_eq!(f.lifetime, S(60));
        assert_eq!(f.source, LifetimeSource::MaxAge);
    }

    #[test]
    fn expires_minus_date() {
        let f = fresh(
            &policy(),
            &[("date", DATE0), ("expires", DATE_PLUS_100)],
            T0 + 5,
        );
        assert_eq!(f.lifetime, S(100));
        assert_eq!(f.source, LifetimeSource::Expires);
        // Received 5 s after Date: apparent age 5 s.
        assert_eq!(f.initial_age, S(5));
        // Invalid Expires = already expired.
        let f = fresh(&policy(), &[("date", DATE0), ("expires", "0")], T0);
        assert_eq!(f.lifetime, S(0));
        // No Date: measured from receipt.
        let f = fresh(&policy(), &[("expires", DATE_PLUS_100)], T0);
        assert_eq!(f.lifetime, S(100));
        assert_eq!(f.initial_age, S(0));
        // Expires in the past.
        let f = fresh(
            &policy(),
            &[("date", DATE0), ("expires", DATE_MINUS_1000)],
            T0,
        );
        assert_eq!(f.lifetime, S(0));
    }

    #[test]
    fn age_header_and_response_delay() {
        let h = hdrs(&[
            ("date", DATE0),
            ("age", "30"),
            ("cache-control", "max-age=100"),
        ]);
        let cc = CacheControl::from_headers(&h);
        let f = compute(
            &policy(),
            &h,
            &cc,
            WallClock::from_unix_secs(T0 + 10),
            S(2),
            true,
        );
        // max(apparent 10, 30 + 2)
        assert_eq!(f.initial_age, S(32));
        // Date far in the past dominates a small Age.
        let h = hdrs(&[("date", DATE_MINUS_1000), ("age", "30")]);
        let f = compute(
            &policy(),
            &h,
            &CacheControl::default(),
            WallClock::from_unix_secs(T0),
            S(0),
            true,
        );
        assert_eq!(f.initial_age, S(1000));
        // Invalid Age is ignored.
        let h = hdrs(&[("date", DATE0), ("age", "-3")]);
        let f = compute(
            &policy(),
            &h,
            &CacheControl::default(),
            WallClock::from_unix_secs(T0),
            S(0),
            true,
        );
        assert_eq!(f.initial_age, S(0));
    }

    #[test]
    fn default_ttl_and_caps() {
        let f = fresh(&policy(), &[], T0);
        assert_eq!((f.lifetime, f.source), (S(300), LifetimeSource::DefaultTtl));
        let f = fresh(&policy(), &[("cache-control", "max-age=999999999")], T0);
        assert_eq!(f.lifetime, S(86_400));
        let f = fresh(
            &policy(),
            &[("cache-control", "max-age=999999999, immutable")],
            T0,
        );
        assert_eq!(f.lifetime, S(999_999_999));
        // Without a cap, an explicit lifetime stands as given.
        let mut p = policy();
        p.max_ttl = None;
        let f = fresh(&p, &[("cache-control", "max-age=31536000")], T0);
        assert_eq!(f.lifetime, S(31_536_000));
    }

    #[test]
    fn no_assumed_freshness_for_other_statuses() {
        let mut p = policy();
        p.heuristic = Some((0.1, S(3600)));
        let pairs = [("date", DATE0), ("last-modified", DATE_MINUS_1000)];
        let h = hdrs(&pairs);
        let cc = CacheControl::from_headers(&h);
        let f = compute(&p, &h, &cc, WallClock::from_unix_secs(T0), S(0), false);
        assert_eq!((f.lifetime, f.source), (S(0), LifetimeSource::Absent));
        // Explicit freshness needs no permission.
        let h = hdrs(&[("cache-control", "max-age=9")]);
        let cc = CacheControl::from_headers(&h);
        let f = compute(&p, &h, &cc, WallClock::from_unix_secs(T0), S(0), false);
        assert_eq!((f.lifetime, f.source), (S(9), LifetimeSource::MaxAge));
        assert!(f.is_explicit());
    }

    #[test]
    fn arrived_stale_by_the_senders_account() {
        let stale = |pairs: &[(&str, &str)]| {
            let h = hdrs(pairs);
            let cc = CacheControl::from_headers(&h);
            compute(
                &policy(),
                &h,
                &cc,
                WallClock::from_unix_secs(T0 + 5),
                S(1),
                true,
            )
            .arrived_stale(&h)
        };
        assert!(stale(&[("cache-control", "max-age=60"), ("age", "60")]));
        assert!(stale(&[("cache-control", "max-age=60"), ("age", "61")]));
        assert!(!stale(&[("cache-control", "max-age=60"), ("age", "59")]));
        assert!(stale(&[("cache-control", "max-age=0"), ("age", "1")]));
        // The origin's own max-age=0 is the revalidate-every-use idiom.
        assert!(!stale(&[("cache-control", "max-age=0")]));
        // Our clock 5 s past Date and 1 s of delay do not count.
        assert!(!stale(&[("cache-control", "max-age=3"), ("date", DATE0)]));
        assert!(stale(&[("date", DATE0), ("expires", DATE0)]));
        assert!(stale(&[("date", DATE0), ("expires", DATE_MINUS_1000)]));
        assert!(stale(&[("date", DATE0), ("expires", "0")]));
        assert!(stale(&[
            ("date", DATE0),
            ("expires", DATE_PLUS_100),
            ("age", "100")
        ]));
        assert!(!stale(&[
            ("date", DATE0),
            ("expires", DATE_PLUS_100),
            ("age", "99")
        ]));
        // Assumed lifetimes are never "arrived stale".
        assert!(!stale(&[("age", "1000")]));
    }

    #[test]
    fn heuristic_only_when_enabled() {
        let pairs = [("date", DATE0), ("last-modified", DATE_MINUS_1000)];
        assert_eq!(
            fresh(&policy(), &pairs, T0).source,
            LifetimeSource::DefaultTtl
        );
        let mut p = policy();
        p.heuristic = Some((0.1, S(50)));
        let f = fresh(&p, &pairs, T0);
        assert_eq!((f.lifetime, f.source), (S(50), LifetimeSource::Heuristic));
        p.heuristic = Some((0.1, S(3600)));
        assert_eq!(fresh(&p, &pairs, T0).lifetime, S(100));
    }

    #[test]
    fn ttl_only_ignores_headers() {
        let mut p = policy();
        p.mode = FreshnessMode::TtlOnly;
        let f = fresh(
            &p,
            &[
                ("cache-control", "max-age=5, must-revalidate"),
                ("age", "100"),
                ("date", DATE_MINUS_1000),
            ],
            T0,
        );
        assert_eq!(f.lifetime, S(300));
        assert_eq!(f.initial_age, S(0));
        assert!(!f.must_revalidate);
    }

    #[test]
    fn usability_rules() {
        let f = fresh(
            &policy(),
            &[(
                "cache-control",
                "max-age=100, stale-while-revalidate=50, stale-if-error=200",
            )],
            T0,
        );
        let none = CacheControl::default();
        assert_eq!(f.usability(S(99), &none), Usability::Fresh);
        assert_eq!(f.usability(S(100), &none), Usability::StaleWhileRevalidate);
        assert_eq!(f.usability(S(150), &none), Usability::StaleWhileRevalidate);
        assert_eq!(f.usability(S(151), &none), Usability::Revalidate);
        assert_eq!(
            f.usability(S(10), &parse_cache_control("no-cache")),
            Usability::Revalidate
        );
        assert_eq!(
            f.usability(S(10), &parse_cache_control("max-age=0")),
            Usability::Revalidate
        );
        assert_eq!(
            f.usability(S(10), &parse_cache_control("max-age=5")),
            Usability::Revalidate
        );
        assert_eq!(
            f.usability(S(10), &parse_cache_control("max-age=20")),
            Usability::Fresh
        );
        assert_eq!(
            f.usability(S(95), &parse_cache_control("min-fresh=10")),
            Usability::StaleWhileRevalidate
        );
        assert_eq!(
            f.usability(S(500), &parse_cache_control("max-stale")),
            Usability::StaleAccepted
        );
        assert_eq!(
            f.usability(S(160), &parse_cache_control("max-stale=60")),
            Usability::StaleAccepted
        );
        assert!(f.usable_on_error(S(300)));
        assert!(!f.usable_on_error(S(301)));

        let mr = fresh(
            &policy(),
            &[(
                "cache-control",
                "max-age=100, must-revalidate, stale-if-error=99",
            )],
            T0,
        );
        assert_eq!(
            mr.usability(S(101), &parse_cache_control("max-stale")),
            Usability::Revalidate
        );
        assert!(mr.usable_on_error(S(50)));
        assert!(!mr.usable_on_error(S(101)));

        let nc = fresh(
            &policy(),
            &[("cache-control", "no-cache, max-age=100, stale-if-error=99")],
            T0,
        );
        assert_eq!(nc.usability(S(0), &none), Usability::Revalidate);
        assert!(!nc.usable_on_error(S(0)));
    }
}
