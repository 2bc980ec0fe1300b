//! `ClientOptions`: the JavaScript options object, mirrored on the Rust builder.
//!
//! Parsed with serde from the object's JSON form, so a misspelt option is an error
//! (`deny_unknown_fields`), never silently ignored. Durations are milliseconds, as everywhere
//! in JavaScript.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use tether_core::{
    Backoff, BreakDuration, BreakerConfig, BreakerWindow, BudgetConfig, CacheConfig, FreshnessMode,
    RatioTrigger,
};
use web_sys::{RequestCache, RequestCredentials, RequestMode};

use crate::{FetchConfig, FetchTransport, HttpClientBuilder};

/// Milliseconds as JavaScript gives them: finite and not negative, else an error.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(try_from = "f64")]
pub(crate) struct Ms(Duration);

impl TryFrom<f64> for Ms {
    type Error = String;

    fn try_from(ms: f64) -> Result<Self, String> {
        Duration::try_from_secs_f64(ms / 1000.0)
            .map(Ms)
            .map_err(|_| format!("{ms} is not a duration in milliseconds (finite, >= 0)"))
    }
}

/// The options of `new TetherClient(options)`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ClientOptions {
    timeout: Option<Ms>,
    total_timeout: Option<Ms>,
    max_retries: Option<u32>,
    backoff: Option<BackoffOptions>,
    /// `false` or `null` turns the budget off.
    retry_budget: Option<Toggle<BudgetOptions>>,
    retry: Option<RetryOptions>,
    /// `false` turns the cache off, `true` keeps the defaults.
    cache: Option<Toggle<CacheOptions>>,
    breaker: Option<BreakerOptions>,
    service_breakers: BTreeMap<String, BreakerOptions>,
    headers: BTreeMap<String, String>,
    fetch: Option<FetchOptions>,
}

/// `false`/`null` (off), `true` (defaults) or an object.
#[derive(Debug)]
enum Toggle<T> {
    Flag(bool),
    Options(T),
}

/// By hand rather than `untagged`, so that a mistake inside the object is reported by name.
impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Toggle<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Bool(flag) => Ok(Toggle::Flag(flag)),
            serde_json::Value::Null => Ok(Toggle::Flag(false)),
            other => T::deserialize(other)
                .map(Toggle::Options)
                .map_err(serde::de::Error::custom),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
enum BackoffOptions {
    Constant {
        delay: Ms,
    },
    #[serde(rename_all = "camelCase")]
    Exponential {
        base: Ms,
        factor: Option<f64>,
        max: Ms,
    },
    FullJitter {
        base: Ms,
        max: Ms,
    },
    #[serde(rename_all = "camelCase")]
    DecorrelatedJitter {
        median_first: Ms,
        max: Ms,
    },
    /// The original Python client's `min(2^n + U(0,1), 30)` s.
    Original,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BudgetOptions {
    ttl: Option<Ms>,
    min_per_sec: Option<u32>,
    percent_can_retry: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RetryOptions {
    retryable_statuses: Option<Vec<u16>>,
    respect_retry_after: Option<bool>,
    max_retry_after: Option<Ms>,
    max_delay: Option<Ms>,
    retry_non_idempotent: Option<bool>,
    idempotency_header: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CacheOptions {
    /// `"rfc9111"` (default) or `"ttlOnly"`.
    mode: Option<String>,
    default_ttl: Option<Ms>,
    max_ttl: Option<Ms>,
    max_entries: Option<usize>,
    max_bytes: Option<usize>,
    max_entry_bytes: Option<usize>,
    stale_if_error: Option<Ms>,
    key_headers: Option<Vec<String>>,
    non_identifying_headers: Option<Vec<String>>,
    exclude_query_params: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BreakerOptions {
    /// A number, or `null` to turn the consecutive-failure trigger off.
    #[serde(default)]
    consecutive_failures: Threshold,
    break_duration: Option<Ms>,
    half_open_probes: Option<u32>,
    probe_timeout: Option<Ms>,
    failure_ratio: Option<RatioOptions>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RatioOptions {
    threshold: f64,
    min_throughput: u32,
    /// Calls in the window (default 100) — or `windowMs` for a time window.
    window_calls: Option<u32>,
    window_ms: Option<Ms>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FetchOptions {
    credentials: Option<String>,
    mode: Option<String>,
    cache: Option<String>,
    max_body_bytes: Option<u64>,
    send_user_agent: Option<bool>,
}

/// A breaker's consecutive-failure trigger: absent (unchanged), `null` (off) or a count.
#[derive(Clone, Copy, Debug, Default)]
enum Threshold {
    #[default]
    Unchanged,
    Off,
    After(u32),
}

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Option::<u32>::deserialize(d).map(|n| n.map_or(Threshold::Off, Threshold::After))
    }
}

impl ClientOptions {
    /// Parses the JSON form of the options object.
    pub(crate) fn from_json(json: &str) -> Result<Self, String> {
        serde_json::from_str(json).map_err(|e| format!("invalid client options: {e}"))
    }

    /// Applies the options to `builder`; the core validates the result at `build()`.
    pub(crate) fn apply(self, mut b: HttpClientBuilder) -> Result<HttpClientBuilder, String> {
        if let Some(Ms(t)) = self.timeout {
            b = b.timeout(t);
        }
        if let Some(n) = self.max_retries {
            b = b.max_retries(n);
        }
        if let Some(backoff) = self.backoff {
            b = b.backoff(backoff.into_core());
        }
        match self.retry_budget {
            None | Some(Toggle::Flag(true)) => {}
            Some(Toggle::Flag(false)) => b = b.retry_budget(None),
            Some(Toggle::Options(o)) => {
                let mut budget = BudgetConfig::default();
                if let Some(Ms(ttl)) = o.ttl {
                    budget.ttl = ttl;
                }
                if let Some(n) = o.min_per_sec {
                    budget.min_per_sec = n;
                }
                if let Some(p) = o.percent_can_retry {
                    budget.percent_can_retry = p;
                }
                b = b.retry_budget(Some(budget));
            }
        }
        if let Some(Ms(t)) = self.total_timeout {
            b = b.total_timeout(t);
        }
        if let Some(retry) = self.retry {
            b = b.configure_engine(|c| {
                let r = &mut c.retry;
                if let Some(s) = retry.retryable_statuses {
                    r.retryable_statuses = s;
                }
                if let Some(v) = retry.respect_retry_after {
                    r.respect_retry_after = v;
                }
                if let Some(Ms(d)) = retry.max_retry_after {
                    r.max_retry_after = d;
                }
                if let Some(Ms(d)) = retry.max_delay {
                    r.max_delay = d;
                }
                if let Some(v) = retry.retry_non_idempotent {
                    r.retry_non_idempotent = v;
                }
                if let Some(h) = retry.idempotency_header {
                    r.idempotency_header = h;
                }
            });
        }
        match self.cache {
            None | Some(Toggle::Flag(true)) => {}
            Some(Toggle::Flag(false)) => b = b.no_cache(),
            Some(Toggle::Options(o)) => b = b.cache(o.into_core()?),
        }
        if let Some(breaker) = self.breaker {
            b = b.breaker(breaker.into_core(BreakerConfig::default()));
        }
        for (service, breaker) in self.service_breakers {
            let base = b.engine().breakers.default.clone();
            b = b.service_breaker(service, breaker.into_core(base));
        }
        for (name, value) in self.headers {
            b = b.default_header(name.as_str(), value.as_str());
        }
        if let Some(fetch) = self.fetch {
            b = b.transport(FetchTransport::new(fetch.into_config()?));
        }
        Ok(b)
    }
}

impl BackoffOptions {
    fn into_core(self) -> Backoff {
        match self {
            BackoffOptions::Constant { delay } => Backoff::Constant(delay.0),
            BackoffOptions::Exponential { base, factor, max } => Backoff::Exponential {
                base: base.0,
                factor: factor.unwrap_or(2.0),
                max: max.0,
            },
            BackoffOptions::FullJitter { base, max } => Backoff::FullJitter {
                base: base.0,
                max: max.0,
            },
            BackoffOptions::DecorrelatedJitter { median_first, max } => {
                Backoff::DecorrelatedJitter {
                    median_first: median_first.0,
                    max: max.0,
                }
            }
            BackoffOptions::Original => Backoff::Original,
        }
    }
}

impl CacheOptions {
    fn into_core(self) -> Result<CacheConfig, String> {
        let mut c = CacheConfig::default();
        match self.mode.as_deref() {
            None | Some("rfc9111") => {}
            Some("ttlOnly") => c.mode = FreshnessMode::TtlOnly,
            Some(other) => {
                return Err(format!(
                    "invalid cache.mode {other:?}: \"rfc9111\" or \"ttlOnly\""
                ));
            }
        }
        if let Some(Ms(d)) = self.default_ttl {
            c.default_ttl = d;
        }
        if let Some(Ms(d)) = self.max_ttl {
            c.max_ttl = Some(d);
        }
        if let Some(n) = self.max_entries {
            c.max_entries = n;
        }
        if let Some(n) = self.max_bytes {
            c.max_bytes = n;
        }
        if let Some(n) = self.max_entry_bytes {
            c.max_entry_bytes = n;
        }
        if let Some(Ms(d)) = self.stale_if_error {
            c.stale_if_error = Some(d);
        }
        if let Some(v) = self.key_headers {
            c.key_headers = v;
        }
        if let Some(v) = self.non_identifying_headers {
            c.non_identifying_headers = v;
        }
        if let Some(v) = self.exclude_query_params {
            c.exclude_query_params = v;
        }
        Ok(c)
    }
}

impl BreakerOptions {
    fn into_core(self, mut c: BreakerConfig) -> BreakerConfig {
        match self.consecutive_failures {
            Threshold::Unchanged => {}
            Threshold::Off => c.consecutive_failures = None,
            Threshold::After(n) => c.consecutive_failures = Some(n),
        }
        if let Some(Ms(d)) = self.break_duration {
            c.break_duration = BreakDuration::Constant(d);
        }
        if let Some(n) = self.half_open_probes {
            c.half_open_probes = n;
        }
        if let Some(Ms(d)) = self.probe_timeout {
            c.probe_timeout = d;
        }
        if let Some(r) = self.failure_ratio {
            let window = match (r.window_ms, r.window_calls) {
                (Some(Ms(duration)), _) => BreakerWindow::Time {
                    duration,
                    buckets: 10,
                },
                (None, calls) => BreakerWindow::Count(calls.unwrap_or(100)),
            };
            c.ratio = Some(RatioTrigger {
                window,
                failure_ratio: r.threshold,
                min_throughput: r.min_throughput,
                slow_call: None,
            });
        }
        c
    }
}

impl FetchOptions {
    fn into_config(self) -> Result<FetchConfig, String> {
        let mut c = FetchConfig::default();
        if let Some(v) = self.credentials {
            c.credentials = match v.as_str() {
                "omit" => RequestCredentials::Omit,
                "same-origin" => RequestCredentials::SameOrigin,
                "include" => RequestCredentials::Include,
                _ => return Err(format!("invalid fetch.credentials {v:?}")),
            };
        }
        if let Some(v) = self.mode {
            c.mode = match v.as_str() {
                "cors" => RequestMode::Cors,
                "same-origin" => RequestMode::SameOrigin,
                "no-cors" => RequestMode::NoCors,
                _ => return Err(format!("invalid fetch.mode {v:?}")),
            };
        }
        if let Some(v) = self.cache {
            c.cache = match v.as_str() {
                "no-store" => RequestCache::NoStore,
                "default" => RequestCache::Default,
                "no-cache" => RequestCache::NoCache,
                "reload" => RequestCache::Reload,
                "force-cache" => RequestCache::ForceCache,
                _ => return Err(format!("invalid fetch.cache {v:?}")),
            };
        }
        if let Some(n) = self.max_body_bytes {
            c.max_body_bytes = n;
        }
        if let Some(v) = self.send_user_agent {
            c.send_user_agent = v;
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_is_optional() {
        for json in [
            "{}",
            r#"{"timeout": 5}"#,
            r#"{"cache": true}"#,
            r#"{"breaker": {}}"#,
        ] {
            assert!(ClientOptions::from_json(json).is_ok(), "{json}");
        }
    }

    #[test]
    fn misspelt_options_are_refused() {
        let e = ClientOptions::from_json(r#"{"maxRetry": 3}"#).unwrap_err();
        assert!(e.contains("maxRetry"), "{e}");
        let e = ClientOptions::from_json(r#"{"cache": {"maxEntry": 3}}"#).unwrap_err();
        assert!(e.contains("maxEntry"), "{e}");
        let e = ClientOptions::from_json(r#"{"timeout": -5}"#).unwrap_err();
        assert!(e.contains("milliseconds"), "{e}");
        assert!(ClientOptions::from_json(r#"{"backoff": {"kind": "linear"}}"#).is_err());
    }

    #[test]
    fn options_reach_the_engine_configuration() {
        let o = ClientOptions::from_json(
            r#"{
                "timeout": 1500, "totalTimeout": 9000, "maxRetries": 2,
                "backoff": {"kind": "constant", "delay": 20},
                "retryBudget": false,
                "retry": {"retryableStatuses": [503], "maxRetryAfter": 2000},
                "cache": {"maxEntries": 7, "defaultTtl": 1000, "mode": "ttlOnly"},
                "breaker": {"consecutiveFailures": 3, "breakDuration": 250, "halfOpenProbes": 2},
                "serviceBreakers": {"api": {"consecutiveFailures": null}},
                "headers": {"x-app": "demo"},
                "fetch": {"credentials": "include", "maxBodyBytes": 1024}
            }"#,
        )
        .unwrap();
        let b = o.apply(HttpClientBuilder::new(
            FetchTransport::default(),
            crate::BrowserRuntime::new(),
        ));
        let b = b.unwrap();
        let c = b.engine();
        assert_eq!(c.attempt_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(c.retry.deadline, Some(Duration::from_secs(9)));
        assert_eq!(c.retry.max_attempts, 3);
        assert_eq!(
            c.retry.backoff,
            Backoff::Constant(Duration::from_millis(20))
        );
        assert_eq!(c.retry.budget, None);
        assert_eq!(c.retry.retryable_statuses, vec![503]);
        assert_eq!(c.retry.max_retry_after, Duration::from_secs(2));
        assert_eq!(c.cache.max_entries, 7);
        assert_eq!(c.cache.mode, FreshnessMode::TtlOnly);
        assert_eq!(c.cache.default_ttl, Duration::from_secs(1));
        assert_eq!(c.breakers.default.consecutive_failures, Some(3));
        assert_eq!(
            c.breakers.default.break_duration,
            BreakDuration::Constant(Duration::from_millis(250))
        );
        assert_eq!(c.breakers.default.half_open_probes, 2);
        // A service override starts from the client's default and changes what it names.
        let api = &c.breakers.overrides["api"];
        assert_eq!(api.consecutive_failures, None);
        assert_eq!(api.half_open_probes, 2);
    }

    #[test]
    fn cache_false_turns_the_cache_off_and_bad_enums_are_named() {
        let o = ClientOptions::from_json(r#"{"cache": false}"#).unwrap();
        let b = o
            .apply(HttpClientBuilder::new(
                FetchTransport::default(),
                crate::BrowserRuntime::new(),
            ))
            .unwrap();
        assert!(!b.engine().cache.enabled);
        let o = ClientOptions::from_json(r#"{"fetch": {"credentials": "always"}}"#).unwrap();
        let e = o
            .apply(HttpClientBuilder::new(
                FetchTransport::default(),
                crate::BrowserRuntime::new(),
            ))
            .unwrap_err();
        assert!(e.contains("fetch.credentials"), "{e}");
    }
}
