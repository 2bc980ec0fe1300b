//! The JavaScript/TypeScript API (feature `js-api`, on by default): what `make wasm` packages
//! as an ES module with TypeScript declarations.
//!
//! ```ts
//! import init, { TetherClient, isTetherError } from "tether-wasm";
//! await init();
//!
//! const client = new TetherClient({ timeout: 5000, maxRetries: 2, cache: { maxEntries: 500 } });
//! client.onRequest((event, headers) => { headers["x-request-id"] = crypto.randomUUID(); });
//! try {
//!   const res = await client.request("GET", "https://api.example.com/items", { query: { page: 2 } });
//!   console.log(res.status, res.fromCache, res.trace.attempts.length, res.json());
//! } catch (e) {
//!   if (isTetherError(e)) console.log(e.kind, e.httpStatus, e.trace);
//! }
//! console.log(client.metrics().success_rate, client.breakerState("api.example.com").state);
//! ```
//!
//! Every method that talks to a server returns a `Promise` that resolves to a
//! [`TetherResponse`] (any status, for `TetherClient`; 2xx/3xx for a service client) or
//! rejects with a `TetherError` — an `Error` with `kind`, `httpStatus`, `status`, `service`
//! and the decision `trace` — never with a string. The records (`metrics()`,
//! `breakerState()`, traces) have the same snake_case shapes as every other Tether frontend
//! and the monitoring server; the API itself is camelCase. Nothing here decides anything: the
//! options become the core's configuration, and the core's client layer runs the requests.

mod convert;
mod hooks;
mod options;
mod request;
mod response;

use js_sys::{Function, Promise};
use tether_core::client::{HttpClientBuilder as CoreBuilder, ServiceClientBuilder};
use wasm_bindgen::prelude::*;

use self::convert::{error_value, get, new_error, to_js};
use self::options::ClientOptions;
use self::request::{method, prepare, send_promise};
pub use self::response::TetherResponse;
use crate::global::describe;
use crate::{BrowserRuntime, FetchTransport, HttpClient, ServiceClient};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = include_str!("types.d.ts");

/// Whether `value` is a `TetherError` (an `Error` named "TetherError" with a `kind`).
#[wasm_bindgen(js_name = isTetherError, unchecked_return_type = "value is TetherError")]
pub fn is_tether_error(value: &JsValue) -> bool {
    value.is_instance_of::<js_sys::Error>()
        && get(value, "name").and_then(|n| n.as_string()).as_deref() == Some("TetherError")
        && get(value, "kind").is_some_and(|k| k.is_string())
}

/// The version of the package.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// A resilient HTTP client: cache, circuit breakers, retries with backoff and `Retry-After`,
/// metrics and hooks, over `fetch`.
#[wasm_bindgen]
pub struct TetherClient {
    client: HttpClient,
}

/// `options` (an object or `undefined`) as [`ClientOptions`].
fn parse_options(options: &JsValue) -> Result<ClientOptions, JsValue> {
    if options.is_undefined() || options.is_null() {
        return Ok(ClientOptions::default());
    }
    if !options.is_object() {
        return Err(new_error("config", "client options must be an object", 500));
    }
    let json = js_sys::JSON::stringify(options)
        .map_err(|e| new_error("config", &format!("client options: {}", describe(&e)), 500))?;
    ClientOptions::from_json(&String::from(json)).map_err(|e| new_error("config", &e, 500))
}

impl TetherClient {
    /// The Rust client behind this object (a Rust crate compiled into the same module can use
    /// it directly).
    pub fn http_client(&self) -> &HttpClient {
        &self.client
    }

    fn send(&self, method_name: &str, url: &str, options: &JsValue) -> Promise {
        let prepared =
            method(method_name).and_then(|m| prepare(self.client.request(m, url), options));
        match prepared {
            Ok(p) => send_promise(p, false),
            Err(e) => Promise::reject(&e),
        }
    }
}

#[wasm_bindgen]
impl TetherClient {
    /// A client configured by `options` (see `ClientOptions`); throws a `TetherError` of kind
    /// "config" for an unknown or invalid option.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_optional_param_type = "ClientOptions")] options: &JsValue,
    ) -> Result<TetherClient, JsValue> {
        let options = parse_options(options)?;
        let builder = CoreBuilder::new(FetchTransport::default(), BrowserRuntime::new());
        let builder = options
            .apply(builder)
            .map_err(|e| new_error("config", &e, 500))?;
        let client = builder.build().map_err(|e| error_value(&e))?;
        Ok(TetherClient { client })
    }

    /// Sends `method url` and resolves to the response, whatever its status.
    #[wasm_bindgen(unchecked_return_type = "Promise<TetherResponse>")]
    pub fn request(
        &self,
        method: &str,
        url: &str,
        #[wasm_bindgen(unchecked_optional_param_type = "RequestOptions")] options: &JsValue,
    ) -> Promise {
        self.send(method, url, options)
    }

    /// `GET url`.
    #[wasm_bindgen(unchecked_return_type = "Promise<TetherResponse>")]
    pub fn get(
        &self,
        url: &str,
        #[wasm_bindgen(unchecked_optional_param_type = "RequestOptions")] options: &JsValue,
    ) -> Promise {
        self.send("GET", url, options)
    }

    /// `POST url`.
    #[wasm_bindgen(unchecked_return_type = "Promise<TetherResponse>")]
    pub fn post(
        &self,
        url: &str,
        #[wasm_bindgen(unchecked_optional_param_type = "RequestOptions")] options: &JsValue,
    ) -> Promise {
        self.send("POST", url, options)
    }

    /// `PUT url`.
    #[wasm_bindgen(unchecked_return_type = "Promise<TetherResponse>")]
    pub fn put(
        &self,
        url: &str,
        #[wasm_bindgen(unchecked_optional_param_type = "RequestOptions")] options: &JsValue,
    ) -> Promise {
        self.send("PUT", url, options)
    }

    /// `PATCH url`.
    #[wasm_bindgen(unchecked_return_type = "Promise<TetherResponse>")]
    pub fn patch(
        &self,
        url: &str,
        #[wasm_bindgen(unchecked_optional_param_type = "RequestOptions")] options: &JsValue,
    ) -> Promise {
        self.send("PATCH", url, options)
    }

    /// `DELETE url`.
    #[wasm_bindgen(unchecked_return_type = "Promise<TetherResponse>")]
    pub fn delete(
        &self,
        url: &str,
        #[wasm_bindgen(unchecked_optional_param_type = "RequestOptions")] options: &JsValue,
    ) -> Promise {
        self.send("DELETE", url, options)
    }

    /// A client for the service `name` at `baseUrl`, sharing this client's cache, breakers,
    /// metrics and hooks; its endpoints can never leave `baseUrl`.
    #[wasm_bindgen(js_name = serviceClient)]
    pub fn service_client(
        &self,
        name: &str,
        base_url: &str,
        #[wasm_bindgen(unchecked_optional_param_type = "ServiceClientOptions")] options: &JsValue,
    ) -> Result<TetherServiceClient, JsValue> {
        let template = CoreBuilder::new(FetchTransport::default(), BrowserRuntime::new());
        let mut builder =
            ServiceClientBuilder::new(name, base_url, template).http_client(self.client.clone());
        if let Some(path) = get(options, "healthPath") {
            let path = path
                .as_string()
                .ok_or_else(|| new_error("invalid_request", "healthPath must be a string", 400))?;
            builder = builder.health_path(path);
        }
        let inner = builder.build().map_err(|e| error_value(&e))?;
        Ok(TetherServiceClient { inner })
    }

    /// Totals over every service this client has called.
    #[wasm_bindgen(unchecked_return_type = "ClientMetrics")]
    pub fn metrics(&self) -> JsValue {
        to_js(&self.client.metrics())
    }

    /// Every metric as "json", "prometheus" or "influxdb" (line protocol) text.
    #[wasm_bindgen(js_name = exportMetrics)]
    pub fn export_metrics(
        &self,
        #[wasm_bindgen(unchecked_param_type = "MetricsFormat")] format: &str,
    ) -> Result<String, JsValue> {
        self.client
            .export(format)
            .map_err(|e| new_error("invalid_request", &e.to_string(), 400))
    }

    /// The breaker of `service` (a host name when requests named no service).
    #[wasm_bindgen(js_name = breakerState, unchecked_return_type = "CircuitBreakerState")]
    pub fn breaker_state(&self, service: &str) -> JsValue {
        to_js(&self.client.circuit_breaker_state(service))
    }

    /// Forces the breaker of `service` open until `resetBreaker`.
    #[wasm_bindgen(js_name = isolateBreaker)]
    pub fn isolate_breaker(&self, service: &str) {
        self.client
            .with_engine(|e, now, _| e.isolate_breaker(now, service));
    }

    /// Closes the breaker of `service` and forgets its failures.
    #[wasm_bindgen(js_name = resetBreaker)]
    pub fn reset_breaker(&self, service: &str) {
        self.client
            .with_engine(|e, now, _| e.reset_breaker(now, service));
    }

    /// Empties the response cache; returns how many entries it held. Call it when the
    /// browser's credentials change (log-out, another user), which the cache cannot see.
    #[wasm_bindgen(js_name = clearCache)]
    pub fn clear_cache(&self) -> usize {
        self.client.with_engine(|e, _, _| e.invalidate_cache())
    }

    /// Adds a request hook.
    #[wasm_bindgen(js_name = onRequest)]
    pub fn on_request(&self, #[wasm_bindgen(unchecked_param_type = "RequestHook")] hook: Function) {
        hooks::on_request(self.client.hooks(), hook);
    }

    /// Adds a response hook.
    #[wasm_bindgen(js_name = onResponse)]
    pub fn on_response(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ResponseHook")] hook: Function,
    ) {
        hooks::on_response(self.client.hooks(), hook);
    }

    /// Adds an error hook.
    #[wasm_bindgen(js_name = onError)]
    pub fn on_error(&self, #[wasm_bindgen(unchecked_param_type = "ErrorHook")] hook: Function) {
        hooks::on_error(self.client.hooks(), hook);
    }

    /// Adds a hook on breaker, health and alert events.
    #[wasm_bindgen(js_name = onEvent)]
    pub fn on_event(&self, #[wasm_bindgen(unchecked_param_type = "EventHook")] hook: Function) {
        hooks::on_event(self.client.hooks(), hook);
    }

    /// Adds a hook that hears every failing hook.
    #[wasm_bindgen(js_name = onHookFailure)]
    pub fn on_hook_failure(
        &self,
        #[wasm_bindgen(unchecked_param_type = "FailureHook")] hook: Function,
    ) {
        hooks::on_hook_failure(self.client.hooks(), hook);
    }

    /// Closes the client: later requests reject with kind "closed"; its background work stops.
    pub fn close(&self) {
        self.client.close();
    }

    /// Whether `close()` was called.
    #[wasm_bindgen(getter)]
    pub fn closed(&self) -> bool {
        self.client.is_closed()
    }
}

/// A client for one upstream service: a base URL its endpoints cannot leave, a name that keys
/// its breaker and metrics, and 4xx/5xx as rejections of kind "status".
#[wasm_bindgen]
pub struct TetherServiceClient {
    inner: ServiceClient,
}

impl TetherServiceClient {
    /// The Rust service client behind this object.
    pub fn service_client(&self) -> &ServiceClient {
        &self.inner
    }

    fn send(&self, method_name: &str, endpoint: &str, options: &JsValue) -> Promise {
        let prepared = method(method_name)
            .and_then(|m| prepare(self.inner.call_service(m, endpoint), options));
        match prepared {
            Ok(p) => send_promise(p, true),
            Err(e) => Promise::reject(&e),
        }
    }
}

#[wasm_bindgen]
impl TetherServiceClient {
    /// The service name.
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.inner.service_name().to_owned()
    }

    /// The base URL (without a trailing `/`).
    #[wasm_bindgen(getter, js_name = baseUrl)]
    pub fn base_url(&self) -> String {
        self.inner.base_url().to_owned()
    }

    /// Sends `method` to `endpoint` (a path under the base URL); 4xx and 5xx reject.
    #[wasm_bindgen(unchecked_return_type = "Promise<TetherResponse>")]
    pub fn request(
        &self,
        method: &str,
        endpoint: &str,
        #[wasm_bindgen(unchecked_optional_param_type = "RequestOptions")] options: &JsValue,
    ) -> Promise {
        self.send(method, endpoint, options)
    }

    /// `GET endpoint`.
    #[wasm_bindgen(unchecked_return_type = "Promise<TetherResponse>")]
    pub fn get(
        &self,
        endpoint: &str,
        #[wasm_bindgen(unchecked_optional_param_type = "RequestOptions")] options: &JsValue,
    ) -> Promise {
        self.send("GET", endpoint, options)
    }

    /// `POST endpoint`.
    #[wasm_bindgen(unchecked_return_type = "Promise<TetherResponse>")]
    pub fn post(
        &self,
        endpoint: &str,
        #[wasm_bindgen(unchecked_optional_param_type = "RequestOptions")] options: &JsValue,
    ) -> Promise {
        self.send("POST", endpoint, options)
    }

    /// `PUT endpoint`.
    #[wasm_bindgen(unchecked_return_type = "Promise<TetherResponse>")]
    pub fn put(
        &self,
        endpoint: &str,
        #[wasm_bindgen(unchecked_optional_param_type = "RequestOptions")] options: &JsValue,
    ) -> Promise {
        self.send("PUT", endpoint, options)
    }

    /// `DELETE endpoint`.
    #[wasm_bindgen(unchecked_return_type = "Promise<TetherResponse>")]
    pub fn delete(
        &self,
        endpoint: &str,
        #[wasm_bindgen(unchecked_optional_param_type = "RequestOptions")] options: &JsValue,
    ) -> Promise {
        self.send("DELETE", endpoint, options)
    }

    /// This service's numbers, then its client's totals.
    #[wasm_bindgen(unchecked_return_type = "ServiceMetrics")]
    pub fn metrics(&self) -> JsValue {
        to_js(&self.inner.metrics())
    }

    /// This service's breaker.
    #[wasm_bindgen(js_name = breakerState, unchecked_return_type = "CircuitBreakerState")]
    pub fn breaker_state(&self) -> JsValue {
        to_js(&self.inner.circuit_breaker_state())
    }

    /// Probes the health path directly (no cache, retry or breaker) and reports the result
    /// to the client's health tracker.
    #[wasm_bindgen(js_name = healthCheck, unchecked_return_type = "Promise<HealthCheck>")]
    pub fn health_check(&self) -> Promise {
        let inner = self.inner.clone();
        wasm_bindgen_futures::future_to_promise(
            async move { Ok(to_js(&inner.health_check().await)) },
        )
    }
}
