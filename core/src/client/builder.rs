//! [`HttpClientBuilder`]: a client's configuration, validated at [`build`](HttpClientBuilder::build).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::header::{ACCEPT, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue};

use super::background::Background;
use super::drive::{Shared, SpawnFn};
use super::hooks::Hooks;
use super::{Error, HttpClient};
use crate::breaker::{BreakerConfig, RegistryConfig};
use crate::cache::CacheConfig;
use crate::retry::{Backoff, BudgetConfig, RetryConfig};
use crate::{ConfigError, Engine, EngineConfig, Redactor, Runtime, Spawn, Transport};

/// The default `User-Agent`: `tether/<version>`.
pub const DEFAULT_USER_AGENT: &str = concat!("tether/", env!("CARGO_PKG_VERSION"));

/// Configures an [`HttpClient`]. Start from [`HttpClient::builder`] (the frontend's default
/// transport and runtime) or [`HttpClientBuilder::new`].
///
/// Defaults: the core's [`EngineConfig::default`] — an RFC 9111 cache, a breaker per service
/// that opens after 5 consecutive failures, 4 attempts with decorrelated-jitter backoff (about
/// 0.25, 0.5 and 1 s after the first failure, in median), a retry budget, 30 s per attempt —
/// and the default headers `User-Agent: tether/<version>` and `Accept: application/json`.
/// Errors in the chained calls (an invalid default header) are returned by `build`.
///
/// ```no_run
/// # fn demo<T, R>(transport: T, runtime: R) -> Result<(), tether_core::client::Error>
/// # where T: tether_core::Transport, R: tether_core::Runtime
/// #     + tether_core::Spawn<tether_core::client::Background<T, R, tether_core::client::SharedHooks>>,
/// # {
/// use std::time::Duration;
/// use tether_core::client::HttpClientBuilder;
/// use tether_core::Backoff;
///
/// let client = HttpClientBuilder::new(transport, runtime)
///     .timeout(Duration::from_secs(5))
///     .max_retries(2)
///     .backoff(Backoff::Constant(Duration::from_millis(100)))
///     .user_agent("inventory-sync/1.4")
///     .build()?;
/// # Ok(()) }
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct HttpClientBuilder<T: Transport, R: Runtime, H: Hooks> {
    engine: EngineConfig,
    transport: T,
    runtime: R,
    hooks: H,
    default_headers: HeaderMap,
    redactor: Redactor,
    /// The first invalid default header, reported by `build`.
    error: Option<String>,
}

impl<T, R, H> Clone for HttpClientBuilder<T, R, H>
where
    T: Transport + Clone,
    R: Runtime + Clone,
    H: Hooks + Clone,
{
    fn clone(&self) -> Self {
        HttpClientBuilder {
            engine: self.engine.clone(),
            transport: self.transport.clone(),
            runtime: self.runtime.clone(),
            hooks: self.hooks.clone(),
            default_headers: self.default_headers.clone(),
            redactor: self.redactor.clone(),
            error: self.error.clone(),
        }
    }
}

impl<T: Transport, R: Runtime, H: Hooks> fmt::Debug for HttpClientBuilder<T, R, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClientBuilder")
            .field("engine", &self.engine)
            .field(
                "default_headers",
                &self.default_headers.keys().collect::<Vec<_>>(),
            )
            .field("redactor", &self.redactor)
            .finish_non_exhaustive()
    }
}

impl<T: Transport, R: Runtime, H: Hooks + Default> HttpClientBuilder<T, R, H> {
    /// A builder over `transport` and `runtime`, with the default configuration and hooks.
    pub fn new(transport: T, runtime: R) -> Self {
        let mut default_headers = HeaderMap::new();
        default_headers.insert(USER_AGENT, HeaderValue::from_static(DEFAULT_USER_AGENT));
        default_headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        HttpClientBuilder {
            engine: EngineConfig::default(),
            transport,
            runtime,
            hooks: H::default(),
            default_headers,
            redactor: Redactor::new(),
            error: None,
        }
    }
}

impl<T: Transport, R: Runtime, H: Hooks> HttpClientBuilder<T, R, H> {
    /// The transport (its own settings: pool, TLS, connect limits, redirects, body limit).
    pub fn transport(mut self, transport: T) -> Self {
        self.transport = transport;
        self
    }

    /// The runtime (clock, timers, seed, executor).
    pub fn runtime(mut self, runtime: R) -> Self {
        self.runtime = runtime;
        self
    }

    /// Adjusts the runtime in place (a setting of the runtime's own, such as whether it runs
    /// background work).
    pub fn configure_runtime(mut self, f: impl FnOnce(&mut R)) -> Self {
        f(&mut self.runtime);
        self
    }

    /// The hooks (replaces the default ones; a shared list can be handed to several
    /// clients).
    pub fn hooks(mut self, hooks: H) -> Self {
        self.hooks = hooks;
        self
    }

    /// The time limit of each attempt, handed to the transport and enforced by the client's
    /// timer as well.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.engine.attempt_timeout = Some(timeout);
        self
    }

    /// An overall deadline for every request, measured from its start: no retry starts after
    /// it and the last attempt's time limit is cut to what remains. (Per request:
    /// [`RequestBuilder::timeout`](crate::client::RequestBuilder::timeout).)
    pub fn total_timeout(mut self, deadline: Duration) -> Self {
        self.engine.retry.deadline = Some(deadline);
        self
    }

    /// Retries after the first attempt (`max_retries + 1` attempts in all).
    pub fn max_retries(mut self, max_retries: u32) -> Self {
        self.engine.retry.max_attempts = max_retries.saturating_add(1);
        self
    }

    /// The backoff between attempts ([`Backoff::Original`] for the original Python client's
    /// `min(2^attempt + U(0,1), 30)` seconds).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.engine.retry.backoff = backoff;
        self
    }

    /// The client-wide retry budget (`None`: retries are limited only per request).
    pub fn retry_budget(mut self, budget: Option<BudgetConfig>) -> Self {
        self.engine.retry.budget = budget;
        self
    }

    /// The whole retry policy (replaces `max_retries`, `backoff`, `retry_budget` and
    /// `total_timeout` set before; set those after it to adjust).
    /// [`compat::retry_config`](crate::compat::retry_config)
    /// reproduces the original Python client.
    pub fn retry(mut self, retry: RetryConfig) -> Self {
        self.engine.retry = retry;
        self
    }

    /// The response cache.
    pub fn cache(mut self, cache: CacheConfig) -> Self {
        self.engine.cache = cache;
        self
    }

    /// Turns the response cache off.
    pub fn no_cache(mut self) -> Self {
        self.engine.cache.enabled = false;
        self
    }

    /// The breaker configuration of every service (and host) without an override.
    pub fn breaker(mut self, breaker: BreakerConfig) -> Self {
        self.engine.breakers.default = breaker;
        self
    }

    /// The breaker configuration of one service.
    pub fn service_breaker(mut self, service: impl Into<String>, breaker: BreakerConfig) -> Self {
        self.engine
            .breakers
            .overrides
            .insert(service.into(), breaker);
        self
    }

    /// The whole breaker registry configuration.
    pub fn breakers(mut self, breakers: RegistryConfig) -> Self {
        self.engine.breakers = breakers;
        self
    }

    /// Adds (or replaces) a header sent with every request unless the request sets it.
    pub fn default_header<K, V>(mut self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        HeaderValue: TryFrom<V>,
    {
        match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            (Ok(n), Ok(v)) => {
                self.default_headers.insert(n, v);
            }
            _ => {
                self.error
                    .get_or_insert_with(|| "invalid default header name or value".into());
            }
        }
        self
    }

    /// Replaces every default header (including `User-Agent` and `Accept`).
    pub fn default_headers(mut self, headers: HeaderMap) -> Self {
        self.default_headers = headers;
        self
    }

    /// The redaction rule for everything this client shows people: hook events (and so the
    /// logs made from them), errors — including the messages its transport reports — and
    /// `Debug` output. Default: [`Redactor::new`], the rule documented in
    /// [`redact`](crate::redact); extend it with names your services use for secrets.
    ///
    /// ```no_run
    /// # fn demo<T, R>(builder: tether_core::client::HttpClientBuilder<T, R, tether_core::client::SharedHooks>)
    /// # where T: tether_core::Transport, R: tether_core::Runtime {
    /// use tether_core::Redactor;
    ///
    /// let builder = builder.redactor(Redactor::new().secret_name("code").secret_pattern("tenant"));
    /// # }
    /// ```
    pub fn redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// The redaction rule set with [`redactor`](Self::redactor).
    pub(crate) fn redactor_ref(&self) -> &Redactor {
        &self.redactor
    }

    /// The `User-Agent` default header.
    pub fn user_agent(self, user_agent: &str) -> Self {
        self.default_header(USER_AGENT, user_agent)
    }

    /// The whole engine configuration (replaces everything set before except the transport,
    /// runtime, hooks and default headers).
    pub fn engine_config(mut self, engine: EngineConfig) -> Self {
        self.engine = engine;
        self
    }

    /// Adjusts the engine configuration in place, for anything without a setter of its own
    /// (e.g. `|c| c.retry.max_retry_after = Duration::from_secs(5)`).
    pub fn configure_engine(mut self, f: impl FnOnce(&mut EngineConfig)) -> Self {
        f(&mut self.engine);
        self
    }

    /// The engine configuration as it stands.
    pub fn engine(&self) -> &EngineConfig {
        &self.engine
    }

    /// Validates the configuration and builds the client. Its background driver (refreshes,
    /// health checks, timers) starts on the runtime's executor now if there is one, or with
    /// a later request.
    pub fn build(self) -> Result<HttpClient<T, R, H>, Error>
    where
        R: Spawn<Background<T, R, H>>,
    {
        if let Some(reason) = self.error {
            return Err(Error::InvalidHeader { reason });
        }
        self.transport.validate()?;
        let idempotency_header =
            HeaderName::try_from(self.engine.retry.idempotency_header.as_str()).map_err(|_| {
                ConfigError::invalid("retry.idempotency_header", "must be a valid header name")
            })?;
        let engine = Engine::new(self.engine, self.runtime.seed())?;
        let spawn = <R as Spawn<Background<T, R, H>>>::can_spawn(&self.runtime)
            .then_some(<R as Spawn<Background<T, R, H>>>::spawn as SpawnFn<T, R, H>);
        let mut shared = Shared::new(
            engine,
            self.transport,
            self.runtime,
            self.hooks,
            self.default_headers,
            idempotency_header,
            spawn,
        );
        shared.redactor = self.redactor;
        let client = HttpClient::from_shared(Arc::new(shared));
        client.ensure_background();
        Ok(client)
    }
}
