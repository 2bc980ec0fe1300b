//! `TetherResponse`: a whole response and how it was obtained.

use js_sys::Uint8Array;
use tether_core::client::Response;
use wasm_bindgen::prelude::*;

use super::convert::{new_error, to_js};
use crate::global::describe;

/// A response: status, headers, the whole body (already read, so `text()`, `json()` and
/// `bytes()` may be called any number of times), whether it came from the cache, and the
/// decision trace. Any status is a response: a 503 after the last retry resolves here.
#[wasm_bindgen]
pub struct TetherResponse {
    inner: Response,
}

impl TetherResponse {
    pub(crate) fn new(inner: Response) -> Self {
        TetherResponse { inner }
    }

    /// The Rust response.
    pub fn as_response(&self) -> &Response {
        &self.inner
    }
}

#[wasm_bindgen]
impl TetherResponse {
    /// The status code.
    #[wasm_bindgen(getter)]
    pub fn status(&self) -> u16 {
        self.inner.status().as_u16()
    }

    /// Whether the status is 2xx.
    #[wasm_bindgen(getter)]
    pub fn ok(&self) -> bool {
        self.inner.is_success()
    }

    /// The headers, as a new `Headers` object (a cached response carries `Age`).
    #[wasm_bindgen(getter)]
    pub fn headers(&self) -> Result<web_sys::Headers, JsValue> {
        let headers = web_sys::Headers::new()?;
        for (name, value) in self.inner.headers() {
            let text: String = value.as_bytes().iter().map(|&b| char::from(b)).collect();
            headers.append(name.as_str(), &text)?;
        }
        Ok(headers)
    }

    /// One header's value (repeated fields joined with `, `), or `null`.
    pub fn header(&self, name: &str) -> Option<String> {
        let mut values = self.inner.headers().get_all(name).iter().peekable();
        values.peek()?;
        let joined: Vec<String> = values
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        Some(joined.join(", "))
    }

    /// Whether it came from the cache (fresh, stale, revalidated, or shared with an identical
    /// request in flight).
    #[wasm_bindgen(getter, js_name = fromCache)]
    pub fn from_cache(&self) -> bool {
        self.inner.from_cache()
    }

    /// The service it was accounted under (the URL's host when none was named).
    #[wasm_bindgen(getter)]
    pub fn service(&self) -> String {
        self.inner.service().to_owned()
    }

    /// Why it went the way it did: cache, breaker, every attempt and retry.
    #[wasm_bindgen(getter, unchecked_return_type = "DecisionTrace")]
    pub fn trace(&self) -> JsValue {
        to_js(self.inner.trace())
    }

    /// The body as text (UTF-8, or ISO-8859-1 when the `Content-Type` says so).
    pub fn text(&self) -> String {
        self.inner.text()
    }

    /// The body parsed as JSON; throws a `TetherError` of kind "json" when it is not JSON.
    #[wasm_bindgen(unchecked_return_type = "any")]
    pub fn json(&self) -> Result<JsValue, JsValue> {
        js_sys::JSON::parse(&self.inner.text()).map_err(|e| {
            new_error(
                "json",
                &format!("the body is not JSON: {}", describe(&e)),
                502,
            )
        })
    }

    /// The body's bytes (a copy).
    pub fn bytes(&self) -> Uint8Array {
        Uint8Array::from(&self.inner.bytes()[..])
    }
}
