//! Shows the decision trace of a few requests against the chaos upstream.
//!
//! ```text
//! cargo run -p tether-native --example trace                 # starts its own chaos upstream
//! cargo run -p tether-native --example trace -- http://127.0.0.1:8080   # or uses yours
//! ```
//!
//! (Start one with `cargo run -p tether-chaos -- --port 8080`.)

use std::time::Duration;

use tether_native::{Backoff, Error, HttpClient, Response};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Keep an in-process upstream alive for the whole run when no URL is given.
    let (base, _local) = if let Some(url) = std::env::args().nth(1) {
        (url.trim_end_matches('/').to_owned(), None)
    } else {
        let server = tether_chaos::spawn_background(tether_chaos::ChaosOptions::default());
        (server.base_url(), Some(server))
    };
    println!("upstream: {base}\n");
    // Unique keys, so that runs against a long-lived upstream do not see each other.
    let run = std::process::id();

    let client = HttpClient::builder()
        .timeout(Duration::from_secs(5))
        .max_retries(3)
        .backoff(Backoff::Exponential {
            base: Duration::from_millis(100),
            factor: 2.0,
            max: Duration::from_secs(2),
        })
        .build()?;

    // 1. Two 503s, then a 200: retried with backoff.
    let r = client
        .get(format!("{base}/flaky/trace-{run}?fail=2"))
        .send()
        .await?;
    show("flaky upstream (503, 503, 200)", &r);

    // 2. A cacheable response, then the same request again: served from the cache.
    let url = format!("{base}/cache/60?key=trace-cache-{run}");
    let r = client.get(&url).send().await?;
    show("cacheable response (max-age=60)", &r);
    let r = client.get(&url).send().await?;
    show("the same request again", &r);

    // 3. A 503 with `Retry-After: 1`: the retry waits for the server's second.
    let r = client
        .get(format!("{base}/retry-after/1?key=trace-ra-{run}&fail=1"))
        .send()
        .await?;
    show("503 with Retry-After: 1", &r);

    // 4. A validator and max-age=0: the second request revalidates with If-None-Match (304).
    let url = format!("{base}/etag/trace-etag-{run}?max_age=0");
    client.get(&url).send().await?;
    let r = client.get(&url).send().await?;
    show("ETag revalidation", &r);

    println!(
        "client metrics:\n{}",
        serde_json::to_string_pretty(&client.metrics())?
    );
    client.close();
    Ok(())
}

fn show(title: &str, response: &Response) {
    println!("== {title}");
    println!(
        "status {}  from_cache {}  service {}",
        response.status(),
        response.from_cache(),
        response.service()
    );
    println!("summary: {}", response.trace().summary());
    println!(
        "trace: {}\n",
        serde_json::to_string_pretty(response.trace()).unwrap_or_default()
    );
}
