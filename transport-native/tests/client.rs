//! The client API against the chaos upstream: request building, timeouts, connection reuse,
//! SSRF-proof endpoints, interceptors, metrics and the registry — for the async and the
//! blocking API — then what only the async API has: batching, spawned requests, the
//! process-wide registry.
#![allow(clippy::disallowed_methods)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{chaos, closed_port};
use serde_json::Value;
use tether_core::BatchConfig;
use tether_core::GiveUpReason;
use tether_core::{AttemptNext, AttemptResult, TransportErrorKind};
use tether_native::{Error, JobError};

api_tests! {
    fn builds_requests_with_query_json_form_and_default_headers() {
        let server = chaos();
        let client = fast().no_cache().build().unwrap();
        let r = wait!(client
            .post(server.url("/anything/x?fixed=1"))
            .query(&[("q", "a b&c=d/é"), ("empty", "")])
            .header("X-Custom", "yes")
            .json(&serde_json::json!({"n": 1, "s": "two"}))
            .send())
            .unwrap();
        let body: Value = r.json().unwrap();
        assert_eq!(body["args"]["fixed"], "1");
        assert_eq!(body["args"]["q"], "a b&c=d/é");
        assert_eq!(body["args"]["empty"], "");
        assert_eq!(body["json"], serde_json::json!({"n": 1, "s": "two"}));
        assert_eq!(body["headers"]["Content-Type"], "application/json");
        assert_eq!(body["headers"]["X-Custom"], "yes");
        assert_eq!(body["headers"]["Accept"], "application/json");
        assert!(
            body["headers"]["User-Agent"]
                .as_str()
                .unwrap()
                .starts_with("tether/")
        );

        let r = wait!(client
            .put(server.url("/put"))
            .form(&[("a", "1 2"), ("b", "&")])
            .header("Accept", "text/plain")
            .send())
            .unwrap();
        let body: Value = r.json().unwrap();
        assert_eq!(body["form"], serde_json::json!({"a": "1 2", "b": "&"}));
        assert_eq!(
            body["headers"]["Accept"], "text/plain",
            "request headers win"
        );

        let e = wait!(client.get("not a url").send()).unwrap_err();
        assert!(matches!(e, Error::InvalidUrl { .. }), "{e:?}");
        assert_eq!(e.http_status(), 400);
        let e = wait!(client
            .get(server.url("/get"))
            .header("X-Bad", "line\nbreak")
            .send())
            .unwrap_err();
        assert!(matches!(e, Error::InvalidHeader { .. }), "{e:?}");
    }

    fn per_attempt_timeout_retries_then_fails_with_504() {
        let server = chaos();
        let client = fast()
            .timeout(Duration::from_millis(200))
            .max_retries(2)
            .no_cache()
            .build()
            .unwrap();
        let started = Instant::now();
        let e = wait!(client
            .get(server.url("/delay/2000?key=tattempt"))
            .send())
            .unwrap_err();
        let elapsed = started.elapsed();
        assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
        assert_eq!(e.http_status(), 504);
        let t = e.trace().expect("the engine saw it");
        assert_eq!(t.attempts.len(), 3, "{}", t.summary());
        for a in &t.attempts {
            assert_eq!(
                a.result,
                AttemptResult::Transport {
                    error: TransportErrorKind::Timeout
                }
            );
            assert!(a.latency < Duration::from_millis(600), "{:?}", a.latency);
        }
        assert!(elapsed >= Duration::from_millis(600), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(1_800), "{elapsed:?}");
        assert!(e.to_string().contains("timeout after"), "{e}");
        assert_eq!(wait!(hits(&server, "tattempt")), 3);
    }

    fn total_timeouts_bound_the_whole_request() {
        let server = chaos();
        // The caller's own limit on one request: over after 300 ms whatever the policy, and the
        // error still tells why (the engine cut the attempt to the deadline and gave up).
        let client = fast().max_retries(3).no_cache().build().unwrap();
        let started = Instant::now();
        let e = wait!(client
            .get(server.url("/delay/3000?key=ttotal1"))
            .timeout(Duration::from_millis(300))
            .send())
            .unwrap_err();
        let elapsed = started.elapsed();
        assert!(e.is_timeout(), "{e:?}");
        assert_eq!(e.http_status(), 504);
        assert!(
            elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(1),
            "{elapsed:?}"
        );
        let t = e.trace().expect("a timed-out request keeps its trace");
        assert_eq!(t.attempts.len(), 1, "{}", t.summary());
        assert_eq!(
            t.attempts[0].next,
            AttemptNext::GiveUp {
                reason: GiveUpReason::DeadlineExceeded
            },
            "{}",
            t.summary()
        );
        // The engine's deadline: no retry starts after it, the last attempt is cut to it.
        let client = fast()
            .timeout(Duration::from_millis(250))
            .total_timeout(Duration::from_millis(600))
            .max_retries(10)
            .no_cache()
            .build()
            .unwrap();
        let started = Instant::now();
        let e = wait!(client
            .get(server.url("/delay/3000?key=ttotal2"))
            .send())
            .unwrap_err();
        let elapsed = started.elapsed();
        assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
        assert!(elapsed < Duration::from_millis(1_200), "{elapsed:?}");
        let t = e.trace().unwrap();
        assert!(t.attempts.len() <= 3, "{}", t.summary());
        assert!(t.total <= Duration::from_millis(900), "{}", t.summary());
        let last = t.attempts.last().unwrap();
        assert!(
            matches!(
                last.next,
                AttemptNext::GiveUp {
                    reason: GiveUpReason::DeadlineExceeded
                }
            ),
            "{}",
            t.summary()
        );
    }

    fn connections_are_reused() {
        let server = chaos();
        let client = fast().no_cache().build().unwrap();
        let (c0, _) = wait!(totals(&server));
        for i in 0..40 {
            let r = wait!(client
                .get(server.url(&format!("/get?key=reuse&i={i}")))
                .send())
                .unwrap();
            assert_eq!(r.status(), 200);
        }
        let (c1, _) = wait!(totals(&server));
        // 40 requests; the client's connections plus one per /count call (a fresh transport).
        let used = c1 - c0;
        assert!(used <= 3, "{used} connections for 40 requests");
        assert_eq!(wait!(hits(&server, "reuse")), 40);
    }

    fn endpoints_cannot_leave_the_service() {
        let server = chaos();
        let svc = ServiceClient::builder("api", server.base_url() + "/")
            .configure(|_| fast().no_cache())
            .build()
            .unwrap();
        assert_eq!(svc.base_url(), server.base_url());
        let (_, before) = wait!(totals(&server));
        for endpoint in [
            "@evil.example/x",
            "@127.0.0.2/x",
            "//evil.example/x",
            "http://evil.example/x",
            "https://evil.example/x",
            "evil.example/x",
            ":1/x",
            "/../x",
            "/%2e%2e/x",
            "/\\evil.example",
            "/x\r\nHost: evil.example",
        ] {
            let e = wait!(svc.get(endpoint).send()).unwrap_err();
            assert!(
                matches!(e, Error::InvalidEndpoint { .. }),
                "{endpoint:?}: {e:?}"
            );
            assert_eq!(e.http_status(), 400);
        }
        let (_, after) = wait!(totals(&server));
        assert_eq!(after, before + 1, "nothing but the /count call was sent");
        let ok: Value = wait!(svc
            .get("/get?key=ssrf-ok&x=@evil.example")
            .send_json())
            .unwrap();
        assert_eq!(ok["args"]["x"], "@evil.example");
        assert_eq!(wait!(hits(&server, "ssrf-ok")), 1);
    }

    fn failing_hooks_never_fail_the_request() {
        let server = chaos();
        let client = fast().no_cache().build().unwrap();
        let hooks = client.hooks();
        let seen = Arc::new(AtomicUsize::new(0));
        hooks.add_request_hook(|_, _| Err("request hook says no".into()));
        hooks.add_request_hook(|_, _| panic!("request hook panicked"));
        hooks.add_request_hook(|event, headers| {
            assert!(event.url.contains("/echo"));
            headers.insert("x-hooked", http::HeaderValue::from_static("yes"));
            Ok(())
        });
        hooks.add_response_hook(|_| Err("response hook says no".into()));
        let s = Arc::clone(&seen);
        hooks.add_response_hook(move |event| {
            assert_eq!(event.status, 200);
            s.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        hooks.add_error_hook(|_| Err("error hook says no".into()));
        let r = wait!(client.get(server.url("/echo")).send()).unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().unwrap();
        assert_eq!(body["headers"]["x-hooked"], "yes", "later hooks still ran");
        assert_eq!(seen.load(Ordering::SeqCst), 1);

        // The error hook fails too; the caller still gets the typed error.
        let dead = format!("http://127.0.0.1:{}/x", closed_port());
        let e = fast().max_retries(0).build().unwrap();
        e.hooks()
            .add_error_hook(|_| Err("error hook says no".into()));
        let err = wait!(e.get(dead).send()).unwrap_err();
        assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    }

    fn service_errors_follow_the_original_messages() {
        let server = chaos();
        let svc = ServiceClient::builder("users", server.base_url())
            .configure(|_| fast().max_retries(0).no_cache())
            .build()
            .unwrap();
        let long = "x".repeat(300);
        let e = wait!(svc
            .get(&format!("/status/404?body={long}"))
            .send())
            .unwrap_err();
        let Error::Status {
            status,
            ref body_excerpt,
            ref message,
            ref body,
            ..
        } = e
        else {
            panic!("{e:?}")
        };
        assert_eq!(status, 404);
        assert_eq!(body_excerpt.len(), 200);
        assert_eq!(body.len(), 300);
        assert_eq!(
            *message,
            format!("Service users returned 404: {}", "x".repeat(200))
        );
        assert_eq!(e.http_status(), 404);

        // A successful call returns the JSON; a non-JSON body falls back to the original shape.
        let v = wait!(svc
            .get("/status/200?body=plain")
            .send_value())
            .unwrap();
        assert_eq!(v, serde_json::json!({"data": "plain", "status_code": 200}));
        // Redirects are not followed: a 3xx is a successful call (as in the original).
        let r = wait!(svc.get("/status/302").send()).unwrap();
        assert_eq!(r.status(), 302);

        let m = svc.metrics();
        assert_eq!(m.service, "users");
        assert_eq!(
            (m.total_requests, m.successful_requests, m.failed_requests),
            (3, 2, 1)
        );
        assert_eq!(m.error_counts.get("http_404"), 1);
        assert!(m.last_request_time.is_some());
        // Keys and their order, as the original's metrics() (top level, then the
        // nested client metrics).
        let text = serde_json::to_string(&m).unwrap();
        assert_in_order(
            &text,
            &[
                "service",
                "total_requests",
                "successful_requests",
                "failed_requests",
                "success_rate",
                "average_response_time",
                "min_response_time",
                "max_response_time",
                "error_counts",
                "last_request_time",
                "http_client_metrics",
            ],
        );
        let text = serde_json::to_string(&m.http_client_metrics).unwrap();
        assert_in_order(
            &text,
            &[
                "total_requests",
                "successful_requests",
                "failed_requests",
                "success_rate",
                "average_response_time",
                "min_response_time",
                "max_response_time",
                "error_counts",
                "cache_stats",
                "last_request_time",
            ],
        );
        let breaker = serde_json::to_value(svc.circuit_breaker_state()).unwrap();
        assert_eq!(breaker["service"], "users");
        assert_eq!(breaker["state"], "CLOSED");
        assert_eq!(breaker["failure_threshold"], 5);
    }

    fn health_checks_probe_the_service() {
        let server = chaos();
        let svc = ServiceClient::new("up", server.base_url()).unwrap();
        let h = wait!(svc.health_check());
        assert!(h.healthy, "{h:?}");
        assert_eq!(h.status_code, Some(200));
        let down = ServiceClient::new("down", format!("http://127.0.0.1:{}", closed_port())).unwrap();
        let h = wait!(down.health_check());
        assert!(!h.healthy);
        assert!(h.error.is_some());
    }

    fn registry_is_named_and_bounded() {
        let server = chaos();
        let registry = Registry::with_builder(2, fast().no_cache());
        let a = registry.get_or_create("a", &server.base_url()).unwrap();
        let again = registry
            .get_or_create("a", "http://elsewhere.invalid")
            .unwrap();
        assert_eq!(
            again.base_url(),
            a.base_url(),
            "a known name keeps its client"
        );
        registry.get_or_create("b", &server.base_url()).unwrap();
        let e = registry.get_or_create("c", &server.base_url()).unwrap_err();
        assert!(matches!(e, Error::RegistryFull { max: 2 }), "{e:?}");
        assert_eq!(registry.names(), ["a", "b"]);
        wait!(a.get("/get?key=reg").send()).unwrap();
        let all = registry.all_metrics();
        assert_eq!(all.service_clients["a"].total_requests, 1);
        assert_eq!(all.service_clients["b"].total_requests, 0);
        assert_eq!(registry.clients().len(), 2);
        registry.close_all();
        assert!(registry.is_empty());
        let e = wait!(a.get("/get").send()).unwrap_err();
        assert!(matches!(e, Error::Closed), "{e:?}");
    }

    fn closed_clients_refuse_and_stop_their_driver() {
        let server = chaos();
        // By default only the async client runs a background driver (a tokio task); the blocking
        // one starts a thread only when asked to.
        let default = HttpClient::builder().build().unwrap();
        assert_eq!(default.background_running(), !BLOCKING);
        let client = fast().build().unwrap();
        assert!(client.background_running());
        wait!(client.get(server.url("/get")).send()).unwrap();
        client.close();
        assert!(!client.background_running());
        let e = wait!(client.get(server.url("/get")).send()).unwrap_err();
        assert!(matches!(e, Error::Closed));
        assert_eq!(e.http_status(), 503);
    }

    fn a_later_content_type_replaces_the_json_default() {
        let server = chaos();
        let client = fast().build().unwrap();
        let r = wait!(client
            .patch(server.url("/echo"))
            .json(&serde_json::json!({"a": 1}))
            .header(http::header::CONTENT_TYPE, "application/merge-patch+json")
            .send())
            .unwrap();
        let echo: Value = r.json().unwrap();
        assert_eq!(
            echo["headers"]["content-type"],
            "application/merge-patch+json"
        );
    }
}

/// Each `"key":` appears in `json`, in this order.
fn assert_in_order(json: &str, keys: &[&str]) {
    let mut from = 0;
    for key in keys {
        let needle = format!("\"{key}\":");
        let at = json[from..]
            .find(&needle)
            .unwrap_or_else(|| panic!("{key} missing or out of order in {json}"));
        from += at + needle.len();
    }
}

/// What only the async API has.
mod async_only {
    use super::*;
    use common::async_api::{fast, hits, pooled};
    use tether_native::{HttpClient, RequestBatcher, ServiceClient};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_keep_input_order_and_bound_concurrency() {
        let server = chaos();
        let client = fast().no_cache().transport(pooled(32)).build().unwrap();
        let batcher = RequestBatcher::new(BatchConfig {
            max_batch_size: 3,
            max_wait: Duration::from_millis(20),
            max_in_flight_batches: 2,
            max_queued_items: 100,
        })
        .unwrap();
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let jobs = (0..20_u32).map(|i| {
            let client = client.clone();
            let url = server.url(&format!("/delay/{}?key=batch&i={i}", 30 + (19 - i) * 3));
            let (running, peak) = (Arc::clone(&running), Arc::clone(&peak));
            move || async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                let r = client.get(url).send().await;
                running.fetch_sub(1, Ordering::SeqCst);
                let body: Value = r.unwrap().json().unwrap();
                (
                    i,
                    body["args"]["i"].as_str().unwrap().parse::<u32>().unwrap(),
                )
            }
        });
        let results = batcher.submit(jobs).await;
        let got: Vec<(u32, u32)> = results.into_iter().map(Result::unwrap).collect();
        assert_eq!(got, (0..20).map(|i| (i, i)).collect::<Vec<_>>());
        let peak = peak.load(Ordering::SeqCst);
        assert!(peak <= 6, "{peak} jobs ran at once (bound 2 batches × 3)");
        assert!(peak >= 2, "batches ran in parallel ({peak})");
        assert_eq!(hits(&server, "batch").await, 20);
        let s = batcher.snapshot();
        assert_eq!(s.pushed, 20);
        assert!(s.batches_cut >= 7, "{s:?}");

        // Without a flush a lone job still runs, after `max_wait`.
        let started = Instant::now();
        let one = batcher.add(|| async { 7 }).await;
        assert_eq!(one, Ok(7));
        assert!(started.elapsed() >= Duration::from_millis(15));
        // A panicking job is reported, and the others are unaffected.
        let (a, b) = tokio::join!(
            batcher.add(|| async { panic!("job failed") }),
            batcher.add(|| async { 2 })
        );
        assert_eq!(a, Err::<(), _>(JobError::Panicked));
        assert_eq!(b, Ok(2));
        batcher.close().await;
    }

    #[tokio::test]
    async fn the_default_registry_backs_get_service_client() {
        let server = chaos();
        let a = tether_native::get_service_client("default-reg", &server.base_url()).unwrap();
        let b = tether_native::get_service_client("default-reg", &server.base_url()).unwrap();
        assert_eq!(a.service_name(), b.service_name());
        assert!(
            tether_native::default_registry()
                .names()
                .contains(&"default-reg".to_owned())
        );
        a.get("/get").send().await.unwrap();
        assert_eq!(b.metrics().total_requests, 1, "one client, shared");
        tether_native::close_all_service_clients();
        assert!(
            tether_native::default_registry()
                .get("default-reg")
                .is_none()
        );
    }

    #[test]
    fn the_background_driver_restarts_in_a_new_runtime() {
        let server = chaos();
        let first = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = first.block_on(async {
            let c = fast().build().unwrap();
            c.get(server.url("/get")).send().await.unwrap();
            c
        });
        drop(first); // its driver task dies with it
        let second = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        second.block_on(async {
            client.get(server.url("/get")).send().await.unwrap();
            for _ in 0..200 {
                if client.background_running() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("no background driver in the second runtime");
        });
    }

    /// Compile-time: a request's future is `Send + 'static`, so it can be spawned on tokio's
    /// multithreaded runtime; so are a service call's and a batch's.
    #[allow(dead_code)]
    fn request_futures_are_spawnable(client: &HttpClient, svc: &ServiceClient) {
        fn spawnable<F: std::future::Future + Send + 'static>(_: &F) {}
        let request = client.get("http://127.0.0.1:1/").send();
        spawnable(&request);
        drop(tokio::spawn(request));
        let call = svc.get("/x").send_json::<Value>();
        spawnable(&call);
        drop(tokio::spawn(call));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spawned_requests_and_async_hooks_run_on_tokio() {
        let server = chaos();
        let client = fast().no_cache().build().unwrap();
        let audited = Arc::new(AtomicUsize::new(0));
        // An asynchronous request hook that waits on tokio before adding a header, and an
        // asynchronous response hook that counts.
        client
            .hooks()
            .add_async_request_hook(|_event, mut headers| async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                headers.insert("x-async-hook", http::HeaderValue::from_static("1"));
                Ok(headers)
            });
        let counter = Arc::clone(&audited);
        client.hooks().add_async_response_hook(move |event| {
            let counter = Arc::clone(&counter);
            async move {
                tokio::task::yield_now().await;
                assert_eq!(event.status, 200);
                counter.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        });
        let tasks: Vec<_> = (0..8)
            .map(|i| tokio::spawn(client.get(server.url(&format!("/echo?i={i}"))).send()))
            .collect();
        for task in tasks {
            let r = task.await.expect("the task ran").expect("a response");
            let body: Value = r.json().unwrap();
            assert_eq!(body["headers"]["x-async-hook"], "1");
        }
        assert_eq!(audited.load(Ordering::SeqCst), 8);
    }
}
