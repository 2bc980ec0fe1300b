//! The wasm side of `make bench-wasm` (not a test: run by `scripts/wasm-bench.sh`, in Node by
//! default and in Chromium with `WASM_BINDGEN_USE_BROWSER=1`).

#![cfg(target_arch = "wasm32")]

use tether_bench_wasm::{Scripted, run};
use tether_core::client::HttpClientBuilder;
use tether_wasm::{BrowserRuntime, WasmHooks};
use wasm_bindgen_test::{console_log, wasm_bindgen_test};

#[wasm_bindgen_test]
#[ignore = "a benchmark: make bench-wasm runs it"]
fn overhead_per_request() {
    let in_browser = js_sys::Reflect::has(&js_sys::global(), &"document".into()).unwrap_or(false);
    let client = HttpClientBuilder::<_, _, WasmHooks>::new(Scripted, BrowserRuntime::new())
        .build()
        .expect("the default configuration is valid");
    for report in run(&client, if in_browser { "chromium" } else { "node" }) {
        console_log!("{report}");
    }
}
