//! The process-wide [`Registry`]: the original `get_service_client(name, base_url)` and
//! `close_all_service_clients()` shapes. (The core keeps no globals; a registry there is an
//! explicit object.)

use std::sync::OnceLock;

use tether_core::client::DEFAULT_REGISTRY_SIZE;

use crate::{Error, Registry, ServiceClient};

/// The process-wide registry (bounded by [`DEFAULT_REGISTRY_SIZE`]), created on first use.
pub fn default_registry() -> &'static Registry {
    static DEFAULT: OnceLock<Registry> = OnceLock::new();
    DEFAULT.get_or_init(|| Registry::new(DEFAULT_REGISTRY_SIZE))
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
