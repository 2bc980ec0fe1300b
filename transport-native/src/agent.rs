//! How the ureq agent behind [`UreqTransport`](crate::UreqTransport) is assembled: ureq's
//! default connector and resolver, minus two per-request costs.
//!
//! - **[`DirectResolver`]**: ureq resolves the host on *every* request, before it looks in its
//!   connection pool, and its `DefaultResolver` does so on a freshly spawned OS thread whenever
//!   the request has an overall deadline — which every attempt of this transport has. That was
//!   one thread per request, even for `127.0.0.1` on a reused connection. This resolver takes
//!   IP literals as they are and looks names up on the calling thread, which is already one of
//!   tokio's blocking-pool threads.
//! - **[`CoarseTimeouts`]**: with an overall deadline, the time left changes between any two
//!   socket operations, so ureq re-sets `SO_SNDTIMEO`/`SO_RCVTIMEO` (a `setsockopt` each)
//!   before every write and read. This layer rounds the time left *up* to 1/16 of its
//!   magnitude, so consecutive requests on a connection pass the same value and ureq skips the
//!   syscall.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use http::Uri;
use http::uri::Scheme;
use ureq::config::{Config, IpFamily};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, DefaultConnector, NextTimeout, Transport, time,
};

/// An agent with `config`, [`DirectResolver`] and [`CoarseTimeouts`] over ureq's default
/// connector chain (TCP, CONNECT/SOCKS proxies, rustls).
pub(crate) fn new_agent(config: Config) -> ureq::Agent {
    ureq::Agent::with_parts(
        config,
        DefaultConnector::new().chain(CoarseTimeouts),
        DirectResolver::default(),
    )
}

/// A [`Resolver`] that never spawns a thread.
///
/// - An IP literal (`127.0.0.1`, `[::1]`) with an `http`/`https` scheme is used as is: no
///   lookup, exactly as std's `ToSocketAddrs` would treat it.
/// - Anything else goes to ureq's `DefaultResolver` *without* a deadline, which makes it call
///   `getaddrinfo` on the current thread. Its validation, error values, [`IpFamily`] filter,
///   address order (the system's RFC 6724 preference) and the 16-address cap are ureq's own.
///
/// The lookup is therefore not cut short by the attempt's deadline: the system resolver's own
/// time-outs bound it, the caller's wait is bounded by the client racing the attempt against
/// its timer, and a deadline that passed during the lookup fails the connect that follows
/// with a time-out.
#[derive(Debug, Default)]
pub(crate) struct DirectResolver {
    names: DefaultResolver,
}

impl Resolver for DirectResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        if let Some(addr) = ip_literal(uri) {
            let wanted = match config.ip_family() {
                IpFamily::Ipv4Only => addr.is_ipv4(),
                IpFamily::Ipv6Only => addr.is_ipv6(),
                IpFamily::Any => true,
            };
            if !wanted {
                return Err(ureq::Error::HostNotFound);
            }
            let mut addrs = self.empty();
            addrs.push(addr);
            return Ok(addrs);
        }
        let synchronous = NextTimeout {
            after: time::Duration::NotHappening,
            ..timeout
        };
        self.names.resolve(uri, config, synchronous)
    }
}

/// The socket address of an `http`/`https` URI whose host is an IP literal.
fn ip_literal(uri: &Uri) -> Option<SocketAddr> {
    let scheme = uri.scheme()?;
    let default_port = if *scheme == Scheme::HTTP {
        80
    } else if *scheme == Scheme::HTTPS {
        443
    } else {
        return None;
    };
    let authority = uri.authority()?;
    let host = authority.host();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let ip: IpAddr = host.parse().ok()?;
    Some(SocketAddr::new(
        ip,
        authority.port_u16().unwrap_or(default_port),
    ))
}

/// The outermost connector layer: wraps every connection in [`Coarse`].
#[derive(Debug)]
pub(crate) struct CoarseTimeouts;

impl Connector<Box<dyn Transport>> for CoarseTimeouts {
    type Out = Coarse;

    fn connect(
        &self,
        _: &ConnectionDetails,
        chained: Option<Box<dyn Transport>>,
    ) -> Result<Option<Coarse>, ureq::Error> {
        Ok(chained.map(Coarse))
    }
}

/// A connection whose remaining-time budgets are rounded up by [`round_up`] before they reach
/// the socket (and TLS) layers below. Everything else is passed through.
#[derive(Debug)]
pub(crate) struct Coarse(Box<dyn Transport>);

impl Transport for Coarse {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.0.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.0.transmit_output(amount, coarse(timeout))
    }

    fn maybe_await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.0.maybe_await_input(coarse(timeout))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.0.await_input(coarse(timeout))
    }

    fn is_open(&mut self) -> bool {
        self.0.is_open()
    }

    fn is_tls(&self) -> bool {
        self.0.is_tls()
    }
}

fn coarse(mut timeout: NextTimeout) -> NextTimeout {
    if let time::Duration::Exact(after) = timeout.after {
        timeout.after = time::Duration::Exact(round_up(after));
    }
    timeout
}

/// `d` rounded up to a multiple of the largest power of two (in nanoseconds) that is at most
/// 1/16 of it: never shorter, at most 6.25 % longer (30 s becomes ≈ 30.06 s, in steps of
/// ≈ 1.07 s; 100 ms in steps of ≈ 4.2 ms). Zero stays zero, so an expired budget still fails
/// at once.
fn round_up(d: Duration) -> Duration {
    let nanos = d.as_nanos();
    if nanos < 16 {
        return d;
    }
    let step = 1_u128 << (nanos.ilog2() - 4);
    let up = nanos.div_ceil(step) * step;
    u64::try_from(up).map_or(d, Duration::from_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(uri: &str, config: &Config) -> Result<Vec<SocketAddr>, ureq::Error> {
        let deadline = NextTimeout {
            after: time::Duration::Exact(Duration::from_secs(5)),
            ..NextTimeout::default()
        };
        DirectResolver::default()
            .resolve(&uri.parse().unwrap(), config, deadline)
            .map(|addrs| addrs.to_vec())
    }

    #[test]
    fn ip_literals_are_taken_as_they_are() {
        let any = Config::default();
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(
            resolve("http://127.0.0.1:8080/x", &any).unwrap(),
            [addr("127.0.0.1:8080")]
        );
        assert_eq!(
            resolve("http://10.1.2.3/", &any).unwrap(),
            [addr("10.1.2.3:80")]
        );
        assert_eq!(
            resolve("https://10.1.2.3/", &any).unwrap(),
            [addr("10.1.2.3:443")]
        );
        assert_eq!(
            resolve("http://[::1]:9000/", &any).unwrap(),
            [addr("[::1]:9000")]
        );
        assert_eq!(
            resolve("https://[2001:db8::7]/", &any).unwrap(),
            [addr("[2001:db8::7]:443")]
        );
    }

    #[test]
    fn ip_literals_respect_the_ip_family() {
        let v4 = Config::builder().ip_family(IpFamily::Ipv4Only).build();
        let v6 = Config::builder().ip_family(IpFamily::Ipv6Only).build();
        assert!(resolve("http://127.0.0.1/", &v4).is_ok());
        assert!(matches!(
            resolve("http://[::1]/", &v4),
            Err(ureq::Error::HostNotFound)
        ));
        assert!(resolve("http://[::1]/", &v6).is_ok());
        assert!(matches!(
            resolve("http://127.0.0.1/", &v6),
            Err(ureq::Error::HostNotFound)
        ));
    }

    #[test]
    fn only_plain_literals_skip_the_lookup() {
        for uri in [
            "http://localhost/",
            "http://example.com:80/",
            "http://127.1/",
            "socks5://127.0.0.1/",
        ] {
            assert_eq!(ip_literal(&uri.parse().unwrap()), None, "{uri}");
        }
    }

    #[test]
    fn names_go_to_ureqs_resolver_on_this_thread() {
        // ureq's own validation and errors, unchanged.
        let err = resolve("foo://some:42/", &Config::default()).unwrap_err();
        assert!(matches!(err, ureq::Error::BadUri(_)), "{err}");
        // `localhost` is in every hosts file; the lookup happens here, with or without a
        // deadline.
        let addrs = resolve("http://localhost:8080/", &Config::default()).unwrap();
        assert!(!addrs.is_empty());
        assert!(
            addrs
                .iter()
                .all(|a| a.port() == 8080 && a.ip().is_loopback())
        );
    }

    #[test]
    fn rounding_is_up_by_at_most_a_sixteenth_and_stable() {
        for ms in [0_u64, 1, 7, 100, 999, 1_000, 29_999, 30_000, 86_400_000] {
            let d = Duration::from_millis(ms);
            let r = round_up(d);
            assert!(r >= d, "{d:?} -> {r:?}");
            assert!(
                r.as_nanos() <= d.as_nanos() + d.as_nanos() / 16,
                "{d:?} -> {r:?}"
            );
        }
        assert_eq!(round_up(Duration::ZERO), Duration::ZERO);
        assert_eq!(round_up(Duration::from_nanos(5)), Duration::from_nanos(5));
        // What is left of a 30 s deadline a few ms into consecutive requests: one value.
        let a = round_up(Duration::from_millis(29_999));
        let b = round_up(Duration::from_micros(29_990_123));
        let c = round_up(Duration::from_millis(29_500));
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert!(a >= Duration::from_secs(30) && a < Duration::from_millis(30_100));
    }

    #[test]
    fn coarse_keeps_unbounded_and_expired_budgets() {
        let never = NextTimeout::default();
        assert_eq!(coarse(never), never);
        let expired = NextTimeout {
            after: time::Duration::Exact(Duration::ZERO),
            ..NextTimeout::default()
        };
        assert_eq!(coarse(expired), expired);
    }
}
