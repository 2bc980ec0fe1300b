//! JavaScript callbacks as hooks. Each may return a promise; a throw or a rejection is
//! reported as a hook failure (on the console, and to `onHookFailure` callbacks), never to the
//! request.

use http::HeaderMap;
use js_sys::{Function, Promise};
use serde::Serialize;
use tether_core::DecisionTrace;
use tether_core::client::{ErrorEvent, HookFailure, RequestEvent, ResponseEvent};
use wasm_bindgen::JsCast as _;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::convert::{headers_from_js, headers_to_object, set, to_js};
use crate::WasmHooks;
use crate::global::{console_warn, describe};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsRequestEvent<'a> {
    service: Option<&'a str>,
    method: &'a str,
    url: &'a str,
    headers: &'a [(String, String)],
    timestamp: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsResponseEvent<'a> {
    request_id: u64,
    service: &'a str,
    method: &'a str,
    url: &'a str,
    status: u16,
    from_cache: bool,
    attempts: u32,
    elapsed_ms: f64,
    trace: &'a DecisionTrace,
    timestamp: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsErrorEvent<'a> {
    request_id: u64,
    service: &'a str,
    method: &'a str,
    url: &'a str,
    kind: &'a str,
    message: &'a str,
    attempts: u32,
    elapsed_ms: f64,
    trace: &'a DecisionTrace,
    timestamp: String,
}

fn request_event(e: &RequestEvent) -> JsValue {
    to_js(&JsRequestEvent {
        service: e.service.as_deref(),
        method: &e.method,
        url: &e.url,
        headers: &e.headers,
        timestamp: e.timestamp.to_rfc3339(),
    })
}

fn response_event(e: &ResponseEvent) -> JsValue {
    to_js(&JsResponseEvent {
        request_id: e.request_id.as_u64(),
        service: &e.service,
        method: &e.method,
        url: &e.url,
        status: e.status,
        from_cache: e.from_cache,
        attempts: e.attempts,
        elapsed_ms: e.elapsed.as_secs_f64() * 1000.0,
        trace: &e.trace,
        timestamp: e.timestamp.to_rfc3339(),
    })
}

fn error_event(e: &ErrorEvent) -> JsValue {
    to_js(&JsErrorEvent {
        request_id: e.request_id.as_u64(),
        service: &e.service,
        method: &e.method,
        url: &e.url,
        kind: &e.kind,
        message: &e.message,
        attempts: e.attempts,
        elapsed_ms: e.elapsed.as_secs_f64() * 1000.0,
        trace: &e.trace,
        timestamp: e.timestamp.to_rfc3339(),
    })
}

/// Awaits `value` if it is a promise (or any thenable); otherwise returns it.
async fn settle(value: JsValue) -> Result<JsValue, String> {
    let thenable = value.is_object()
        && js_sys::Reflect::get(&value, &JsValue::from_str("then"))
            .is_ok_and(|then| then.is_function());
    if !thenable {
        return Ok(value);
    }
    let promise = value
        .dyn_into::<Promise>()
        .unwrap_or_else(|v| Promise::resolve(&v));
    JsFuture::from(promise).await.map_err(|e| describe(&e))
}

/// Calls `hook(arg)` and awaits what it returns.
async fn call(hook: &Function, arg: &JsValue) -> Result<JsValue, String> {
    let returned = hook
        .call1(&JsValue::UNDEFINED, arg)
        .map_err(|e| describe(&e))?;
    settle(returned).await
}

pub(crate) fn on_request(hooks: &WasmHooks, hook: Function) {
    hooks.add_async_request_hook(move |event: RequestEvent, headers: HeaderMap| {
        let hook = hook.clone();
        async move {
            let object: JsValue = headers_to_object(&headers).into();
            let returned = hook
                .call2(&JsValue::UNDEFINED, &request_event(&event), &object)
                .map_err(|e| describe(&e))?;
            let returned = settle(returned).await?;
            // A returned object replaces the headers; otherwise the (possibly changed)
            // object passed in is what goes on.
            let source = if returned.is_object() {
                returned
            } else {
                object
            };
            headers_from_js(&source)
        }
    });
}

pub(crate) fn on_response(hooks: &WasmHooks, hook: Function) {
    hooks.add_async_response_hook(move |event: ResponseEvent| {
        let hook = hook.clone();
        async move { call(&hook, &response_event(&event)).await.map(drop) }
    });
}

pub(crate) fn on_error(hooks: &WasmHooks, hook: Function) {
    hooks.add_async_error_hook(move |event: ErrorEvent| {
        let hook = hook.clone();
        async move { call(&hook, &error_event(&event)).await.map(drop) }
    });
}

/// Engine events are synchronous: a returned promise is not awaited, and a throw is
/// reported as a hook failure (on the console, and to `onHookFailure` callbacks).
pub(crate) fn on_event(hooks: &WasmHooks, hook: Function) {
    hooks.add_fallible_event_hook(move |event| {
        hook.call1(&JsValue::UNDEFINED, &to_js(event))
            .map(drop)
            .map_err(|e| describe(&e))
    });
}

pub(crate) fn on_hook_failure(hooks: &WasmHooks, hook: Function) {
    hooks.add_failure_hook(move |failure: &HookFailure| {
        let value = js_sys::Object::new();
        set(&value, "stage", failure.stage.as_str());
        set(&value, "message", failure.message.as_str());
        // A throwing failure hook has nobody left to tell but the console.
        if let Err(e) = hook.call1(&JsValue::UNDEFINED, &value) {
            console_warn(&format!(
                "tether: hook-failure hook failed: {}",
                describe(&e)
            ));
        }
    });
}
