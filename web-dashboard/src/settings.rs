//! The page's settings, from its address: `?source=<monitoring base URL>&interval=<seconds>`.
//!
//! `source` defaults to `/monitoring` on the page's own origin (the monitoring server serves
//! the page), and may be relative to the page or absolute (another server: it must allow
//! the page's origin with CORS). `interval` defaults to 30 s, as the original page polled.

use std::time::Duration;

use url::Url;

/// The default polling interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// The shortest polling interval accepted.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// The longest polling interval accepted.
pub const MAX_INTERVAL: Duration = Duration::from_secs(3600);

/// The default source, relative to the page.
pub const DEFAULT_SOURCE: &str = "/monitoring";

/// Where and how often to poll.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The monitoring routes' base URL, absolute, without a trailing `/`
    /// (e.g. `http://127.0.0.1:8001/monitoring`).
    pub source: String,
    /// Time between polls.
    pub interval: Duration,
}

/// Why a setting was refused (shown to the user, who typed it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingError(pub String);

impl Settings {
    /// The settings of a page at `page_url` (its full address, query included). Invalid
    /// values fall back to the defaults, with the reasons.
    pub fn from_page(page_url: &str) -> (Settings, Vec<SettingError>) {
        let mut errors = Vec::new();
        let page = Url::parse(page_url).ok();
        let param = |name: &str| {
            page.as_ref().and_then(|p| {
                p.query_pairs()
                    .filter(|(k, _)| k == name)
                    .last()
                    .map(|(_, v)| v.into_owned())
            })
        };
        let source = match param("source").map(|s| resolve_source(page_url, &s)) {
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                errors.push(e);
                default_source(page_url)
            }
            None => default_source(page_url),
        };
        let interval = match param("interval").map(|i| parse_interval(&i)) {
            Some(Ok(i)) => i,
            Some(Err(e)) => {
                errors.push(e);
                DEFAULT_INTERVAL
            }
            None => DEFAULT_INTERVAL,
        };
        (Settings { source, interval }, errors)
    }

    /// The page's address carrying these settings (only the ones that differ from the
    /// defaults), for the browser's history.
    pub fn page_url(&self, page_url: &str) -> Option<String> {
        let mut url = Url::parse(page_url).ok()?;
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "source" && k != "interval")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        url.set_query(None);
        {
            let mut q = url.query_pairs_mut();
            q.extend_pairs(kept);
            if self.source != default_source(page_url) {
                q.append_pair("source", &self.source);
            }
            if self.interval != DEFAULT_INTERVAL {
                q.append_pair("interval", &self.interval.as_secs().to_string());
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        Some(url.into())
    }
}

/// `/monitoring` on the page's origin.
fn default_source(page_url: &str) -> String {
    resolve_source(page_url, DEFAULT_SOURCE).unwrap_or_else(|_| DEFAULT_SOURCE.to_owned())
}

/// `input` resolved against the page: an absolute `http(s)` URL without credentials, query
/// or fragment, and without a trailing `/`.
pub fn resolve_source(page_url: &str, input: &str) -> Result<String, SettingError> {
    let input = input.trim();
    let refuse = |why: &str| Err(SettingError(format!("source {input:?}: {why}")));
    if input.is_empty() {
        return refuse("empty");
    }
    let resolved = match Url::parse(page_url) {
        Ok(page) => page.join(input),
        Err(_) => Url::parse(input),
    };
    let Ok(url) = resolved else {
        return refuse("not a URL");
    };
    if !matches!(url.scheme(), "http" | "https") {
        return refuse("must be an http or https URL");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return refuse("must not carry credentials");
    }
    if url.query().is_some() || url.fragment().is_some() {
        return refuse("must not have a query or fragment");
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// Seconds, within [`MIN_INTERVAL`]..=[`MAX_INTERVAL`].
pub fn parse_interval(input: &str) -> Result<Duration, SettingError> {
    let input = input.trim();
    let secs: u64 = input
        .trim_end_matches('s')
        .parse()
        .map_err(|_| SettingError(format!("interval {input:?}: whole seconds expected")))?;
    let d = Duration::from_secs(secs);
    if (MIN_INTERVAL..=MAX_INTERVAL).contains(&d) {
        Ok(d)
    } else {
        Err(SettingError(format!(
            "interval {input:?}: between {} and {} seconds",
            MIN_INTERVAL.as_secs(),
            MAX_INTERVAL.as_secs()
        )))
    }
}

/// A bearer token as typed: `None` when empty; refused with spaces or control characters
/// inside (the error does not repeat it).
pub fn parse_token(input: &str) -> Result<Option<String>, SettingError> {
    let token = input.trim();
    if token.is_empty() {
        Ok(None)
    } else if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Err(SettingError(
            "token: spaces and control characters are not allowed".to_owned(),
        ))
    } else {
        Ok(Some(token.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "http://127.0.0.1:8001/";

    #[test]
    fn defaults_poll_the_pages_own_server_every_30_seconds() {
        let (s, errors) = Settings::from_page(PAGE);
        assert!(errors.is_empty());
        assert_eq!(s.source, "http://127.0.0.1:8001/monitoring");
        assert_eq!(s.interval, Duration::from_secs(30));
        assert_eq!(s.page_url(PAGE).as_deref(), Some(PAGE));
    }

    #[test]
    fn the_address_configures_source_and_interval() {
        let page = "http://127.0.0.1:8001/index.html?source=http%3A%2F%2F10.0.0.5%3A9000%2Fapi%2Fmonitoring%2F&interval=5&x=1";
        let (s, errors) = Settings::from_page(page);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(s.source, "http://10.0.0.5:9000/api/monitoring");
        assert_eq!(s.interval, Duration::from_secs(5));
        let back = s.page_url(page).unwrap();
        assert_eq!(Settings::from_page(&back).0, s);
        assert!(back.contains("x=1"), "{back}");
        let relative = Settings::from_page("http://h:1/dash/?source=../m").0;
        assert_eq!(relative.source, "http://h:1/m");
    }

    #[test]
    fn bad_values_fall_back_with_a_reason() {
        for (query, what) in [
            ("source=javascript:alert(1)", "http or https"),
            ("source=http://u:p@h/m", "credentials"),
            ("source=http://h/m?x=1", "query"),
            ("interval=0", "between"),
            ("interval=soon", "whole seconds"),
            ("interval=3601", "between"),
        ] {
            let (s, errors) = Settings::from_page(&format!("{PAGE}?{query}"));
            assert_eq!(errors.len(), 1, "{query}");
            assert!(errors[0].0.contains(what), "{query}: {errors:?}");
            assert_eq!(s, Settings::from_page(PAGE).0, "{query}");
        }
        assert_eq!(parse_interval("10s"), Ok(Duration::from_secs(10)));
    }

    #[test]
    fn tokens() {
        assert_eq!(parse_token("  "), Ok(None));
        assert_eq!(parse_token(" abc123 "), Ok(Some("abc123".to_owned())));
        let e = parse_token("secret part2").unwrap_err();
        assert!(
            !e.0.contains("secret"),
            "the error does not repeat the token: {e:?}"
        );
        assert!(parse_token("a\u{7}b").is_err());
    }
}
