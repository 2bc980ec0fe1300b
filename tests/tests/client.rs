//! The async `Client` driver on a virtual runtime: real futures, real waits, virtual time.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::HeaderMap;
use tether_core::Backoff;
use tether_core::{
    CacheTrace, Client, ClientError, EngineConfig, ErrorEvent, HookFailure, Hooks, RequestEvent,
    ResponseEvent, Timestamp, TransportErrorKind,
};
use tether_tests::virtual_rt::{ScriptedTransport, VirtualClock, VirtualRuntime, run_all};
use tether_tests::{fail, get, ok, request, respond};

const MS: Duration = Duration::from_millis(1);

type Task<T> = Pin<Box<dyn Future<Output = T>>>;

fn client(
    config: EngineConfig,
    script: impl FnMut(&tether_core::Request, Timestamp) -> (Duration, tether_core::Outcome) + 'static,
    hooks: Vec<Arc<dyn Hooks>>,
) -> (
    Client<ScriptedTransport, VirtualRuntime>,
    ScriptedTransport,
    VirtualClock,
) {
    let rt = VirtualRuntime::default();
    let clock = rt.clock.clone();
    let transport = ScriptedTransport::new(&clock, script);
    let c = Client::with_hooks(config, transport.clone(), rt, hooks).expect("valid config");
    (c, transport, clock)
}

fn config() -> EngineConfig {
    let mut c = EngineConfig::default();
    c.retry.backoff = Backoff::Constant(250 * MS);
    c
}

#[test]
fn retries_sleep_on_the_runtime_and_honour_retry_after() {
    let mut n = 0;
    let (c, t, clock) = client(
        config(),
        move |_, _| {
            n += 1;
            match n {
                1 => (10 * MS, respond(503, &[("retry-after", "30")], "")),
                2 => (10 * MS, ok(502, "")),
                _ => (10 * MS, ok(200, "done")),
            }
        },
        vec![],
    );
    let task: Task<_> = Box::pin(async move { c.send(get("http://svc.test/x"), None).await });
    let r = run_all(&clock, vec![task], 100)
        .pop()
        .unwrap()
        .expect("a response");
    assert_eq!(r.response.status(), 200);
    assert_eq!(t.sends(), 3);
    let sent = t.sent.borrow();
    let gap1 = sent[1].0.saturating_duration_since(sent[0].0);
    let gap2 = sent[2].0.saturating_duration_since(sent[1].0);
    assert!(
        gap1 >= Duration::from_secs(30),
        "Retry-After 30 s honoured ({gap1:?})"
    );
    assert_eq!(gap2, 260 * MS, "then plain backoff");
    assert_eq!(r.trace.retries(), 2);
}

#[test]
fn the_attempt_timeout_races_the_transport() {
    let mut cfg = config();
    cfg.attempt_timeout = Some(Duration::from_secs(2));
    cfg.retry.max_attempts = 2;
    let (c, t, clock) = client(
        cfg,
        |_, _| (Duration::from_secs(60), ok(200, "late")),
        vec![],
    );
    let task: Task<_> = Box::pin(async move { c.send(get("http://svc.test/slow"), None).await });
    let err = run_all(&clock, vec![task], 100).pop().unwrap().unwrap_err();
    match &err {
        ClientError::Transport { error, trace, .. } => {
            assert_eq!(error.kind, TransportErrorKind::Timeout);
            assert_eq!(trace.attempts.len(), 2, "a timeout is retried");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(t.sends(), 2);
    assert!(
        clock.now() < Timestamp::from_secs(10),
        "did not wait for the 60 s answer"
    );
}

#[test]
fn single_flight_through_the_client_sends_once_for_100_callers() {
    let mut cfg = config();
    cfg.cache.enabled = true;
    let (c, t, clock) = client(
        cfg,
        |_, _| {
            (
                50 * MS,
                respond(200, &[("cache-control", "max-age=60")], "same"),
            )
        },
        vec![],
    );
    let tasks: Vec<Task<_>> = (0..100)
        .map(|_| {
            let c = c.clone();
            Box::pin(async move { c.send(get("http://svc.test/hot"), None).await }) as Task<_>
        })
        .collect();
    let results = run_all(&clock, tasks, 100);
    assert_eq!(t.sends(), 1);
    let coalesced = results
        .iter()
        .map(|r: &Result<tether_core::ClientResponse, ClientError>| {
            r.as_ref().expect("all succeed")
        })
        .inspect(|r| assert_eq!(r.response.body(), "same"))
        .filter(|r| r.trace.cache == CacheTrace::Coalesced)
        .count();
    assert_eq!(coalesced, 99);
}

#[test]
fn dropping_the_leader_hands_the_fetch_to_a_follower() {
    let mut cfg = config();
    cfg.cache.enabled = true;
    let (c, t, clock) = client(
        cfg,
        |_, _| {
            (
                100 * MS,
                respond(200, &[("cache-control", "max-age=60")], "v"),
            )
        },
        vec![],
    );
    let c1 = c.clone();
    let clock1 = clock.clone();
    // The leader gives up after 10 ms (its future is dropped by the select).
    let leader: Task<Option<u16>> = Box::pin(async move {
        let send = std::pin::pin!(c1.send(get("http://svc.test/k"), None));
        let timer = std::pin::pin!(clock1.sleep(10 * MS));
        match futures::future::select(send, timer).await {
            futures::future::Either::Left((r, _)) => r.ok().map(|r| r.response.status().as_u16()),
            futures::future::Either::Right(_) => None,
        }
    });
    let c2 = c.clone();
    let follower: Task<Option<u16>> = Box::pin(async move {
        c2.send(get("http://svc.test/k"), None)
            .await
            .ok()
            .map(|r| r.response.status().as_u16())
    });
    let out = run_all(&clock, vec![leader, follower], 100);
    assert_eq!(
        out,
        vec![None, Some(200)],
        "the follower still gets its answer"
    );
    assert_eq!(t.sends(), 2, "the follower fetched after the leader left");
    let snap = c.with_engine(|e| e.snapshot(Timestamp::ZERO, tether_core::WallClock::EPOCH));
    assert_eq!(snap.in_flight, 0, "nothing leaks in the engine");
}

#[derive(Default)]
struct Recorder {
    requests: Mutex<Vec<RequestEvent>>,
    responses: Mutex<Vec<ResponseEvent>>,
    errors: Mutex<Vec<ErrorEvent>>,
    failures: Mutex<Vec<HookFailure>>,
}

impl Hooks for Recorder {
    fn on_request(&self, e: &RequestEvent, headers: &mut HeaderMap) -> Result<(), String> {
        self.requests.lock().unwrap().push(e.clone());
        headers.insert("x-trace", "abc".parse().unwrap());
        Ok(())
    }
    fn on_response(&self, e: &ResponseEvent) -> Result<(), String> {
        self.responses.lock().unwrap().push(e.clone());
        Err("response hook broke".into())
    }
    fn on_error(&self, e: &ErrorEvent) -> Result<(), String> {
        self.errors.lock().unwrap().push(e.clone());
        panic!("error hook panicked");
    }
    fn on_hook_failure(&self, f: &HookFailure) {
        self.failures.lock().unwrap().push(f.clone());
    }
}

#[test]
fn hooks_see_redacted_events_change_headers_and_never_break_requests() {
    let rec = Arc::new(Recorder::default());
    let (c, t, clock) = client(
        config(),
        |req, _| {
            if req.uri().path() == "/down" {
                (MS, fail(TransportErrorKind::Connect))
            } else {
                (MS, ok(200, "ok"))
            }
        },
        vec![rec.clone() as Arc<dyn Hooks>],
    );
    let c2 = c.clone();
    let tasks: Vec<Task<_>> = vec![
        Box::pin(async move {
            c.send(
                request(
                    "GET",
                    "http://svc.test/ok?api_key=SECRET1&page=2",
                    &[("authorization", "Bearer SECRET2")],
                    "",
                ),
                Some("svc"),
            )
            .await
            .map(|r| r.response.status().as_u16())
            .map_err(|e| e.kind())
        }),
        Box::pin(async move {
            c2.send(get("http://svc.test/down"), Some("svc"))
                .await
                .map(|r| r.response.status().as_u16())
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
    assert_eq!(
        t.sent.borrow()[0].1.headers()["x-trace"],
        "abc",
        "a request hook can add headers"
    );
    let shown = format!(
        "{:?}{:?}{:?}",
        rec.requests.lock().unwrap(),
        rec.responses.lock().unwrap(),
        rec.errors.lock().unwrap()
    );
    assert!(!shown.contains("SECRET"), "secrets reached a hook: {shown}");
    assert!(shown.contains("page=2"));
    let failures = rec.failures.lock().unwrap();
    assert!(
        failures
            .iter()
            .any(|f| f.hook == "response" && f.message == "response hook broke")
    );
    assert!(
        failures
            .iter()
            .any(|f| f.hook == "error" && f.message == "error hook panicked")
    );
}

#[test]
fn a_closed_client_refuses_requests() {
    let (c, t, clock) = client(config(), |_, _| (MS, ok(200, "ok")), vec![]);
    c.close();
    let task: Task<_> = Box::pin(async move { c.send(get("http://svc.test/x"), None).await });
    let r = run_all(&clock, vec![task], 10).pop().unwrap();
    assert!(matches!(r, Err(ClientError::Closed)));
    assert_eq!(t.sends(), 0);
}

#[test]
fn dropping_the_background_driver_mid_refresh_leaks_nothing() {
    let mut cfg = config();
    cfg.cache.enabled = true;
    let mut calls = 0;
    let (c, t, clock) = client(
        cfg,
        move |_, _| {
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
        },
        vec![],
    );
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
        c2.send(get("http://svc.test/doc"), None).await.unwrap();
        clock2.sleep(Duration::from_secs(2)).await;
        let stale = c2.send(get("http://svc.test/doc"), None).await.unwrap();
        assert_eq!(stale.trace.cache, CacheTrace::Stale { revalidating: true });
        clock2.sleep(Duration::from_secs(5)).await;
        let in_flight = c2.with_engine(|e| {
            e.snapshot(Timestamp::ZERO, tether_core::WallClock::EPOCH)
                .in_flight
        });
        // Past the stale-while-revalidate window: this request must fetch, not wait on the
        // dropped refresh's flight.
        clock2.sleep(Duration::from_secs(70)).await;
        let late = c2.send(get("http://svc.test/doc"), None).await.unwrap();
        assert_eq!(late.response.status(), 200);
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
