//! # tether-dashboard — the monitoring dashboard, in Rust compiled to wasm
//!
//! A static page (`static/index.html` and `static/style.css`) whose script is this crate.
//! It polls the monitoring server's `GET /dashboard` (and `GET /history` for the trends)
//! **through Tether's own browser client** ([`tether_wasm::ServiceClient`]: retries, a
//! per-attempt time limit, a circuit breaker), and draws seven panels with the DOM:
//!
//! | panel | from |
//! |---|---|
//! | system: CPU, memory, disk | `system` |
//! | service health with check durations | `services` |
//! | performance: success rate, mean, p95, p99 | `performance`, `latency` |
//! | active alerts by severity | `alerts`, `overview` |
//! | cache statistics with hit rate | `cache_stats` |
//! | circuit breakers | `circuit_breakers` |
//! | response-time trends (SVG) | `/history` |
//!
//! Settings come from the page's address (`?source=…&interval=…`, see [`settings`]) and a
//! form on the page; a button polls at once. When the server stops answering, the panels keep
//! the last data under a "stale since …" banner ([`state`]).
//!
//! **Server strings are text.** The panels are pure functions from the JSON to [`view::El`]
//! trees, whose element and attribute names are fixed by this crate; the page inserts text
//! with `createTextNode` and attribute values with `setAttribute`, and no attribute that
//! loads or runs anything can be built. There is no `innerHTML` anywhere.
//!
//! Everything but the DOM glue ([`start`]) is plain Rust, tested natively against the real
//! route function's output.

pub mod data;
pub mod fmt;
pub mod panels;
pub mod settings;
pub mod state;
pub mod time;
pub mod trend;
pub mod view;

mod app;

use wasm_bindgen::prelude::wasm_bindgen;

/// The page's entry point, run by wasm-bindgen when the module loads: reads the settings from
/// the address, wires the refresh button and the settings form, and starts polling.
///
/// # Errors
///
/// Outside a browser window (no `window` or `document`), or with a source the client refuses.
#[wasm_bindgen(start)]
pub fn start() -> Result<(), wasm_bindgen::JsValue> {
    app::run()
}
