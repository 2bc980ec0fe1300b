//! The cache through the engine, as a caller and as an attacker sees it: callers who differ in
//! any identifying header are never served each other's response, a `Host` that names another
//! authority is refused, and a caller's own conditional request passes the cache by.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::time::Duration;

use tether_core::EngineConfig;
use tether_tests::{Sim, request, respond};

const MS: Duration = Duration::from_millis(1);

fn config() -> EngineConfig {
    let mut c = EngineConfig {
        alert_interval: None,
        ..EngineConfig::default()
    };
    c.cache.enabled = true;
    c
}

/// An upstream that answers `/me` with the value of `header` (its part before `-s3cr3t`),
/// cacheable for a minute.
fn echo(header: &'static str) -> Sim {
    Sim::new(config(), move |req, _| {
        let who = req.headers().get(header).map_or_else(
            || "nobody".to_owned(),
            |v| {
                let v = String::from_utf8_lossy(v.as_bytes());
                v.trim_end_matches("-s3cr3t").to_owned()
            },
        );
        (
            5 * MS,
            respond(200, &[("cache-control", "private, max-age=60")], &who),
        )
    })
}

#[test]
fn callers_differing_in_any_unknown_header_are_never_cross_served() {
    for header in ["x-auth-token", "api-key", "x-tenant-secret"] {
        let mut sim = echo(header);
        let as_user = |who: &str| {
            let credential = format!("{who}-s3cr3t");
            request("GET", "http://svc.test/me", &[(header, &credential)], "")
        };
        let a1 = sim.submit(as_user("alice"), None);
        sim.run();
        let b1 = sim.submit(as_user("bob"), None);
        let anon = sim.submit(request("GET", "http://svc.test/me", &[], ""), None);
        sim.run();
        let a2 = sim.submit(as_user("alice"), None);
        let b2 = sim.submit(as_user("bob"), None);
        sim.run();
        assert_eq!(sim.result(a1).body().unwrap(), "alice", "{header}");
        assert_eq!(sim.result(b1).body().unwrap(), "bob", "{header}");
        assert_eq!(sim.result(anon).body().unwrap(), "nobody", "{header}");
        assert!(
            !sim.result(b1).from_cache(),
            "{header}: bob got alice's entry"
        );
        // The same callers hit their own entries.
        assert_eq!(sim.result(a2).body().unwrap(), "alice", "{header}");
        assert_eq!(sim.result(b2).body().unwrap(), "bob", "{header}");
        assert!(sim.result(a2).from_cache() && sim.result(b2).from_cache());
        assert_eq!(sim.sent.len(), 3, "{header}: one upstream call per caller");
        let dump = format!("{:?}", sim.engine);
        assert!(!dump.contains("s3cr3t"), "{header}: a credential was kept");
    }
}

/// Twenty requests of one caller, each with its own trace context and request id: the hits
/// and upstream calls, with the given extra credential headers.
fn traced_traffic(extra_credentials: &[&str]) -> (u64, u64, usize) {
    let mut c = config();
    c.cache
        .credential_headers
        .extend(extra_credentials.iter().map(|h| (*h).to_owned()));
    let mut sim = Sim::new(c, |_, _| {
        (
            5 * MS,
            respond(200, &[("cache-control", "private, max-age=60")], "me"),
        )
    });
    for i in 0..20u32 {
        let trace = format!("00-{i:032x}-{i:016x}-01");
        let id = i.to_string();
        sim.submit_at(
            tether_core::Timestamp::from_millis(u64::from(i) * 100),
            request(
                "GET",
                "http://svc.test/me",
                &[
                    ("authorization", "Bearer alice"),
                    ("traceparent", &trace),
                    ("x-request-id", &id),
                    ("user-agent", "tests/1.0"),
                    ("accept", "application/json"),
                ],
                "",
            ),
            None,
        );
    }
    sim.run();
    let stats = sim.engine.cache().stats();
    (stats.hits, stats.misses, sim.sent.len())
}

#[test]
fn trace_and_client_headers_keep_the_hit_rate() {
    assert_eq!(traced_traffic(&[]), (19, 1, 1), "19 of 20 are hits");
    // Were trace ids treated as identifying, every request would miss.
    assert_eq!(
        traced_traffic(&["traceparent", "x-request-id"]),
        (0, 20, 20)
    );
}

#[test]
fn a_host_header_naming_another_authority_is_refused() {
    let mut sim = echo("host");
    sim.submit(
        request("GET", "http://a.test/me", &[("host", "b.test")], ""),
        None,
    );
    // The same authority, spelled differently, is fine.
    let same = sim.submit(
        request("GET", "http://a.test/me", &[("host", "A.test:80")], ""),
        None,
    );
    sim.run();
    assert_eq!(sim.request_errors.len(), 1);
    assert!(
        matches!(
            sim.request_errors[0].1,
            tether_core::RequestError::HostMismatch
        ),
        "{:?}",
        sim.request_errors[0].1
    );
    assert_eq!(sim.result(same).status(), Some(200));
    assert_eq!(sim.sent.len(), 1, "the refused request never went out");
    // Nothing the refused request could have stored is served to a plain request.
    let plain = sim.submit(request("GET", "http://a.test/me", &[], ""), None);
    sim.run();
    assert_eq!(sim.result(plain).body().unwrap(), "A.test:80");
}

#[test]
fn a_callers_own_conditional_request_is_not_stored_and_refreshes_nothing() {
    let mut sim = Sim::new(config(), |req, _| {
        if req.headers().contains_key("if-none-match") {
            return (
                MS,
                respond(
                    304,
                    &[("cache-control", "max-age=600"), ("etag", "\"v1\"")],
                    "",
                ),
            );
        }
        (
            MS,
            respond(
                200,
                &[("cache-control", "max-age=10"), ("etag", "\"v1\"")],
                "body",
            ),
        )
    });
    let plain = || request("GET", "http://svc.test/r", &[], "");
    let own = || {
        request(
            "GET",
            "http://svc.test/r",
            &[("if-none-match", "\"v1\"")],
            "",
        )
    };
    let first = sim.submit(plain(), None);
    sim.run();
    assert!(!sim.result(first).from_cache());
    // The caller's conditional request goes upstream and gets its own 304, not the body.
    let cond = sim.submit(own(), None);
    sim.run();
    assert_eq!(sim.result(cond).status(), Some(304));
    assert!(!sim.result(cond).from_cache());
    // Its 304 (max-age=600) did not refresh the entry: after 10 s the plain request
    // revalidates instead of hitting.
    sim.advance(Duration::from_secs(11));
    let later = sim.submit(plain(), None);
    sim.run();
    let last = sim.sent.last().unwrap();
    assert!(
        last.headers.contains_key("if-none-match"),
        "engine revalidated"
    );
    assert_eq!(sim.result(later).body().unwrap(), "body");
    assert_eq!(sim.sent.len(), 3);
}

/// The same rules through the user-facing client (virtual runtime): a `Host` naming another
/// authority is a caller error answered before anything is sent, and two tenants differing in
/// a header nobody listed get their own responses.
#[test]
fn through_the_client_a_host_mismatch_is_a_400_and_tenants_stay_apart() {
    use std::future::Future;
    use std::pin::Pin;

    use tether_core::Runtime as _;
    use tether_core::client::{HttpClient, HttpClientBuilder, LocalHooks};
    use tether_tests::virtual_rt::{ScriptedTransport, VirtualRuntime, run_all};

    type Task = Pin<Box<dyn Future<Output = (u16, String, bool)>>>;

    let rt = VirtualRuntime::default();
    let clock = rt.clock.clone();
    let transport = ScriptedTransport::new(&clock, |req, _| {
        let tenant = req
            .headers()
            .get("x-tenant-secret")
            .map_or("none", |v| v.to_str().unwrap_or("?"))
            .to_owned();
        (
            5 * MS,
            respond(
                200,
                &[("cache-control", "private, max-age=60")],
                &format!("report of {tenant}"),
            ),
        )
    });
    let client: HttpClient<_, _, LocalHooks> = HttpClientBuilder::new(transport.clone(), rt)
        .build()
        .expect("valid config");

    let c = client.clone();
    let refused = run_all(
        &clock,
        vec![Box::pin(async move {
            let e = c
                .get("http://a.test/report")
                .header("host", "b.test")
                .send()
                .await
                .unwrap_err();
            (e.http_status(), e.kind().to_owned(), e.is_request())
        }) as Task],
        100,
    );
    assert_eq!(refused, [(400, "invalid_request".to_owned(), true)]);
    assert_eq!(transport.sends(), 0, "nothing was sent");

    let mut tasks: Vec<Task> = Vec::new();
    for (i, tenant) in ["t-1", "t-2", "t-1", "t-2"].into_iter().enumerate() {
        let c = client.clone();
        tasks.push(Box::pin(async move {
            // The second round starts once the first has been stored.
            if i >= 2 {
                c.runtime().sleep(Duration::from_secs(1)).await;
            }
            let r = c
                .get("http://a.test/report")
                .header("x-tenant-secret", tenant)
                .send()
                .await
                .expect("a response");
            (r.status().as_u16(), r.text(), r.from_cache())
        }));
    }
    let got = run_all(&clock, tasks, 1000);
    assert_eq!(
        got,
        [
            (200, "report of t-1".to_owned(), false),
            (200, "report of t-2".to_owned(), false),
            (200, "report of t-1".to_owned(), true),
            (200, "report of t-2".to_owned(), true),
        ]
    );
    assert_eq!(transport.sends(), 2);
}
