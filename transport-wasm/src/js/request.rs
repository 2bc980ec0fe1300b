//! `RequestOptions` onto a [`RequestBuilder`], and sending it as a `Promise`.

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::channel::oneshot;
use futures::future::{Either, select};
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method};
use js_sys::{Array, Promise, Reflect, Uint8Array};
use tether_core::client::{Error, Response};
use wasm_bindgen::JsCast as _;
use wasm_bindgen::prelude::*;
use web_sys::AbortSignal;

use super::convert::{error_value, get, headers_from_js, invalid_request, keys, new_error, scalar};
use super::response::TetherResponse;
use crate::RequestBuilder;

/// The keys a `RequestOptions` object may have: any other is a mistake worth reporting.
const KNOWN: [&str; 8] = [
    "headers",
    "query",
    "json",
    "body",
    "timeout",
    "service",
    "idempotencyKey",
    "signal",
];

/// A request ready to send, and the signal that may cancel it.
pub(crate) struct Prepared {
    builder: RequestBuilder,
    signal: Option<AbortSignal>,
}

/// An HTTP method as `fetch` takes it: the six standard ones in any case, any other token
/// as given.
pub(crate) fn method(name: &str) -> Result<Method, JsValue> {
    let upper = name.to_ascii_uppercase();
    let standard = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"];
    let token = if standard.contains(&upper.as_str()) {
        upper.as_str()
    } else {
        name
    };
    Method::from_bytes(token.as_bytes())
        .map_err(|_| invalid_request(&format!("invalid HTTP method {name:?}")))
}

/// Applies `options` (a `RequestOptions` object, or `undefined`) to `builder`.
pub(crate) fn prepare(mut builder: RequestBuilder, options: &JsValue) -> Result<Prepared, JsValue> {
    if options.is_undefined() || options.is_null() {
        return Ok(Prepared {
            builder,
            signal: None,
        });
    }
    if !options.is_object() {
        return Err(invalid_request("request options must be an object"));
    }
    for key in keys(options) {
        if !KNOWN.contains(&key.as_str()) {
            return Err(invalid_request(&format!(
                "unknown request option {key:?} (known: {})",
                KNOWN.join(", ")
            )));
        }
    }
    let mut has_content_type = false;
    if let Some(headers) = get(options, "headers") {
        let map = headers_from_js(&headers).map_err(|e| invalid_request(&e))?;
        has_content_type = map.contains_key(CONTENT_TYPE);
        builder = builder.headers(map);
    }
    if let Some(query) = get(options, "query") {
        builder = builder.query(&query_pairs(&query)?);
    }
    let json = Reflect::get(options, &JsValue::from_str("json")).unwrap_or(JsValue::UNDEFINED);
    let body = get(options, "body");
    match (json.is_undefined(), body) {
        (false, Some(_)) => return Err(invalid_request("give `json` or `body`, not both")),
        (false, None) => {
            let text = js_sys::JSON::stringify(&json)
                .map_err(|e| invalid_request(&format!("json: {}", crate::global::describe(&e))))?;
            builder = builder.body(String::from(text));
            if !has_content_type {
                builder =
                    builder.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
        }
        (true, Some(body)) => builder = builder.body(body_bytes(&body)?),
        (true, None) => {}
    }
    if let Some(timeout) = get(options, "timeout") {
        let ms = timeout.as_f64().unwrap_or(f64::NAN);
        let limit = Duration::try_from_secs_f64(ms / 1000.0)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| invalid_request("timeout must be a positive number of milliseconds"))?;
        builder = builder.timeout(limit);
    }
    if let Some(service) = get(options, "service") {
        let service = service
            .as_string()
            .ok_or_else(|| invalid_request("service must be a string"))?;
        builder = builder.service(service);
    }
    if let Some(key) = get(options, "idempotencyKey") {
        let key = key
            .as_string()
            .ok_or_else(|| invalid_request("idempotencyKey must be a string"))?;
        builder = builder.idempotency_key(&key);
    }
    let signal = match get(options, "signal") {
        Some(s) => Some(
            s.dyn_into::<AbortSignal>()
                .map_err(|_| invalid_request("signal must be an AbortSignal"))?,
        ),
        None => None,
    };
    Ok(Prepared { builder, signal })
}

/// `query` as name/value pairs: an object (in key order) or an array of pairs.
fn query_pairs(query: &JsValue) -> Result<Vec<(String, String)>, JsValue> {
    let value_text = |name: &str, v: &JsValue| {
        scalar(v).ok_or_else(|| {
            invalid_request(&format!(
                "query value of {name:?} must be a string, number or boolean"
            ))
        })
    };
    let mut pairs = Vec::new();
    if Array::is_array(query) {
        for entry in query.unchecked_ref::<Array>().iter() {
            let pair = entry
                .dyn_into::<Array>()
                .ok()
                .filter(|p| p.length() == 2)
                .ok_or_else(|| invalid_request("a query entry must be a [name, value] pair"))?;
            let name = pair
                .get(0)
                .as_string()
                .ok_or_else(|| invalid_request("a query name must be a string"))?;
            let value = value_text(&name, &pair.get(1))?;
            pairs.push((name, value));
        }
        return Ok(pairs);
    }
    if !query.is_object() {
        return Err(invalid_request(
            "query must be an object or an array of pairs",
        ));
    }
    for name in keys(query) {
        let v = Reflect::get(query, &JsValue::from_str(&name)).unwrap_or(JsValue::UNDEFINED);
        if v.is_undefined() {
            continue;
        }
        pairs.push((name.clone(), value_text(&name, &v)?));
    }
    Ok(pairs)
}

/// A raw body: a string (sent as UTF-8), a `Uint8Array` or an `ArrayBuffer`.
fn body_bytes(body: &JsValue) -> Result<Vec<u8>, JsValue> {
    if let Some(text) = body.as_string() {
        return Ok(text.into_bytes());
    }
    if let Some(bytes) = body.dyn_ref::<Uint8Array>() {
        return Ok(bytes.to_vec());
    }
    if let Some(buffer) = body.dyn_ref::<js_sys::ArrayBuffer>() {
        return Ok(Uint8Array::new(buffer).to_vec());
    }
    Err(invalid_request(
        "body must be a string, a Uint8Array or an ArrayBuffer",
    ))
}

/// Sends `prepared` and settles a `Promise` with a `TetherResponse` or a `TetherError`.
pub(crate) fn send_promise(prepared: Prepared, status_errors: bool) -> Promise {
    wasm_bindgen_futures::future_to_promise(async move {
        let Prepared { builder, signal } = prepared;
        let builder = if status_errors {
            builder.error_for_status()
        } else {
            builder
        };
        let result = match signal {
            None => builder.send().await,
            Some(signal) => match cancellable(builder.send(), &signal).await {
                Some(result) => result,
                None => return Err(cancelled()),
            },
        };
        result
            .map(|r: Response| TetherResponse::new(r).into())
            .map_err(|e: Error| error_value(&e))
    })
}

/// The error of a request cancelled by its signal.
fn cancelled() -> JsValue {
    new_error(
        "cancelled",
        "the request was cancelled by its AbortSignal",
        503,
    )
}

/// `future`, or `None` once `signal` aborts (the future is then dropped, which cancels the
/// request in the engine and aborts its fetch).
async fn cancellable<F: Future>(future: F, signal: &AbortSignal) -> Option<F::Output> {
    if signal.aborted() {
        return None;
    }
    let aborted = Aborted::new(signal);
    match select(pin!(future), aborted).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(_) => None,
    }
}

/// Completes when an `AbortSignal` fires; removes its listener when dropped.
struct Aborted {
    rx: oneshot::Receiver<()>,
    signal: AbortSignal,
    listener: Closure<dyn FnMut()>,
}

impl Aborted {
    fn new(signal: &AbortSignal) -> Self {
        let (tx, rx) = oneshot::channel();
        let mut tx = Some(tx);
        let listener = Closure::<dyn FnMut()>::new(move || {
            if let Some(tx) = tx.take() {
                let _ = tx.send(());
            }
        });
        let _ = signal.add_event_listener_with_callback("abort", listener.as_ref().unchecked_ref());
        Aborted {
            rx,
            signal: signal.clone(),
            listener,
        }
    }
}

impl Future for Aborted {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.rx).poll(cx).map(|_| ())
    }
}

impl Drop for Aborted {
    fn drop(&mut self) {
        let _ = self
            .signal
            .remove_event_listener_with_callback("abort", self.listener.as_ref().unchecked_ref());
    }
}
