//! Circuit breakers against the chaos upstream: opened by consecutive 5xx (which the original
//! never counted) and by refused connections; half-open admits exactly N probes. Every test
//! runs against the async and the blocking API.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::Duration;

use common::{chaos, closed_port};
use tether_native::tether_core::RequestError;
use tether_native::{BreakDuration, BreakerConfig, BreakerState, Error};

fn breaker(threshold: u32, break_for: Duration, probes: u32) -> BreakerConfig {
    BreakerConfig {
        consecutive_failures: Some(threshold),
        break_duration: BreakDuration::Constant(break_for),
        half_open_probes: probes,
        ..BreakerConfig::default()
    }
}

api_tests! {
    fn opens_on_consecutive_5xx() {
        let server = chaos();
        let svc = ServiceClient::builder("orders", server.base_url())
            .configure(|_| fast().max_retries(0).no_cache())
            .breaker(breaker(3, Duration::from_secs(10), 1))
            .build()
            .unwrap();
        for i in 1..=3 {
            let e = wait!(svc.get("/status/503?key=b5xx").send())
                .expect_err("503 is an error for a service client");
            assert!(matches!(e, Error::Status { .. }), "{e}");
            assert_eq!(e.http_status(), 503);
            // A JSON object without `detail` adds nothing to the message (the original's rule).
            assert_eq!(e.to_string(), "Service orders returned 503");
            let state = svc.circuit_breaker_state();
            if i < 3 {
                assert_eq!((state.state, state.failure_count), ("CLOSED", i));
            }
        }
        let state = svc.circuit_breaker_state();
        assert_eq!(state.state, "OPEN", "{state:?}");
        assert_eq!(state.failure_threshold, Some(3));
        assert!(state.last_failure_time.is_some());

        let e = wait!(svc.get("/status/503?key=b5xx").send()).unwrap_err();
        let Error::CircuitOpen {
            ref service,
            state,
            retry_after,
            ..
        } = e
        else {
            panic!("expected CircuitOpen, got {e:?}");
        };
        assert_eq!(service, "orders");
        assert_eq!(state, BreakerState::Open);
        let ra = retry_after.expect("an open breaker says when it retries");
        assert!(
            ra > Duration::from_secs(9) && ra <= Duration::from_secs(10),
            "{ra:?}"
        );
        assert_eq!(e.http_status(), 503);
        assert_eq!(e.retry_after(), Some(ra));
        assert!(e.trace().unwrap().attempts.is_empty());
        assert_eq!(wait!(hits(&server, "b5xx")), 3, "nothing sent while open");
        let m = svc.metrics();
        assert_eq!(m.total_requests, 4);
        assert_eq!(m.failed_requests, 4);
        assert_eq!(m.error_counts.get("http_503"), 3);
    }

    fn opens_on_connection_refused() {
        let base = format!("http://127.0.0.1:{}", closed_port());
        let svc = ServiceClient::builder("dead", base)
            .configure(|_| fast().max_retries(0))
            .breaker(breaker(3, Duration::from_secs(10), 1))
            .build()
            .unwrap();
        for _ in 0..3 {
            let e = wait!(svc.get("/x").send()).unwrap_err();
            assert!(matches!(e, Error::Connect { .. }), "{e:?}");
            assert_eq!(e.http_status(), 502);
            assert!(
                e.to_string().starts_with("Cannot connect to service dead"),
                "{e}"
            );
        }
        let e = wait!(svc.get("/x").send()).unwrap_err();
        assert!(matches!(e, Error::CircuitOpen { .. }), "{e:?}");
        assert_eq!(e.http_status(), 503);
        assert_eq!(svc.circuit_breaker_state().state, "OPEN");
    }

    fn half_open_lets_exactly_n_of_200_through() {
        const PROBES: u32 = 3;
        let server = chaos();
        let client = fast()
            .max_retries(0)
            .no_cache()
            .transport(pooled(64))
            .breaker(breaker(2, Duration::from_millis(300), PROBES))
            .build()
            .unwrap();
        // Open it with two 500s.
        for _ in 0..2 {
            let r = wait!(client
                .get(server.url("/status/500?key=ho-open"))
                .service("halfopen")
                .send())
            .unwrap();
            assert_eq!(r.status(), 500);
        }
        let e = wait!(client
            .get(server.url("/delay/1?key=ho-probe"))
            .service("halfopen")
            .send())
        .unwrap_err();
        assert!(matches!(e, Error::CircuitOpen { .. }), "{e:?}");
        wait!(pause(Duration::from_millis(350)));

        // 200 concurrent callers once the break has elapsed: N probes, the rest refused.
        let results = all!(200, [client, server], |_i| wait!(client
            .get(server.url("/delay/200?key=ho-probe"))
            .service("halfopen")
            .send()));
        let ok = results.iter().filter(|r| r.is_ok()).count();
        let open = results
            .iter()
            .filter(|r| {
                matches!(
                    r,
                    Err(Error::CircuitOpen {
                        state: BreakerState::HalfOpen,
                        ..
                    })
                )
            })
            .count();
        let other: Vec<_> = results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .filter(|e| !matches!(e, Error::CircuitOpen { .. }))
            .collect();
        assert!(other.is_empty(), "{other:?}");
        assert_eq!(ok, PROBES as usize);
        assert_eq!(open, 200 - PROBES as usize);
        assert_eq!(wait!(hits(&server, "ho-probe")), u64::from(PROBES));
        // All N probes succeeded: closed again.
        assert_eq!(client.circuit_breaker_state("halfopen").state, "CLOSED");
    }

    fn caller_mistakes_never_reach_the_breaker_or_the_upstream() {
        let server = chaos();
        let client = fast()
            .max_retries(0)
            .no_cache()
            .breaker(breaker(2, Duration::from_secs(30), 1))
            .build()
            .unwrap();
        let url = server.url("/get?key=mistake");
        // Framing the transport owns, set by the caller: refused before the engine, five
        // times over a breaker that opens after two failures.
        let refused: [(&str, &str); 5] = [
            ("transfer-encoding", "chunked"),
            ("connection", "close"),
            ("content-length", "7"),
            ("host", "elsewhere.example"),
            ("upgrade", "websocket"),
        ];
        for (name, value) in refused {
            let e = wait!(client.get(&url).header(name, value).service("careful").send())
                .unwrap_err();
            assert!(e.is_request(), "{name}: {e:?}");
            assert_eq!(e.kind(), "invalid_request", "{name}");
            assert_eq!(e.http_status(), 400, "{name}");
            assert!(e.trace().is_none(), "the engine never saw it: {e:?}");
            if name == "host" {
                // The engine's own rule and error, applied by the transport first.
                assert!(
                    matches!(e, Error::Request(RequestError::HostMismatch)),
                    "{e:?}"
                );
            } else {
                assert!(e.to_string().contains("refused"), "{e}");
            }
        }
        assert_eq!(wait!(hits(&server, "mistake")), 0, "nothing was sent");
        let state = client.circuit_breaker_state("careful");
        assert_eq!((state.state, state.failure_count), ("CLOSED", 0));
        assert!(client.service_metrics("careful").is_none_or(|m| m.total_requests == 0));
        // The same request, written properly, goes through.
        let ok = wait!(client.get(&url).service("careful").send()).unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(wait!(hits(&server, "mistake")), 1);
    }
}
