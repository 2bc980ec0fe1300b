//! Secrets never leak, on the virtual runtime: requests carrying credentials under every
//! common name — in headers and in the query — leave no trace of them in hook events,
//! decision traces (JSON and summary), errors (`Display` and `Debug`), `Debug` output of
//! requests and responses, metrics or exports; a transport that quotes the URL in its error
//! is redacted again by the client; ordinary values stay visible.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use tether_core::client::{HttpClient, HttpClientBuilder, LocalHooks, RequestBuilder};
use tether_core::{
    DecisionTrace, Redactor, Request, Timestamp, TransportError, TransportErrorKind,
};
use tether_tests::leaks::{SECRET_NAMES, with_secrets};
use tether_tests::respond;
use tether_tests::virtual_rt::{ScriptedTransport, VirtualClock, VirtualRuntime, run_all};

const MS: Duration = Duration::from_millis(1);

type Client = HttpClient<ScriptedTransport, VirtualRuntime, LocalHooks>;
type Builder = RequestBuilder<ScriptedTransport, VirtualRuntime, LocalHooks>;

/// The upstream: `/flaky` fails once with 503; `/reset` fails below HTTP with a message that
/// carelessly quotes the whole URL; anything else answers 200 with a session cookie.
fn upstream() -> impl FnMut(&Request, Timestamp) -> (Duration, tether_core::Outcome) {
    let mut flaky = 0;
    move |request, _| match request.uri().path() {
        "/flaky" => {
            flaky += 1;
            let status = if flaky == 1 { 503 } else { 200 };
            (MS, respond(status, &[], "flaky"))
        }
        "/reset" => (
            MS,
            Err(TransportError::new(
                TransportErrorKind::Reset,
                format!("connection reset talking to {}", request.uri()),
            )),
        ),
        _ => (
            MS,
            respond(
                200,
                &[
                    ("set-cookie", "sid=LEAK-response-cookie-19"),
                    ("content-type", "text/plain"),
                ],
                "ok",
            ),
        ),
    }
}

fn carrying_secrets(client: &Client, url: &str) -> Builder {
    with_secrets(client.get(url)).query(&[("tenant", "LEAK-custom-20")])
}

type Task = std::pin::Pin<Box<dyn std::future::Future<Output = (&'static str, String)>>>;
type Shown = Rc<RefCell<Vec<String>>>;

/// A client over [`upstream`] whose hooks write every event they see (`Debug` and JSON) into
/// the returned list, with `tenant` added to the redaction rule.
fn recording_client() -> (Client, ScriptedTransport, VirtualClock, Shown) {
    let rt = VirtualRuntime::default();
    let clock = rt.clock.clone();
    let transport = ScriptedTransport::new(&clock, upstream());
    let hooks = LocalHooks::new();
    let shown: Shown = Rc::default();
    let (s1, s2, s3, s4) = (
        Rc::clone(&shown),
        Rc::clone(&shown),
        Rc::clone(&shown),
        Rc::clone(&shown),
    );
    hooks.add_request_hook(move |e, _| {
        s1.borrow_mut()
            .push(format!("{e:?} {}", serde_json::to_string(e).unwrap()));
        Ok(())
    });
    hooks.add_response_hook(move |e| {
        s2.borrow_mut()
            .push(format!("{e:?} {}", serde_json::to_string(e).unwrap()));
        Ok(())
    });
    hooks.add_error_hook(move |e| {
        s3.borrow_mut()
            .push(format!("{e:?} {}", serde_json::to_string(e).unwrap()));
        Ok(())
    });
    hooks.add_event_hook(move |e| s4.borrow_mut().push(format!("{e:?}")));
    let client: Client = HttpClientBuilder::new(transport.clone(), rt)
        .hooks(hooks)
        .max_retries(1)
        .redactor(Redactor::new().secret_name("tenant"))
        .build()
        .unwrap();
    (client, transport, clock, shown)
}

/// Everything a caller can print of a result: `Debug` of the response or the error, its
/// `Display`, the decision trace as JSON and as a summary, the body.
async fn everything_shown(request: Builder) -> String {
    match request.send().await {
        Ok(r) => format!(
            "{r:?} {} {} {}",
            serde_json::to_string(r.trace()).unwrap(),
            r.trace().summary(),
            r.text()
        ),
        Err(e) => format!(
            "{e} {e:?} {} {}",
            serde_json::to_string(&e.trace()).unwrap(),
            e.trace().map(DecisionTrace::summary).unwrap_or_default()
        ),
    }
}

#[test]
fn secrets_reach_no_event_trace_error_debug_output_or_export() {
    let (client, transport, clock, shown) = recording_client();
    let mut texts: Vec<String> = Vec::new();
    texts.push(format!(
        "{:?}",
        carrying_secrets(&client, "http://svc.test/ok")
    ));
    let requests: Vec<(&'static str, Builder)> = vec![
        (
            "answered",
            carrying_secrets(&client, "http://svc.test:8081/ok"),
        ),
        (
            "retried",
            carrying_secrets(&client, "http://svc.test/flaky").service("svc"),
        ),
        (
            "reset",
            carrying_secrets(&client, "http://svc.test/reset").service("svc"),
        ),
        (
            "userinfo",
            carrying_secrets(&client, "http://user:LEAK-userinfo-21@svc.test:8082/ok"),
        ),
        (
            "unparseable",
            client.get("http://user:pa#LEAK-hash-22@svc.test:99999/"),
        ),
    ];
    let tasks: Vec<Task> = requests
        .into_iter()
        .map(|(what, b)| Box::pin(async move { (what, everything_shown(b).await) }) as Task)
        .collect();
    let results = run_all(&clock, tasks, 1000);
    assert_eq!(transport.sends(), 5, "answered, retried twice, reset twice");
    for (what, text) in &results {
        assert!(!text.is_empty(), "{what}");
        texts.push(text.clone());
    }
    // The upstream did get the secrets: redaction is for people, not for the wire.
    let sent = format!("{:?}", transport.sent()[0].1);
    assert!(sent.contains("LEAK-api-key-06"));

    texts.extend(shown.borrow().iter().cloned());
    for format in ["json", "prometheus", "influxdb"] {
        texts.push(client.export(format).unwrap());
    }
    texts.push(serde_json::to_string(&client.metrics()).unwrap());
    texts.push(format!("{:?}", client.engine_snapshot()));
    let all = texts.join("\n");
    for (name, value) in SECRET_NAMES {
        assert!(!all.contains(value), "the value of {name} leaked:\n{all}");
    }
    // Every value the test plants starts with `LEAK-`: the response's cookie, the custom
    // `tenant` name, the userinfo and the password after a `#`.
    assert!(!all.contains("LEAK-"), "a secret leaked:\n{all}");
    // Ordinary values stay visible.
    let events = shown.borrow().join("\n");
    for visible in ["page=2", "application/x-visible", "/flaky", "svc.test:8081"] {
        assert!(events.contains(visible), "{visible} was hidden:\n{events}");
    }
    // Metric labels are service names only: the host a URL names, never its userinfo; a
    // refused URL creates no service.
    let prometheus = client.prometheus();
    assert!(
        prometheus.contains("service=\"svc.test:8081\""),
        "{prometheus}"
    );
    assert!(
        !prometheus.contains("8082") && !prometheus.contains("user"),
        "{prometheus}"
    );
    assert!(client.service_metrics("svc.test:8082").is_none());
}
