//! The JavaScript API as JavaScript sees it: every value is read back through `Reflect` and
//! every callback is a JavaScript `Function`, against the chaos upstream, under Node and in
//! headless Chromium.

#![cfg(target_arch = "wasm32")]

mod common;

use std::time::Duration;

use common::{hits, key, sleep, url};
use js_sys::{Function, Promise, Reflect};
use tether_wasm::js::{TetherClient, is_tether_error};
use wasm_bindgen::JsCast as _;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test as test;

fn parse(json: &str) -> JsValue {
    js_sys::JSON::parse(json).expect("valid JSON")
}

fn prop(value: &JsValue, name: &str) -> JsValue {
    Reflect::get(value, &name.into()).expect("readable")
}

fn string(value: &JsValue, name: &str) -> String {
    prop(value, name)
        .as_string()
        .unwrap_or_else(|| panic!("{name} is not a string"))
}

fn number(value: &JsValue, name: &str) -> f64 {
    prop(value, name)
        .as_f64()
        .unwrap_or_else(|| panic!("{name} is not a number"))
}

/// A property that must hold a whole number.
fn int(value: &JsValue, name: &str) -> i64 {
    let n = number(value, name);
    assert!(n.fract() == 0.0, "{name} = {n} is not a whole number");
    n as i64
}

/// `value.method(...args)`, as a script would call it.
fn call(value: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let f: Function = prop(value, method).dyn_into().expect("a method");
    f.apply(value, &args.iter().collect())
}

async fn settle(promise: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(promise).await
}

fn client(options: &str) -> TetherClient {
    TetherClient::new(&parse(options)).expect("valid options")
}

/// A JavaScript function from its parameters and body.
fn js_fn(params: &str, body: &str) -> Function {
    Function::new_with_args(params, body)
}

/// `globalThis[name]`, a fresh array the callbacks below push into.
fn record(name: &str) -> js_sys::Array {
    let array = js_sys::Array::new();
    Reflect::set(&js_sys::global(), &name.into(), &array).expect("globalThis is writable");
    array
}

#[test]
async fn a_request_resolves_to_a_response_javascript_can_read() {
    let c = client(r#"{"maxRetries": 1, "headers": {"x-default": "d"}}"#);
    let res = settle(c.request(
        "get",
        &url("/get?x=1"),
        &parse(r#"{"query": {"y": 2, "z": true}, "headers": {"x-a": "b"}}"#),
    ))
    .await
    .expect("resolves");
    assert_eq!(int(&res, "status"), 200);
    assert_eq!(prop(&res, "ok"), JsValue::TRUE);
    assert_eq!(prop(&res, "fromCache"), JsValue::FALSE);
    let headers: web_sys::Headers = prop(&res, "headers").dyn_into().expect("a Headers");
    assert_eq!(
        headers.get("content-type").expect("readable").as_deref(),
        Some("application/json")
    );
    let body = call(&res, "json", &[]).expect("JSON");
    let args = prop(&body, "args");
    assert_eq!(string(&args, "x"), "1");
    assert_eq!(string(&args, "y"), "2");
    assert_eq!(string(&args, "z"), "true");
    let sent = prop(&body, "headers");
    assert_eq!(string(&sent, "X-A"), "b");
    assert_eq!(string(&sent, "X-Default"), "d");
    let text = call(&res, "text", &[])
        .expect("text")
        .as_string()
        .expect("a string");
    assert!(text.contains("\"args\""), "{text}");
    let trace = prop(&res, "trace");
    assert_eq!(js_sys::Array::from(&prop(&trace, "attempts")).length(), 1);
    assert_eq!(string(&prop(&trace, "cache"), "kind"), "miss");
    let bytes: js_sys::Uint8Array = call(&res, "bytes", &[])
        .expect("bytes")
        .dyn_into()
        .expect("a Uint8Array");
    assert_eq!(bytes.length() as usize, text.len());

    // A JSON body and a raw one.
    let res = settle(c.post(&url("/echo"), &parse(r#"{"json": {"a": [1, 2]}}"#)))
        .await
        .expect("resolves");
    let echo = call(&res, "json", &[]).expect("JSON");
    assert_eq!(string(&echo, "body"), r#"{"a":[1,2]}"#);
    assert_eq!(
        string(&prop(&echo, "headers"), "content-type"),
        "application/json"
    );
    let options = js_sys::Object::new();
    Reflect::set(
        &options,
        &"body".into(),
        &js_sys::Uint8Array::from(&b"raw"[..]),
    )
    .expect("set");
    let res = settle(c.request("PUT", &url("/echo"), &options))
        .await
        .expect("resolves");
    let echo = call(&res, "json", &[]).expect("JSON");
    assert_eq!(string(&echo, "body"), "raw");
    assert_eq!(string(&echo, "method"), "PUT");
}

#[test]
async fn failures_reject_with_typed_error_objects() {
    let k = key("js-errors");
    let c = client(
        r#"{"maxRetries": 0, "breaker": {"consecutiveFailures": 1, "breakDuration": 60000}}"#,
    );
    let svc = c
        .service_client(&format!("svc-{k}"), &url(""), &JsValue::UNDEFINED)
        .expect("a service client");
    let e = settle(svc.get(&format!("/status/503?key={k}"), &JsValue::UNDEFINED))
        .await
        .expect_err("a 503 rejects from a service client");
    assert!(
        e.is_instance_of::<js_sys::Error>(),
        "an Error, with a stack"
    );
    assert!(is_tether_error(&e));
    assert_eq!(string(&e, "name"), "TetherError");
    assert_eq!(string(&e, "kind"), "status");
    assert_eq!(int(&e, "status"), 503);
    assert_eq!(int(&e, "httpStatus"), 503);
    assert_eq!(string(&e, "service"), format!("svc-{k}"));
    assert!(string(&e, "message").contains("returned 503"));
    assert_eq!(
        js_sys::Array::from(&prop(&prop(&e, "trace"), "attempts")).length(),
        1
    );

    // The breaker opened after one failure: the next call is refused without the network.
    let e = settle(svc.get(&format!("/status/200?key={k}"), &JsValue::UNDEFINED))
        .await
        .expect_err("the breaker is open");
    assert_eq!(string(&e, "kind"), "circuit_open");
    assert_eq!(int(&e, "httpStatus"), 503);
    assert!(number(&e, "retryAfterMs") > 50_000.0);
    assert_eq!(hits(&k).await, 1);
    let state = svc.breaker_state();
    assert_eq!(string(&state, "state"), "OPEN");
    assert_eq!(int(&state, "failure_count"), 1);

    // Endpoints cannot leave the base URL; nothing is sent.
    let e = settle(svc.get("//evil.example/x", &JsValue::UNDEFINED))
        .await
        .expect_err("refused");
    assert_eq!(string(&e, "kind"), "invalid_endpoint");
    assert_eq!(int(&e, "httpStatus"), 400);

    // The plain client resolves any status, and rejects what is not a URL.
    let res = settle(c.get(
        &url(&format!("/status/404?key={k}-plain")),
        &JsValue::UNDEFINED,
    ))
    .await
    .expect("a 404 resolves");
    assert_eq!(int(&res, "status"), 404);
    assert_eq!(prop(&res, "ok"), JsValue::FALSE);
    let e = settle(c.get("not a url", &JsValue::UNDEFINED))
        .await
        .expect_err("refused");
    assert_eq!(string(&e, "kind"), "invalid_url");
    // A body that is not JSON: `json()` throws a TetherError too.
    let res = settle(c.get(&url("/status/200?body=plain"), &JsValue::UNDEFINED))
        .await
        .expect("resolves");
    let e = call(&res, "json", &[]).expect_err("not JSON");
    assert_eq!(string(&e, "kind"), "json");
    // Not a TetherError.
    assert!(!is_tether_error(&js_sys::Error::new("plain").into()));
}

#[test]
fn options_are_checked_and_named() {
    let e = TetherClient::new(&parse(r#"{"maxRetry": 3}"#))
        .err()
        .expect("refused");
    assert!(is_tether_error(&e));
    assert_eq!(string(&e, "kind"), "config");
    assert!(string(&e, "message").contains("maxRetry"));
    let e = TetherClient::new(&parse(r#"{"breaker": {"halfOpenProbes": 0}}"#))
        .err()
        .expect("refused by the core's validation");
    assert_eq!(string(&e, "kind"), "config");
    assert!(TetherClient::new(&JsValue::UNDEFINED).is_ok());
}

#[test]
async fn request_options_are_checked() {
    let c = client("{}");
    let e = settle(c.get(&url("/get"), &parse(r#"{"heders": {}}"#)))
        .await
        .expect_err("refused");
    assert_eq!(string(&e, "kind"), "invalid_request");
    assert!(string(&e, "message").contains("heders"));
    let e = settle(c.post(&url("/post"), &parse(r#"{"json": 1, "body": "x"}"#)))
        .await
        .expect_err("refused");
    assert_eq!(string(&e, "kind"), "invalid_request");
    let e = settle(c.request("G ET", &url("/get"), &JsValue::UNDEFINED))
        .await
        .expect_err("refused");
    assert_eq!(string(&e, "kind"), "invalid_request");
}

#[test]
async fn hooks_are_javascript_callbacks_and_may_be_async() {
    let c = client("{}");
    let seen = record("__tetherSeen");
    let failures = record("__tetherFailures");
    c.on_request(js_fn(
        "event, headers",
        "headers['x-sync'] = 'yes'; globalThis.__tetherSeen.push('request ' + event.method);",
    ));
    c.on_request(js_fn(
        "event, headers",
        "return new Promise(r => setTimeout(() => r(Object.assign({}, headers, {'x-async': 'later'})), 5));",
    ));
    c.on_request(js_fn("event, headers", "throw new Error('boom');"));
    c.on_response(js_fn(
        "event",
        "return Promise.resolve().then(() => globalThis.__tetherSeen.push('response ' + event.status + ' ' + event.fromCache + ' ' + typeof event.elapsedMs));",
    ));
    c.on_error(js_fn(
        "event",
        "globalThis.__tetherSeen.push('error ' + event.kind);",
    ));
    c.on_event(js_fn("event", "throw new Error('event boom');"));
    c.on_hook_failure(js_fn(
        "failure",
        "globalThis.__tetherFailures.push(failure.stage + ': ' + failure.message);",
    ));
    let res = settle(c.get(&url("/echo"), &JsValue::UNDEFINED))
        .await
        .expect("resolves");
    let echo = call(&res, "json", &[]).expect("JSON");
    let headers = prop(&echo, "headers");
    assert_eq!(string(&headers, "x-sync"), "yes");
    assert_eq!(string(&headers, "x-async"), "later");
    let e = settle(c.get("http://", &JsValue::UNDEFINED)).await;
    assert!(e.is_err());
    let _ = settle(c.get(
        &format!("{}/x", common::closed()),
        &parse(r#"{"timeout": 3000}"#),
    ))
    .await;
    let seen: Vec<String> = seen.iter().filter_map(|v| v.as_string()).collect();
    assert_eq!(seen[0], "request GET");
    assert!(
        seen.contains(&"response 200 false number".to_owned()),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|s| s.starts_with("error ")),
        "the error hook ran: {seen:?}"
    );
    // A throwing event hook (the breaker's transition) reaches `onHookFailure` too.
    c.isolate_breaker("127.0.0.1");
    c.reset_breaker("127.0.0.1");
    let failures: Vec<String> = failures.iter().filter_map(|v| v.as_string()).collect();
    assert!(
        failures.iter().any(|f| f == "request: Error: boom"),
        "{failures:?}"
    );
    assert!(
        failures.iter().any(|f| f == "event: Error: event boom"),
        "{failures:?}"
    );
}

#[test]
async fn metrics_exports_breakers_and_the_cache_are_one_call_away() {
    let k = key("js-metrics");
    let c = client("{}");
    let target = url(&format!("/cache/60?key={k}"));
    for _ in 0..3 {
        settle(c.get(&target, &JsValue::UNDEFINED))
            .await
            .expect("resolves");
    }
    assert_eq!(hits(&k).await, 1);
    let m = c.metrics();
    assert_eq!(int(&m, "total_requests"), 3);
    assert_eq!(int(&m, "successful_requests"), 3);
    assert_eq!(int(&prop(&m, "cache_stats"), "hits"), 2);
    let prom = c.export_metrics("prometheus").expect("text");
    assert!(prom.contains("# TYPE"), "{prom}");
    let json = c.export_metrics("json").expect("text");
    assert!(js_sys::JSON::parse(&json).is_ok());
    let e = c.export_metrics("xml").expect_err("unknown format");
    assert_eq!(string(&e, "kind"), "invalid_request");
    assert_eq!(string(&c.breaker_state("127.0.0.1"), "state"), "CLOSED");
    c.isolate_breaker("127.0.0.1");
    assert_eq!(string(&c.breaker_state("127.0.0.1"), "state"), "OPEN");
    c.reset_breaker("127.0.0.1");
    assert_eq!(string(&c.breaker_state("127.0.0.1"), "state"), "CLOSED");
    // Clearing the cache (as on a log-out) makes the next call go out.
    assert_eq!(c.clear_cache(), 1);
    let res = settle(c.get(&target, &JsValue::UNDEFINED))
        .await
        .expect("resolves");
    assert_eq!(prop(&res, "fromCache"), JsValue::FALSE);
    assert_eq!(hits(&k).await, 2);
    c.close();
    assert!(c.closed());
    let e = settle(c.get(&target, &JsValue::UNDEFINED))
        .await
        .expect_err("closed");
    assert_eq!(string(&e, "kind"), "closed");
}

#[test]
async fn an_abort_signal_cancels_a_request_and_its_fetch() {
    let k = key("js-abort");
    let c = client(r#"{"maxRetries": 0}"#);
    let controller = web_sys::AbortController::new().expect("AbortController");
    let options = js_sys::Object::new();
    Reflect::set(&options, &"signal".into(), &controller.signal()).expect("set");
    let pending = c.get(&url(&format!("/delay/3000?key={k}")), &options);
    let started = js_sys::Date::now();
    sleep(Duration::from_millis(100)).await;
    controller.abort();
    let e = settle(pending).await.expect_err("cancelled");
    assert_eq!(string(&e, "kind"), "cancelled");
    assert!(js_sys::Date::now() - started < 2000.0);
    assert_eq!(
        c.http_client().with_engine(|e, _, _| e.in_flight()),
        0,
        "the engine let the request go"
    );
    // An already aborted signal refuses at once.
    let e = settle(c.get(&url("/get"), &options))
        .await
        .expect_err("cancelled");
    assert_eq!(string(&e, "kind"), "cancelled");
}
