//! [`FetchTransport`]: one HTTP attempt over the host's `fetch`, with an `AbortController`
//! for its time limit and for cancellation.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use js_sys::Uint8Array;
use tether_core::{Outcome, Request, Response, Transport, TransportError, TransportErrorKind};
use wasm_bindgen::JsCast as _;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortController, Headers, ReadableStreamDefaultReader, ReadableStreamReadResult, RequestCache,
    RequestCredentials, RequestInit, RequestMode, RequestRedirect,
};

use crate::global::{describe, fetch_request};
use crate::timer::Timer;

/// The future of one [`FetchTransport`] attempt (not `Send`: it holds JavaScript objects).
pub type SendFuture = Pin<Box<dyn Future<Output = Outcome>>>;

/// How a [`FetchTransport`] calls `fetch`.
///
/// Build it with struct-update syntax: `FetchConfig { credentials: RequestCredentials::Include,
/// ..FetchConfig::default() }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchConfig {
    /// `RequestInit.mode`. Default `cors`.
    pub mode: RequestMode,
    /// `RequestInit.credentials`: whether the browser attaches its cookies and HTTP
    /// authentication. Default `same-origin` (what `fetch` does). The client's cache cannot see
    /// what the browser attaches, so with cookies that change while the page lives (a log-out,
    /// another user logging in) clear the cache at that moment
    /// ([`HttpClient::with_engine`](tether_core::client::HttpClient::with_engine) +
    /// `Engine::invalidate_cache`, or `clearCache()` in JavaScript).
    pub credentials: RequestCredentials,
    /// `RequestInit.cache`: the browser's own HTTP cache. Default `no-store`, so that every
    /// attempt the engine sends reaches the network and the engine's cache (with its
    /// credential partition, revalidation and metrics) is the only one in play.
    pub cache: RequestCache,
    /// `RequestInit.redirect`. Default `follow`: a page cannot see a 3xx response (`manual`
    /// yields an opaque one, which this transport reports as an error), so redirects are
    /// followed by the host and the engine sees where they lead.
    pub redirect: RequestRedirect,
    /// Limit on a whole attempt when the caller passes none (the client always passes the
    /// engine's per-attempt limit when one is configured). `None`: no limit.
    pub timeout: Option<Duration>,
    /// The largest response body accepted; a larger one aborts the attempt with
    /// [`TransportErrorKind::BodyTooLarge`]. The body is read as a stream, so the limit holds
    /// without buffering more than one chunk past it. Default 16 MiB.
    pub max_body_bytes: u64,
    /// Send the request's `User-Agent` header. Default `false`: a browser sends its own
    /// (Chromium ignores the header, and in Firefox it would make every cross-origin request a
    /// preflighted one).
    pub send_user_agent: bool,
}

impl FetchConfig {
    /// The default response body limit: 16 MiB.
    pub const DEFAULT_MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            mode: RequestMode::Cors,
            credentials: RequestCredentials::SameOrigin,
            cache: RequestCache::NoStore,
            redirect: RequestRedirect::Follow,
            timeout: Some(Duration::from_secs(30)),
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            send_user_agent: false,
        }
    }
}

/// A [`Transport`] over the global `fetch` of a browser window, a worker or Node 20.
///
/// Every status comes back as a response; only failures below HTTP are
/// [`TransportError`]s:
///
/// | kind | when |
/// |---|---|
/// | `Timeout` | the attempt's time limit passed: the fetch (or its body) was aborted |
/// | `Connect` | Node: refused, unreachable, DNS failure, TLS |
/// | `Reset` | Node: the connection dropped mid-exchange. **Browsers:** every network failure — refused, DNS, reset, blocked by CORS — because a browser reports them all as one `TypeError` that does not say whether the request reached the server (so a `POST` is never retried on a guess) |
/// | `BodyTooLarge` | the body passed [`FetchConfig::max_body_bytes`] |
/// | `Protocol` | an opaque response (`no-cors` mode, or `redirect: manual`): no status to show |
/// | `InvalidRequest` | a request `fetch` refuses (a forbidden method, a body on `GET`, a header value it will not carry): the caller's mistake, nothing sent |
/// | `Other` | no `fetch` or `setTimeout` in this host |
///
/// Request headers that `fetch` manages itself (`Host`, `Content-Length`, `Connection`,
/// `Transfer-Encoding`, …) are not passed on, nor `User-Agent` unless
/// [`FetchConfig::send_user_agent`]; a browser silently drops the rest of its forbidden
/// names (`Cookie`, `Origin`, …). In a cross-origin call the engine sees only the response
/// headers the server exposes (`Access-Control-Expose-Headers`): expose `ETag`, `Age`,
/// `Retry-After` and `Last-Modified` for revalidation and `Retry-After` to work.
///
/// Dropping an attempt's future aborts its fetch. Messages name the method and the URL with
/// secrets redacted; they never include header values. Cheap to clone; it holds only its
/// configuration.
#[derive(Clone, Copy, Debug, Default)]
pub struct FetchTransport {
    config: FetchConfig,
}

impl FetchTransport {
    /// A transport configured by `config`.
    pub fn new(config: FetchConfig) -> Self {
        FetchTransport { config }
    }

    /// The configuration.
    pub fn config(&self) -> &FetchConfig {
        &self.config
    }
}

impl Transport for FetchTransport {
    type Send = SendFuture;

    /// Starts one attempt. `timeout`, when given, replaces [`FetchConfig::timeout`] and covers
    /// the whole attempt, up to the last body byte.
    fn send(&self, request: Request, timeout: Option<Duration>) -> SendFuture {
        Box::pin(send(self.config, request, timeout.or(self.config.timeout)))
    }
}

/// Request headers `fetch` owns (the hop-by-hop and framing ones): never passed on.
const FETCH_OWNED: [&str; 9] = [
    "connection",
    "content-length",
    "expect",
    "host",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Aborts the fetch when the attempt's future is dropped before it finished.
struct AbortOnDrop {
    controller: AbortController,
    finished: bool,
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if !self.finished {
            self.controller.abort();
        }
    }
}

async fn send(config: FetchConfig, request: Request, limit: Option<Duration>) -> Outcome {
    let method = request.method().clone();
    let uri = request.uri().clone();
    // The failures below carry their detail only; this adds the method and the URL, redacted.
    let fail = |failure: TransportError| {
        Err(TransportError::for_request(
            failure.kind,
            &failure.message,
            &method,
            &uri,
        ))
    };

    let controller = match AbortController::new() {
        Ok(c) => c,
        Err(e) => return fail(TransportError::new(TransportErrorKind::Other, describe(&e))),
    };
    let mut guard = AbortOnDrop {
        controller: controller.clone(),
        finished: false,
    };
    let timed_out = Rc::new(Cell::new(false));
    let _timer = match limit {
        Some(limit) => {
            let (controller, timed_out) = (controller.clone(), Rc::clone(&timed_out));
            let timer = Timer::start(limit.as_secs_f64() * 1000.0, move || {
                timed_out.set(true);
                controller.abort();
            });
            if timer.is_none() {
                return fail(TransportError::new(
                    TransportErrorKind::Other,
                    "setTimeout is not available",
                ));
            }
            timer
        }
        None => None,
    };
    let limit_ms = limit.map_or(0, |l| l.as_millis());
    let timeout = || {
        TransportError::new(
            TransportErrorKind::Timeout,
            format!("aborted after {limit_ms} ms"),
        )
    };

    let js_request = match build_request(&config, request, &controller) {
        Ok(r) => r,
        Err(failure) => return fail(failure),
    };
    let response = match JsFuture::from(fetch_request(&js_request)).await {
        Ok(r) => r,
        Err(_) if timed_out.get() => return fail(timeout()),
        Err(e) => return fail(fetch_error(&e)),
    };
    let Ok(response) = response.dyn_into::<web_sys::Response>() else {
        return fail(TransportError::new(
            TransportErrorKind::Other,
            "fetch resolved to something other than a Response",
        ));
    };
    let result = read_response(&config, &response).await;
    guard.finished = true;
    match result {
        Ok(response) => Ok(response),
        Err(_) if timed_out.get() => fail(timeout()),
        Err(failure) => {
            // A body left unread would keep its connection busy.
            controller.abort();
            fail(failure)
        }
    }
}

/// The `fetch` request; a refusal (a header value `fetch` will not carry, a body on `GET`, a
/// forbidden method) is the caller's mistake: [`TransportErrorKind::InvalidRequest`], sent
/// nowhere and never counted against the upstream.
fn build_request(
    config: &FetchConfig,
    request: Request,
    controller: &AbortController,
) -> Result<web_sys::Request, TransportError> {
    let js_error =
        |e: JsValue| TransportError::new(TransportErrorKind::InvalidRequest, describe(&e));
    let (parts, body) = request.into_parts();
    let init = RequestInit::new();
    init.set_method(parts.method.as_str());
    init.set_mode(config.mode);
    init.set_credentials(config.credentials);
    init.set_cache(config.cache);
    init.set_redirect(config.redirect);
    init.set_signal(Some(&controller.signal()));
    let headers = Headers::new().map_err(js_error)?;
    for (name, value) in &parts.headers {
        let name = name.as_str();
        if FETCH_OWNED.contains(&name) || (name == "user-agent" && !config.send_user_agent) {
            continue;
        }
        headers
            .append(name, &latin1(value.as_bytes()))
            .map_err(|_| {
                TransportError::new(
                    TransportErrorKind::InvalidRequest,
                    format!("fetch refused the request header {name}"),
                )
            })?;
    }
    init.set_headers(&headers);
    if !body.is_empty() {
        init.set_body(&Uint8Array::from(&body[..]));
    }
    web_sys::Request::new_with_str_and_init(&parts.uri.to_string(), &init).map_err(js_error)
}

/// Header bytes as the `ByteString` JavaScript expects: one char per byte.
fn latin1(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) if s.is_ascii() => s.to_owned(),
        _ => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// A `ByteString` back to header bytes (chars above U+00FF cannot come from a real header).
fn from_latin1(s: &str) -> Option<Vec<u8>> {
    s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
}

async fn read_response(
    config: &FetchConfig,
    response: &web_sys::Response,
) -> Result<Response, TransportError> {
    let status = response.status();
    if status == 0 {
        return Err(TransportError::new(
            TransportErrorKind::Protocol,
            "opaque response (no-cors mode or a redirect not followed): no status or body to show",
        ));
    }
    let status = StatusCode::from_u16(status).map_err(|_| {
        TransportError::new(
            TransportErrorKind::Protocol,
            format!("invalid status {status}"),
        )
    })?;
    let headers = response_headers(&response.headers());
    let expected = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let limit = config.max_body_bytes;
    let body = read_body(response, limit, expected).await?;
    let mut out = Response::new(Bytes::from(body));
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}

/// The response's headers (lower-case names; the host joins repeated ones with `, `). A name
/// or value `http` cannot hold is left out.
fn response_headers(headers: &Headers) -> HeaderMap {
    let mut map = HeaderMap::new();
    let Ok(Some(entries)) = js_sys::try_iter(headers) else {
        return map;
    };
    for entry in entries.flatten() {
        let pair: js_sys::Array = entry.unchecked_into();
        let (Some(name), Some(value)) = (pair.get(0).as_string(), pair.get(1).as_string()) else {
            continue;
        };
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        if let Some(value) = from_latin1(&value).and_then(|v| HeaderValue::from_bytes(&v).ok()) {
            map.append(name, value);
        }
    }
    map
}

/// Reads the body chunk by chunk, refusing it as soon as it passes `limit`.
async fn read_body(
    response: &web_sys::Response,
    limit: u64,
    expected: Option<u64>,
) -> Result<Vec<u8>, TransportError> {
    if expected.is_some_and(|n| n > limit) {
        return Err(body_too_large(limit));
    }
    let Some(stream) = response.body() else {
        return Ok(Vec::new());
    };
    let reader: ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    let capacity = usize::try_from(expected.unwrap_or(0).min(limit)).unwrap_or(0);
    let mut body = Vec::with_capacity(capacity);
    loop {
        let chunk = JsFuture::from(reader.read())
            .await
            .map_err(|e| body_error(&e))?;
        let chunk: ReadableStreamReadResult = chunk.unchecked_into();
        if chunk.get_done().unwrap_or(false) {
            return Ok(body);
        }
        let Ok(bytes) = chunk.get_value().dyn_into::<Uint8Array>() else {
            return Err(TransportError::new(
                TransportErrorKind::Protocol,
                "the body stream yielded something other than bytes",
            ));
        };
        let len = bytes.length() as usize;
        if (body.len() + len) as u64 > limit {
            let _ = reader.cancel();
            return Err(body_too_large(limit));
        }
        let start = body.len();
        body.resize(start + len, 0);
        bytes.copy_to(&mut body[start..]);
    }
}

fn body_too_large(limit: u64) -> TransportError {
    TransportError::new(
        TransportErrorKind::BodyTooLarge,
        format!("the response body passed the limit of {limit} bytes"),
    )
}

/// A rejected `fetch()`.
fn fetch_error(error: &JsValue) -> TransportError {
    let (name, codes, message) = error_facts(error);
    let kind = classify(&name, &codes, Stage::Fetch);
    TransportError::new(kind, detail(&message, &codes))
}

/// A failed read of the body.
fn body_error(error: &JsValue) -> TransportError {
    let (name, codes, message) = error_facts(error);
    let kind = classify(&name, &codes, Stage::Body);
    TransportError::new(
        kind,
        format!("reading the body: {}", detail(&message, &codes)),
    )
}

fn detail(message: &str, codes: &[String]) -> String {
    if codes.is_empty() {
        message.to_owned()
    } else {
        format!("{message} ({})", codes.join(", "))
    }
}

/// The error's name, the `code`s along its `cause` chain (Node's undici puts the system
/// error there: `ECONNREFUSED`, `UND_ERR_SOCKET`, …), and its message.
fn error_facts(error: &JsValue) -> (String, Vec<String>, String) {
    let name = js_sys::Reflect::get(error, &JsValue::from_str("name"))
        .ok()
        .and_then(|n| n.as_string())
        .unwrap_or_default();
    let mut codes = Vec::new();
    let mut cause = error.clone();
    for _ in 0..4 {
        if !cause.is_object() {
            break;
        }
        if let Some(code) = js_sys::Reflect::get(&cause, &JsValue::from_str("code"))
            .ok()
            .and_then(|c| c.as_string())
        {
            codes.push(code);
        }
        match js_sys::Reflect::get(&cause, &JsValue::from_str("cause")) {
            Ok(next) if !next.is_undefined() && !next.is_null() => cause = next,
            _ => break,
        }
    }
    (name, codes, describe(error))
}

/// Where a failure happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Before the response's head arrived.
    Fetch,
    /// While reading the body.
    Body,
}

/// The class of a `fetch` failure from the error's name and its cause codes.
fn classify(name: &str, codes: &[String], stage: Stage) -> TransportErrorKind {
    use TransportErrorKind as K;
    for code in codes {
        let kind = match code.as_str() {
            "ECONNREFUSED"
            | "ENOTFOUND"
            | "EAI_AGAIN"
            | "EHOSTUNREACH"
            | "ENETUNREACH"
            | "EHOSTDOWN"
            | "ENETDOWN"
            | "EADDRNOTAVAIL"
            | "UND_ERR_CONNECT"
            | "CERT_HAS_EXPIRED"
            | "DEPTH_ZERO_SELF_SIGNED_CERT"
            | "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
            | "ERR_TLS_CERT_ALTNAME_INVALID" => K::Connect,
            "ETIMEDOUT"
            | "UND_ERR_CONNECT_TIMEOUT"
            | "UND_ERR_HEADERS_TIMEOUT"
            | "UND_ERR_BODY_TIMEOUT" => K::Timeout,
            "ECONNRESET" | "EPIPE" | "ECONNABORTED" | "UND_ERR_SOCKET" | "UND_ERR_CLOSED" => {
                K::Reset
            }
            "HPE_INVALID_CONSTANT"
            | "HPE_INVALID_HEADER_TOKEN"
            | "HPE_INVALID_STATUS"
            | "HPE_UNEXPECTED_CONTENT_LENGTH"
            | "UND_ERR_RES_CONTENT_LENGTH_MISMATCH" => K::Protocol,
            "UND_ERR_RES_EXCEEDED_MAX_SIZE" => K::BodyTooLarge,
            "UND_ERR_INVALID_ARG" | "UND_ERR_NOT_SUPPORTED" | "ERR_INVALID_URL" => {
                K::InvalidRequest
            }
            _ => continue,
        };
        return kind;
    }
    match name {
        // A browser says only "Failed to fetch" (Chromium), "NetworkError when attempting to
        // fetch resource." (Firefox) or "Load failed" (Safari) for every network failure, and
        // a body cut short is a network error too. Neither says whether the request reached
        // the server, so it is the class that retries only idempotent requests.
        "TypeError" => K::Reset,
        // Only the transport itself aborts (its time limit, or its future dropped).
        "AbortError" | "TimeoutError" => K::Timeout,
        _ if stage == Stage::Body => K::Reset,
        _ => K::Other,
    }
}

#[cfg(test)]
mod tests {
    use http::{Method, Uri};

    use super::*;

    fn codes(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn node_cause_codes_are_classified() {
        use TransportErrorKind as K;
        let kind = |c: &[&str]| classify("TypeError", &codes(c), Stage::Fetch);
        assert_eq!(kind(&["ECONNREFUSED"]), K::Connect);
        assert_eq!(kind(&["ENOTFOUND"]), K::Connect);
        assert_eq!(kind(&["UND_ERR_CONNECT_TIMEOUT"]), K::Timeout);
        assert_eq!(kind(&["UND_ERR_SOCKET"]), K::Reset);
        assert_eq!(kind(&["ECONNRESET"]), K::Reset);
        assert_eq!(kind(&["HPE_INVALID_CONSTANT"]), K::Protocol);
        // An unknown code falls through to the next, then to the name.
        assert_eq!(kind(&["E_SOMETHING", "ECONNREFUSED"]), K::Connect);
        assert_eq!(kind(&["E_SOMETHING"]), K::Reset);
    }

    #[test]
    fn browser_network_errors_never_look_like_connect_errors() {
        // A browser's opaque TypeError may hide a request that reached the server: it must
        // not be `Connect`, which retries even non-idempotent requests.
        assert_eq!(
            classify("TypeError", &[], Stage::Fetch),
            TransportErrorKind::Reset
        );
        assert_eq!(
            classify("TypeError", &[], Stage::Body),
            TransportErrorKind::Reset
        );
        assert_eq!(
            classify("AbortError", &[], Stage::Fetch),
            TransportErrorKind::Timeout
        );
        assert_eq!(
            classify("SyntaxError", &[], Stage::Fetch),
            TransportErrorKind::Other
        );
    }

    #[test]
    fn header_bytes_round_trip_through_byte_strings() {
        let raw = b"caf\xe9 \x7f ok";
        let s = latin1(raw);
        assert_eq!(s.chars().count(), raw.len());
        assert_eq!(from_latin1(&s).unwrap(), raw);
        assert_eq!(latin1(b"plain"), "plain");
        assert!(from_latin1("\u{20ac}").is_none());
    }

    #[test]
    fn messages_redact_the_url() {
        let uri: Uri = "http://user:pw@example.com/x?api_key=SECRET&q=1"
            .parse()
            .unwrap();
        let error = TransportError::for_request(
            TransportErrorKind::Reset,
            "Failed to fetch",
            &Method::GET,
            &uri,
        );
        assert!(!error.message.contains("SECRET"), "{}", error.message);
        assert!(!error.message.contains("pw"), "{}", error.message);
        assert!(error.message.starts_with("Failed to fetch (GET http://"));
    }
}
