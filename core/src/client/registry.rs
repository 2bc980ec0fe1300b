//! [`Registry`]: named [`ServiceClient`]s that monitoring can enumerate, bounded in size.
//!
//! The original kept a module-level dictionary filled only by `get_service_client`, without
//! a bound. Here a registry is an explicit object; a frontend may keep a process-wide one
//! (the native frontend's `default_registry`), the core keeps none.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::Serialize;

use super::background::Background;
use super::builder::HttpClientBuilder;
use super::hooks::{Hooks, SharedHooks};
use super::metrics::ServiceMetrics;
use super::service::{ServiceClient, ServiceClientBuilder};
use super::{Error, HttpClient};
use crate::{Runtime, Spawn, Transport};

/// The bound of a default registry.
pub const DEFAULT_REGISTRY_SIZE: usize = 256;

/// Named service clients, in registration order, at most `max` of them.
///
/// ```no_run
/// # fn demo<T, R>(registry: tether_core::client::Registry<T, R>) -> Result<(), tether_core::client::Error>
/// # where T: tether_core::Transport + Clone, R: tether_core::Runtime + Clone
/// #     + tether_core::Spawn<tether_core::client::Background<T, R, tether_core::client::SharedHooks>>,
/// # {
/// let users = registry.get_or_create("users", "http://users.internal:8080")?;
/// assert_eq!(registry.names(), ["users"]);
/// println!("{}", serde_json::to_string_pretty(&registry.all_metrics())?);
/// # Ok(()) }
/// ```
pub struct Registry<T: Transport, R: Runtime, H: Hooks = SharedHooks> {
    max: usize,
    template: HttpClientBuilder<T, R, H>,
    clients: Mutex<Named<T, R, H>>,
}

/// Clients by name, in registration order.
type Named<T, R, H> = Vec<(String, ServiceClient<T, R, H>)>;

impl<T: Transport, R: Runtime, H: Hooks> fmt::Debug for Registry<T, R, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("max", &self.max)
            .field("names", &self.names())
            .finish_non_exhaustive()
    }
}

impl<T, R, H> Registry<T, R, H>
where
    T: Transport + Default,
    R: Runtime + Default + Spawn<Background<T, R, H>>,
    H: Hooks + Default,
{
    /// An empty registry of at most `max` clients (at least 1); clients it creates get their
    /// own [`HttpClient`] with the defaults.
    pub fn new(max: usize) -> Self {
        Registry::with_builder(max, HttpClient::builder())
    }
}

impl<T: Transport, R: Runtime, H: Hooks> Registry<T, R, H> {
    /// An empty registry whose [`get_or_create`](Self::get_or_create) builds each client's
    /// own `HttpClient` from `template`.
    pub fn with_builder(max: usize, template: HttpClientBuilder<T, R, H>) -> Self {
        Registry {
            max: max.max(1),
            template,
            clients: Mutex::new(Vec::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Named<T, R, H>> {
        self.clients.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The client registered as `name`, or a new one for `base_url` (then registered). As
    /// with the original `get_service_client`, a known name returns its client even if
    /// `base_url` differs (see [`base_url`](ServiceClient::base_url); [`insert`](Self::insert)
    /// replaces a client). [`Error::RegistryFull`] when a new name would exceed the bound.
    pub fn get_or_create(&self, name: &str, base_url: &str) -> Result<ServiceClient<T, R, H>, Error>
    where
        T: Clone,
        R: Clone + Spawn<Background<T, R, H>>,
        H: Clone,
    {
        let mut clients = self.lock();
        if let Some((_, c)) = clients.iter().find(|(n, _)| n == name) {
            return Ok(c.clone());
        }
        if clients.len() >= self.max {
            return Err(Error::RegistryFull { max: self.max });
        }
        let client = ServiceClientBuilder::new(name, base_url, self.template.clone()).build()?;
        clients.push((name.to_owned(), client.clone()));
        Ok(client)
    }

    /// Registers `client` under its service name, replacing (and returning) a client of that
    /// name. [`Error::RegistryFull`] when a new name would exceed the bound.
    pub fn insert(
        &self,
        client: ServiceClient<T, R, H>,
    ) -> Result<Option<ServiceClient<T, R, H>>, Error> {
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
    pub fn get(&self, name: &str) -> Option<ServiceClient<T, R, H>> {
        self.lock()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.clone())
    }

    /// Unregisters `name` (the client is not closed).
    pub fn remove(&self, name: &str) -> Option<ServiceClient<T, R, H>> {
        let mut clients = self.lock();
        let pos = clients.iter().position(|(n, _)| n == name)?;
        Some(clients.remove(pos).1)
    }

    /// Every registered client, in registration order (a snapshot: the registry is not locked
    /// while you iterate).
    pub fn clients(&self) -> Vec<ServiceClient<T, R, H>> {
        self.lock().iter().map(|(_, c)| c.clone()).collect()
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

    /// The metrics of every registered client, by name (the `service_clients` part of the
    /// original `get_all_metrics()`).
    pub fn all_metrics(&self) -> AllMetrics {
        AllMetrics {
            service_clients: self
                .clients()
                .into_iter()
                .map(|c| (c.service_name().to_owned(), c.metrics()))
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
