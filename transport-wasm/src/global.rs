//! The JavaScript global functions this crate calls, bound by name so that they resolve on
//! whatever `globalThis` is at hand: a `Window`, a `WorkerGlobalScope` or Node's global object.
//!
//! web-sys binds `fetch`, `setTimeout` and friends as methods of `Window` or
//! `WorkerGlobalScope`, which forces a check of the scope on every call and leaves Node out.
//! The same functions imported as free functions (`fetch(request)`) are looked up on the
//! global object at call time, which is exactly what a script calling them would do.

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// `fetch(request)`: a `Window`'s, a worker's, or Node's (18 and later) global `fetch`.
    #[wasm_bindgen(js_name = fetch)]
    pub(crate) fn fetch_request(input: &web_sys::Request) -> Promise;

    /// `setTimeout(handler, ms)`: a number in browsers, a `Timeout` object in Node.
    #[wasm_bindgen(js_name = setTimeout, catch)]
    pub(crate) fn set_timeout(handler: &Function, ms: f64) -> Result<JsValue, JsValue>;

    /// `clearTimeout(id)`.
    #[wasm_bindgen(js_name = clearTimeout)]
    pub(crate) fn clear_timeout(id: &JsValue);

    /// `performance.now()`: milliseconds (fractional) since the time origin; monotonic.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    pub(crate) fn performance_now() -> f64;

    /// `crypto.getRandomValues(buffer)`; throws where there is no Web Crypto.
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues, catch)]
    pub(crate) fn get_random_values(buffer: &mut [u8]) -> Result<JsValue, JsValue>;

    /// `String(value)`; throws when the value's own conversion does.
    #[wasm_bindgen(js_name = String, catch)]
    fn js_string(value: &JsValue) -> Result<String, JsValue>;

    /// `console.warn(message)`.
    #[wasm_bindgen(js_namespace = console, js_name = warn)]
    pub(crate) fn console_warn(message: &str);
}

/// The message of a thrown JavaScript value: `name: message` for an `Error`, its string form
/// otherwise.
pub(crate) fn describe(value: &JsValue) -> String {
    if let Some(error) = value.dyn_ref::<js_sys::Error>() {
        let name = String::from(error.name());
        let message = String::from(error.message());
        return if message.is_empty() {
            name
        } else {
            format!("{name}: {message}")
        };
    }
    value
        .as_string()
        .or_else(|| js_string(value).ok())
        .unwrap_or_else(|| "a value that cannot be shown".to_owned())
}
