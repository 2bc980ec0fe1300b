//! The configuration file of `tether serve` (TOML), checked strictly: an unknown key, a value of
//! the wrong type, a negative interval, an invalid URL or a port out of range is an error that
//! names the key and points at its line.
//!
//! ```toml
//! [server]
//! port = 8001
//!
//! [[services]]
//! name = "users"
//! base_url = "http://127.0.0.1:8081"
//! health_interval = "10s"
//! ```
//!
//! `tether.example.toml` at the repository root lists every key with its default.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use tether_native::tether_core::uri::ServiceBase;
use toml::Spanned;

use crate::duration;

/// The default port of `tether serve` and `tether demo`: the original gateway's.
pub(crate) const DEFAULT_PORT: u16 = tether_native::server::DEFAULT_PORT;
/// Where the browser dashboard is built; served at `/` when it exists.
pub(crate) const DEFAULT_DASHBOARD_DIR: &str = "web-dashboard/dist";
/// Most services one configuration may register.
pub(crate) const MAX_SERVICES: usize = 256;
/// Shortest token accepted in a configuration.
pub(crate) const MIN_TOKEN_LEN: usize = 16;

/// The whole file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Config {
    pub(crate) server: Server,
    pub(crate) monitor: Monitor,
    pub(crate) alerts: Alerts,
    pub(crate) services: Vec<Service>,
}

/// `[server]`: where and how the monitoring routes are served.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Server {
    /// The address to bind (default 127.0.0.1).
    pub(crate) bind: IpAddr,
    /// The port (default 8001; 0 picks a free one).
    pub(crate) port: Port,
    /// The bearer token of the `POST` routes; generated and printed when absent.
    pub(crate) token: Option<Token>,
    /// Read the token from this environment variable instead.
    pub(crate) token_env: Option<String>,
    /// Whether the `GET` routes need the token too.
    pub(crate) protect_reads: bool,
    /// The dashboard's static files, served at `/` when the folder exists.
    pub(crate) dashboard_dir: PathBuf,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: Port(DEFAULT_PORT),
            token: None,
            token_env: None,
            protect_reads: false,
            dashboard_dir: PathBuf::from(DEFAULT_DASHBOARD_DIR),
        }
    }
}

/// `[monitor]`: collections and their history.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Monitor {
    /// How often system metrics are collected and the alert rules judged (default 10 s).
    pub(crate) collect_interval: Positive,
    /// Collections kept in the history (default 1000).
    pub(crate) history_size: Count,
    /// Whether the host is sampled: CPU, memory, disk, network, processes (default true).
    pub(crate) system_metrics: bool,
    /// Time between two host samples (default 5 s, at least 200 ms).
    pub(crate) system_interval: Spanned<Positive>,
}

impl Default for Monitor {
    fn default() -> Self {
        Monitor {
            collect_interval: Positive(Duration::from_secs(10)),
            history_size: Count(1000),
            system_metrics: true,
            system_interval: Spanned::new(0..0, Positive(Duration::from_secs(5))),
        }
    }
}

/// Shortest host sampling interval: CPU use is measured between two samples.
pub(crate) const MIN_SYSTEM_INTERVAL: Duration = Duration::from_millis(200);

/// `[alerts]`: the thresholds of the alert rules (absent: the rule's default).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Alerts {
    /// System CPU above this percentage (default 80).
    pub(crate) cpu_percent: Option<Percent>,
    /// System memory above this percentage (default 85).
    pub(crate) memory_percent: Option<Percent>,
    /// A service's mean response time above this (default 5 s).
    pub(crate) response_time: Option<Positive>,
    /// A service's error rate above this ratio (default 0.1).
    pub(crate) error_rate: Option<Ratio>,
    /// A service's cache hit ratio below this (the rule is off unless set).
    pub(crate) cache_hit_ratio: Option<Ratio>,
    /// Alert while a service's breaker is open (default true).
    pub(crate) breaker_open: Option<bool>,
    /// Alert while a service is unhealthy (default true).
    pub(crate) service_unhealthy: Option<bool>,
    /// Alerts kept in the history (default: the core's).
    pub(crate) history_size: Option<Count>,
}

/// `[[services]]`: one upstream service.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Service {
    /// The name that keys its metrics, breaker and health.
    pub(crate) name: Spanned<Name>,
    /// Its base URL (`http://` or `https://`); endpoints stay under it.
    pub(crate) base_url: BaseUrl,
    /// The path its health check probes (default `/health`); it stays under the base URL.
    #[serde(default = "default_health_path")]
    pub(crate) health_path: Spanned<String>,
    /// Time between two health checks (default 30 s).
    #[serde(default = "default_health_interval")]
    pub(crate) health_interval: Positive,
    /// How long a health check may take (default 5 s).
    #[serde(default = "default_health_timeout")]
    pub(crate) health_timeout: Positive,
    /// Limit on each attempt (default: the client's).
    pub(crate) timeout: Option<Positive>,
    /// Retries after the first attempt (default: the client's, 3).
    pub(crate) retries: Option<Retries>,
    /// Its circuit breaker.
    #[serde(default)]
    pub(crate) breaker: Breaker,
    /// Its response cache.
    #[serde(default)]
    pub(crate) cache: Cache,
}

fn default_health_path() -> Spanned<String> {
    Spanned::new(0..0, "/health".to_owned())
}
fn default_health_interval() -> Positive {
    Positive(Duration::from_secs(30))
}
fn default_health_timeout() -> Positive {
    Positive(Duration::from_secs(5))
}

/// `[services.breaker]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Breaker {
    /// Open after this many consecutive failures (default 5).
    pub(crate) failure_threshold: Option<Count>,
    /// How long it stays open before a probe (default 60 s).
    pub(crate) break_duration: Option<Positive>,
    /// Probes that must succeed in half-open before it closes (default 1).
    pub(crate) half_open_probes: Option<Count>,
}

/// `[services.cache]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Cache {
    /// Whether responses are cached (default true).
    pub(crate) enabled: Option<bool>,
    /// Most entries (default: the core's).
    pub(crate) max_entries: Option<Count>,
    /// Most bytes (default: the core's).
    pub(crate) max_bytes: Option<Count>,
}

// ---------------------------------------------------------------------------------------------
// Checked values: each refuses a bad value while it is read, so the error carries the value's
// position in the file.

/// A duration longer than zero: `"250ms"`, `"30s"`, `"2m"`, or a number of seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Positive(pub(crate) Duration);

impl<'de> Deserialize<'de> for Positive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a duration such as \"250ms\", \"30s\" or \"2m\", or a number of seconds",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                duration::parse(v).map_err(|e| E::custom(e.0))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                duration::seconds(v as f64).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                duration::seconds(v as f64).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
                duration::seconds(v).map_err(E::custom)
            }
        }
        let d = d.deserialize_any(V)?;
        if d.is_zero() {
            return Err(de::Error::custom("must be longer than 0"));
        }
        Ok(Positive(d))
    }
}

/// A port, 0..=65535.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Port(pub(crate) u16);

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = integer(d, "a port number (0 to 65535)")?;
        u16::try_from(v)
            .map(Port)
            .map_err(|_| de::Error::custom(format!("port {v} is out of range 0..=65535")))
    }
}

/// A whole number ≥ 1 (and at most 10⁹).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Count(pub(crate) u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = integer(d, "a whole number from 1 to 1000000000")?;
        if !(1..=1_000_000_000).contains(&v) {
            return Err(de::Error::custom(format!(
                "{v} is out of range: a whole number from 1 to 1000000000"
            )));
        }
        Ok(Count(v.unsigned_abs()))
    }
}

/// Retries after the first attempt, 0..=100.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Retries(pub(crate) u32);

impl<'de> Deserialize<'de> for Retries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = integer(d, "a number of retries (0 to 100)")?;
        u32::try_from(v)
            .ok()
            .filter(|r| *r <= 100)
            .map(Retries)
            .ok_or_else(|| de::Error::custom(format!("{v} is out of range 0..=100")))
    }
}

/// A whole number; `what` completes "expected …" in a type error.
fn integer<'de, D: Deserializer<'de>>(d: D, what: &'static str) -> Result<i64, D::Error> {
    struct V(&'static str);
    impl Visitor<'_> for V {
        type Value = i64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(|_| E::custom(format!("{v} is too large")))
        }
    }
    d.deserialize_any(V(what))
}

fn number<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = f64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a number")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
            Ok(v)
        }
    }
    d.deserialize_any(V)
}

/// A percentage, 0..=100.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Percent(pub(crate) f64);

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = number(d)?;
        if !(0.0..=100.0).contains(&v) {
            return Err(de::Error::custom(format!(
                "{v} is not a percentage (0 to 100)"
            )));
        }
        Ok(Percent(v))
    }
}

/// A ratio, 0..=1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Ratio(pub(crate) f64);

impl<'de> Deserialize<'de> for Ratio {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = number(d)?;
        if !(0.0..=1.0).contains(&v) {
            return Err(de::Error::custom(format!("{v} is not a ratio (0 to 1)")));
        }
        Ok(Ratio(v))
    }
}

/// A service name: 1 to 128 characters, no control characters. Any other character is
/// allowed (the dashboard shows names as text, never as HTML).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Name(pub(crate) String);

impl Name {
    /// Checks a name from any source.
    pub(crate) fn check(v: &str) -> Result<(), String> {
        if v.trim().is_empty() {
            return Err("a service name must not be empty".to_owned());
        }
        if v.chars().count() > 128 {
            return Err("a service name has at most 128 characters".to_owned());
        }
        if v.chars().any(char::is_control) {
            return Err("a service name must not contain control characters".to_owned());
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = String::deserialize(d)?;
        Name::check(&v).map_err(de::Error::custom)?;
        Ok(Name(v))
    }
}

/// A base URL the client accepts (`http://` or `https://`, a host, no query).
#[derive(Clone, Debug)]
pub(crate) struct BaseUrl(pub(crate) String);

impl<'de> Deserialize<'de> for BaseUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = String::deserialize(d)?;
        ServiceBase::parse(&v).map_err(de::Error::custom)?;
        Ok(BaseUrl(v))
    }
}

/// A bearer token: at least 16 visible ASCII characters.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Token(pub(crate) String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token([REDACTED])")
    }
}

impl Token {
    /// Checks a token from any source.
    pub(crate) fn check(v: String) -> Result<Token, String> {
        if v.len() < MIN_TOKEN_LEN {
            return Err(format!("a token needs at least {MIN_TOKEN_LEN} characters"));
        }
        if !v.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("a token is visible ASCII characters only (no spaces)".to_owned());
        }
        Ok(Token(v))
    }
}

impl<'de> Deserialize<'de> for Token {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // The value itself never appears in the error.
        Token::check(String::deserialize(d)?).map_err(de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

/// A configuration error: where, which key, what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ConfigError {
    /// The file, as given.
    pub(crate) file: String,
    /// 1-based line and column, when known.
    pub(crate) position: Option<(usize, usize)>,
    /// The key's path, e.g. `services[0].health_interval`.
    pub(crate) key: Option<String>,
    pub(crate) message: String,
    /// The offending line, for context.
    pub(crate) line_text: Option<String>,
    /// How many characters of that line to underline.
    pub(crate) width: usize,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration {}", self.file)?;
        if let Some((line, column)) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        f.write_str(": ")?;
        if let Some(key) = &self.key {
            write!(f, "`{key}`: ")?;
        }
        f.write_str(&self.message)?;
        if let (Some((line, column)), Some(text)) = (self.position, &self.line_text) {
            let gutter = line.to_string().len();
            write!(
                f,
                "\n{:gutter$} |\n{line} | {text}\n{:gutter$} | {:>pad$}{}",
                "",
                "",
                "",
                "^".repeat(self.width.max(1)),
                pad = column - 1,
            )?;
        }
        Ok(())
    }
}

/// 1-based line and column of byte `offset` in `text`, and the line itself.
fn locate(text: &str, offset: usize) -> (usize, usize, String) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..offset].chars().count() + 1;
    let line_end = text[line_start..]
        .find('\n')
        .map_or(text.len(), |i| line_start + i);
    (
        line,
        column,
        text[line_start..line_end].trim_end().to_owned(),
    )
}

impl ConfigError {
    fn at(
        file: &str,
        text: &str,
        span: Option<Range<usize>>,
        key: Option<String>,
        message: String,
    ) -> Self {
        // The line of a token holds the secret: point at it, never show it.
        let secret = key.as_deref().is_some_and(|k| k.contains("token"));
        let (position, line_text, width) = match span {
            Some(span) => {
                let (line, column, line_text) = locate(text, span.start);
                let end = span.end.clamp(span.start, text.len());
                let rest = line_text.chars().count().saturating_sub(column - 1);
                let width = text[span.start.min(end)..end].chars().count().min(rest);
                (Some((line, column)), (!secret).then_some(line_text), width)
            }
            None => (None, None, 0),
        };
        ConfigError {
            file: file.to_owned(),
            position,
            key,
            message,
            line_text,
            width,
        }
    }
}

/// Parses and checks a configuration; `file` names it in errors.
#[expect(
    clippy::result_large_err,
    reason = "read once at start; the error is the program's last word"
)]
pub(crate) fn parse(file: &str, text: &str) -> Result<Config, ConfigError> {
    let deserializer = toml::Deserializer::parse(text)
        .map_err(|e| ConfigError::at(file, text, e.span(), None, e.message().to_owned()))?;
    let config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        let key = (key != ".").then_some(key);
        ConfigError::at(file, text, inner.span(), key, inner.message().to_owned())
    })?;
    check(file, text, &config)?;
    Ok(config)
}

/// What the types alone cannot say: unique names, health paths under their base URL, a bounded
/// number of services, the shortest host sampling interval, one token source.
#[expect(
    clippy::result_large_err,
    reason = "read once at start; the error is the program's last word"
)]
fn check(file: &str, text: &str, config: &Config) -> Result<(), ConfigError> {
    let interval = &config.monitor.system_interval;
    if interval.get_ref().0 < MIN_SYSTEM_INTERVAL {
        return Err(ConfigError::at(
            file,
            text,
            Some(interval.span()),
            Some("monitor.system_interval".to_owned()),
            "must be at least 200ms (CPU use is measured between two samples)".to_owned(),
        ));
    }
    for (i, s) in config.services.iter().enumerate() {
        let Ok(base) = ServiceBase::parse(&s.base_url.0) else {
            continue; // refused while it was read
        };
        if let Err(e) = base.join(s.health_path.get_ref()) {
            return Err(ConfigError::at(
                file,
                text,
                Some(s.health_path.span()),
                Some(format!("services[{i}].health_path")),
                format!("must be a path under the base URL: {e}"),
            ));
        }
    }
    if config.services.len() > MAX_SERVICES {
        return Err(ConfigError::at(
            file,
            text,
            None,
            Some("services".to_owned()),
            format!("at most {MAX_SERVICES} services"),
        ));
    }
    let mut names = BTreeSet::new();
    for (i, s) in config.services.iter().enumerate() {
        if !names.insert(&s.name.get_ref().0) {
            return Err(ConfigError::at(
                file,
                text,
                Some(s.name.span()),
                Some(format!("services[{i}].name")),
                format!("service `{}` is defined twice", s.name.get_ref().0),
            ));
        }
    }
    if config.server.token.is_some() && config.server.token_env.is_some() {
        return Err(ConfigError::at(
            file,
            text,
            None,
            Some("server.token_env".to_owned()),
            "set `token` or `token_env`, not both".to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> ConfigError {
        parse("t.toml", text).expect_err("should fail")
    }

    #[test]
    fn the_example_parses() {
        let text = include_str!("../../../../tether.example.toml");
        let c = parse("tether.example.toml", text).unwrap();
        assert_eq!(c.server.port, Port(DEFAULT_PORT));
        assert!(c.services.len() >= 2);
        assert_eq!(
            c.services[0].health_interval,
            Positive(Duration::from_secs(30))
        );
        assert_eq!(c.services[1].health_path.get_ref(), "/status");
    }

    #[test]
    fn an_empty_file_is_the_defaults() {
        let c = parse("t.toml", "").unwrap();
        assert_eq!(c.server.bind, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(c.monitor.history_size, Count(1000));
        assert!(c.services.is_empty());
    }

    #[test]
    fn unknown_keys_are_named_with_their_line() {
        let e = error("[server]\nport = 8080\nprot = 1\n");
        assert_eq!(e.position.map(|p| p.0), Some(3), "{e}");
        assert!(e.to_string().contains("unknown field `prot`"), "{e}");
        let e = error("[[services]]\nname = \"a\"\nbase_url = \"http://x\"\nheath_path = \"/h\"\n");
        assert_eq!(e.position.map(|p| p.0), Some(4), "{e}");
        assert!(e.to_string().contains("heath_path"), "{e}");
    }

    #[test]
    fn bad_values_are_named_with_key_and_line() {
        let cases = [
            (
                "[[services]]\nname = \"a\"\nbase_url = \"http://x\"\nhealth_interval = -5\n",
                4,
                "services[0].health_interval",
                "negative",
            ),
            (
                "[[services]]\nname = \"a\"\nbase_url = \"not a url\"\n",
                3,
                "services[0].base_url",
                "invalid URL",
            ),
            ("[server]\nport = 70000\n", 2, "server.port", "out of range"),
            ("[server]\nport = \"http\"\n", 2, "server.port", "string"),
            (
                "[monitor]\n\ncollect_interval = \"5 parsecs\"\n",
                3,
                "monitor.collect_interval",
                "unit",
            ),
            (
                "[monitor]\ncollect_interval = 0\n",
                2,
                "monitor.collect_interval",
                "longer than 0",
            ),
            (
                "[alerts]\nerror_rate = 1.5\n",
                2,
                "alerts.error_rate",
                "ratio",
            ),
            (
                "[alerts]\ncpu_percent = 101\n",
                2,
                "alerts.cpu_percent",
                "percentage",
            ),
            (
                "[server]\nbind = \"localhost:80\"\n",
                2,
                "server.bind",
                "IP address",
            ),
            (
                "[[services]]\nname = \"a\"\nbase_url = \"http://x\"\n[services.breaker]\nfailure_threshold = 0\n",
                5,
                "services[0].breaker.failure_threshold",
                "out of range",
            ),
            (
                "[server]\ntoken = \"short\"\n",
                2,
                "server.token",
                "at least 16",
            ),
        ];
        for (text, line, key, words) in cases {
            let e = error(text);
            let shown = e.to_string();
            assert_eq!(e.position.map(|p| p.0), Some(line), "{text}\n{shown}");
            assert_eq!(e.key.as_deref(), Some(key), "{text}\n{shown}");
            assert!(shown.contains(words), "{text}\n{shown}");
            assert!(
                shown.starts_with(&format!("invalid configuration t.toml:{line}:")),
                "{shown}"
            );
        }
    }

    #[test]
    fn a_missing_key_and_a_syntax_error() {
        let e = error("[[services]]\nname = \"a\"\n");
        assert!(e.to_string().contains("base_url"), "{e}");
        let e = error("[server]\nport = = 1\n");
        assert_eq!(e.position.map(|p| p.0), Some(2), "{e}");
    }

    #[test]
    fn duplicate_names_point_at_the_second() {
        let e = error(
            "[[services]]\nname = \"a\"\nbase_url = \"http://x\"\n\n[[services]]\nname = \"a\"\nbase_url = \"http://y\"\n",
        );
        assert_eq!(e.position.map(|p| p.0), Some(6), "{e}");
        assert_eq!(e.key.as_deref(), Some("services[1].name"));
    }

    #[test]
    fn a_token_is_never_echoed() {
        let e = error("[server]\ntoken = \"sh rt-secret-value\"\n");
        assert_eq!(e.position.map(|p| p.0), Some(2), "{e}");
        assert!(!e.to_string().contains("rt-secret"), "{e}");
        let c = parse("t.toml", "[server]\ntoken = \"0123456789abcdef\"\n").unwrap();
        assert!(!format!("{c:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn the_caret_points_at_the_value() {
        let e = error("[server]\nport = 70000\n");
        let shown = e.to_string();
        assert!(
            shown.ends_with("2 | port = 70000\n  |        ^^^^^"),
            "{shown}"
        );
    }
}
