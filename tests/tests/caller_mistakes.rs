//! A caller's mistake is not an upstream failure, on the virtual runtime: malformed requests
//! against a service — refused by the builder, by the engine, or by a transport that cannot
//! put them on the wire — leave its breaker closed and its metrics clean, and the next valid
//! request to the healthy upstream succeeds.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use http::Method;
use tether_core::client::{ErrorEvent, HttpClient, HttpClientBuilder, LocalHooks, RequestBuilder};
use tether_core::{Request, Timestamp, TransportError, TransportErrorKind};
use tether_tests::leaks::{caller_mistakes, touchy_breaker};
use tether_tests::ok;
use tether_tests::virtual_rt::{ScriptedTransport, VirtualClock, VirtualRuntime, run_all};

const MS: Duration = Duration::from_millis(1);

type Client = HttpClient<ScriptedTransport, VirtualRuntime, LocalHooks>;
type Builder = RequestBuilder<ScriptedTransport, VirtualRuntime, LocalHooks>;

/// What a strict transport refuses to put on the wire. Today's transports report such
/// refusals as failures of their own (`Other`, `Protocol`), which a breaker counts; the engine
/// now refuses them first. `x-only-the-transport-knows` stands for a refusal only the
/// transport can make: it reports it as `InvalidRequest`.
fn strict_upstream(request: &Request, _: Timestamp) -> (Duration, tether_core::Outcome) {
    let h = request.headers();
    let framing = h.contains_key("transfer-encoding")
        || h.contains_key("connection")
        || h.get("content-length").is_some_and(|v| {
            v.to_str().ok().and_then(|v| v.parse::<usize>().ok()) != Some(request.body().len())
        })
        || (request.method() == Method::HEAD && !request.body().is_empty())
        || request.method() == Method::CONNECT;
    if framing {
        return (
            MS,
            Err(TransportError::new(
                TransportErrorKind::Other,
                "request refused: framing",
            )),
        );
    }
    if h.contains_key("x-only-the-transport-knows") {
        return (
            MS,
            Err(TransportError::new(
                TransportErrorKind::InvalidRequest,
                "request refused: cannot encode x-only-the-transport-knows",
            )),
        );
    }
    (10 * MS, ok(200, "healthy"))
}

type Errors = Rc<RefCell<Vec<ErrorEvent>>>;

/// A client over the strict upstream whose breaker opens after two failures, and the error
/// events its hooks saw.
fn strict_client() -> (Client, ScriptedTransport, VirtualClock, Errors) {
    let rt = VirtualRuntime::default();
    let clock = rt.clock.clone();
    let transport = ScriptedTransport::new(&clock, strict_upstream);
    let hooks = LocalHooks::new();
    let errors: Rc<RefCell<Vec<ErrorEvent>>> = Rc::default();
    let sink = Rc::clone(&errors);
    hooks.add_error_hook(move |e| {
        sink.borrow_mut().push(e.clone());
        Ok(())
    });
    let client: Client = HttpClientBuilder::new(transport.clone(), rt)
        .hooks(hooks)
        .max_retries(2)
        .breaker(touchy_breaker())
        .build()
        .unwrap();
    (client, transport, clock, errors)
}

/// The shared mistakes, plus a refusal only the transport can make.
fn mistakes(client: &Client, url: &str) -> Vec<(&'static str, Builder)> {
    let mut all = caller_mistakes(client, url);
    all.push((
        "a header only the transport refuses",
        client.get(url).header("x-only-the-transport-knows", "1"),
    ));
    all
}

#[test]
fn caller_mistakes_never_open_the_breaker_nor_count_as_failures() {
    let (client, transport, clock, errors) = strict_client();
    let url = "http://svc.test/orders";
    let mistakes = mistakes(&client, url);
    let n = mistakes.len();
    let mut tasks: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = _>>>> = Vec::new();
    for (what, request) in mistakes {
        let c = client.clone();
        tasks.push(Box::pin(async move {
            let e = request.service("orders").send().await.expect_err(what);
            let state = c.circuit_breaker_state("orders");
            (
                what,
                e.is_request(),
                e.http_status(),
                e.kind(),
                state.state,
                state.failure_count,
            )
        }));
    }
    for (what, is_request, status, kind, state, failures) in run_all(&clock, tasks, 1000) {
        assert!(is_request, "{what}: {kind}");
        assert!(matches!(status, 400 | 413 | 422), "{what}: {status}");
        assert_eq!((state, failures), ("CLOSED", 0), "{what}");
    }
    assert_eq!(
        transport.sends(),
        1,
        "only the refusal the transport alone can make reached it, once (never retried)"
    );
    let refused = errors.borrow();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].kind, "invalid_request");

    let c = client.clone();
    let r = run_all(
        &clock,
        vec![Box::pin(async move {
            c.get(url).service("orders").send().await
        })],
        100,
    )
    .pop()
    .unwrap()
    .expect("the healthy upstream answers");
    assert_eq!((r.status().as_u16(), r.text()), (200, "healthy".to_owned()));
    let state = client.circuit_breaker_state("orders");
    assert_eq!((state.state, state.failure_count), ("CLOSED", 0));
    let m = client.service_metrics("orders").expect("tracked");
    assert_eq!(
        (m.total_requests, m.successful_requests, m.failed_requests),
        (1, 1, 0),
        "{n} mistakes, none counted: {m:?}"
    );
    assert!(m.error_counts.is_empty(), "{m:?}");
    assert_eq!(client.metrics().failed_requests, 0);
}
