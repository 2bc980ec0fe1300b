//! The upstream: nginx with one worker, in its own processes, on a private prefix.
//!
//! The bench writes its own configuration and static files under a prefix it owns, starts
//! nginx in the foreground (`daemon off`, so its master is the bench's child and its PID is
//! known), and stops it by that PID: `SIGQUIT` (graceful), then `SIGKILL` if it lingers.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The cacheable resource: `Cache-Control: max-age=60`.
pub(crate) const CACHED: &str = "/cached.json";
/// The uncacheable resource: `Cache-Control: no-store`.
pub(crate) const NO_STORE: &str = "/nostore.json";
/// nginx's `stub_status`: connections accepted and requests handled so far.
pub(crate) const STATUS: &str = "/status";

/// A small JSON document (~200 bytes), the body of both resources.
const BODY: &str = r#"{"id":42,"name":"tether","tags":["cache","breaker","retry","metrics"],"owner":{"id":7,"login":"bench"},"active":true,"score":0.9375,"updated_at":"2026-12-05T12:00:00Z","note":"a small JSON body"}"#;

/// A running nginx.
pub(crate) struct Nginx {
    child: Child,
    port: u16,
    prefix: PathBuf,
}

impl Nginx {
    /// Writes the configuration and files under `prefix` and starts nginx on a free loopback
    /// port; returns once it answers.
    pub(crate) fn start(binary: &Path, prefix: &Path) -> Result<Nginx, String> {
        let prefix = absolute(prefix)?;
        let html = prefix.join("html");
        for dir in [&prefix, &html, &prefix.join("temp")] {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        for name in [CACHED, NO_STORE] {
            let path = html.join(name.trim_start_matches('/'));
            std::fs::write(&path, BODY).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        let conf = prefix.join("nginx.conf");
        stop_leftover(&prefix, &conf);
        let port = free_port()?;
        std::fs::write(&conf, config(&prefix, port))
            .map_err(|e| format!("{}: {e}", conf.display()))?;
        let child = Command::new(binary)
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(prefix.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", binary.display()))?;
        let mut nginx = Nginx {
            child,
            port,
            prefix,
        };
        let started = Instant::now();
        loop {
            if nginx.status().is_ok() {
                return Ok(nginx);
            }
            if let Ok(Some(status)) = nginx.child.try_wait() {
                return Err(format!(
                    "nginx exited at start ({status}); see {}",
                    nginx.prefix.join("error.log").display()
                ));
            }
            if started.elapsed() > Duration::from_secs(10) {
                return Err("nginx did not answer within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The master's PID.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The upstream's counters now.
    pub(crate) fn status(&self) -> Result<Counters, String> {
        Counters::fetch(&self.base_url())
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let pid = Pid::from_raw(self.child.id() as i32);
        // SIGQUIT: finish the requests in progress and exit (workers included).
        let _ = kill(pid, Signal::SIGQUIT);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = kill(pid, Signal::SIGTERM);
        std::thread::sleep(Duration::from_millis(200));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Stops an nginx that an interrupted run left behind on this prefix: the master named by
/// the prefix's PID file, and only if its command line names this prefix's configuration
/// (a PID file can outlive its process, and PIDs are reused). Its workers exit with it.
fn stop_leftover(prefix: &Path, conf: &Path) {
    let Some(pid) = std::fs::read_to_string(prefix.join("nginx.pid"))
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok())
    else {
        return;
    };
    // nginx rewrites its command line into one string ("nginx: master process … -c CONF …").
    let conf = conf.as_os_str().as_bytes();
    let ours = |pid: i32| {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|cmdline| cmdline.windows(conf.len()).any(|w| w == conf))
    };
    if !ours(pid) {
        return;
    }
    eprintln!("stopping nginx (pid {pid}) left running by an earlier run");
    let _ = kill(Pid::from_raw(pid), Signal::SIGQUIT);
    let deadline = Instant::now() + Duration::from_secs(5);
    while ours(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if ours(pid) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// nginx's totals since it started (`stub_status`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Counters {
    /// Connections accepted.
    pub(crate) accepts: u64,
    /// Requests handled (status requests included).
    pub(crate) requests: u64,
}

impl Counters {
    /// Reads `base_url` + [`STATUS`] over a fresh connection (HTTP/1.0, no client library).
    pub(crate) fn fetch(base_url: &str) -> Result<Counters, String> {
        let authority = base_url
            .strip_prefix("http://")
            .ok_or_else(|| format!("not an http URL: {base_url}"))?;
        let mut stream = TcpStream::connect(authority).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        write!(stream, "GET {STATUS} HTTP/1.0\r\nHost: {authority}\r\n\r\n")
            .map_err(|e| e.to_string())?;
        let mut text = String::new();
        stream
            .read_to_string(&mut text)
            .map_err(|e| e.to_string())?;
        // "server accepts handled requests\n N N N"
        let numbers = text
            .lines()
            .skip_while(|l| !l.starts_with("server accepts"))
            .nth(1)
            .ok_or_else(|| format!("unexpected stub_status answer: {text:?}"))?;
        let v: Vec<u64> = numbers
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        match v[..] {
            [accepts, _handled, requests] => Ok(Counters { accepts, requests }),
            _ => Err(format!("unexpected stub_status numbers: {numbers:?}")),
        }
    }
}

fn absolute(path: &Path) -> Result<PathBuf, String> {
    if path.is_absolute() {
        Ok(path.to_owned())
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .map_err(|e| e.to_string())
    }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// One worker (the client gets the other core), no access log, keep-alive without a request
/// limit, the two resources and the status page.
fn config(prefix: &Path, port: u16) -> String {
    let p = prefix.display();
    let mut c = String::new();
    let _ = write!(
        c,
        r#"# Written by bench-native; regenerated on every run.
daemon off;
master_process on;
worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path {p}/temp/body;
    proxy_temp_path {p}/temp/proxy;
    fastcgi_temp_path {p}/temp/fastcgi;
    uwsgi_temp_path {p}/temp/uwsgi;
    scgi_temp_path {p}/temp/scgi;
    default_type application/json;
    server {{
        listen 127.0.0.1:{port};
        root {p}/html;
        location = {CACHED} {{
            add_header Cache-Control "max-age=60";
        }}
        location = {NO_STORE} {{
            add_header Cache-Control "no-store";
        }}
        location = {STATUS} {{
            stub_status;
        }}
    }}
}}
"#
    );
    c
}
