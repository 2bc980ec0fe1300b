//! The client layer on a virtual runtime: real futures, real waits, virtual time, and
//! single-threaded (`Rc`) hooks and transport futures that are not `Send` — the client asks for
//! `Send` nowhere.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use http::Method;
use tether_core::client::{
    Error, HookFailure, HookStage, Hooks, HttpClient, HttpClientBuilder, JobError, LocalHooks,
    LocalJob, Registry, RequestBatcher, ResponseEvent, ServiceClient,
};
use tether_core::{
    AttemptNext, Backoff, BatchConfig, CacheTrace, ExportError, GiveUpReason, HealthStatus,
    Timestamp, TransportErrorKind,
};
use tether_tests::virtual_rt::{ScriptedTransport, VirtualClock, VirtualRuntime, run_all};
use tether_tests::{fail, ok, respond};

const MS: Duration = Duration::from_millis(1);

type Task<T> = Pin<Box<dyn Future<Output = T>>>;
type Client<H = LocalHooks> = HttpClient<ScriptedTransport, VirtualRuntime, H>;
type Builder<H = LocalHooks> = HttpClientBuilder<ScriptedTransport, VirtualRuntime, H>;
type Script =
    Box<dyn FnMut(&tether_core::Request, Timestamp) -> (Duration, tether_core::Outcome) + Send>;

/// A client over a scripted upstream with 250 ms constant backoff, adjusted by `configure`.
fn client_with<H: Hooks + Default>(
    configure: impl FnOnce(Builder<H>) -> Builder<H>,
    script: impl FnMut(&tether_core::Request, Timestamp) -> (Duration, tether_core::Outcome)
    + Send
    + 'static,
) -> (Client<H>, ScriptedTransport, VirtualClock) {
    let rt = VirtualRuntime::default();
    let clock = rt.clock.clone();
    let transport = ScriptedTransport::new(&clock, script);
    let builder =
        HttpClientBuilder::new(transport.clone(), rt).backoff(Backoff::Constant(250 * MS));
    let c = configure(builder).build().expect("valid config");
    (c, transport, clock)
}

fn client(
    script: impl FnMut(&tether_core::Request, Timestamp) -> (Duration, tether_core::Outcome)
    + Send
    + 'static,
) -> (Client, ScriptedTransport, VirtualClock) {
    client_with(|b| b, script)
}

fn cacheable(body: &'static str, latency: Duration) -> Script {
    Box::new(move |_, _| {
        (
            latency,
            respond(200, &[("cache-control", "max-age=60")], body),
        )
    })
}

/// A status or an error, with when it came.
type Stamped = Result<(u16, Timestamp), (Error, Timestamp)>;

fn one<T: 'static>(clock: &VirtualClock, task: impl Future<Output = T> + 'static) -> T {
    run_all(clock, vec![Box::pin(task) as Task<T>], 1000)
        .pop()
        .expect("one result")
}

#[test]
fn retries_sleep_on_the_runtime_and_honour_retry_after() {
    let mut n = 0;
    let (c, t, clock) = client(move |_, _| {
        n += 1;
        match n {
            1 => (10 * MS, respond(503, &[("retry-after", "30")], "")),
            2 => (10 * MS, ok(502, "")),
            _ => (10 * MS, ok(200, "done")),
        }
    });
    let r = one(
        &clock,
        async move { c.get("http://svc.test/x").send().await },
    )
    .expect("a response");
    assert_eq!(r.status(), 200);
    assert_eq!(r.text(), "done");
    assert_eq!(t.sends(), 3);
    let sent = t.sent();
    let gap1 = sent[1].0.saturating_duration_since(sent[0].0);
    let gap2 = sent[2].0.saturating_duration_since(sent[1].0);
    assert!(
        gap1 >= Duration::from_secs(30),
        "Retry-After 30 s honoured ({gap1:?})"
    );
    assert_eq!(gap2, 260 * MS, "then plain backoff");
    assert_eq!(r.trace().retries(), 2);
}

#[test]
fn the_attempt_timeout_races_the_transport() {
    let (c, t, clock) = client_with(
        |b: Builder| b.timeout(Duration::from_secs(2)).max_retries(1),
        |_, _| (Duration::from_secs(60), ok(200, "late")),
    );
    let err = one(
        &clock,
        async move { c.get("http://svc.test/slow").send().await },
    )
    .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(err.http_status(), 504);
    assert_eq!(
        err.trace().unwrap().attempts.len(),
        2,
        "a timeout is retried"
    );
    assert_eq!(t.sends(), 2);
    assert_eq!(*t.limits(), [Some(Duration::from_secs(2)); 2]);
    assert!(
        clock.now() < Timestamp::from_secs(10),
        "did not wait for the 60 s answer"
    );
}

#[test]
fn a_request_deadline_cuts_the_attempt_and_keeps_the_trace() {
    // Each attempt takes 400 ms and answers 503; the request may take 1 s in all.
    let (c, t, clock) = client(|_, _| (400 * MS, ok(503, "")));
    let err = one(&clock, async move {
        c.get("http://svc.test/slow")
            .timeout(Duration::from_secs(1))
            .send()
            .await
    })
    .unwrap_err();
    // Attempt 1: 0–400 ms (503); retry at 650 ms with 350 ms left; cut off at 1 s.
    assert!(err.is_timeout(), "{err:?}");
    let trace = err.trace().expect("the trace survives the deadline");
    assert_eq!(trace.attempts.len(), 2, "{}", trace.summary());
    assert_eq!(
        trace.attempts[1].next,
        AttemptNext::GiveUp {
            reason: GiveUpReason::DeadlineExceeded
        }
    );
    assert_eq!(trace.total, Duration::from_secs(1));
    assert_eq!(*t.limits(), [Some(Duration::from_secs(1)), Some(350 * MS)]);
    assert_eq!(
        clock.now(),
        Timestamp::from_secs(1),
        "nothing ran past the deadline"
    );
}

#[test]
fn a_follower_past_its_deadline_expires_with_its_trace() {
    let (c, t, clock) = client_with(
        |b: Builder| b.timeout(Duration::from_secs(20)),
        cacheable("v", Duration::from_secs(10)),
    );
    let (leader, follower) = (c.clone(), c.clone());
    let tasks: Vec<Task<Stamped>> = vec![
        Box::pin({
            let clock = clock.clone();
            async move {
                let r = leader.get("http://svc.test/doc").send().await;
                r.map(|r| (r.status().as_u16(), clock.now()))
                    .map_err(|e| (e, clock.now()))
            }
        }),
        Box::pin({
            let clock = clock.clone();
            async move {
                let r = follower
                    .get("http://svc.test/doc")
                    .timeout(500 * MS)
                    .send()
                    .await;
                r.map(|r| (r.status().as_u16(), clock.now()))
                    .map_err(|e| (e, clock.now()))
            }
        }),
    ];
    let mut out = run_all(&clock, tasks, 100);
    let (err, at) = out.pop().unwrap().expect_err("the follower timed out");
    assert_eq!(
        at,
        Timestamp::from_millis(500),
        "it waited no longer than its deadline"
    );
    assert!(err.is_timeout(), "{err:?}");
    let trace = err.trace().expect("with its trace");
    assert_eq!(trace.cache, CacheTrace::Coalesced);
    assert_eq!(trace.total, 500 * MS);
    assert_eq!(
        out.pop().unwrap().unwrap(),
        (200, Timestamp::from_secs(10)),
        "the leader finished"
    );
    assert_eq!(t.sends(), 1);
    assert_eq!(
        c.engine_snapshot().in_flight,
        0,
        "nothing leaks in the engine"
    );
    assert_eq!(c.metrics().failed_requests, 1);
}

#[test]
fn single_flight_through_the_client_sends_once_for_100_callers() {
    let (c, t, clock) = client(cacheable("same", 50 * MS));
    let tasks: Vec<Task<_>> = (0..100)
        .map(|_| {
            let c = c.clone();
            Box::pin(async move { c.get("http://svc.test/hot").send().await }) as Task<_>
        })
        .collect();
    let results = run_all(&clock, tasks, 100);
    assert_eq!(t.sends(), 1);
    let coalesced = results
        .iter()
        .map(|r: &Result<tether_core::client::Response, Error>| r.as_ref().expect("all succeed"))
        .inspect(|r| assert_eq!(r.bytes(), "same"))
        .filter(|r| r.trace().cache == CacheTrace::Coalesced)
        .count();
    assert_eq!(coalesced, 99);
}

#[test]
fn dropping_the_leader_hands_the_fetch_to_a_follower() {
    let (c, t, clock) = client(cacheable("v", 100 * MS));
    let (c1, clock1) = (c.clone(), clock.clone());
    // The leader gives up after 10 ms (its future is dropped by the select).
    let leader: Task<Option<u16>> = Box::pin(async move {
        let send = std::pin::pin!(c1.get("http://svc.test/k").send());
        let timer = std::pin::pin!(clock1.sleep(10 * MS));
        match futures::future::select(send, timer).await {
            futures::future::Either::Left((r, _)) => r.ok().map(|r| r.status().as_u16()),
            futures::future::Either::Right(_) => None,
        }
    });
    let c2 = c.clone();
    let follower: Task<Option<u16>> = Box::pin(async move {
        c2.get("http://svc.test/k")
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16())
    });
    let out = run_all(&clock, vec![leader, follower], 100);
    assert_eq!(
        out,
        vec![None, Some(200)],
        "the follower still gets its answer"
    );
    assert_eq!(t.sends(), 2, "the follower fetched after the leader left");
    assert_eq!(
        c.engine_snapshot().in_flight,
        0,
        "nothing leaks in the engine"
    );
}

/// What [`recording_hooks`] records: the events (as text), and the failures reported.
type Events = Rc<RefCell<Vec<String>>>;
type Failures = Rc<RefCell<Vec<HookFailure>>>;

/// Local hooks (with `Rc` state: not `Send`, and need not be) that record what they see, and
/// fail in every way a hook can: an `Err`, a panic, a panic inside an async hook.
fn recording_hooks(clock: &VirtualClock) -> (LocalHooks, Events, Failures) {
    let hooks = LocalHooks::new();
    let seen: Events = Rc::default();
    let failures: Failures = Rc::default();
    let log = Rc::clone(&seen);
    hooks.add_request_hook(move |e, headers| {
        log.borrow_mut().push(format!("{e:?}"));
        headers.insert("x-trace", "abc".parse().unwrap());
        Ok(())
    });
    let hook_clock = clock.clone();
    hooks.add_async_request_hook(move |_e, mut headers| {
        let clock = hook_clock.clone();
        async move {
            clock.sleep(10 * MS).await;
            headers.insert("x-async", "1".parse().unwrap());
            Ok(headers)
        }
    });
    hooks.add_request_hook(|_, _| panic!("request hook panicked"));
    let log = Rc::clone(&seen);
    hooks.add_response_hook(move |e| {
        log.borrow_mut().push(format!("{e:?}"));
        Err("response hook broke".into())
    });
    let log = Rc::clone(&seen);
    hooks.add_async_error_hook(move |e| {
        log.borrow_mut().push(format!("{e:?}"));
        async move { panic!("error hook panicked") }
    });
    let sink = Rc::clone(&failures);
    hooks.add_failure_hook(move |f| sink.borrow_mut().push(f.clone()));
    (hooks, seen, failures)
}

#[test]
#[cfg_attr(
    target_arch = "wasm32",
    ignore = "wasm32 aborts on panic: a panicking hook or job cannot be caught there"
)]
fn local_hooks_may_be_async_see_redacted_events_and_never_break_requests() {
    let rt = VirtualRuntime::default();
    let clock = rt.clock.clone();
    let transport = ScriptedTransport::new(&clock, |req, _| {
        if req.uri().path() == "/down" {
            (MS, fail(TransportErrorKind::Connect))
        } else {
            (MS, ok(200, "ok"))
        }
    });
    let (hooks, seen, failures) = recording_hooks(&clock);
    let c: Client = HttpClientBuilder::new(transport.clone(), rt)
        .hooks(hooks)
        .max_retries(0)
        .build()
        .unwrap();
    let c2 = c.clone();
    let tasks: Vec<Task<_>> = vec![
        Box::pin(async move {
            c.get("http://svc.test/ok?api_key=SECRET1&page=2")
                .bearer_auth("SECRET2")
                .service("svc")
                .send()
                .await
                .map(|r| r.status().as_u16())
                .map_err(|e| e.kind())
        }),
        Box::pin(async move {
            c2.get("http://svc.test/down")
                .service("svc")
                .send()
                .await
                .map(|r| r.status().as_u16())
                .map_err(|e| e.kind())
        }),
    ];
    let out = run_all(&clock, tasks, 100);
    assert_eq!(
        out[0],
        Ok(200),
        "a failing response hook does not fail the request"
    );
    assert_eq!(
        out[1],
        Err("connect"),
        "a panicking error hook does not change the error"
    );
    let sent = transport.sent();
    assert_eq!(
        sent[0].1.headers()["x-trace"],
        "abc",
        "a request hook adds headers"
    );
    assert_eq!(sent[0].1.headers()["x-async"], "1", "so does an async one");
    assert_eq!(
        sent[0].0,
        Timestamp::from_millis(10),
        "the async hook was awaited first"
    );
    let shown = seen.borrow().join("\n");
    assert!(!shown.contains("SECRET"), "secrets reached a hook: {shown}");
    assert!(shown.contains("page=2"));
    let failures = failures.borrow();
    for (stage, message) in [
        (HookStage::Request, "request hook panicked"),
        (HookStage::Response, "response hook broke"),
        (HookStage::Error, "error hook panicked"),
    ] {
        assert!(
            failures
                .iter()
                .any(|f| f.stage == stage && f.message == message),
            "{stage} failure not reported: {failures:?}"
        );
    }
}

/// Hooks written by hand, whose response hook panics: the client reports it.
#[derive(Default)]
struct Panicky {
    failures: RefCell<Vec<HookFailure>>,
}

impl Hooks for Panicky {
    async fn on_response(&self, _event: &ResponseEvent) {
        panic!("hand-written hook panicked")
    }

    fn on_hook_failure(&self, failure: &HookFailure) {
        self.failures.borrow_mut().push(failure.clone());
    }
}

#[test]
#[cfg_attr(
    target_arch = "wasm32",
    ignore = "wasm32 aborts on panic: a panicking hook or job cannot be caught there"
)]
fn a_panicking_hooks_implementation_is_reported_not_propagated() {
    let (c, _, clock) = client_with(|b: Builder<Panicky>| b, |_, _| (MS, ok(200, "ok")));
    let c2 = c.clone();
    let r = one(
        &clock,
        async move { c2.get("http://svc.test/x").send().await },
    );
    assert_eq!(r.unwrap().status(), 200);
    let failures = c.hooks().failures.borrow();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].stage, HookStage::Response);
    assert_eq!(failures[0].message, "hand-written hook panicked");
}

#[test]
fn requests_are_built_with_any_method_auth_query_and_bodies() {
    let (c, t, clock) = client(|_, _| (MS, ok(200, "ok")));
    let c2 = c.clone();
    one(&clock, async move {
        let purge = Method::from_bytes(b"PURGE").unwrap();
        c2.request(purge, "http://cdn.test/a.css")
            .send()
            .await
            .unwrap();
        c2.get("http://svc.test/s?fixed=1#frag")
            .query(&[("q", "a b&c")])
            .basic_auth("user", Some("pw"))
            .header("x-multi", "1")
            .header("x-multi", "2")
            .send()
            .await
            .unwrap();
        c2.post("http://svc.test/form")
            .form(&[("a", "1 2")])
            .send()
            .await
            .unwrap();
        c2.put("http://svc.test/json")
            .json(&serde_json::json!({"n": 1}))
            .header("content-type", "application/vnd.x+json")
            .send()
            .await
            .unwrap();
    });
    let sent = t.sent();
    assert_eq!(sent[0].1.method().as_str(), "PURGE");
    let get = &sent[1].1;
    assert_eq!(get.uri().to_string(), "http://svc.test/s?fixed=1&q=a+b%26c");
    assert_eq!(get.headers()["authorization"], "Basic dXNlcjpwdw==");
    assert!(get.headers()["authorization"].is_sensitive());
    assert_eq!(get.headers().get_all("x-multi").iter().count(), 2);
    assert_eq!(
        get.headers()["accept"],
        "application/json",
        "default header"
    );
    assert!(
        get.headers()["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("tether/")
    );
    let form = &sent[2].1;
    assert_eq!(form.body(), "a=1+2");
    assert_eq!(
        form.headers()["content-type"],
        "application/x-www-form-urlencoded"
    );
    let json = &sent[3].1;
    assert_eq!(json.body(), r#"{"n":1}"#);
    assert_eq!(
        json.headers()["content-type"],
        "application/vnd.x+json",
        "a later Content-Type wins"
    );
    let built = c
        .get("http://svc.test/")
        .bearer_auth("tok")
        .build()
        .unwrap();
    assert_eq!(built.headers()["authorization"], "Bearer tok");
    assert!(built.headers()["authorization"].is_sensitive());
}

#[test]
fn builder_mistakes_are_errors_from_send_and_nothing_is_sent() {
    let (c, t, clock) = client(|_, _| (MS, ok(200, "ok")));
    let c2 = c.clone();
    let errors = one(&clock, async move {
        vec![
            c2.get("http://svc.test/x")
                .header("x-bad", "line\nbreak")
                .send()
                .await
                .unwrap_err(),
            c2.get("not a url").send().await.unwrap_err(),
            c2.get("http://user:SECRET@svc.test/")
                .send()
                .await
                .unwrap_err(),
            c2.get("ftp://svc.test/").send().await.unwrap_err(),
            c2.post("http://svc.test/x")
                .idempotency_key("bad\nkey")
                .send()
                .await
                .unwrap_err(),
        ]
    });
    let kinds: Vec<_> = errors.iter().map(Error::kind).collect();
    assert_eq!(
        kinds,
        [
            "invalid_header",
            "invalid_url",
            "invalid_url",
            "invalid_url",
            "invalid_header"
        ]
    );
    assert!(
        errors
            .iter()
            .all(|e| e.http_status() == 400 && e.is_request())
    );
    assert!(!format!("{errors:?}").contains("SECRET"));
    assert_eq!(t.sends(), 0);
}

#[test]
fn posts_are_retried_only_with_an_idempotency_key() {
    let (c, t, clock) = client(|_, _| (MS, ok(503, "")));
    let c2 = c.clone();
    let statuses = one(&clock, async move {
        let plain = c2.post("http://svc.test/o").send().await.unwrap();
        let keyed = c2
            .post("http://svc.test/o")
            .idempotency_key("k-1")
            .send()
            .await
            .unwrap();
        (plain.trace().attempts.len(), keyed.trace().attempts.len())
    });
    assert_eq!(statuses, (1, 4));
    assert_eq!(t.sent()[1].1.headers()["idempotency-key"], "k-1");
}

#[test]
fn a_closed_client_refuses_requests() {
    let (c, t, clock) = client(|_, _| (MS, ok(200, "ok")));
    c.close();
    let r = one(
        &clock,
        async move { c.get("http://svc.test/x").send().await },
    );
    assert!(matches!(r, Err(Error::Closed)));
    assert_eq!(t.sends(), 0);
}

#[test]
fn the_background_driver_refreshes_stale_entries_and_stops_on_close() {
    let mut calls = 0;
    let (c, t, clock) = client(move |_, _| {
        calls += 1;
        (
            10 * MS,
            respond(
                200,
                &[("cache-control", "max-age=1, stale-while-revalidate=60")],
                &format!("v{calls}"),
            ),
        )
    });
    let driver: Task<Option<String>> = Box::pin(c.run_background().map_none());
    let (c2, clock2) = (c.clone(), clock.clone());
    let user: Task<Option<String>> = Box::pin(async move {
        assert!(c2.background_running());
        let stale = cache_then_go_stale(&c2, &clock2).await;
        assert_eq!(stale.text(), "v1");
        clock2.sleep(100 * MS).await;
        let fresh = c2.get("http://svc.test/doc").send().await.unwrap();
        c2.close();
        Some(fresh.text())
    });
    let out = run_all(&clock, vec![driver, user], 1000);
    assert_eq!(out[1].as_deref(), Some("v2"), "refreshed in the background");
    assert_eq!(t.sends(), 2);
}

/// Fetches `/doc` (cacheable for 1 s, then stale-while-revalidate), waits 2 s, and fetches it
/// again: served stale, with a background refresh asked for.
async fn cache_then_go_stale(c: &Client, clock: &VirtualClock) -> tether_core::client::Response {
    c.get("http://svc.test/doc").send().await.unwrap();
    clock.sleep(Duration::from_secs(2)).await;
    let stale = c.get("http://svc.test/doc").send().await.unwrap();
    assert_eq!(
        stale.trace().cache,
        CacheTrace::Stale { revalidating: true }
    );
    stale
}

/// `Some` → `None`: lets a `()` future share a task list with others.
trait MapNone: Future<Output = ()> + Sized + 'static {
    fn map_none<T>(self) -> impl Future<Output = Option<T>> {
        async move {
            self.await;
            None
        }
    }
}

impl<F: Future<Output = ()> + 'static> MapNone for F {}

#[test]
fn dropping_the_background_driver_mid_refresh_leaks_nothing() {
    let mut calls = 0;
    let (c, t, clock) = client(move |_, _| {
        calls += 1;
        let latency = if calls == 1 {
            10 * MS
        } else {
            Duration::from_secs(10)
        };
        (
            latency,
            respond(
                200,
                &[("cache-control", "max-age=1, stale-while-revalidate=60")],
                "v",
            ),
        )
    });
    let (c1, clock1) = (c.clone(), clock.clone());
    let driver: Task<Option<usize>> = Box::pin(async move {
        // The background driver runs for 3 s, then its future is dropped mid-refresh.
        let run = std::pin::pin!(c1.run_background());
        let stop = std::pin::pin!(clock1.sleep(Duration::from_secs(3)));
        let _ = futures::future::select(run, stop).await;
        None
    });
    let (c2, clock2) = (c.clone(), clock.clone());
    let user: Task<Option<usize>> = Box::pin(async move {
        cache_then_go_stale(&c2, &clock2).await;
        clock2.sleep(Duration::from_secs(5)).await;
        let in_flight = c2.engine_snapshot().in_flight;
        assert!(
            !c2.background_running(),
            "the dropped driver gave its slot back"
        );
        // Past the stale-while-revalidate window: this request must fetch, not wait on the
        // dropped refresh's flight.
        clock2.sleep(Duration::from_secs(70)).await;
        let late = c2.get("http://svc.test/doc").send().await.unwrap();
        assert_eq!(late.status(), 200);
        Some(in_flight)
    });
    let out = run_all(&clock, vec![driver, user], 1000);
    assert_eq!(
        out[1],
        Some(0),
        "the cancelled refresh left nothing in the engine"
    );
    assert_eq!(
        t.sends(),
        3,
        "first fetch, the abandoned refresh, the late fetch"
    );
}

#[test]
fn service_clients_confine_endpoints_map_statuses_and_probe_health() {
    let (c, t, clock) = client_with(
        |b: Builder| b.max_retries(0),
        |req, _| match req.uri().path() {
            "/api/health" => (5 * MS, ok(200, "up")),
            "/api/users/1" => (5 * MS, ok(200, r#"{"id":1}"#)),
            _ => (
                5 * MS,
                respond(
                    404,
                    &[("content-type", "application/json")],
                    r#"{"detail":"no such user"}"#,
                ),
            ),
        },
    );
    let users = ServiceClient::with_client("users", "http://users.test/api/", c.clone()).unwrap();
    assert_eq!(users.base_url(), "http://users.test/api");
    let u2 = users.clone();
    let (user, missing, escaped, health) = one(&clock, async move {
        let user: serde_json::Value = u2.get("/users/1").send_json().await.unwrap();
        let missing = u2.get("/users/2").send().await.unwrap_err();
        let escaped = u2.get("@evil.test/x").send().await.unwrap_err();
        let health = u2.health_check().await;
        (user, missing, escaped, health)
    });
    assert_eq!(user["id"], 1);
    assert!(missing.is_status());
    assert_eq!(
        missing.to_string(),
        "Service users returned 404: no such user"
    );
    assert_eq!(missing.http_status(), 404);
    assert!(
        matches!(escaped, Error::InvalidEndpoint { .. }),
        "{escaped:?}"
    );
    assert!(health.healthy);
    assert_eq!(health.status_code, Some(200));
    assert!(
        (health.check_time - 0.005).abs() < 1e-9,
        "{}",
        health.check_time
    );
    assert_eq!(t.sends(), 3, "the escaping endpoint was never sent");
    let m = users.metrics();
    assert_eq!((m.total_requests, m.failed_requests), (2, 1));
    assert_eq!(users.circuit_breaker_state().state, "CLOSED");
    assert!(
        ServiceClient::with_client("x", "http://x.test/", c.clone())
            .is_ok_and(|s| s.post("/../admin").build().is_err())
    );
}

#[test]
fn background_health_checks_use_the_same_probe() {
    let (c, t, clock) = client_with(
        |b: Builder| {
            b.configure_engine(|e| {
                e.health.check_interval = Duration::from_secs(5);
            })
        },
        |req, now| {
            assert_eq!(req.uri().path(), "/health");
            // Healthy for the first 8 s, then down.
            if now < Timestamp::from_secs(8) {
                (5 * MS, ok(200, "up"))
            } else {
                (5 * MS, ok(503, "down"))
            }
        },
    );
    let users = ServiceClient::with_client("users", "http://users.test", c.clone()).unwrap();
    users.enable_health_checks();
    let driver: Task<Option<HealthStatus>> = Box::pin(c.run_background().map_none());
    let (c2, clock2) = (c.clone(), clock.clone());
    let watcher: Task<Option<HealthStatus>> = Box::pin(async move {
        clock2.sleep(Duration::from_secs(6)).await;
        let early = c2.with_engine(|e, _, _| e.health_status("users"));
        assert_eq!(early, HealthStatus::Healthy);
        clock2.sleep(Duration::from_secs(6)).await;
        let late = c2.with_engine(|e, _, _| e.health_status("users"));
        c2.close();
        Some(late)
    });
    let out = run_all(&clock, vec![driver, watcher], 1000);
    assert_eq!(out[1], Some(HealthStatus::Unhealthy));
    assert!(t.sends() >= 2, "checked at least twice");
}

#[test]
fn the_registry_is_named_bounded_and_reports_all_metrics() {
    let rt = VirtualRuntime::default();
    let clock = rt.clock.clone();
    let transport = ScriptedTransport::new(&clock, |_, _| (MS, ok(200, "{}")));
    let registry: Registry<ScriptedTransport, VirtualRuntime, LocalHooks> =
        Registry::with_builder(2, HttpClientBuilder::new(transport.clone(), rt));
    let a = registry.get_or_create("a", "http://a.test").unwrap();
    registry.get_or_create("b", "http://b.test/").unwrap();
    assert_eq!(
        registry
            .get_or_create("a", "http://elsewhere.test")
            .unwrap()
            .base_url(),
        "http://a.test"
    );
    assert!(matches!(
        registry.get_or_create("c", "http://c.test"),
        Err(Error::RegistryFull { max: 2 })
    ));
    assert_eq!(registry.names(), ["a", "b"]);
    one(&clock, async move { a.get("/x").send().await.unwrap() });
    let all = registry.all_metrics();
    assert_eq!(all.service_clients["a"].total_requests, 1);
    assert_eq!(all.service_clients["b"].total_requests, 0);
    registry.close_all();
    assert!(registry.is_empty());
}

#[test]
fn exports_are_one_call_away() {
    let (c, _, clock) = client(|_, _| (MS, ok(200, "ok")));
    let c2 = c.clone();
    one(&clock, async move {
        c2.get("http://svc.test/x")
            .service("svc")
            .send()
            .await
            .unwrap()
    });
    let prom = c.prometheus();
    assert!(
        prom.contains("service_requests_total{service=\"svc\"} 1"),
        "{prom}"
    );
    let json: serde_json::Value = serde_json::from_str(&c.export("json").unwrap()).unwrap();
    assert!(json["metrics"].is_object(), "{json}");
    assert!(c.export("influxdb").unwrap().contains("svc"));
    assert!(matches!(c.export("yaml"), Err(ExportError::UnknownFormat(name)) if name == "yaml"));
}

/// A batcher on a virtual runtime, and its driver as a task that yields nothing.
fn batcher<T: 'static>(
    config: BatchConfig,
) -> (
    VirtualClock,
    RequestBatcher<VirtualRuntime, LocalJob>,
    Task<Vec<T>>,
) {
    let rt = VirtualRuntime::default();
    let clock = rt.clock.clone();
    let (batcher, driver) = RequestBatcher::with_driver(config, rt).unwrap();
    let task: Task<Vec<T>> = Box::pin(async move {
        driver.await;
        Vec::new()
    });
    (clock, batcher, task)
}

#[test]
#[cfg_attr(
    target_arch = "wasm32",
    ignore = "wasm32 aborts on panic: a panicking hook or job cannot be caught there"
)]
fn batches_are_bounded_timed_and_ordered_on_any_runtime() {
    let (clock, batcher, driver) = batcher(BatchConfig {
        max_batch_size: 3,
        max_wait: 50 * MS,
        max_in_flight_batches: 2,
        max_queued_items: 100,
    });
    let running = Rc::new(Cell::new(0));
    let peak = Rc::new(Cell::new(0));
    let (r, p, k) = (Rc::clone(&running), Rc::clone(&peak), clock.clone());
    let job = move |i: u32| {
        let (running, peak, clock) = (Rc::clone(&r), Rc::clone(&p), k.clone());
        move || async move {
            running.set(running.get() + 1);
            peak.set(peak.get().max(running.get()));
            clock.sleep(100 * MS).await;
            running.set(running.get() - 1);
            i * 10
        }
    };
    let clock2 = clock.clone();
    let user: Task<Vec<Result<u32, JobError>>> = Box::pin(async move {
        // One job alone starts after `max_wait`.
        let single = batcher.add(job(99)).await;
        assert_eq!(single, Ok(990));
        assert_eq!(
            clock2.now(),
            Timestamp::from_millis(150),
            "50 ms wait + 100 ms work"
        );
        let mut results = batcher.submit((0..8).map(job)).await;
        results.push(batcher.add(|| async { panic!("job panicked") }).await);
        batcher.close().await;
        results
    });
    let out = run_all(&clock, vec![driver, user], 1000);
    let results = &out[1];
    let expected: Vec<Result<u32, JobError>> = (0..8)
        .map(|i| Ok(i * 10))
        .chain([Err(JobError::Panicked)])
        .collect();
    assert_eq!(*results, expected, "in input order");
    assert_eq!(peak.get(), 6, "at most 2 batches of 3 at once");
}

#[test]
fn a_full_batch_queue_refuses_jobs() {
    let (clock, batcher, driver) = batcher(BatchConfig {
        max_batch_size: 10,
        max_wait: Duration::from_secs(1),
        max_in_flight_batches: 1,
        max_queued_items: 2,
    });
    let clock2 = clock.clone();
    let user: Task<Vec<Result<u8, JobError>>> = Box::pin(async move {
        let handles: Vec<_> = (0..3_u8)
            .map(|i| batcher.add(move || async move { i }))
            .collect();
        let results = futures::future::join_all(handles).await;
        assert_eq!(
            clock2.now(),
            Timestamp::from_secs(1),
            "the two queued jobs waited max_wait"
        );
        drop(batcher);
        results
    });
    let out = run_all(&clock, vec![driver, user], 100);
    assert_eq!(out[1], [Ok(0), Ok(1), Err(JobError::QueueFull)]);
}
