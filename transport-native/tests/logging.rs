//! `tracing` output: spans and events appear, secrets never do — for the async and the blocking
//! API.
#![allow(clippy::disallowed_methods)]

mod common;

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{chaos, closed_port};
use tether_core::{BreakDuration, BreakerConfig};
use tether_tests::leaks::{SECRET_NAMES, with_secrets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

const SECRETS: [&str; 5] = [
    "BEARER-SECRET-1",
    "COOKIE-SECRET-2",
    "QUERY-SECRET-3",
    "APIKEY-SECRET-4",
    "USERINFO-SECRET-5",
];

// Every span and event of a request happens on the test's thread (the async API's tests run on
// a current-thread runtime), where the capturing subscriber is the default.
api_tests! {
    fn logs_requests_retries_and_breakers_without_secrets() {
        let capture = Capture::default();
        // Plain text: with the `cli` feature on, tracing-subscriber writes colour codes that
        // split the fields these assertions look for.
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(capture.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let server = chaos();
        let client = fast()
            .max_retries(1)
            .no_cache()
            .breaker(BreakerConfig {
                consecutive_failures: Some(2),
                break_duration: BreakDuration::Constant(Duration::from_secs(30)),
                ..BreakerConfig::default()
            })
            .build()
            .unwrap();
        client
            .hooks()
            .add_request_hook(|_, _| Err("hook failure for the log".into()));
        let secret_request = |path: &str| {
            client
                .get(server.url(path))
                .query(&[("api_key", SECRETS[2]), ("q", "visible")])
                .header("Authorization", format!("Bearer {}", SECRETS[0]))
                .header("Cookie", format!("session={}", SECRETS[1]))
                .header("X-Api-Key", SECRETS[3])
                .service("secretive")
        };
        // A retried 503, then a success: two retries' worth of events, then the breaker opens.
        let r = wait!(secret_request("/flaky/logs?fail=1").send()).unwrap();
        assert_eq!(r.status(), 200);
        let r = wait!(secret_request("/status/500").send()).unwrap();
        assert_eq!(r.status(), 500);
        let e = wait!(secret_request("/status/500").send()).unwrap_err();
        assert_eq!(e.kind(), "circuit_open");
        assert!(SECRETS.iter().all(|s| !e.to_string().contains(s)), "{e}");
        // Credentials in the URL are refused, and not echoed.
        let e = wait!(client
            .get(format!("http://user:{}@127.0.0.1:1/x", SECRETS[4]))
            .send())
        .unwrap_err();
        assert!(
            SECRETS.iter().all(|s| !format!("{e} {e:?}").contains(s)),
            "{e:?}"
        );
        // A transport failure with secrets in the query.
        let dead = fast().max_retries(0).build().unwrap();
        let e = wait!(dead
            .get(format!("http://127.0.0.1:{}/x", closed_port()))
            .query(&[("token", SECRETS[2])])
            .send())
        .unwrap_err();
        assert!(
            SECRETS.iter().all(|s| !format!("{e} {e:?}").contains(s)),
            "{e:?}"
        );

        let logs = capture.text();
        for s in SECRETS {
            assert!(
                !logs.contains(s),
                "secret {s} leaked into the logs:\n{logs}"
            );
        }
        for expected in [
            "http_request",
            "service=\"secretive\"",
            "q=visible",
            "[REDACTED]",
            "Request hook failed: hook failure for the log",
            "retrying",
            "circuit breaker state changed",
            "request failed",
        ] {
            assert!(
                logs.contains(expected),
                "{expected:?} missing from:\n{logs}"
            );
        }
    }
}

/// Values that must stay visible: redaction is not allowed to hide ordinary traffic.
const VISIBLE: &[&str] = &[
    "application/x-visible",
    "page=2",
    "x-request-id",
    "req-visible-42",
];

/// A request carrying every secret name, as a header and as a query parameter.
fn carrying_secrets(
    client: &tether_native::HttpClient,
    url: &str,
) -> tether_native::RequestBuilder {
    with_secrets(client.get(url)).service("secretive")
}

// Every event and every span (with its fields, at open and close) of the tether targets at
// TRACE, for requests that carry secrets in headers and in the query: answered, retried,
// failed below HTTP, refused as the caller's mistake; none of the secret values appears.
#[tokio::test]
async fn no_secret_name_pattern_reaches_the_logs_at_trace() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(FmtSpan::FULL)
        .with_writer(capture.clone())
        // Plain text whatever features are on (the `cli` feature turns on ANSI colours, whose
        // escape codes would split the fields the test looks for).
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = chaos();
    let client = common::async_api::fast()
        .max_retries(1)
        .no_cache()
        .build()
        .unwrap();
    client.hooks().add_request_hook(|_, _| {
        Err("could not audit https://audit.test/log?access_token=LEAK-hook-99".into())
    });
    let r = carrying_secrets(&client, &server.url("/anything/secrets"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The upstream did receive them: redaction is for people, not for the wire.
    let echoed = r.text();
    assert!(
        SECRET_NAMES.iter().all(|(_, v)| echoed.contains(v)),
        "{echoed}"
    );
    let r = carrying_secrets(&client, &server.url("/flaky/trace-secrets?fail=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.trace().retries(), 1);
    let e = carrying_secrets(&client, &server.url("/status/500"))
        .error_for_status()
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.http_status(), 500);
    let dead = format!("http://127.0.0.1:{}/x", closed_port());
    let e = carrying_secrets(&client, &dead).send().await.unwrap_err();
    assert!(e.is_connect(), "{e:?}");
    let e = carrying_secrets(&client, &server.url("/anything/x"))
        .header("content-length", "abc")
        .send()
        .await
        .unwrap_err();
    assert!(e.is_request(), "{e:?}");

    let logs = capture.text();
    assert!(
        !logs.contains("LEAK-hook-99"),
        "a hook's message leaked:\n{logs}"
    );
    for (name, value) in SECRET_NAMES {
        assert!(
            !logs.contains(value),
            "the value of {name} leaked into the logs:\n{logs}"
        );
    }
    assert!(
        !logs.contains("LEAK-"),
        "a secret leaked into the logs:\n{logs}"
    );
    for visible in VISIBLE {
        assert!(logs.contains(visible), "{visible:?} was hidden:\n{logs}");
    }
    for expected in [
        "http_request",
        "request headers",
        "retrying",
        "request failed",
        "close",
    ] {
        assert!(
            logs.contains(expected),
            "{expected:?} missing from:\n{logs}"
        );
    }
}

// What an error shows for URLs people mistype: no userinfo (even when the URL does not parse),
// no secret parameter, no fragment, and a bounded excerpt of a huge URL.
#[tokio::test]
async fn invalid_url_errors_quote_no_secret() {
    let client = common::async_api::fast().build().unwrap();
    let long = format!("ftp://h/{}?token=LEAK-long", "a".repeat(5000));
    for raw in [
        "http://user:pa#LEAK-hash@host/",
        "http://user:LEAK-pw@127.0.0.1/",
        "http://user:pa?LEAK-question@host/",
        "http:user:LEAK-noslash@host/",
        "http://h:99999/?api_key=LEAK-port",
        "ftp://h/x?X-Amz-Signature=LEAK-scheme#LEAK-fragment",
        long.as_str(),
    ] {
        let e = client.get(raw).send().await.expect_err(raw);
        assert_eq!((e.kind(), e.http_status()), ("invalid_url", 400), "{raw}");
        let shown = format!("{e} | {e:?}");
        assert!(!shown.contains("LEAK"), "{raw} -> {shown}");
        assert!(shown.len() < 1000, "{raw} -> {} chars", shown.len());
    }
}
