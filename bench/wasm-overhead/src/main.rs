//! The native side of `make bench-wasm`: the same loop as the wasm test, over tokio's runtime
//! and the native hooks.

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    use tether_bench_wasm::{Scripted, run};
    use tether_core::client::HttpClientBuilder;
    use tether_native::{NativeHooks, TokioRuntime};

    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime");
    tokio.block_on(async {
        let client = HttpClientBuilder::<_, _, NativeHooks>::new(Scripted, TokioRuntime::new())
            .build()
            .expect("the default configuration is valid");
        for report in run(&client, "native") {
            println!("{report}");
        }
    });
}

#[cfg(target_arch = "wasm32")]
fn main() {}
