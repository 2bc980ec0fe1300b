//! [`RequestBuilder`]: one request, built by chained calls and sent with
//! [`send`](RequestBuilder::send).

use std::fmt;
use std::future::Future;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::hooks::Hooks;
use super::{Error, HttpClient, Response};
use crate::redact::REDACTED;
use crate::uri::{self, RedirectScope};
use crate::{Request, Runtime, Transport};

/// A request being built. Finish it with [`send`](Self::send).
///
/// Mistakes in the chained calls — an invalid header, a body that does not serialize, a URL
/// that does not parse — are kept and returned by `send`, so the calls chain without `?`
/// (as in reqwest).
///
/// ```no_run
/// # async fn demo<T: tether_core::Transport, R: tether_core::Runtime>(
/// #     client: tether_core::client::HttpClient<T, R>,
/// # ) -> Result<(), tether_core::client::Error> {
/// use std::time::Duration;
/// use http::Method;
///
/// let response = client
///     .post("https://api.example.com/orders")
///     .bearer_auth("token")
///     .query(&[("dry_run", "false")])
///     .json(&serde_json::json!({ "sku": "A-1", "qty": 2 }))
///     .idempotency_key("order-7f3a")
///     .timeout(Duration::from_secs(3))
///     .send()
///     .await?;
/// println!("{} — {}", response.status(), response.trace().summary());
///
/// // Any method token.
/// let purge = Method::from_bytes(b"PURGE").expect("a valid token");
/// client.request(purge, "https://cdn.example.com/a.css").send().await?;
/// # Ok(()) }
/// ```
#[must_use = "a request does nothing until it is sent"]
pub struct RequestBuilder<T: Transport, R: Runtime, H: Hooks> {
    client: HttpClient<T, R, H>,
    method: Method,
    url: String,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
    timeout: Option<Duration>,
    service: Option<String>,
    status_errors: bool,
    /// Where the request's redirects may lead (a service's base URL).
    scope: Option<RedirectScope>,
    error: Option<Error>,
}

impl<T: Transport, R: Runtime, H: Hooks> fmt::Debug for RequestBuilder<T, R, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redactor = self.client.redactor();
        f.debug_struct("RequestBuilder")
            .field("method", &self.method)
            .field("url", &redactor.redact_url(&self.url))
            .field(
                "query",
                &self
                    .query
                    .iter()
                    .map(|(k, v)| {
                        let shown = if redactor.is_secret_name(k) {
                            REDACTED
                        } else {
                            v.as_str()
                        };
                        (k.as_str(), shown)
                    })
                    .collect::<Vec<_>>(),
            )
            .field("headers", &redactor.redact_headers(&self.headers))
            .field("body", &format_args!("{} bytes", self.body.len()))
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl<T: Transport, R: Runtime, H: Hooks> RequestBuilder<T, R, H> {
    pub(crate) fn new(client: HttpClient<T, R, H>, method: Method, url: String) -> Self {
        RequestBuilder {
            client,
            method,
            url,
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            timeout: None,
            service: None,
            status_errors: false,
            scope: None,
            error: None,
        }
    }

    /// Confines the request's redirects to `scope`.
    pub(crate) fn scope(mut self, scope: RedirectScope) -> Self {
        self.scope = Some(scope);
        self
    }

    /// Keeps the first error; `send` returns it.
    pub(crate) fn fail(mut self, error: Error) -> Self {
        self.error.get_or_insert(error);
        self
    }

    /// Adds a header. Repeated names are sent as repeated fields, except the single-valued
    /// `Content-Type`, `Content-Length`, `Authorization`, `Host` and `User-Agent`, which a
    /// later call replaces (e.g. after [`json`](Self::json) set `application/json`).
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        HeaderValue: TryFrom<V>,
    {
        let Ok(name) = HeaderName::try_from(name) else {
            return self.fail(Error::InvalidHeader {
                reason: "invalid header name".into(),
            });
        };
        let Ok(value) = HeaderValue::try_from(value) else {
            return self.fail(Error::InvalidHeader {
                reason: format!("invalid value for header {name}"),
            });
        };
        if [
            CONTENT_TYPE,
            CONTENT_LENGTH,
            AUTHORIZATION,
            HOST,
            USER_AGENT,
        ]
        .contains(&name)
        {
            self.headers.insert(name, value);
        } else {
            self.headers.append(name, value);
        }
        self
    }

    /// Adds every header of `headers`.
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        let mut last = None;
        for (name, value) in headers {
            // `None` means "same name as the previous value".
            if let Some(n) = name {
                last = Some(n);
            }
            if let Some(n) = &last {
                self.headers.append(n.clone(), value);
            }
        }
        self
    }

    /// `Authorization: Bearer <token>` (marked sensitive: never shown in `Debug` output).
    pub fn bearer_auth(self, token: impl fmt::Display) -> Self {
        self.auth(format!("Bearer {token}"))
    }

    /// `Authorization: Basic <base64(user:password)>` (marked sensitive).
    pub fn basic_auth(self, user: impl fmt::Display, password: Option<impl fmt::Display>) -> Self {
        let credentials = match password {
            Some(p) => format!("{user}:{p}"),
            None => format!("{user}:"),
        };
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        self.auth(format!("Basic {encoded}"))
    }

    fn auth(mut self, value: String) -> Self {
        match HeaderValue::try_from(value) {
            Ok(mut v) => {
                v.set_sensitive(true);
                self.headers.insert(AUTHORIZATION, v);
                self
            }
            Err(_) => self.fail(Error::InvalidHeader {
                reason: "invalid Authorization credentials".into(),
            }),
        }
    }

    /// Appends query parameters to the URL (form-urlencoded: every reserved byte is
    /// percent-encoded, a space becomes `+`).
    pub fn query<K: AsRef<str>, V: AsRef<str>>(mut self, pairs: &[(K, V)]) -> Self {
        self.query.extend(
            pairs
                .iter()
                .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned())),
        );
        self
    }

    /// A JSON body (`Content-Type: application/json` unless set). A value that cannot be
    /// serialized (a map with non-string keys, a failing `Serialize` implementation) makes
    /// `send` return [`Error::InvalidBody`] without sending anything.
    pub fn json<B: Serialize + ?Sized>(mut self, value: &B) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => {
                self.body = Bytes::from(body);
                self.headers
                    .entry(CONTENT_TYPE)
                    .or_insert(HeaderValue::from_static("application/json"));
                self
            }
            Err(e) => self.fail(Error::InvalidBody(e)),
        }
    }

    /// A form body (`Content-Type: application/x-www-form-urlencoded` unless set).
    pub fn form<K: AsRef<str>, V: AsRef<str>>(mut self, pairs: &[(K, V)]) -> Self {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            s.append_pair(k.as_ref(), v.as_ref());
        }
        self.body = Bytes::from(s.finish());
        self.headers
            .entry(CONTENT_TYPE)
            .or_insert(HeaderValue::from_static(
                "application/x-www-form-urlencoded",
            ));
        self
    }

    /// A raw body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// An overall deadline for this request, from `send` on: hooks, cache, every attempt,
    /// backoff and any wait for an identical request in flight. The engine cuts each
    /// attempt's time limit to what is left and schedules no retry past it; when it passes,
    /// the request ends with [`Error::Timeout`], which still carries the decision trace.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Accounts the request under `service` (metrics, breaker) instead of the URL's host.
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// Marks a non-idempotent request (POST, PATCH) as safe to retry, with this key in the
    /// configured idempotency header (default `Idempotency-Key`).
    pub fn idempotency_key(mut self, key: &str) -> Self {
        match HeaderValue::try_from(key) {
            Ok(v) => {
                let name = self.client.idempotency_header().clone();
                self.headers.insert(name, v);
                self
            }
            Err(_) => self.fail(Error::InvalidHeader {
                reason: "invalid idempotency key".into(),
            }),
        }
    }

    /// Makes `send` return 4xx and 5xx responses as [`Error::Status`] (what
    /// [`Response::error_for_status`] does), the way a
    /// [`ServiceClient`](crate::client::ServiceClient) call does.
    pub fn error_for_status(mut self) -> Self {
        self.status_errors = true;
        self
    }

    /// The request as it will be sent — URL with the query, headers (without the client's
    /// defaults), body — or the first mistake made while building it.
    pub fn build(self) -> Result<Request, Error> {
        self.split().map(|(_, request, _)| request)
    }

    fn split(self) -> Result<Split<T, R, H>, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let uri = uri::parse(&self.url, &self.query)
            .map_err(|e| Error::from_request(e, &self.url, self.client.redactor()))?;
        let mut request = Request::new(self.body);
        *request.method_mut() = self.method;
        *request.uri_mut() = uri;
        *request.headers_mut() = self.headers;
        if let Some(scope) = self.scope {
            request.extensions_mut().insert(scope);
        }
        let sent = Sent {
            service: self.service,
            timeout: self.timeout,
            status_errors: self.status_errors,
        };
        Ok((self.client, request, sent))
    }

    /// Sends the request and waits for the final response (any status, unless
    /// [`error_for_status`](Self::error_for_status)) or error.
    ///
    /// The future owns everything it needs (`'static`). It is `Send` when the client's
    /// transport, runtime and hooks are (the native frontend's are), so it can be spawned.
    pub fn send(self) -> impl Future<Output = Result<Response, Error>> {
        let split = self.split();
        async move {
            let (client, request, sent) = split?;
            let response = client
                .execute_with(request, sent.service.as_deref(), sent.timeout)
                .await;
            if sent.status_errors {
                response.and_then(Response::error_for_status)
            } else {
                response
            }
        }
    }

    /// Sends the request and parses a successful body as JSON into `B` (4xx and 5xx are
    /// [`Error::Status`]).
    pub fn send_json<B: DeserializeOwned>(self) -> impl Future<Output = Result<B, Error>> {
        let sent = self.error_for_status().send();
        async move { sent.await?.json() }
    }

    /// Sends the request and returns the body as JSON, or — as the original Python client did
    /// when parsing fails — `{"data": <text>, "status_code": <status>}` (4xx and 5xx are
    /// [`Error::Status`]).
    pub fn send_value(self) -> impl Future<Output = Result<serde_json::Value, Error>> {
        let sent = self.error_for_status().send();
        async move {
            let r = sent.await?;
            Ok(r.json().unwrap_or_else(
                |_| serde_json::json!({ "data": r.text(), "status_code": r.status().as_u16() }),
            ))
        }
    }
}

/// A built request, its client, and how to send it.
type Split<T, R, H> = (HttpClient<T, R, H>, Request, Sent);

/// How a built request is sent.
struct Sent {
    service: Option<String>,
    timeout: Option<Duration>,
    status_errors: bool,
}
