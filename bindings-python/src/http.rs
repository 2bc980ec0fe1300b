//! A minimal pooled HTTP/1 GET over hyper, to measure the bridge on real I/O (the benchmark's
//! bare-transport baseline; the package's requests go through the core client and the native
//! transport), and [`RawResponse`], the response as Rust data that both deliver to Python.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Uri};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use crate::bridge::{self, Deliver, IntoPyErr};
use crate::client::{AttemptInfo, header_list};
use crate::errors::TransportError;

type HyperClient = Client<HttpConnector, Empty<Bytes>>;

/// A response read to its end, as Rust data.
struct Fetched {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
    elapsed: Duration,
}

/// Why a GET failed, as Rust data.
struct FetchError(String);

impl IntoPyErr for FetchError {
    fn into_py_err(self, _py: Python<'_>) -> PyErr {
        TransportError::new_err(self.0)
    }
}

async fn fetch(client: HyperClient, uri: Uri) -> Result<Fetched, FetchError> {
    #[expect(
        clippy::disallowed_methods,
        reason = "the transport times its own attempt for `elapsed`"
    )]
    let started = Instant::now();
    let request = Request::get(uri)
        .body(Empty::new())
        .map_err(|error| FetchError(error.to_string()))?;
    let response = client
        .request(request)
        .await
        .map_err(|error| FetchError(format!("request failed: {error}")))?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|error| FetchError(format!("reading the body failed: {error}")))?
        .to_bytes();
    Ok(Fetched {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
        elapsed: started.elapsed(),
    })
}

/// Delivers `(status, body)`.
struct StatusAndBody(Fetched);

impl Deliver for StatusAndBody {
    fn deliver(self, py: Python<'_>, _context: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let tuple = PyTuple::new(
            py,
            [
                self.0.status.into_pyobject(py)?.into_any(),
                PyBytes::new(py, &self.0.body).into_any(),
            ],
        )?;
        Ok(tuple.into_any().unbind())
    }
}

/// Delivers a [`RawResponse`], or the call's context (a response class) applied to it.
struct Raw(Fetched, String);

impl Deliver for Raw {
    fn deliver(self, py: Python<'_>, context: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let Self(fetched, url) = self;
        let raw = Py::new(
            py,
            RawResponse::new(
                fetched.status,
                fetched.headers,
                fetched.body,
                fetched.elapsed,
                url,
                "GET".to_owned(),
                false,
            ),
        )?;
        match context {
            Some(class) => Ok(class.call1((raw,))?.unbind()),
            None => Ok(raw.into_any()),
        }
    }
}

/// `(status, body)` for the `future_into_py` comparison, converted on whichever thread
/// pyo3-async-runtimes completes the future.
struct StatusAndBodyFip(u16, Bytes);

impl<'py> IntoPyObject<'py> for StatusAndBodyFip {
    type Target = PyTuple;
    type Output = Bound<'py, PyTuple>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        PyTuple::new(
            py,
            [
                self.0.into_pyobject(py)?.into_any(),
                PyBytes::new(py, &self.1).into_any(),
            ],
        )
    }
}

/// A response as the engine produced it: status, headers, body, timing, the request's method
/// and URL, whether the cache answered, and (when asked for) one record per attempt. Python
/// wrappers (such as `tether._response.Response`, an `httpx.Response`) build their objects
/// from it on first access.
#[pyclass(frozen, module = "tether._tether")]
pub(crate) struct RawResponse {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
    elapsed: Duration,
    url: String,
    method: String,
    from_cache: bool,
    pub(crate) attempts: Option<Vec<AttemptInfo>>,
}

impl RawResponse {
    pub(crate) fn new(
        status: u16,
        headers: HeaderMap,
        body: Bytes,
        elapsed: Duration,
        url: String,
        method: String,
        from_cache: bool,
    ) -> Self {
        RawResponse {
            status,
            headers,
            body,
            elapsed,
            url,
            method,
            from_cache,
            attempts: None,
        }
    }
}

#[pymethods]
impl RawResponse {
    /// The status code.
    #[getter]
    fn status(&self) -> u16 {
        self.status
    }

    /// The body (a copy, as `bytes`).
    #[getter]
    fn content<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.body)
    }

    /// The headers as `(name, value)` byte pairs, in received order (names lower-case).
    fn header_list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let pairs = self.headers.iter().map(|(name, value)| {
            (
                PyBytes::new(py, name.as_str().as_bytes()),
                PyBytes::new(py, value.as_bytes()),
            )
        });
        PyList::new(py, pairs)
    }

    /// The headers as `(name, value)` strings (values not in UTF-8 read as Latin-1).
    fn header_strings<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        header_list(py, &self.headers)
    }

    /// Seconds from the start of the request to its end (retries and backoff included).
    #[getter]
    fn elapsed(&self) -> f64 {
        self.elapsed.as_secs_f64()
    }

    /// The requested URL (with the query).
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    /// The request method.
    #[getter]
    fn method(&self) -> &str {
        &self.method
    }

    /// Whether the cache answered.
    #[getter(from_cache)]
    fn cached(&self) -> bool {
        self.from_cache
    }

    /// One `(attempt, started_s, latency_s, status, error_kind, error_message, headers)`
    /// tuple per attempt when the request asked for them, else `None`.
    fn attempts<'py>(&self, py: Python<'py>) -> PyResult<Option<Vec<Bound<'py, PyAny>>>> {
        self.attempts
            .as_ref()
            .map(|list| list.iter().map(|a| a.to_python(py)).collect())
            .transpose()
    }
}

/// A pooled HTTP/1 client (plain `http://` only) whose GETs are awaitables.
#[pyclass(frozen, module = "tether._tether")]
pub(crate) struct HttpProbe {
    client: HyperClient,
}

/// Parses an absolute `http://` URL. The error does not repeat the URL: its query may carry
/// an API key.
fn parse(url: &str) -> PyResult<Uri> {
    let uri: Uri = url
        .parse()
        .map_err(|error| PyValueError::new_err(format!("bad URL: {error}")))?;
    if uri.scheme_str() != Some("http") || uri.host().is_none() {
        return Err(PyValueError::new_err(
            "bad URL: an absolute http:// URL is needed",
        ));
    }
    Ok(uri)
}

#[pymethods]
impl HttpProbe {
    /// A client keeping at most `pool_size` idle connections per host.
    #[new]
    #[pyo3(signature = (pool_size = 128))]
    fn new(pool_size: usize) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(pool_size)
            .build(connector);
        Self { client }
    }

    /// `GET url` through the bridge → `(status, body)`.
    fn get<'py>(&self, py: Python<'py>, url: &str) -> PyResult<Bound<'py, PyAny>> {
        let uri = parse(url)?;
        let client = self.client.clone();
        bridge::spawn(py, None, async move {
            fetch(client, uri).await.map(StatusAndBody)
        })
    }

    /// `GET url` through the bridge → `RawResponse`, or `response_class(raw)` if given.
    #[pyo3(signature = (url, response_class = None))]
    fn get_raw<'py>(
        &self,
        py: Python<'py>,
        url: &str,
        response_class: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let uri = parse(url)?;
        let client = self.client.clone();
        let url = url.to_owned();
        bridge::spawn(py, response_class, async move {
            fetch(client, uri).await.map(|fetched| Raw(fetched, url))
        })
    }

    /// `GET url` through `pyo3_async_runtimes::tokio::future_into_py` → `(status, body)`
    /// (benchmark comparison; runs on pyo3-async-runtimes' own runtime).
    fn get_future_into_py<'py>(&self, py: Python<'py>, url: &str) -> PyResult<Bound<'py, PyAny>> {
        let uri = parse(url)?;
        let client = self.client.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let fetched = fetch(client, uri)
                .await
                .map_err(|error| TransportError::new_err(error.0))?;
            Ok(StatusAndBodyFip(fetched.status, fetched.body))
        })
    }
}
