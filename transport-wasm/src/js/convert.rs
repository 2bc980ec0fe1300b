//! Values across the boundary: records out as plain objects, headers both ways, errors out as
//! `TetherError` objects.

use http::{HeaderMap, HeaderName, HeaderValue};
use js_sys::{Array, Object, Reflect};
use serde::Serialize;
use tether_core::client::Error;
use wasm_bindgen::JsCast as _;
use wasm_bindgen::prelude::*;

use crate::global::describe;

/// A record as the plain object its JSON describes — the same shape every Tether frontend
/// (and the monitoring server) reports. Numbers beyond 2⁵³ become approximate, as in any JSON
/// parsed by JavaScript.
pub(crate) fn to_js<T: Serialize + ?Sized>(value: &T) -> JsValue {
    match serde_json::to_string(value) {
        Ok(json) => js_sys::JSON::parse(&json).unwrap_or(JsValue::NULL),
        Err(_) => JsValue::NULL,
    }
}

/// Sets `key` on `target`; a failure (a frozen object) leaves it unset.
pub(crate) fn set(target: &JsValue, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(target, &JsValue::from_str(key), &value.into());
}

/// Reads `key` of an object; `None` when absent, `undefined` or `null`.
pub(crate) fn get(source: &JsValue, key: &str) -> Option<JsValue> {
    if !source.is_object() {
        return None;
    }
    Reflect::get(source, &JsValue::from_str(key))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

/// A `TetherError`: an `Error` (with its stack) named `TetherError`, carrying `kind`,
/// `httpStatus` and what else the error knows.
pub(crate) fn error_value(error: &Error) -> JsValue {
    let value = new_error(error.kind(), &error.to_string(), error.http_status());
    if let Some(status) = error.status() {
        set(&value, "status", status.as_u16());
    }
    if let Some(service) = error.service() {
        set(&value, "service", service);
    }
    if let Some(after) = error.retry_after() {
        set(&value, "retryAfterMs", after.as_secs_f64() * 1000.0);
    }
    if let Error::Status { body_excerpt, .. } = error {
        set(&value, "bodyExcerpt", body_excerpt.as_str());
    }
    if let Some(trace) = error.trace() {
        set(&value, "trace", to_js(trace));
    }
    value
}

/// A `TetherError` that the API itself raises (bad options, a bad argument).
pub(crate) fn new_error(kind: &str, message: &str, http_status: u16) -> JsValue {
    let error = js_sys::Error::new(message);
    error.set_name("TetherError");
    let value: JsValue = error.into();
    set(&value, "kind", kind);
    set(&value, "httpStatus", http_status);
    value
}

/// The caller's input is at fault: kind `invalid_request`.
pub(crate) fn invalid_request(message: &str) -> JsValue {
    new_error("invalid_request", message, 400)
}

/// Headers as a plain object (lower-case names; repeated values joined with `, `, as
/// `Headers.get` does).
pub(crate) fn headers_to_object(headers: &HeaderMap) -> Object {
    let object = Object::new();
    for name in headers.keys() {
        let mut joined = String::new();
        for (i, value) in headers.get_all(name).iter().enumerate() {
            if i > 0 {
                joined.push_str(", ");
            }
            joined.push_str(&String::from_utf8_lossy(value.as_bytes()));
        }
        set(&object, name.as_str(), joined);
    }
    object
}

/// Headers from a `Headers` object, an array of `[name, value]` pairs, or a plain object whose
/// values are strings (or arrays of strings, sent as repeated fields).
pub(crate) fn headers_from_js(value: &JsValue) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    let mut add = |name: &str, value: &JsValue| -> Result<(), String> {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid header name {name:?}"))?;
        let values = if Array::is_array(value) {
            value.unchecked_ref::<Array>().iter().collect()
        } else {
            vec![value.clone()]
        };
        for v in values {
            let text = scalar(&v).ok_or_else(|| format!("header {name} must be a string"))?;
            let v = HeaderValue::from_str(&text)
                .map_err(|_| format!("invalid value for header {name}"))?;
            map.append(name.clone(), v);
        }
        Ok(())
    };
    if value.is_undefined() || value.is_null() {
        return Ok(HeaderMap::new());
    }
    if Array::is_array(value) || value.has_type::<web_sys::Headers>() {
        let Ok(Some(entries)) = js_sys::try_iter(value) else {
            return Err("headers are not iterable".into());
        };
        for entry in entries {
            let entry = entry.map_err(|e| describe(&e))?;
            let pair: Array = entry
                .dyn_into()
                .map_err(|_| "a header entry must be a [name, value] pair".to_owned())?;
            let name = pair
                .get(0)
                .as_string()
                .ok_or("a header name must be a string")?;
            add(&name, &pair.get(1))?;
        }
        return Ok(map);
    }
    if !value.is_object() {
        return Err("headers must be an object, an array of pairs or a Headers".into());
    }
    for name in keys(value) {
        let v = Reflect::get(value, &JsValue::from_str(&name)).map_err(|e| describe(&e))?;
        if v.is_undefined() {
            continue;
        }
        add(&name, &v)?;
    }
    Ok(map)
}

/// A string, number or boolean as text (query values, header values).
pub(crate) fn scalar(value: &JsValue) -> Option<String> {
    if let Some(s) = value.as_string() {
        return Some(s);
    }
    if let Some(n) = value.as_f64() {
        return Some(
            js_sys::Number::from(n)
                .to_string_with_radix(10)
                .ok()?
                .into(),
        );
    }
    value.as_bool().map(|b| b.to_string())
}

/// An object's own enumerable string keys, in order.
pub(crate) fn keys(value: &JsValue) -> Vec<String> {
    Object::keys(value.unchecked_ref::<Object>())
        .iter()
        .map(|k| k.as_string().unwrap_or_default())
        .collect()
}
