//! [`Registry`]: named [`ServiceClient`]s that monitoring can enumerate, bounded in size,
//! plus a process-wide [`default_registry`].
//!
//! The original kept a module global `_service_clients` filled only by
//! `get_service_client`, which silently kept the first `base_url` of a name. Here the registry
//! is an explicit object;
//! the default one exists for convenience (and for the original's
//! `get_service_client(name, base_url)` shape).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use serde::Serialize;
use tether_core::redact_url;

use crate::error::Error;
use crate::hooks::TARGET;
use crate::http_client::HttpClientBuilder;
use crate::service_client::{ServiceClient, ServiceMetrics};

/// The bound of [`default_registry`].
pub const DEFAULT_REGISTRY_SIZE: usize = 256;

/// Named service clients, in registration order, at most `max` of them.
pub struct Registry {
    max: usize,
    template: HttpClientBuilder,
    clients: Mutex<Vec<(String, ServiceClient)>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("max", &self.max)
            .field("names", &self.names())
            .finish_non_exhaustive()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new(DEFAULT_REGISTRY_SIZE)
    }
}

impl Registry {
    /// An empty registry of at most `max` clients (at least 1); clients it creates get their
    /// own [`HttpClient`](crate::HttpClient) with the defaults.
    pub fn new(max: usize) -> Self {
        Registry::with_builder(max, HttpClientBuilder::default())
    }

    /// An empty registry whose [`get_or_create`](Self::get_or_create) builds each client's
    /// own `HttpClient` from `template`.
    pub fn with_builder(max: usize, template: HttpClientBuilder) -> Self {
        Registry {
            max: max.max(1),
            template,
            clients: Mutex::new(Vec::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<(String, ServiceClient)>> {
        self.clients.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The client registered as `name`, or a new one for `base_url` (registered). Like the
    /// original `get_service_client`, a known name returns its client even if `base_url`
    /// differs (a warning is logged; [`insert`](Self::insert) replaces a client).
    /// [`Error::RegistryFull`] when a new name would exceed the bound.
    pub fn get_or_create(&self, name: &str, base_url: &str) -> Result<ServiceClient, Error> {
        let mut clients = self.lock();
        if let Some((_, c)) = clients.iter().find(|(n, _)| n == name) {
            if c.base_url() != base_url.trim_end_matches('/') {
                tracing::warn!(
                    target: TARGET,
                    service = name,
                    registered = %redact_url(c.base_url()),
                    requested = %redact_url(base_url),
                    "service already registered with another base URL; returning the registered client"
                );
            }
            return Ok(c.clone());
        }
        if clients.len() >= self.max {
            return Err(Error::RegistryFull { max: self.max });
        }
        let template = self.template.clone();
        let client = ServiceClient::builder(name, base_url)
            .configure(|_| template)
            .build()?;
        clients.push((name.to_owned(), client.clone()));
        Ok(client)
    }

    /// Registers `client` under its service name, replacing (and returning) a client of
    /// that name. [`Error::RegistryFull`] when a new name would exceed the bound.
    pub fn insert(&self, client: ServiceClient) -> Result<Option<ServiceClient>, Error> {
        let mut clients = self.lock();
        let name = client.service_name().to_owned();
        if let Some(slot) = clients.iter_mut().find(|(n, _)| *n == name) {
            return Ok(Some(std::mem::replace(&mut slot.1, client)));
        }
        if clients.len() >= self.max {
            return Err(Error::RegistryFull { max: self.max });
        }
        clients.push((name, client));
        Ok(None)
    }

    /// The client registered as `name`.
    pub fn get(&self, name: &str) -> Option<ServiceClient> {
        self.lock()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.clone())
    }

    /// Unregisters `name` (the client is not closed).
    pub fn remove(&self, name: &str) -> Option<ServiceClient> {
        let mut clients = self.lock();
        let pos = clients.iter().position(|(n, _)| n == name)?;
        Some(clients.remove(pos).1)
    }

    /// Every registered client, in registration order (a snapshot: the registry is not
    /// locked while you iterate).
    pub fn iter(&self) -> impl Iterator<Item = ServiceClient> + use<> {
        self.lock()
            .iter()
            .map(|(_, c)| c.clone())
            .collect::<Vec<_>>()
            .into_iter()
    }

    /// The registered names, in registration order.
    pub fn names(&self) -> Vec<String> {
        self.lock().iter().map(|(n, _)| n.clone()).collect()
    }

    /// Number of registered clients.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no client is registered.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// The bound.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Closes every registered client and empties the registry (the original
    /// `close_all_service_clients`).
    pub fn close_all(&self) {
        let clients = std::mem::take(&mut *self.lock());
        for (_, c) in clients {
            c.close();
        }
    }

    /// `get_service_metrics()` of every registered client, by name (the `service_clients` part of the original `get_all_metrics()`).
    pub fn all_metrics(&self) -> AllMetrics {
        AllMetrics {
            service_clients: self
                .iter()
                .map(|c| (c.service_name().to_owned(), c.get_service_metrics()))
                .collect(),
        }
    }
}

/// Metrics of every client of a [`Registry`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AllMetrics {
    /// By service name.
    pub service_clients: BTreeMap<String, ServiceMetrics>,
}

/// The process-wide registry (bounded by [`DEFAULT_REGISTRY_SIZE`]), created on first use.
pub fn default_registry() -> &'static Registry {
    static DEFAULT: OnceLock<Registry> = OnceLock::new();
    DEFAULT.get_or_init(Registry::default)
}

/// The original `get_service_client(service_name, base_url)`: the default registry's client
/// of that name, created (and registered) with the defaults if absent.
pub fn get_service_client(service_name: &str, base_url: &str) -> Result<ServiceClient, Error> {
    default_registry().get_or_create(service_name, base_url)
}

/// The original `close_all_service_clients()`: closes every client of the default registry
/// and empties it.
pub fn close_all_service_clients() {
    default_registry().close_all();
}
