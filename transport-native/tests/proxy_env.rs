//! Proxy environment variables (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`) are ignored by both
//! transports unless [`Proxy::FromEnv`] opts in, and ignored even then in a CGI program.
//!
//! Setting variables in this process would need `unsafe` (edition 2024), so each check re-runs
//! this test binary as a child with the variables set; the child sends its requests and
//! asserts where they went, and the parent checks what the loopback "proxy" recorded.
#![allow(clippy::disallowed_methods)]

mod support;

use std::process::Command;
use std::time::Duration;

use support::{Kind, Recorder, Reply, chaos, get, json};
use tether_core::Transport as _;
use tether_native::{NativeConfig, Proxy};

/// Runs [`child_sends_per_environment`] with the proxy variables pointing at `proxy`.
fn run_child(proxy: &Recorder, target: &str, cgi: bool) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "child_sends_per_environment",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TETHER_TEST_TARGET", target)
        .env("TETHER_TEST_CGI", if cgi { "1" } else { "0" })
        .env_remove("NO_PROXY")
        .env_remove("no_proxy");
    for name in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        command.env(name, proxy.url(""));
    }
    if cgi {
        command.env("REQUEST_METHOD", "GET");
    } else {
        command.env_remove("REQUEST_METHOD");
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "child failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("1 passed"),
        "the child test ran: {}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[test]
fn environment_proxies_are_used_only_when_asked() {
    let target = chaos();
    let proxy = Recorder::start(Reply::Ok);
    run_child(&proxy, &target.url("/get"), false);
    // Only the `FromEnv` transports went through the proxy: the hyper transport in absolute
    // form, each ureq transport (async and blocking) through a tunnel (CONNECT, then the
    // request).
    let recorded = proxy.requests();
    let absolute = format!("GET http://{}/get HTTP/1.1\r\n", target.addr);
    let tunnel = format!("CONNECT {} HTTP/1.1\r\n", target.addr);
    assert_eq!(
        recorded.iter().filter(|r| r.starts_with(&absolute)).count(),
        1,
        "{recorded:?}"
    );
    assert_eq!(
        recorded.iter().filter(|r| r.starts_with(&tunnel)).count(),
        2,
        "{recorded:?}"
    );
    assert_eq!(recorded.len(), 5, "{recorded:?}");
}

#[test]
fn a_cgi_program_never_takes_its_proxy_from_the_environment() {
    let target = chaos();
    let proxy = Recorder::start(Reply::Ok);
    run_child(&proxy, &target.url("/get"), true);
    assert_eq!(proxy.accepted(), 0, "{:?}", proxy.requests());
}

/// The child's side (run by the tests above, in a process whose environment names a proxy).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run in a child process by the tests of this file"]
async fn child_sends_per_environment() {
    let Ok(target) = std::env::var("TETHER_TEST_TARGET") else {
        // Run directly (`--ignored`) without the parent's environment: nothing to check.
        return;
    };
    let cgi = std::env::var("TETHER_TEST_CGI").as_deref() == Ok("1");
    for k in [Kind::Ureq, Kind::Hyper, Kind::Blocking] {
        // The default: straight to the target, whatever the environment says.
        let direct = k.default_transport();
        let outcome = direct
            .send(get(&target), Some(Duration::from_secs(5)))
            .await;
        assert!(
            json(&outcome)["url"].is_string(),
            "{k:?} default: {outcome:?}"
        );

        // Opted in: through the proxy (unless this is a CGI program).
        let from_env = k.make(NativeConfig {
            proxy: Proxy::FromEnv,
            ..NativeConfig::default()
        });
        let response = from_env
            .send(get(&target), Some(Duration::from_secs(5)))
            .await
            .unwrap();
        if cgi {
            assert_ne!(response.body().as_ref(), b"via-recorder", "{k:?}");
        } else {
            assert_eq!(response.body().as_ref(), b"via-recorder", "{k:?}");
        }
    }
}
