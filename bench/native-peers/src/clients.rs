//! The clients under test, each run in a process of its own (`bench-native --child …`), each
//! in the setup that suits it best: keep-alive pools sized for the concurrency, async
//! clients on a current-thread tokio runtime, blocking ones on plain OS threads.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use http_cache_reqwest::{Cache, CacheMode, HttpCache, HttpCacheOptions, MokaCache, MokaManager};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use reqwest_middleware::ClientWithMiddleware;
use reqwest_retry::RetryTransientMiddleware;
use reqwest_retry::policies::ExponentialBackoff;
use tether_native::tether_core::{Transport, TransportError, TransportErrorKind, client};
use tether_native::{
    HttpClient, HyperTransport, NativeConfig, NativeHooks, TokioRuntime, TracingHooks,
    UreqTransport, blocking,
};

use crate::meter::{Meter, Sample, WorkerStats};

/// Every client the bench knows, in the order of the report.
pub(crate) const ALL: [Kind; 13] = [
    Kind::TetherAsync,
    Kind::HyperTransport,
    Kind::TetherBlocking,
    Kind::BlockingTransport,
    Kind::UreqThreads,
    Kind::ReqwestCt,
    Kind::Hyper,
    Kind::ReqwestMw,
    Kind::Wrk,
    Kind::TetherAsyncUreq,
    Kind::TetherInstant,
    Kind::TetherInstantQuiet,
    Kind::Instant,
];

/// A client under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `tether_native::HttpClient` (hyper, tokio) as a user builds it: every policy on.
    TetherAsync,
    /// The same client's transport, `HyperTransport`, called directly: the floor under
    /// `TetherAsync`.
    HyperTransport,
    /// `tether_native::blocking::HttpClient` (ureq on the caller's thread) on OS threads.
    TetherBlocking,
    /// Its transport, `blocking::UreqTransport`, called directly through `blocking::block_on`
    /// on OS threads: the floor under `TetherBlocking`.
    BlockingTransport,
    /// A bare `ureq::Agent` on OS threads.
    UreqThreads,
    /// reqwest on a current-thread runtime.
    ReqwestCt,
    /// hyper-util's pooled legacy client alone.
    Hyper,
    /// reqwest + reqwest-middleware + reqwest-retry + http-cache-reqwest.
    ReqwestMw,
    /// wrk (C, one thread): the ceiling of machine and upstream.
    Wrk,
    /// Diagnostic: the async client layer over the async `UreqTransport` (ureq on tokio's
    /// blocking pool: two thread hand-offs per attempt).
    TetherAsyncUreq,
    /// Diagnostic: `TetherAsync`'s client layer over [`InstantTransport`] (no I/O at all).
    TetherInstant,
    /// Diagnostic: the same with `TracingHooks::quiet()` (no request, response or error
    /// events built).
    TetherInstantQuiet,
    /// Diagnostic: [`InstantTransport`] alone.
    Instant,
}

impl Kind {
    /// The short name used on the command line and in `--only`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::TetherAsync => "tether-async",
            Kind::HyperTransport => "tether-hyper-transport",
            Kind::TetherBlocking => "tether-blocking",
            Kind::BlockingTransport => "tether-ureq-transport",
            Kind::UreqThreads => "ureq",
            Kind::ReqwestCt => "reqwest",
            Kind::Hyper => "hyper",
            Kind::ReqwestMw => "reqwest-mw",
            Kind::Wrk => "wrk",
            Kind::TetherAsyncUreq => "tether-async-ureq",
            Kind::TetherInstant => "tether-instant",
            Kind::TetherInstantQuiet => "tether-instant-quiet",
            Kind::Instant => "instant",
        }
    }

    /// What the row is, for the report.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Kind::TetherAsync => {
                "**Tether async**: `tether_native::HttpClient` (hyper), every policy on"
            }
            Kind::HyperTransport => "`HyperTransport::send` alone (no client layer)",
            Kind::TetherBlocking => {
                "**Tether blocking**: `tether_native::blocking::HttpClient` (ureq), OS threads"
            }
            Kind::BlockingTransport => {
                "`blocking::UreqTransport` alone, `block_on`, OS threads (no client layer)"
            }
            Kind::UreqThreads => "ureq 3.5 on OS threads",
            Kind::ReqwestCt => "reqwest 0.12, current-thread runtime",
            Kind::Hyper => "hyper 1 + hyper-util pooled client alone",
            Kind::ReqwestMw => "reqwest + middleware + retry + http-cache (moka)",
            Kind::Wrk => "wrk, 1 thread (reference: C event loop)",
            Kind::TetherAsyncUreq => {
                "diagnostic: async client layer over `UreqTransport` (tokio blocking pool)"
            }
            Kind::TetherInstant => "diagnostic: Tether async over an in-process transport (no I/O)",
            Kind::TetherInstantQuiet => {
                "diagnostic: the same, `TracingHooks::quiet()` (no events built)"
            }
            Kind::Instant => "diagnostic: that in-process transport alone",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Kind> {
        ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether it has a response cache (the cache-hit case is run only for those).
    pub(crate) fn caches(self) -> bool {
        matches!(
            self,
            Kind::TetherAsync
                | Kind::TetherBlocking
                | Kind::ReqwestMw
                | Kind::TetherAsyncUreq
                | Kind::TetherInstant
                | Kind::TetherInstantQuiet
        )
    }

    /// Whether it only explains other rows (run with `--diagnostics`).
    pub(crate) fn diagnostic(self) -> bool {
        matches!(
            self,
            Kind::TetherAsyncUreq | Kind::TetherInstant | Kind::TetherInstantQuiet | Kind::Instant
        )
    }

    /// Whether it goes out to the upstream (the in-process transport does not).
    fn in_process(self) -> bool {
        matches!(
            self,
            Kind::TetherInstant | Kind::TetherInstantQuiet | Kind::Instant
        )
    }
}

/// What one client process runs.
pub(crate) struct Job {
    pub(crate) kind: Kind,
    pub(crate) url: String,
    /// Whether the URL's responses may be cached (for the in-process transport).
    pub(crate) cacheable: bool,
    pub(crate) concurrency: usize,
    /// Each worker asks for a URL of its own (`?w=N`), so that no two requests in flight
    /// are identical and a cache's single-flight never makes one wait for another.
    pub(crate) url_per_worker: bool,
    pub(crate) warmup: Duration,
    pub(crate) window: Duration,
    /// The upstream's base URL, for its counters.
    pub(crate) base_url: String,
}

impl Job {
    /// The URL worker `worker` asks for.
    fn url_for(&self, worker: usize) -> Arc<str> {
        if self.url_per_worker {
            Arc::from(format!("{}?w={worker}", self.url))
        } else {
            Arc::from(self.url.as_str())
        }
    }
}

/// Runs `job` in this process and returns its sample.
pub(crate) fn run(job: &Job) -> Result<Sample, String> {
    let mut sample = run_kind(job)?;
    if job.kind.in_process() {
        // The upstream is never called: its counters say nothing about this client.
        sample.upstream_requests = None;
        sample.new_connections = None;
    }
    Ok(sample)
}

/// The sender factory of a reqwest row: `reqwest::Client` and reqwest-middleware's client
/// share the calls, not a type.
macro_rules! reqwest_sender {
    ($client:ident) => {
        move |url: Arc<str>| {
            let client = $client.clone();
            move || {
                let (client, url) = (client.clone(), Arc::clone(&url));
                async move {
                    let resp = client.get(&*url).send().await.map_err(|e| e.to_string())?;
                    check(resp.status().as_u16())?;
                    Ok(resp.bytes().await.map_err(|e| e.to_string())?.len())
                }
            }
        }
    };
}

fn run_kind(job: &Job) -> Result<Sample, String> {
    let c = job.concurrency;
    match job.kind {
        Kind::UreqThreads => {
            let agent = ureq_agent(c);
            Ok(run_threads(job, |url| {
                let agent = agent.clone();
                move || ureq_get(&agent, &url)
            }))
        }
        Kind::ReqwestCt => run_async(job, move || {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(c)
                .build()
                .map_err(|e| e.to_string())?;
            Ok(reqwest_sender!(client))
        }),
        Kind::ReqwestMw => run_async(job, move || {
            let client = reqwest_mw(c)?;
            Ok(reqwest_sender!(client))
        }),
        Kind::Hyper => run_async(job, move || {
            let mut connector = HttpConnector::new();
            connector.set_nodelay(true);
            let client: HyperClient<HttpConnector, Empty<Bytes>> =
                HyperClient::builder(TokioExecutor::new())
                    .pool_max_idle_per_host(c)
                    .build(connector);
            Ok(move |url: Arc<str>| {
                let client = client.clone();
                // Parsed once per worker, as a program that holds its `Uri` would.
                let uri: Option<http::Uri> = url.parse().ok();
                move || {
                    let (client, uri) = (client.clone(), uri.clone());
                    async move {
                        let uri = uri.ok_or("unparsable URL")?;
                        let resp = client.get(uri).await.map_err(|e| e.to_string())?;
                        check(resp.status().as_u16())?;
                        let body = resp
                            .into_body()
                            .collect()
                            .await
                            .map_err(|e| e.to_string())?;
                        Ok(body.to_bytes().len())
                    }
                }
            })
        }),
        Kind::TetherAsync
        | Kind::HyperTransport
        | Kind::TetherAsyncUreq
        | Kind::TetherBlocking
        | Kind::BlockingTransport
        | Kind::Instant
        | Kind::TetherInstant
        | Kind::TetherInstantQuiet => run_tether(job),
        Kind::Wrk => Err(format!(
            "{} does not run as a child process",
            job.kind.name()
        )),
    }
}

/// The Tether rows: each API as a user builds it, its bare transport, and the diagnostics.
fn run_tether(job: &Job) -> Result<Sample, String> {
    let c = job.concurrency;
    match job.kind {
        Kind::TetherAsync => run_async(job, move || {
            let client = HttpClient::builder()
                .transport(HyperTransport::try_new(native_config(c)).map_err(|e| e.to_string())?)
                .build()
                .map_err(|e| e.to_string())?;
            Ok(move |url: Arc<str>| {
                let client = client.clone();
                move || tether_get(client.clone(), Arc::clone(&url))
            })
        }),
        Kind::HyperTransport => run_async(job, move || {
            let transport = HyperTransport::try_new(native_config(c)).map_err(|e| e.to_string())?;
            Ok(move |url: Arc<str>| {
                let transport = transport.clone();
                move || transport_get(transport.clone(), Arc::clone(&url))
            })
        }),
        Kind::TetherAsyncUreq => run_async(job, move || {
            let client: client::HttpClient<UreqTransport, TokioRuntime, NativeHooks> =
                client::HttpClientBuilder::new(
                    UreqTransport::try_new(native_config(c)).map_err(|e| e.to_string())?,
                    TokioRuntime::new(),
                )
                .build()
                .map_err(|e| e.to_string())?;
            Ok(move |url: Arc<str>| {
                let client = client.clone();
                move || tether_get(client.clone(), Arc::clone(&url))
            })
        }),
        Kind::TetherBlocking => {
            let client = blocking::HttpClient::builder()
                .transport(
                    blocking::UreqTransport::try_new(native_config(c))
                        .map_err(|e| e.to_string())?,
                )
                .build()
                .map_err(|e| e.to_string())?;
            Ok(run_threads(job, |url| {
                let client = client.clone();
                move || {
                    let resp = client.get(&*url).send().map_err(|e| e.to_string())?;
                    check(resp.status().as_u16())?;
                    Ok(resp.bytes().len())
                }
            }))
        }
        Kind::BlockingTransport => {
            let transport =
                blocking::UreqTransport::try_new(native_config(c)).map_err(|e| e.to_string())?;
            Ok(run_threads(job, |url| {
                let transport = transport.clone();
                move || blocking::block_on(transport_get(transport.clone(), Arc::clone(&url)))
            }))
        }
        Kind::Instant => run_async(job, move || {
            let transport = InstantTransport::new(job.cacheable);
            Ok(move |url: Arc<str>| {
                let transport = transport.clone();
                move || transport_get(transport.clone(), Arc::clone(&url))
            })
        }),
        Kind::TetherInstant | Kind::TetherInstantQuiet => run_async(job, move || {
            let hooks = if job.kind == Kind::TetherInstantQuiet {
                NativeHooks::with_observer(TracingHooks::quiet())
            } else {
                NativeHooks::default()
            };
            let client: client::HttpClient<InstantTransport, TokioRuntime, NativeHooks> =
                client::HttpClientBuilder::new(
                    InstantTransport::new(job.cacheable),
                    TokioRuntime::new(),
                )
                .hooks(hooks)
                .build()
                .map_err(|e| e.to_string())?;
            Ok(move |url: Arc<str>| {
                let client = client.clone();
                move || tether_get(client.clone(), Arc::clone(&url))
            })
        }),
        other => Err(format!("{} is not a Tether row", other.name())),
    }
}

/// A transport without I/O: every attempt returns a copy of one nginx-like response (no
/// `Date`, so that a cacheable one is fresh for its whole `max-age` from each fetch) after
/// yielding once (so that, like a real attempt, it is pending when first polled and the
/// client's attempt timer gets armed).
#[derive(Clone)]
struct InstantTransport {
    response: Arc<tether_native::tether_core::Response>,
}

impl InstantTransport {
    fn new(cacheable: bool) -> Self {
        let response = http::Response::builder()
            .header("server", "nginx/1.22.1")
            .header("content-type", "application/json")
            .header("content-length", "200")
            .header("last-modified", "Sat, 05 Dec 2026 11:00:00 GMT")
            .header("connection", "keep-alive")
            .header("etag", "\"6751a1c0-c8\"")
            .header(
                "cache-control",
                if cacheable { "max-age=60" } else { "no-store" },
            )
            .header("accept-ranges", "bytes")
            .body(Bytes::from(vec![b'x'; 200]))
            .expect("valid response");
        InstantTransport {
            response: Arc::new(response),
        }
    }
}

impl Transport for InstantTransport {
    type Send = YieldOnce;

    fn send(
        &self,
        _request: tether_native::tether_core::Request,
        _: Option<Duration>,
    ) -> YieldOnce {
        YieldOnce {
            response: Some((*self.response).clone()),
            yielded: false,
        }
    }
}

/// Pending once (waking itself at once), then the response.
struct YieldOnce {
    response: Option<tether_native::tether_core::Response>,
    yielded: bool,
}

impl Future for YieldOnce {
    type Output = tether_native::tether_core::Outcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if !self.yielded {
            self.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(self.response.take().ok_or_else(|| {
            TransportError::new(TransportErrorKind::Other, "polled after completion")
        }))
    }
}

/// One GET through a Tether client, as a user writes it.
async fn tether_get<T, R, H>(
    client: client::HttpClient<T, R, H>,
    url: Arc<str>,
) -> Result<usize, String>
where
    T: Transport,
    R: tether_native::tether_core::Runtime,
    H: client::Hooks,
{
    let resp = client.get(&*url).send().await.map_err(|e| e.to_string())?;
    check(resp.status().as_u16())?;
    Ok(resp.bytes().len())
}

/// One GET straight through a Tether transport, with the request built from the URL string
/// as the client builds it.
async fn transport_get<T: Transport>(transport: T, url: Arc<str>) -> Result<usize, String> {
    let request = http::Request::get(&*url)
        .body(Bytes::new())
        .map_err(|e| e.to_string())?;
    let resp = transport
        .send(request, None)
        .await
        .map_err(|e| e.to_string())?;
    check(resp.status().as_u16())?;
    Ok(resp.body().len())
}

fn check(status: u16) -> Result<(), String> {
    if status == 200 {
        Ok(())
    } else {
        Err(format!("status {status}"))
    }
}

fn native_config(pool: usize) -> NativeConfig {
    NativeConfig {
        pool_size: pool,
        ..NativeConfig::default()
    }
}

fn ureq_agent(pool: usize) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_idle_connections(pool)
        .max_idle_connections_per_host(pool)
        .build()
        .new_agent()
}

fn ureq_get(agent: &ureq::Agent, url: &str) -> Result<usize, String> {
    let mut resp = agent.get(url).call().map_err(|e| e.to_string())?;
    check(resp.status().as_u16())?;
    let body = resp.body_mut().read_to_vec().map_err(|e| e.to_string())?;
    Ok(body.len())
}

fn reqwest_mw(pool: usize) -> Result<ClientWithMiddleware, String> {
    let inner = reqwest::Client::builder()
        .pool_max_idle_per_host(pool)
        .build()
        .map_err(|e| e.to_string())?;
    // Cache outermost, retries inside it: the order of Tether's own pipeline.
    Ok(reqwest_middleware::ClientBuilder::new(inner)
        .with(Cache(HttpCache {
            mode: CacheMode::Default,
            manager: MokaManager::new(MokaCache::new(1000)),
            options: HttpCacheOptions::default(),
        }))
        .with(RetryTransientMiddleware::new_with_policy(
            ExponentialBackoff::builder().build_with_max_retries(3),
        ))
        .build())
}

/// `concurrency` OS threads, each with a sender that `make` builds for the worker's URL
/// (senders share one client, as an application's threads would), sending back to back while
/// the calling thread runs the warm-up and the window.
fn run_threads<G>(job: &Job, make: impl Fn(Arc<str>) -> G) -> Sample
where
    G: FnMut() -> Result<usize, String> + Send + 'static,
{
    let meter = Arc::new(Meter::default());
    let workers: Vec<_> = (0..job.concurrency)
        .map(|worker| {
            let meter = Arc::clone(&meter);
            let mut send = make(job.url_for(worker));
            std::thread::spawn(move || {
                let mut stats = WorkerStats::default();
                while meter.running() {
                    let t0 = Instant::now();
                    let result = send();
                    stats.record(&meter, t0, result);
                }
                stats
            })
        })
        .collect();
    let window = meter.control(job.warmup, job.window, &job.base_url);
    let stats = workers
        .into_iter()
        .map(|w| w.join().expect("worker panicked"))
        .collect();
    Sample::new(stats, &window)
}

/// `concurrency` tasks on a current-thread tokio runtime, sending back to back, each through
/// a sender for its URL from the factory that `setup` builds (inside the runtime), while
/// another thread runs the warm-up and the window.
fn run_async<M, S, Fut>(
    job: &Job,
    setup: impl FnOnce() -> Result<M, String>,
) -> Result<Sample, String>
where
    M: Fn(Arc<str>) -> S,
    S: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<usize, String>> + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let meter = Arc::new(Meter::default());
    let controller = {
        let meter = Arc::clone(&meter);
        let (warmup, window, base) = (job.warmup, job.window, job.base_url.clone());
        move || meter.control(warmup, window, &base)
    };
    let urls: Vec<Arc<str>> = (0..job.concurrency).map(|w| job.url_for(w)).collect();
    runtime.block_on(async move {
        let make = setup()?;
        let workers: Vec<_> = urls
            .into_iter()
            .map(|url| {
                let meter = Arc::clone(&meter);
                let mut send = make(url);
                tokio::spawn(async move {
                    let mut stats = WorkerStats::default();
                    while meter.running() {
                        let t0 = Instant::now();
                        let result = send().await;
                        stats.record(&meter, t0, result);
                    }
                    stats
                })
            })
            .collect();
        let control = std::thread::spawn(controller);
        let mut stats = Vec::with_capacity(workers.len());
        for w in workers {
            stats.push(w.await.map_err(|e| e.to_string())?);
        }
        let window = control.join().map_err(|_| "controller panicked")?;
        Ok(Sample::new(stats, &window))
    })
}
