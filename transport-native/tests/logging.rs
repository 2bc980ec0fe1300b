//! `tracing` output: spans and events appear, secrets never do.
#![allow(clippy::disallowed_methods)]

mod common;

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{chaos, closed_port, fast};
use tether_core::{BreakDuration, BreakerConfig};
use tracing_subscriber::fmt::MakeWriter;

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

// A current-thread runtime: every span and event of the client happens on this thread, where
// the capturing subscriber is the default.
#[tokio::test]
async fn logs_requests_retries_and_breakers_without_secrets() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(capture.clone())
        // Plain text whatever features are on (the `cli` feature turns on ANSI colours, whose
        // escape codes would split the fields the test looks for).
        .with_ansi(false)
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
    let r = secret_request("/flaky/logs?fail=1").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = secret_request("/status/500").send().await.unwrap();
    assert_eq!(r.status(), 500);
    let e = secret_request("/status/500").send().await.unwrap_err();
    assert_eq!(e.kind(), "circuit_open");
    assert!(SECRETS.iter().all(|s| !e.to_string().contains(s)), "{e}");
    // Credentials in the URL are refused, and not echoed.
    let e = client
        .get(format!("http://user:{}@127.0.0.1:1/x", SECRETS[4]))
        .send()
        .await
        .unwrap_err();
    assert!(
        SECRETS.iter().all(|s| !format!("{e} {e:?}").contains(s)),
        "{e:?}"
    );
    // A transport failure with secrets in the query.
    let dead = fast().max_retries(0).build().unwrap();
    let e = dead
        .get(format!("http://127.0.0.1:{}/x", closed_port()))
        .query(&[("token", SECRETS[2])])
        .send()
        .await
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
