//! What a frontend's transport and runtime can tell the client layer, on the virtual runtime:
//! requests the transport refuses before the engine sees them (`Transport::check`), a transport
//! that is unusable as configured (`Transport::validate`), a runtime that cannot run here
//! (`Runtime::check`), a runtime that never runs background work (`Spawn::can_spawn`), and the
//! base URL a service's redirects must stay within (`uri::RedirectScope`).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use tether_core::client::{Error, HttpClient, HttpClientBuilder, ServiceClient, SharedHooks};
use tether_core::uri::RedirectScope;
use tether_core::{
    BreakerConfig, ConfigError, Request, RequestError, Runtime, RuntimeUnavailable, Spawn,
    Timestamp, Transport, WallClock,
};
use tether_tests::ok;
use tether_tests::virtual_rt::{ScriptedTransport, VirtualClock, VirtualRuntime, run_all};

const MS: Duration = Duration::from_millis(1);

/// The scripted transport, refusing requests that carry `x-refuse` (as the native transports
/// refuse caller-set framing) and, when `broken`, its own configuration.
#[derive(Clone)]
struct Strict {
    inner: ScriptedTransport,
    broken: bool,
}

impl Transport for Strict {
    type Send = <ScriptedTransport as Transport>::Send;

    fn send(&self, request: Request, timeout: Option<Duration>) -> Self::Send {
        self.inner.send(request, timeout)
    }

    fn check(&self, request: &Request) -> Result<(), RequestError> {
        if request.headers().contains_key("x-refuse") {
            Err(RequestError::Refused {
                reason: "x-refuse is the transport's".into(),
            })
        } else {
            Ok(())
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.broken {
            Err(ConfigError::invalid(
                "native.user_agent",
                "has a line break",
            ))
        } else {
            Ok(())
        }
    }
}

/// The virtual runtime, unavailable when `down`, counting the background drivers it is asked
/// to spawn and saying whether it ever spawns (`spawns`).
#[derive(Clone)]
struct Picky {
    inner: VirtualRuntime,
    down: Rc<Cell<bool>>,
    spawns: bool,
    asked: Rc<Cell<usize>>,
}

impl Picky {
    fn new(spawns: bool) -> Self {
        Picky {
            inner: VirtualRuntime::default(),
            down: Rc::default(),
            spawns,
            asked: Rc::default(),
        }
    }
}

impl Runtime for Picky {
    type Sleep = <VirtualRuntime as Runtime>::Sleep;

    fn now(&self) -> Timestamp {
        self.inner.now()
    }

    fn wall(&self) -> WallClock {
        self.inner.wall()
    }

    fn sleep(&self, duration: Duration) -> Self::Sleep {
        self.inner.sleep(duration)
    }

    fn seed(&self) -> u64 {
        self.inner.seed()
    }

    fn check(&self) -> Result<(), RuntimeUnavailable> {
        if self.down.get() {
            Err(RuntimeUnavailable::new("no executor here"))
        } else {
            Ok(())
        }
    }
}

impl<F> Spawn<F> for Picky {
    fn spawn(&self, _task: F) -> bool {
        self.asked.set(self.asked.get() + 1);
        false
    }

    fn can_spawn(&self) -> bool {
        self.spawns
    }
}

type Client = HttpClient<Strict, Picky, SharedHooks>;

fn client(runtime: &Picky, breaker: u32) -> (Client, ScriptedTransport) {
    let clock = runtime.inner.clock.clone();
    let scripted = ScriptedTransport::new(&clock, |_, _| (MS, ok(200, "ok")));
    let transport = Strict {
        inner: scripted.clone(),
        broken: false,
    };
    let c = HttpClientBuilder::new(transport, runtime.clone())
        .max_retries(0)
        .breaker(BreakerConfig {
            consecutive_failures: Some(breaker),
            ..BreakerConfig::default()
        })
        .build()
        .unwrap();
    (c, scripted)
}

fn one<T: 'static>(clock: &VirtualClock, task: impl Future<Output = T> + 'static) -> T {
    run_all(
        clock,
        vec![Box::pin(task) as Pin<Box<dyn Future<Output = T>>>],
        1000,
    )
    .pop()
    .expect("one result")
}

#[test]
fn a_refused_request_is_the_callers_mistake_and_never_reaches_the_engine() {
    let runtime = Picky::new(true);
    let clock = runtime.inner.clock.clone();
    let (c, t) = client(&runtime, 2);
    let c2 = c.clone();
    let errors = one(&clock, async move {
        let mut errors = Vec::new();
        for _ in 0..5 {
            let e = c2
                .get("http://svc.test/x")
                .header("x-refuse", "1")
                .send()
                .await
                .unwrap_err();
            errors.push(e);
        }
        errors
    });
    for e in &errors {
        assert!(
            matches!(e, Error::Request(RequestError::Refused { .. })),
            "{e:?}"
        );
        assert!(e.is_request());
        assert_eq!(e.http_status(), 400);
        assert!(e.trace().is_none());
    }
    assert_eq!(t.sends(), 0, "nothing was sent");
    let state = c.circuit_breaker_state("svc.test");
    assert_eq!((state.state, state.failure_count), ("CLOSED", 0));
    assert_eq!(c.metrics().total_requests, 0, "the engine never saw them");
    // A request hook that adds the refused header makes the request refused too: the check
    // runs after the hooks.
    c.hooks().add_request_hook(|_, headers| {
        headers.insert("x-refuse", http::HeaderValue::from_static("1"));
        Ok(())
    });
    let c3 = c.clone();
    let e = one(
        &clock,
        async move { c3.get("http://svc.test/y").send().await },
    )
    .unwrap_err();
    assert!(e.is_request(), "{e:?}");
    assert_eq!(t.sends(), 0);
}

#[test]
fn a_transport_that_is_unusable_as_configured_fails_the_build() {
    let runtime = Picky::new(true);
    let clock = runtime.inner.clock.clone();
    let transport = Strict {
        inner: ScriptedTransport::new(&clock, |_, _| (MS, ok(200, ""))),
        broken: true,
    };
    let e = HttpClientBuilder::<_, _, SharedHooks>::new(transport, runtime)
        .build()
        .unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e:?}");
    assert!(e.to_string().contains("native.user_agent"), "{e}");
}

#[test]
fn an_unavailable_runtime_is_a_typed_error_before_anything_starts() {
    let runtime = Picky::new(true);
    let clock = runtime.inner.clock.clone();
    let (c, t) = client(&runtime, 5);
    runtime.down.set(true);
    let c2 = c.clone();
    let e = one(
        &clock,
        async move { c2.get("http://svc.test/x").send().await },
    )
    .unwrap_err();
    assert!(matches!(e, Error::Runtime(_)), "{e:?}");
    assert_eq!(e.kind(), "runtime_unavailable");
    assert_eq!(e.http_status(), 500);
    assert!(e.to_string().contains("no executor here"), "{e}");
    assert_eq!(t.sends(), 0);
    assert_eq!(c.metrics().total_requests, 0);
    // A service's health probe reports it without touching the service's health.
    let svc = ServiceClient::with_client("svc", "http://svc.test", c.clone()).unwrap();
    let health = one(&clock, async move { svc.health_check().await });
    assert!(!health.healthy);
    assert_eq!(health.error.as_deref(), Some("no executor here"));
    assert_eq!(t.sends(), 0);
    runtime.down.set(false);
    let c3 = c.clone();
    let response = one(
        &clock,
        async move { c3.get("http://svc.test/x").send().await },
    )
    .unwrap();
    assert_eq!(response.status(), 200);
}

#[test]
fn a_runtime_that_never_spawns_is_never_asked_to() {
    for spawns in [true, false] {
        let runtime = Picky::new(spawns);
        let clock = runtime.inner.clock.clone();
        let (c, _) = client(&runtime, 5);
        let c2 = c.clone();
        one(&clock, async move {
            for i in 0..10 {
                c2.get(format!("http://svc.test/{i}")).send().await.unwrap();
            }
        });
        // When it may spawn, the client tries at build and with every request (this one
        // refuses each time); when it never does, the client stops asking.
        let asked = runtime.asked.get();
        if spawns {
            assert_eq!(asked, 11);
        } else {
            assert_eq!(asked, 0);
        }
        assert!(!c.background_running());
    }
}

#[test]
fn a_services_requests_carry_its_redirect_scope_to_every_attempt() {
    let runtime = Picky::new(true);
    let clock = runtime.inner.clock.clone();
    let mut n = 0;
    let scripted = ScriptedTransport::new(&clock, move |_, _| {
        n += 1;
        if n == 1 {
            (MS, ok(503, ""))
        } else {
            (MS, ok(200, "ok"))
        }
    });
    let transport = Strict {
        inner: scripted.clone(),
        broken: false,
    };
    let http: Client = HttpClientBuilder::new(transport, runtime)
        .backoff(tether_core::Backoff::Constant(10 * MS))
        .build()
        .unwrap();
    let svc = ServiceClient::with_client("api", "http://svc.test/v1", http.clone()).unwrap();
    let s2 = svc.clone();
    let r = one(&clock, async move { s2.get("/items").send().await }).unwrap();
    assert_eq!(r.status(), 200);
    let sent = scripted.sent();
    assert_eq!(sent.len(), 2, "a retry");
    for (_, request) in sent.iter() {
        let scope = request
            .extensions()
            .get::<RedirectScope>()
            .expect("every attempt carries the service's scope");
        assert_eq!(scope.base().as_str(), "http://svc.test/v1");
        assert!(scope.allows(&"http://svc.test/v1/next".parse().unwrap()));
        assert!(!scope.allows(&"http://svc.test/admin".parse().unwrap()));
        assert!(!scope.allows(&"http://other.test/v1/next".parse().unwrap()));
    }
    drop(sent);
    // A plain request through the same client carries none.
    let h2 = http.clone();
    one(&clock, async move {
        h2.get("http://svc.test/v1/x").send().await.unwrap();
    });
    let sent = scripted.sent();
    assert!(sent[2].1.extensions().get::<RedirectScope>().is_none());
}
