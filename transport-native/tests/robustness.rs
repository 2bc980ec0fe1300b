//! Isolation and robustness through the client APIs: a slow host never delays a healthy one,
//! redirects never leave a service's base URL nor carry credentials to another origin, and no
//! configuration or environment makes the client panic. Shared tests run against the async and
//! the blocking API; the rest concern one API.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::{Duration, Instant};

use common::{chaos, pool_config};
use serde_json::Value;
use tether_native::{Error, NativeConfig};

api_tests! {
    fn a_slow_host_never_delays_a_healthy_one() {
        let slow = chaos();
        let healthy = chaos();
        // No retries and a breaker that stays out of the way: only isolation is measured.
        let client = fast()
            .max_retries(0)
            .no_cache()
            .timeout(Duration::from_secs(3))
            .configure_engine(|c| c.breakers.default.consecutive_failures = Some(1_000))
            .build()
            .unwrap();
        // 100 requests at a host that trickles one byte per second, each allowed 3 s.
        let trickle = slow.url("/slow-body?chunks=600&interval_ms=1000&chunk_size=1");
        let stuck: Vec<_> = (0..100)
            .map(|_| {
                let (client, url) = (client.clone(), trickle.clone());
                spawn!(wait!(client.get(url).send()))
            })
            .collect();
        wait!(pause(Duration::from_millis(300)));
        let started = Instant::now();
        let r = wait!(client.get(healthy.url("/get")).send()).unwrap();
        let took = started.elapsed();
        assert_eq!(r.status(), 200);
        assert!(took < Duration::from_secs(1), "the healthy host waited {took:?}");
        for handle in stuck {
            let e = finish!(handle).unwrap_err();
            assert!(e.is_timeout(), "{e:?}");
        }
    }

    fn a_service_client_never_follows_a_redirect_outside_its_base() {
        let home = chaos();
        let elsewhere = chaos();
        let following = transport(NativeConfig {
            max_redirects: 5,
            ..NativeConfig::default()
        });
        let svc = ServiceClient::builder("api", home.url("/status"))
            .configure(|b| b.transport(following.clone()).no_cache().max_retries(0))
            .build()
            .unwrap();
        // Within the base: followed.
        let r = wait!(svc.get("/302?location=%2Fstatus%2F200").send()).unwrap();
        assert_eq!(r.status(), 200);
        // Same origin, outside the base path: returned as it is.
        let r = wait!(svc.get("/302?location=%2Fget%3Fkey%3Doutside").send()).unwrap();
        assert_eq!(r.status(), 302);
        assert_eq!(wait!(hits(&home, "outside")), 0);
        // Another origin: returned as it is, and the other origin hears nothing.
        let away = format!("http://{}/get?key=away", elsewhere.addr);
        let endpoint = format!("/307?location={}", urlencode(&away));
        let r = wait!(svc.get(&endpoint).send()).unwrap();
        assert_eq!(r.status(), 307);
        assert_eq!(r.headers()["location"], away.as_str());
        assert_eq!(wait!(hits(&elsewhere, "away")), 0);
        // A plain client over the same transport has no base: it follows.
        let client = fast().transport(following).no_cache().build().unwrap();
        let r = wait!(client.get(home.url(&format!("/status{endpoint}"))).send()).unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(wait!(hits(&elsewhere, "away")), 1);
    }

    fn followed_redirects_carry_no_credentials_to_another_origin() {
        let home = chaos();
        let elsewhere = chaos();
        let client = fast()
            .transport(transport(NativeConfig {
                max_redirects: 3,
                ..NativeConfig::default()
            }))
            .no_cache()
            .default_header("x-api-key", "SECRET-DEFAULT-KEY")
            .build()
            .unwrap();
        let away = urlencode(&format!("http://{}/echo", elsewhere.addr));
        let r = wait!(client
            .get(home.url(&format!("/status/302?location={away}")))
            .bearer_auth("SECRET-BEARER")
            .header("cookie", "session=SECRET-COOKIE")
            .header("proxy-authorization", "Basic SECRET-PROXY")
            .header("x-api-key", "SECRET-KEY")
            .header("x-tenant", "SECRET-TENANT")
            .header("accept-language", "fr")
            .send())
        .unwrap();
        let echo: Value = r.json().unwrap();
        assert_eq!(echo["path"], "/echo", "{echo}");
        let headers = echo["headers"].to_string();
        assert!(!headers.contains("SECRET"), "{headers}");
        assert_eq!(echo["headers"]["accept-language"], "fr", "{headers}");
        // Same origin: everything is kept.
        let r = wait!(client
            .get(home.url("/status/307?location=%2Fecho"))
            .header("x-api-key", "SECRET-KEY")
            .send())
        .unwrap();
        let echo: Value = r.json().unwrap();
        assert_eq!(echo["headers"]["x-api-key"], "SECRET-KEY", "{echo}");
    }

    fn huge_timeouts_never_panic() {
        let server = chaos();
        let client = fast()
            .timeout(Duration::MAX)
            .total_timeout(Duration::MAX)
            .transport(transport(NativeConfig {
                timeout: Some(Duration::MAX),
                connect_timeout: Some(Duration::MAX),
                read_timeout: Some(Duration::MAX),
                write_timeout: Some(Duration::MAX),
                idle_timeout: Duration::MAX,
                ..pool_config(4)
            }))
            .build()
            .unwrap();
        let r = wait!(client.get(server.url("/get")).timeout(Duration::MAX).send()).unwrap();
        assert_eq!(r.status(), 200);
        let r = wait!(client.get(server.url("/flaky/huge?fail=1")).send()).unwrap();
        assert_eq!(r.status(), 200, "{}", r.trace().summary());
    }

    fn line_breaks_in_headers_are_errors_when_the_client_is_built() {
        for bad in ["evil\r\nX-Injected: 1", "evil\nX-Injected: 1", "nul\0"] {
            let e = HttpClient::builder().user_agent(bad).build().unwrap_err();
            assert!(matches!(e, Error::InvalidHeader { .. }), "{e:?}");
            let e = HttpClient::builder()
                .default_header("x-tenant", bad)
                .build()
                .unwrap_err();
            assert!(matches!(e, Error::InvalidHeader { .. }), "{e:?}");
            // A transport made with `new` from an invalid configuration (which never panics):
            // the client refuses to build over it.
            let e = HttpClient::builder()
                .transport(new_transport(NativeConfig {
                    user_agent: bad.into(),
                    ..NativeConfig::default()
                }))
                .build()
                .unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{e:?}");
            assert!(e.to_string().contains("native.user_agent"), "{e}");
        }
    }
}

/// Percent-encodes a URL for a query value.
fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The async API only: the tokio context is checked, never assumed.
mod async_only {
    use super::*;
    use tether_native::HttpClient;

    fn client() -> HttpClient {
        HttpClient::builder().max_retries(0).build().unwrap()
    }

    #[test]
    fn requests_outside_a_tokio_runtime_are_typed_errors() {
        let server = chaos();
        // Built outside any runtime (no background driver can start, which is fine).
        let client = client();
        let e = futures::executor::block_on(client.get(server.url("/get")).send()).unwrap_err();
        assert!(matches!(e, Error::Runtime(_)), "{e:?}");
        assert_eq!(e.kind(), "runtime_unavailable");
        assert_eq!(e.http_status(), 500);
        assert!(e.to_string().contains("tokio runtime"), "{e}");
        // A service's health probe says so too, without counting against the service.
        let svc = tether_native::ServiceClient::new("svc", server.base_url()).unwrap();
        let h = futures::executor::block_on(svc.health_check());
        assert!(!h.healthy);
        assert!(h.error.unwrap().contains("tokio runtime"));
        assert_eq!(svc.metrics().total_requests, 0);
    }

    #[test]
    fn a_runtime_without_its_time_driver_is_a_typed_error() {
        let server = chaos();
        let no_time = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        let e = no_time
            .block_on(async { client().get(server.url("/get")).send().await })
            .unwrap_err();
        assert!(matches!(e, Error::Runtime(_)), "{e:?}");
        assert!(e.to_string().contains("enable_time"), "{e}");
        // Nothing reached the upstream.
        assert_eq!(
            common::blocking_api::totals(&server).1,
            1,
            "only this count"
        );
    }
}

/// The blocking API only.
mod blocking_only {
    use super::*;
    use common::blocking_api::hits;
    use tether_native::blocking::{HttpClient, Registry, ServiceClient};

    #[test]
    fn clients_are_send_and_sync() {
        fn shareable<T: Send + Sync + Clone + 'static>() {}
        fn sync<T: Send + Sync>() {}
        shareable::<HttpClient>();
        shareable::<ServiceClient>();
        sync::<Registry>();
    }

    #[test]
    fn one_client_serves_many_threads_at_once() {
        let server = chaos();
        let client = HttpClient::builder().no_cache().build().unwrap();
        let statuses: Vec<u16> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..16)
                .map(|t| {
                    let (client, server) = (&client, &server);
                    scope.spawn(move || {
                        (0..25)
                            .map(|i| {
                                let url = server.url(&format!("/get?key=threads&t={t}&i={i}"));
                                client.get(url).send().unwrap().status().as_u16()
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            threads
                .into_iter()
                .flat_map(|t| t.join().unwrap())
                .collect()
        });
        assert_eq!(statuses.len(), 400);
        assert!(statuses.iter().all(|s| *s == 200));
        let m = client.metrics();
        assert_eq!((m.total_requests, m.successful_requests), (400, 400));
        assert_eq!(hits(&server, "threads"), 400);
    }

    #[test]
    fn an_uncached_request_runs_in_one_poll_without_parking() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tether_native::blocking::{Park, block_on_with};

        struct Counting(Arc<AtomicUsize>, std::thread::Thread);
        impl Park for Counting {
            fn park(&self, deadline: Option<Instant>) {
                self.0.fetch_add(1, Ordering::SeqCst);
                match deadline {
                    Some(d) => {
                        std::thread::park_timeout(d.saturating_duration_since(Instant::now()));
                    }
                    None => std::thread::park(),
                }
            }
            fn unpark(&self) {
                self.1.unpark();
            }
        }

        let server = chaos();
        let client = HttpClient::builder().no_cache().build().unwrap();
        let parks = Arc::new(AtomicUsize::new(0));
        for i in 0..20 {
            let send = client.core().get(server.url(&format!("/get?i={i}"))).send();
            let parker = Counting(Arc::clone(&parks), std::thread::current());
            let r = block_on_with(send, parker).unwrap();
            assert_eq!(r.status(), 200);
        }
        // The attempt ran inside the first poll: no wait, no wake-up, no other thread.
        assert_eq!(parks.load(Ordering::SeqCst), 0);
        // A retry's backoff is a wait: the thread parks.
        let send = client.core().get(server.url("/flaky/parks?fail=1")).send();
        let parker = Counting(Arc::clone(&parks), std::thread::current());
        assert_eq!(block_on_with(send, parker).unwrap().status(), 200);
        assert!(parks.load(Ordering::SeqCst) >= 1);
    }

    #[test]
    fn without_a_background_thread_stale_entries_are_not_refreshed() {
        let server = chaos();
        let client = HttpClient::new().unwrap();
        assert!(!client.background_running());
        let url = server.url("/cache/swr/1/30?key=swr-blocking");
        let first = client.get(&url).send().unwrap();
        assert_eq!(first.json::<Value>().unwrap()["counter"], 1);
        std::thread::sleep(Duration::from_millis(1_100));
        // Stale within its stale-while-revalidate window: served, but nobody refreshes it.
        let stale = client.get(&url).send().unwrap();
        assert!(stale.from_cache(), "{}", stale.trace().summary());
        assert_eq!(stale.json::<Value>().unwrap()["counter"], 1);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(hits(&server, "swr-blocking"), 1);
        assert_eq!(
            client.engine_snapshot().in_flight,
            0,
            "the refresh was given up"
        );
    }

    #[test]
    fn the_blocking_client_needs_no_async_runtime() {
        // No tokio anywhere in this test: build, send, retry (a backoff sleep parks the
        // thread), and close.
        let server = chaos();
        let client = HttpClient::builder()
            .backoff(tether_native::Backoff::Constant(Duration::from_millis(20)))
            .build()
            .unwrap();
        let r = client
            .get(server.url("/flaky/noruntime?fail=2"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.trace().attempts.len(), 3, "{}", r.trace().summary());
        client.close();
        assert!(matches!(
            client.get(server.url("/get")).send(),
            Err(Error::Closed)
        ));
    }
}
