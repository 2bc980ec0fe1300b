//! The routes of the chaos upstream (see the crate docs for the full table).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequestParts, Path, RawPathParams, Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, patch, post, put};
use serde_json::{Map, Value, json};

use crate::state::Chaos;

type Shared = Arc<Chaos>;
type Reply = Result<Response, BadRequest>;

/// Largest `/delay` and `/slow-body` interval honoured, in milliseconds.
const MAX_DELAY_MS: u64 = 60_000;
/// Largest request body the echoing routes read.
const MAX_BODY: usize = 16 * 1024 * 1024;
/// `Last-Modified` of version 1 of every `/etag/{key}` (2023-11-14T22:13:20Z); each later
/// version is one hour newer.
const ETAG_EPOCH_SECS: u64 = 1_700_000_000;

/// Builds the whole application.
pub(crate) fn router(state: Shared, cors: bool) -> Router {
    let counted = Router::new()
        .route("/health", get(health))
        .route("/status/{code}", any(status))
        .route("/delay/{ms}", any(delay))
        .route("/flaky/{key}", any(flaky))
        .route("/reset", any(reset))
        .route("/slow-body", any(slow_body))
        .route("/retry-after/{value}", any(retry_after))
        .route("/retry-after-date/{seconds}", any(retry_after_date))
        .route("/etag/{key}", get(etag))
        .route("/cache/no-store", get(cache_no_store))
        .route("/cache/no-cache", get(cache_no_cache))
        .route("/cache/swr/{max_age}/{swr}", get(cache_swr))
        .route("/cache/sie/{max_age}/{sie}", get(cache_sie))
        .route("/cache/{max_age}", get(cache_max_age))
        .route("/vary", any(vary))
        .route("/echo", any(echo))
        .route("/get", get(httpbin_get))
        .route("/post", post(httpbin_body))
        .route("/put", put(httpbin_body))
        .route("/patch", patch(httpbin_body))
        .route("/delete", delete(httpbin_body))
        .route("/anything", any(httpbin_body))
        .route("/anything/{*rest}", any(httpbin_body))
        .route("/auth/{key}", any(auth))
        .route("/json/small", get(json_small))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            count_and_down,
        ));
    let uncounted = Router::new()
        .route("/count", get(count_all))
        .route("/count/{key}", get(count_key))
        .route("/admin/down", any(admin_down_global))
        .route("/admin/down/{key}", any(admin_down_key))
        .route("/admin/slow", any(admin_slow_global))
        .route("/admin/slow/{key}", any(admin_slow_key))
        .route("/admin/bump/{key}", any(admin_bump))
        .route("/reset-state", post(reset_state));
    let app = counted
        .merge(uncounted)
        .fallback(not_found)
        .layer(middleware::from_fn(cache_control_override))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state);
    if cors {
        app.layer(middleware::from_fn(cors_layer))
    } else {
        app
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// The decoded query parameters of a request, in order.
struct Params(Vec<(String, String)>);

impl Params {
    fn of(uri: &Uri) -> Self {
        Self(
            axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
                .map(|axum::extract::Query(v)| v)
                .unwrap_or_default(),
        )
    }

    /// The last value given for `name`.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `name` parsed as `T`, `default` when absent; a 400 response when malformed.
    fn num<T: FromStr>(&self, name: &str, default: T) -> Result<T, BadRequest> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(raw) => raw.parse().map_err(|_| {
                bad_request(&format!("query parameter `{name}` is malformed: {raw:?}"))
            }),
        }
    }

    /// An optional status code in `name`; a 400 response when it is not a final status.
    fn status(&self, name: &str, default: u16) -> Result<StatusCode, BadRequest> {
        final_status(self.num(name, default)?)
    }

    /// An on/off switch (`1`/`true`/`on` vs `0`/`false`/`off`), `default` when absent.
    fn flag(&self, name: &str, default: bool) -> Result<bool, BadRequest> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some("1" | "true" | "on" | "yes") => Ok(true),
            Some("0" | "false" | "off" | "no") => Ok(false),
            Some(raw) => Err(bad_request(&format!(
                "query parameter `{name}` must be 1 or 0: {raw:?}"
            ))),
        }
    }

    /// httpbin's `args`: one string per name, an array when repeated.
    fn to_args(&self) -> Value {
        let mut args = Map::new();
        for (k, v) in &self.0 {
            match args.get_mut(k) {
                None => {
                    args.insert(k.clone(), Value::String(v.clone()));
                }
                Some(Value::Array(list)) => list.push(Value::String(v.clone())),
                Some(first) => {
                    let first = first.take();
                    args.insert(
                        k.clone(),
                        Value::Array(vec![first, Value::String(v.clone())]),
                    );
                }
            }
        }
        Value::Object(args)
    }
}

fn final_status(code: u16) -> Result<StatusCode, BadRequest> {
    if !(200..=599).contains(&code) {
        return Err(bad_request(&format!(
            "status must be a final status in 200..=599, got {code}"
        )));
    }
    StatusCode::from_u16(code).map_err(|_| bad_request(&format!("invalid status {code}")))
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A malformed request parameter: answered 400 with `{"error": message}`.
struct BadRequest(String);

impl IntoResponse for BadRequest {
    fn into_response(self) -> Response {
        json_response(StatusCode::BAD_REQUEST, &json!({ "error": self.0 }))
    }
}

fn bad_request(message: &str) -> BadRequest {
    BadRequest(message.to_owned())
}

fn set_header(resp: &mut Response, name: HeaderName, value: &str) -> Result<(), BadRequest> {
    let value = HeaderValue::from_str(value)
        .map_err(|_| bad_request(&format!("`{value}` is not a valid {name} value")))?;
    resp.headers_mut().insert(name, value);
    Ok(())
}

/// Header names lowercased (as received) to values; repeated headers joined with ", ".
fn headers_lower(headers: &HeaderMap) -> Value {
    let mut out = BTreeMap::<String, String>::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        out.entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    json!(out)
}

/// httpbin's header map: names in Title-Case.
fn headers_title(headers: &HeaderMap) -> Value {
    let Value::Object(lower) = headers_lower(headers) else {
        return json!({});
    };
    let titled: Map<String, Value> = lower
        .into_iter()
        .map(|(name, value)| {
            let title = name
                .split('-')
                .map(|part| {
                    let mut chars = part.chars();
                    chars.next().map_or_else(String::new, |c| {
                        c.to_ascii_uppercase().to_string() + chars.as_str()
                    })
                })
                .collect::<Vec<_>>()
                .join("-");
            (title, value)
        })
        .collect();
    Value::Object(titled)
}

fn full_url(uri: &Uri, headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.authority().map(ToString::to_string))
        .unwrap_or_else(|| "127.0.0.1".to_owned());
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    format!("http://{host}{path}")
}

fn origin(peer: Option<&ConnectInfo<SocketAddr>>) -> String {
    peer.map_or_else(
        || "127.0.0.1".to_owned(),
        |ConnectInfo(addr)| addr.ip().to_string(),
    )
}

/// FNV-1a, 64 bits: a stable fingerprint that never reveals the input.
fn fingerprint(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

fn system_time_from_secs(offset: i64) -> SystemTime {
    let now = SystemTime::now();
    let magnitude = Duration::from_secs(offset.unsigned_abs());
    if offset >= 0 {
        now.checked_add(magnitude).unwrap_or(now)
    } else {
        now.checked_sub(magnitude).unwrap_or(UNIX_EPOCH)
    }
}

// ---------------------------------------------------------------------------------------------
// Middleware

/// Counts the request against its keys (path `{key}` and `?key=`) before anything else, waits
/// for a slow key (or a globally slow server), then answers for a down key (or a globally down
/// server) instead of the route.
async fn count_and_down(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let mut keys: Vec<String> = Vec::with_capacity(2);
    if let Ok(params) = RawPathParams::from_request_parts(&mut parts, &()).await {
        keys.extend(
            params
                .iter()
                .filter(|(name, _)| *name == "key")
                .map(|(_, value)| value.to_owned()),
        );
    }
    if let Some(key) = Params::of(&parts.uri).get("key") {
        keys.push(key.to_owned());
    }
    state.hit(keys.iter().map(String::as_str));
    if let Some(ms) = state.slow_ms(keys.iter().map(String::as_str)) {
        tokio::time::sleep(Duration::from_millis(ms.min(MAX_DELAY_MS))).await;
    }
    if let Some(code) = state.down_status(keys.iter().map(String::as_str)) {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        return json_response(
            status,
            &json!({ "down": true, "keys": keys, "status": code }),
        );
    }
    next.run(Request::from_parts(parts, body)).await
}

/// `?cache_control=V` on any route replaces the response's `Cache-Control` with `V`.
async fn cache_control_override(req: Request, next: Next) -> Response {
    let value = Params::of(req.uri())
        .get("cache_control")
        .and_then(|v| HeaderValue::from_str(v).ok());
    let mut resp = next.run(req).await;
    if let Some(value) = value {
        resp.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    resp
}

/// The methods every preflight allows (a custom requested method is added to them).
const STANDARD_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

/// Permissive CORS for browser tests: answers preflights, exposes every header.
async fn cors_layer(req: Request, next: Next) -> Response {
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut resp = if preflight {
        let mut resp = StatusCode::NO_CONTENT.into_response();
        let h = resp.headers_mut();
        // `*` does not cover `Authorization`, so echo what the browser asks for as well.
        let requested = req
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.trim().is_empty())
            .map_or_else(|| "*".to_owned(), |v| format!("*, {v}"));
        let methods = req
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|v| v.to_str().ok())
            .map_or_else(
                || STANDARD_METHODS.to_owned(),
                |m| {
                    if STANDARD_METHODS
                        .split(", ")
                        .any(|s| s.eq_ignore_ascii_case(m.trim()))
                    {
                        STANDARD_METHODS.to_owned()
                    } else {
                        format!("{STANDARD_METHODS}, {}", m.trim())
                    }
                },
            );
        if let Ok(v) = HeaderValue::from_str(&requested) {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
        if let Ok(v) = HeaderValue::from_str(&methods) {
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
        }
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        resp
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.entry(header::ACCESS_CONTROL_ALLOW_HEADERS)
        .or_insert(HeaderValue::from_static("*"));
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("*"),
    );
    resp
}

// ---------------------------------------------------------------------------------------------
// Plain routes

async fn health() -> Response {
    json_response(StatusCode::OK, &json!({ "status": "healthy" }))
}

async fn not_found(uri: Uri) -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({ "error": "not found", "path": uri.path() }),
    )
}

async fn status(Path(code): Path<u16>, uri: Uri) -> Reply {
    let params = Params::of(&uri);
    let status = final_status(code)?;
    let mut resp = if status == StatusCode::NO_CONTENT
        || status == StatusCode::RESET_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        status.into_response()
    } else if let Some(body) = params.get("body") {
        (status, body.to_owned()).into_response()
    } else {
        json_response(status, &json!({ "status": code }))
    };
    if let Some(v) = params.get("retry_after") {
        set_header(&mut resp, header::RETRY_AFTER, v)?;
    }
    if let Some(v) = params.get("location") {
        set_header(&mut resp, header::LOCATION, v)?;
    }
    Ok(resp)
}

async fn delay(
    Path(ms): Path<u64>,
    uri: Uri,
    headers: HeaderMap,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
) -> Response {
    let ms = ms.min(MAX_DELAY_MS);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    json_response(
        StatusCode::OK,
        &json!({
            "args": Params::of(&uri).to_args(),
            "delay_ms": ms,
            "headers": headers_title(&headers),
            "origin": origin(peer.as_ref().map(|p| &p.0)),
            "url": full_url(&uri, &headers),
        }),
    )
}

async fn flaky(State(state): State<Shared>, Path(key): Path<String>, uri: Uri) -> Reply {
    let params = Params::of(&uri);
    let fail: u64 = params.num("fail", 1)?;
    let status = params.status("status", 503)?;
    let attempt = state.attempt(&key);
    if attempt <= fail {
        let mut resp = json_response(
            status,
            &json!({ "key": key, "attempt": attempt, "failing": true }),
        );
        if let Some(v) = params.get("retry_after") {
            set_header(&mut resp, header::RETRY_AFTER, v)?;
        }
        return Ok(resp);
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({ "key": key, "attempt": attempt }),
    ))
}

/// `/reset` (default `?at=body`): headers announcing 1024 bytes, 16 of them, then the
/// connection is dropped. (`?at=headers` is handled before routing, in the server.)
async fn reset() -> Response {
    let stream = futures::stream::unfold(0_u8, |step| async move {
        match step {
            0 => Some((Ok(Bytes::from_static(b"partial-body-16\n")), 1)),
            1 => {
                // Let hyper flush the headers and the first chunk before the abort.
                tokio::time::sleep(Duration::from_millis(50)).await;
                Some((Err(std::io::Error::other("chaos: connection reset")), 2))
            }
            _ => None,
        }
    });
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("1024"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    resp
}

async fn slow_body(uri: Uri) -> Reply {
    let params = Params::of(&uri);
    let chunks: u64 = params.num("chunks", 5)?.min(10_000);
    let interval = Duration::from_millis(params.num("interval_ms", 100_u64)?.min(MAX_DELAY_MS));
    let chunk_size: usize = params.num("chunk_size", 16_usize)?.clamp(1, 1024 * 1024);
    let declare_length = params.flag("content_length", false)?;
    let stream = futures::stream::unfold(0_u64, move |i| async move {
        if i >= chunks {
            return None;
        }
        if i > 0 {
            tokio::time::sleep(interval).await;
        }
        let letter = b'a' + (i % 26) as u8;
        let mut chunk = vec![letter; chunk_size];
        if let Some(last) = chunk.last_mut() {
            *last = b'\n';
        }
        Some((Ok::<_, Infallible>(Bytes::from(chunk)), i + 1))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    if declare_length {
        let total = chunks * chunk_size as u64;
        set_header(&mut resp, header::CONTENT_LENGTH, &total.to_string())?;
    }
    Ok(resp)
}

/// Shared by both `/retry-after*` routes: fail with `Retry-After: value` unless the
/// `?key=K&fail=N` script says this attempt succeeds.
fn retry_after_reply(state: &Chaos, uri: &Uri, value: &str) -> Reply {
    let params = Params::of(uri);
    let status = params.status("status", 503)?;
    let fail: u64 = params.num("fail", 1)?;
    let attempt = match params.get("key") {
        Some(key) => {
            let attempt = state.attempt(key);
            if attempt > fail {
                return Ok(json_response(
                    StatusCode::OK,
                    &json!({ "key": key, "attempt": attempt }),
                ));
            }
            Some(attempt)
        }
        None => None,
    };
    let mut resp = json_response(
        status,
        &json!({ "retry_after": value, "attempt": attempt, "key": params.get("key") }),
    );
    set_header(&mut resp, header::RETRY_AFTER, value)?;
    Ok(resp)
}

async fn retry_after(State(state): State<Shared>, Path(value): Path<String>, uri: Uri) -> Reply {
    retry_after_reply(&state, &uri, &value)
}

async fn retry_after_date(
    State(state): State<Shared>,
    Path(seconds): Path<i64>,
    uri: Uri,
) -> Reply {
    let date = httpdate::fmt_http_date(system_time_from_secs(seconds));
    retry_after_reply(&state, &uri, &date)
}

// ---------------------------------------------------------------------------------------------
// Caching routes

/// Does any entity tag in an `If-None-Match` list match `etag` (weak comparison)?
fn if_none_match_matches(list: &str, etag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let want = strip(etag);
    list.split(',').any(|t| t.trim() == "*" || strip(t) == want)
}

async fn etag(
    State(state): State<Shared>,
    Path(key): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Reply {
    let params = Params::of(&uri);
    let max_age: u64 = params.num("max_age", 0)?;
    let version = state.etag_version(&key);
    let tag = format!("\"v{version}-{key}\"");
    let modified = UNIX_EPOCH + Duration::from_secs(ETAG_EPOCH_SECS + (version - 1) * 3600);
    let not_modified = if let Some(inm) = headers.get(header::IF_NONE_MATCH) {
        if_none_match_matches(&String::from_utf8_lossy(inm.as_bytes()), &tag)
    } else if let Some(ims) = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
    {
        modified <= ims
    } else {
        false
    };
    let mut resp = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        json_response(
            StatusCode::OK,
            &json!({ "key": key, "version": version, "etag": tag }),
        )
    };
    set_header(&mut resp, header::ETAG, &tag)?;
    set_header(
        &mut resp,
        header::LAST_MODIFIED,
        &httpdate::fmt_http_date(modified),
    )?;
    set_header(
        &mut resp,
        header::CACHE_CONTROL,
        &format!("max-age={max_age}"),
    )?;
    Ok(resp)
}

/// A `/cache/...` answer: the per-path counter (path plus `?key=`) and the given policy.
fn cache_reply(state: &Chaos, uri: &Uri, policy: &str) -> Reply {
    let key = Params::of(uri).get("key").map(str::to_owned);
    let counter_key = format!("{}?key={}", uri.path(), key.as_deref().unwrap_or(""));
    let counter = state.bump_counter(&counter_key);
    let mut resp = json_response(
        StatusCode::OK,
        &json!({
            "path": uri.path(),
            "key": key,
            "counter": counter,
            "cache_control": policy,
        }),
    );
    set_header(&mut resp, header::CACHE_CONTROL, policy)?;
    Ok(resp)
}

async fn cache_max_age(State(state): State<Shared>, Path(max_age): Path<u64>, uri: Uri) -> Reply {
    cache_reply(&state, &uri, &format!("max-age={max_age}"))
}

async fn cache_no_store(State(state): State<Shared>, uri: Uri) -> Reply {
    cache_reply(&state, &uri, "no-store")
}

async fn cache_no_cache(State(state): State<Shared>, uri: Uri) -> Reply {
    cache_reply(&state, &uri, "no-cache")
}

async fn cache_swr(
    State(state): State<Shared>,
    Path((max_age, swr)): Path<(u64, u64)>,
    uri: Uri,
) -> Reply {
    cache_reply(
        &state,
        &uri,
        &format!("max-age={max_age}, stale-while-revalidate={swr}"),
    )
}

async fn cache_sie(
    State(state): State<Shared>,
    Path((max_age, sie)): Path<(u64, u64)>,
    uri: Uri,
) -> Reply {
    cache_reply(
        &state,
        &uri,
        &format!("max-age={max_age}, stale-if-error={sie}"),
    )
}

async fn vary(State(state): State<Shared>, uri: Uri, headers: HeaderMap) -> Reply {
    let params = Params::of(&uri);
    let on = params.get("on").unwrap_or("Accept").to_owned();
    let name = HeaderName::from_str(&on)
        .map_err(|_| bad_request(&format!("`{on}` is not a header name")))?;
    let max_age: u64 = params.num("max_age", 60)?;
    let value = headers
        .get(&name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let counter = state.bump_counter(&format!(
        "/vary?on={}&key={}",
        name.as_str(),
        params.get("key").unwrap_or("")
    ));
    let mut resp = json_response(
        StatusCode::OK,
        &json!({ "vary": on, "value": value, "counter": counter }),
    );
    set_header(&mut resp, header::VARY, &on)?;
    set_header(
        &mut resp,
        header::CACHE_CONTROL,
        &format!("max-age={max_age}"),
    )?;
    Ok(resp)
}

async fn json_small() -> Response {
    let mut resp = json_response(
        StatusCode::OK,
        &json!({
            "id": 42,
            "name": "tether-chaos",
            "kind": "benchmark-fixture",
            "tags": ["small", "fixed", "cacheable"],
            "ok": true,
            "ratio": 0.5,
            "description": "A fixed JSON document of about two hundred bytes for benchmarks.",
        }),
    );
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=60"),
    );
    resp
}

async fn auth(Path(key): Path<String>, uri: Uri, headers: HeaderMap) -> Reply {
    let params = Params::of(&uri);
    let max_age: u64 = params.num("max_age", 60)?;
    let Some(credential) = headers.get(header::AUTHORIZATION) else {
        let mut resp = json_response(
            StatusCode::UNAUTHORIZED,
            &json!({ "key": key, "authenticated": false }),
        );
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"tether-chaos\""),
        );
        return Ok(resp);
    };
    let scheme = String::from_utf8_lossy(credential.as_bytes())
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_owned();
    let mut resp = json_response(
        StatusCode::OK,
        &json!({
            "key": key,
            "authenticated": true,
            "scheme": scheme,
            "fingerprint": fingerprint(credential.as_bytes()),
        }),
    );
    set_header(
        &mut resp,
        header::CACHE_CONTROL,
        &format!("max-age={max_age}"),
    )?;
    Ok(resp)
}

// ---------------------------------------------------------------------------------------------
// Echo and httpbin shapes

async fn echo(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "method": method.as_str(),
            "path": uri.path(),
            "query": uri.query().unwrap_or(""),
            "headers": headers_lower(&headers),
            "body": String::from_utf8_lossy(&body),
            "body_len": body.len(),
        }),
    )
}

async fn httpbin_get(
    uri: Uri,
    headers: HeaderMap,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
) -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "args": Params::of(&uri).to_args(),
            "headers": headers_title(&headers),
            "origin": origin(peer.as_ref().map(|p| &p.0)),
            "url": full_url(&uri, &headers),
        }),
    )
}

async fn httpbin_body(
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    body: Bytes,
) -> Response {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let text = String::from_utf8_lossy(&body).into_owned();
    let (data, form) = if is_form {
        let pairs: Vec<(String, String)> =
            axum::extract::Query::<Vec<(String, String)>>::try_from_uri(
                &Uri::from_str(&format!("/?{text}")).unwrap_or_default(),
            )
            .map(|axum::extract::Query(v)| v)
            .unwrap_or_default();
        (String::new(), Params(pairs).to_args())
    } else {
        (text.clone(), json!({}))
    };
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    json_response(
        StatusCode::OK,
        &json!({
            "args": Params::of(&uri).to_args(),
            "data": data,
            "files": {},
            "form": form,
            "headers": headers_title(&headers),
            "json": parsed,
            "method": method.as_str(),
            "origin": origin(peer.as_ref().map(|p| &p.0)),
            "url": full_url(&uri, &headers),
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// Counters and admin

async fn count_all(State(state): State<Shared>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({ "connections": state.connections(), "requests": state.requests() }),
    )
}

async fn count_key(State(state): State<Shared>, Path(key): Path<String>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "key": key,
            "hits": state.hits(&key),
            "connections": state.connections(),
            "requests": state.requests(),
        }),
    )
}

fn down_switch(state: &Chaos, key: Option<&str>, uri: &Uri) -> Reply {
    let params = Params::of(uri);
    let on = params.flag("on", true)?;
    let status = params.status("status", 503)?;
    state.set_down(key, on.then_some(status.as_u16()));
    Ok(json_response(
        StatusCode::OK,
        &json!({ "key": key, "down": on, "status": on.then_some(status.as_u16()) }),
    ))
}

async fn admin_down_global(State(state): State<Shared>, uri: Uri) -> Reply {
    down_switch(&state, None, &uri)
}

async fn admin_down_key(State(state): State<Shared>, Path(key): Path<String>, uri: Uri) -> Reply {
    down_switch(&state, Some(&key), &uri)
}

fn slow_switch(state: &Chaos, key: Option<&str>, uri: &Uri) -> Reply {
    let ms: u64 = Params::of(uri).num("ms", 0)?;
    let ms = ms.min(MAX_DELAY_MS);
    state.set_slow(key, (ms > 0).then_some(ms));
    Ok(json_response(
        StatusCode::OK,
        &json!({ "key": key, "slow": ms > 0, "ms": ms }),
    ))
}

async fn admin_slow_global(State(state): State<Shared>, uri: Uri) -> Reply {
    slow_switch(&state, None, &uri)
}

async fn admin_slow_key(State(state): State<Shared>, Path(key): Path<String>, uri: Uri) -> Reply {
    slow_switch(&state, Some(&key), &uri)
}

async fn admin_bump(State(state): State<Shared>, Path(key): Path<String>) -> Response {
    let version = state.bump_etag(&key);
    json_response(StatusCode::OK, &json!({ "key": key, "version": version }))
}

async fn reset_state(State(state): State<Shared>) -> Response {
    state.reset();
    json_response(StatusCode::OK, &json!({ "reset": true }))
}
