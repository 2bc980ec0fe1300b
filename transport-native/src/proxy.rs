//! [`ProxyRules`]: which requests go through which HTTP proxy, decided the same way for both
//! transports (hyper-util's curl-compatible matcher), from [`Proxy`].
//!
//! The environment is read only for [`Proxy::FromEnv`], once, when the transport is built.
//! Nothing else in this crate reads proxy variables: the ureq agent is built with no proxy
//! (ureq's own default would read `ALL_PROXY`, `HTTPS_PROXY` and `HTTP_PROXY` silently), and
//! hyper-util's client never reads them by itself.

use http::Uri;
use hyper_util::client::proxy::matcher::{Intercept, Matcher};

use crate::config::{Proxy, parse_proxy_url};

/// The proxies in force: one for `http://` targets, one for `https://` targets (either may be
/// absent) and the `NO_PROXY`-style exceptions.
pub(crate) struct ProxyRules {
    matcher: Matcher,
    /// The ureq proxies for `http://` and `https://` targets.
    ureq_http: Option<ureq::Proxy>,
    ureq_https: Option<ureq::Proxy>,
}

impl std::fmt::Debug for ProxyRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `Matcher`'s Debug shows proxy URIs without credentials.
        f.debug_struct("ProxyRules")
            .field("matcher", &self.matcher)
            .finish_non_exhaustive()
    }
}

impl ProxyRules {
    /// The rules for `proxy`, or `None` when no request is ever proxied (the default).
    /// An invalid explicit proxy gives `None` too: `NativeConfig::validate` reports it.
    pub(crate) fn new(proxy: &Proxy) -> Option<ProxyRules> {
        match proxy {
            Proxy::Direct => None,
            Proxy::Http { url, no_proxy } => {
                parse_proxy_url(url).ok()?;
                Self::build(Some(url.trim()), Some(url.trim()), no_proxy)
            }
            Proxy::FromEnv => {
                let var = |names: [&str; 2]| {
                    names
                        .iter()
                        .find_map(|name| std::env::var(name).ok())
                        .filter(|v| !v.trim().is_empty())
                };
                if std::env::var_os("REQUEST_METHOD").is_some() {
                    // A CGI program: `HTTP_PROXY` may be a request header ("httpoxy").
                    return None;
                }
                let usable = |v: Option<String>| v.filter(|v| parse_proxy_url(v).is_ok());
                let all = usable(var(["ALL_PROXY", "all_proxy"]));
                let http = usable(var(["HTTP_PROXY", "http_proxy"])).or_else(|| all.clone());
                let https = usable(var(["HTTPS_PROXY", "https_proxy"])).or(all);
                let no = var(["NO_PROXY", "no_proxy"]).unwrap_or_default();
                Self::build(http.as_deref(), https.as_deref(), &no)
            }
        }
    }

    fn build(http: Option<&str>, https: Option<&str>, no_proxy: &str) -> Option<ProxyRules> {
        if http.is_none() && https.is_none() {
            return None;
        }
        let matcher = Matcher::builder()
            .http(http.unwrap_or_default().to_owned())
            .https(https.unwrap_or_default().to_owned())
            .no(no_proxy.to_owned())
            .build();
        let ureq_proxy = |url: Option<&str>| {
            let uri = parse_proxy_url(url?).ok()?;
            ureq::Proxy::new(&uri.to_string()).ok()
        };
        Some(ProxyRules {
            matcher,
            ureq_http: ureq_proxy(http),
            ureq_https: ureq_proxy(https),
        })
    }

    /// The proxy for a request to `uri`, if any (hyper transport).
    pub(crate) fn intercept(&self, uri: &Uri) -> Option<Intercept> {
        self.matcher.intercept(uri)
    }

    /// The ureq proxy for a request to `uri`, if any.
    pub(crate) fn ureq_proxy(&self, uri: &Uri) -> Option<ureq::Proxy> {
        self.matcher.intercept(uri)?;
        if uri.scheme_str() == Some("https") {
            self.ureq_https.clone()
        } else {
            self.ureq_http.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_never_proxies() {
        assert!(ProxyRules::new(&Proxy::Direct).is_none());
    }

    #[test]
    fn explicit_proxies_honour_no_proxy() {
        let rules = ProxyRules::new(&Proxy::Http {
            url: "http://user:pw@127.0.0.1:3128".into(),
            no_proxy: "internal.test, 10.0.0.0/8".into(),
        })
        .unwrap();
        let uri = |s: &str| s.parse::<Uri>().unwrap();
        let hit = rules.intercept(&uri("http://example.test/x")).unwrap();
        assert_eq!(hit.uri(), "http://127.0.0.1:3128/");
        assert!(hit.basic_auth().is_some());
        assert!(rules.intercept(&uri("https://example.test/x")).is_some());
        assert!(
            rules
                .intercept(&uri("http://api.internal.test/x"))
                .is_none()
        );
        assert!(rules.intercept(&uri("http://10.1.2.3/x")).is_none());
        assert!(rules.ureq_proxy(&uri("https://example.test/")).is_some());
        assert!(rules.ureq_proxy(&uri("http://10.1.2.3/")).is_none());
        let shown = format!("{rules:?}");
        assert!(!shown.contains("pw"), "{shown}");
    }

    #[test]
    fn an_invalid_explicit_proxy_proxies_nothing() {
        assert!(ProxyRules::new(&Proxy::http("socks5://127.0.0.1:1080")).is_none());
    }
}
