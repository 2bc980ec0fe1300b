//! Cache-key derivation: a seeded 128-bit hash of the request's identity, plus the credential
//! partition, the invalidation URL id and the `Vary` secondary key.
//!
//! Key = H(method, scheme, host (lower-cased, default port elided), path, sorted query params
//! (minus excluded and credential params; all omitted when `include_query` is off), the
//! configured key headers, the body if non-empty, the credential partition).
//!
//! The credential partition — userinfo, credential query parameters (whatever
//! `include_query` says) and credential headers — is hashed into the key under its own tags,
//! so two credentials never share a key. Only the hash exists; no secret is retained.
//!
//! Two foldhash instances with different seeds (both derived from the seed given to
//! `Cache::new`) give the two 64-bit halves, so collisions cannot be precomputed offline. The
//! hot path does not allocate: parts are hashed in place, host names are lower-cased through a
//! stack buffer and up to [`STACK_PARAMS`] query parameters are sorted in a stack array.

use std::cmp::Ordering;
use std::fmt;
use std::hash::Hasher;

use foldhash::SharedSeed;
use foldhash::quality::FoldHasher;
use http::header::HeaderName;
use http::{HeaderMap, Uri};
use serde::{Serialize, Serializer};

use crate::Request;

/// Query parameters sorted without allocating; longer queries fall back to a `Vec`.
pub const STACK_PARAMS: usize = 32;

/// A 128-bit cache key. Opaque: derived with a per-cache secret seed, so the same request
/// maps to different keys in caches with different seeds.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey(u128);

impl CacheKey {
    /// From the raw 128 bits (tests, persisted indexes).
    pub const fn from_u128(v: u128) -> Self {
        CacheKey(v)
    }

    /// The raw 128 bits.
    pub const fn as_u128(self) -> u128 {
        self.0
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({:032x})", self.0)
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl Serialize for CacheKey {
    /// Serialized as 32 lower-case hex digits (a JSON number could not hold 128 bits).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

// Domain-separation tags for the parts of a key.
const T_METHOD: u8 = 1;
const T_SCHEME: u8 = 2;
const T_HOST: u8 = 3;
const T_PORT: u8 = 4;
const T_PATH: u8 = 5;
const T_PARAM: u8 = 6;
const T_QUERY_END: u8 = 7;
const T_HEADER: u8 = 8;
const T_BODY: u8 = 9;
const T_CRED: u8 = 10;
const T_USERINFO: u8 = 11;
const T_NO_BODY: u8 = 12;

/// Per-hasher seed tweak so the URL id and Vary hashes are independent of key hashes.
const URL_TWEAK: u64 = 0x5EED_0F0D_u64;
const VARY_TWEAK: u64 = 0x7A11_0E55_u64;

/// Derives keys; owns the seeds and the key-relevant configuration.
pub(crate) struct KeyDeriver {
    seed_a: SharedSeed,
    seed_b: SharedSeed,
    per_a: u64,
    per_b: u64,
    key_headers: Vec<HeaderName>,
    credential_headers: Vec<HeaderName>,
    /// Lower-cased.
    credential_params: Vec<String>,
    exclude_params: Vec<String>,
    include_query: bool,
}

impl fmt::Debug for KeyDeriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyDeriver")
            .field("seed", &"<redacted>")
            .field("key_headers", &self.key_headers)
            .field("credential_headers", &self.credential_headers)
            .field("credential_params", &self.credential_params)
            .field("exclude_params", &self.exclude_params)
            .field("include_query", &self.include_query)
            .finish_non_exhaustive()
    }
}

/// Two independently seeded foldhash states fed the same input.
struct Dual<'a> {
    a: FoldHasher<'a>,
    b: FoldHasher<'a>,
}

impl Dual<'_> {
    fn finish128(&self) -> u128 {
        (u128::from(self.a.finish()) << 64) | u128::from(self.b.finish())
    }
}

impl Hasher for Dual<'_> {
    fn write(&mut self, bytes: &[u8]) {
        self.a.write(bytes);
        self.b.write(bytes);
    }
    fn write_u8(&mut self, i: u8) {
        self.a.write_u8(i);
        self.b.write_u8(i);
    }
    fn write_u16(&mut self, i: u16) {
        self.a.write_u16(i);
        self.b.write_u16(i);
    }
    fn write_u64(&mut self, i: u64) {
        self.a.write_u64(i);
        self.b.write_u64(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.a.write_usize(i);
        self.b.write_usize(i);
    }
    fn write_u128(&mut self, i: u128) {
        self.a.write_u128(i);
        self.b.write_u128(i);
    }
    fn finish(&self) -> u64 {
        self.a.finish()
    }
}

/// Length-prefixed bytes.
fn put<H: Hasher>(h: &mut H, tag: u8, b: &[u8]) {
    h.write_u8(tag);
    h.write_usize(b.len());
    h.write(b);
}

/// Length-prefixed, ASCII-lower-cased bytes, through a 64-byte stack buffer.
fn put_lower<H: Hasher>(h: &mut H, tag: u8, b: &[u8]) {
    h.write_u8(tag);
    h.write_usize(b.len());
    let mut buf = [0u8; 64];
    for chunk in b.chunks(64) {
        let c = &mut buf[..chunk.len()];
        c.copy_from_slice(chunk);
        c.make_ascii_lowercase();
        h.write(c);
    }
}

/// Splits a query segment into (name, value); a segment without `=` has an empty value.
fn split_param(seg: &str) -> (&str, &str) {
    match seg.find('=') {
        Some(i) => (&seg[..i], &seg[i + 1..]),
        None => (seg, ""),
    }
}

fn cmp_param(q: &str, x: (usize, usize), y: (usize, usize)) -> Ordering {
    let (xn, xv) = split_param(&q[x.0..x.1]);
    let (yn, yv) = split_param(&q[y.0..y.1]);
    xn.cmp(yn).then_with(|| xv.cmp(yv))
}

/// Calls `f` with the query's non-empty `&`-separated segments as (start, end) ranges, sorted
/// by (name, value). Allocates only beyond [`STACK_PARAMS`] segments.
fn with_sorted_params<R>(q: &str, f: impl FnOnce(&[(usize, usize)]) -> R) -> R {
    let mut stack = [(0usize, 0usize); STACK_PARAMS];
    let mut heap: Vec<(usize, usize)> = Vec::new();
    let count = q.split('&').filter(|s| !s.is_empty()).count();
    let slots: &mut [(usize, usize)] = if count <= STACK_PARAMS {
        &mut stack[..count]
    } else {
        heap.resize(count, (0, 0));
        &mut heap
    };
    let mut n = 0;
    let mut start = 0;
    for seg in q.split('&') {
        let end = start + seg.len();
        if !seg.is_empty() {
            slots[n] = (start, end);
            n += 1;
        }
        start = end + 1;
    }
    slots.sort_unstable_by(|x, y| cmp_param(q, *x, *y));
    f(slots)
}

fn default_port(scheme: &str) -> Option<u16> {
    if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("ws") {
        Some(80)
    } else if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("wss") {
        Some(443)
    } else {
        None
    }
}

/// The authority's userinfo (`user:pass` of `user:pass@host`), if any.
fn userinfo(uri: &Uri) -> Option<&str> {
    let a = uri.authority()?.as_str();
    a.rfind('@').map(|i| &a[..i])
}

/// The port to include: `None` when absent or the scheme's default.
fn effective_port(uri: &Uri) -> Option<u16> {
    let port = uri.port_u16()?;
    if default_port(uri.scheme_str().unwrap_or("")) == Some(port) {
        None
    } else {
        Some(port)
    }
}

impl KeyDeriver {
    pub(crate) fn new(
        seed: u64,
        key_headers: Vec<HeaderName>,
        credential_headers: Vec<HeaderName>,
        credential_params: Vec<String>,
        exclude_params: Vec<String>,
        include_query: bool,
    ) -> Self {
        // SplitMix-style spreading so that nearby seeds give unrelated states.
        let mix = |x: u64| {
            let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let a = mix(seed);
        let b = mix(a);
        KeyDeriver {
            seed_a: SharedSeed::from_u64(a),
            seed_b: SharedSeed::from_u64(b),
            per_a: mix(b),
            per_b: mix(mix(b)),
            key_headers,
            credential_headers,
            credential_params: credential_params
                .into_iter()
                .map(|s| s.to_ascii_lowercase())
                .collect(),
            exclude_params,
            include_query,
        }
    }

    fn dual(&self) -> Dual<'_> {
        Dual {
            a: FoldHasher::with_seed(self.per_a, &self.seed_a),
            b: FoldHasher::with_seed(self.per_b, &self.seed_b),
        }
    }

    fn single(&self, tweak: u64) -> FoldHasher<'_> {
        FoldHasher::with_seed(self.per_a ^ tweak, &self.seed_a)
    }

    fn is_credential_param(&self, name: &str) -> bool {
        self.credential_params
            .iter()
            .any(|p| p.eq_ignore_ascii_case(name))
    }

    fn is_excluded_param(&self, name: &str) -> bool {
        self.exclude_params.iter().any(|p| p == name)
    }

    /// Hashes the target URI into `h`. With `creds`, credential parts (userinfo, credential
    /// query parameters) are hashed too, under their own tags; without, they are skipped.
    fn hash_target<H: Hasher>(&self, uri: &Uri, h: &mut H, creds: bool) {
        let scheme = uri.scheme_str().unwrap_or("");
        put_lower(h, T_SCHEME, scheme.as_bytes());
        put_lower(h, T_HOST, uri.host().unwrap_or("").as_bytes());
        h.write_u8(T_PORT);
        h.write_u32(effective_port(uri).map_or(0, |p| u32::from(p) + 1));
        if creds && let Some(ui) = userinfo(uri) {
            put(h, T_USERINFO, ui.as_bytes());
        }
        put(h, T_PATH, uri.path().as_bytes());
        if let Some(q) = uri.query() {
            with_sorted_params(q, |params| {
                for &(s, e) in params {
                    let (name, value) = split_param(&q[s..e]);
                    if self.is_credential_param(name) {
                        if creds {
                            put_lower(h, T_CRED, name.as_bytes());
                            put(h, T_CRED, value.as_bytes());
                        }
                    } else if self.include_query && !self.is_excluded_param(name) {
                        put(h, T_PARAM, name.as_bytes());
                        put(h, T_PARAM, value.as_bytes());
                    }
                }
            });
        }
        h.write_u8(T_QUERY_END);
    }

    /// The primary cache key of a request. Credential parts (the partition) are hashed in
    /// with their own tags, so two credentials never share a key; nothing is retained.
    pub(crate) fn key(&self, req: &Request) -> CacheKey {
        let mut h = self.dual();
        put(&mut h, T_METHOD, req.method().as_str().as_bytes());
        self.hash_target(req.uri(), &mut h, true);
        let headers = req.headers();
        for name in &self.key_headers {
            put(&mut h, T_HEADER, name.as_str().as_bytes());
            let values = headers.get_all(name);
            h.write_usize(values.iter().count());
            for v in values {
                put(&mut h, T_HEADER, v.as_bytes());
            }
        }
        let body = req.body();
        if body.is_empty() {
            h.write_u8(T_NO_BODY);
        } else {
            put(&mut h, T_BODY, body);
        }
        for name in &self.credential_headers {
            for v in headers.get_all(name) {
                put(&mut h, T_CRED, name.as_str().as_bytes());
                put(&mut h, T_CRED, v.as_bytes());
            }
        }
        CacheKey(h.finish128())
    }

    /// The id used to find every entry of one URL (for unsafe-method invalidation): the target
    /// URI as it enters the key, without method, headers, body or credentials.
    pub(crate) fn url_id(&self, uri: &Uri) -> u64 {
        let mut h = self.single(URL_TWEAK);
        self.hash_target(uri, &mut h, false);
        h.finish()
    }

    /// The URL as stored in an entry (for prefix invalidation and diagnostics): userinfo and
    /// credential query parameters removed, host lower-cased, default port elided.
    pub(crate) fn redacted_url(&self, uri: &Uri) -> String {
        let mut s = String::new();
        if let Some(scheme) = uri.scheme_str() {
            s.push_str(&scheme.to_ascii_lowercase());
            s.push_str("://");
        }
        if let Some(host) = uri.host() {
            s.push_str(&host.to_ascii_lowercase());
        }
        if let Some(p) = effective_port(uri) {
            s.push(':');
            s.push_str(&p.to_string());
        }
        s.push_str(uri.path());
        if let Some(q) = uri.query() {
            let mut first = true;
            for seg in q.split('&').filter(|x| !x.is_empty()) {
                if self.is_credential_param(split_param(seg).0) {
                    continue;
                }
                s.push(if first { '?' } else { '&' });
                first = false;
                s.push_str(seg);
            }
        }
        s
    }

    /// Hash of the request's values for the given `Vary` field names (the secondary key).
    pub(crate) fn vary_hash(&self, names: &[HeaderName], headers: &HeaderMap) -> u64 {
        let mut h = self.single(VARY_TWEAK);
        for name in names {
            put(&mut h, T_HEADER, name.as_str().as_bytes());
            let values = headers.get_all(name);
            h.write_usize(values.iter().count());
            for v in values {
                put(&mut h, T_HEADER, v.as_bytes());
            }
        }
        h.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn deriver() -> KeyDeriver {
        KeyDeriver::new(
            7,
            vec![http::header::ACCEPT],
            vec![
                http::header::AUTHORIZATION,
                http::header::COOKIE,
                http::header::PROXY_AUTHORIZATION,
            ],
            vec!["api_key".into(), "Token".into()],
            vec!["utm_source".into()],
            true,
        )
    }

    fn req(method: &str, uri: &str, headers: &[(&str, &str)], body: &'static [u8]) -> Request {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Bytes::from_static(body)).unwrap()
    }

    fn k(r: &Request) -> CacheKey {
        deriver().key(r)
    }

    #[test]
    fn query_order_and_host_case_do_not_matter() {
        let a = k(&req("GET", "http://Example.COM:80/p?b=2&a=1&a=0", &[], b""));
        let b = k(&req("GET", "http://example.com/p?a=0&a=1&b=2", &[], b""));
        assert_eq!(a, b);
        let c = k(&req("GET", "http://example.com/p?a=0&a=1&b=3", &[], b""));
        assert_ne!(a, c);
        // Name-then-value ordering, not segment ordering: "a=1&a2=x" == "a2=x&a=1".
        assert_eq!(
            k(&req("GET", "http://h/?a=1&a2=x", &[], b"")),
            k(&req("GET", "http://h/?a2=x&a=1", &[], b""))
        );
        // Empty segments are ignored.
        assert_eq!(
            k(&req("GET", "http://h/?a=1&&b=2&", &[], b"")),
            k(&req("GET", "http://h/?a=1&b=2", &[], b""))
        );
    }

    #[test]
    fn parts_are_separated() {
        let base = k(&req("GET", "http://h/p?a=1", &[], b""));
        for other in [
            req("HEAD", "http://h/p?a=1", &[], b""),
            req("GET", "https://h/p?a=1", &[], b""),
            req("GET", "http://h:8080/p?a=1", &[], b""),
            req("GET", "http://h2/p?a=1", &[], b""),
            req("GET", "http://h/q?a=1", &[], b""),
            req("GET", "http://h/p?a=2", &[], b""),
            req("GET", "http://h/p?a=1", &[("accept", "text/html")], b""),
            req("GET", "http://h/p?a=1", &[], b"x"),
            req(
                "GET",
                "http://h/p?a=1",
                &[("authorization", "Bearer t")],
                b"",
            ),
        ] {
            assert_ne!(base, k(&other), "{other:?}");
        }
        // Non-key headers and excluded params do not matter.
        assert_eq!(
            base,
            k(&req("GET", "http://h/p?a=1", &[("x-request-id", "9")], b""))
        );
        assert_eq!(
            base,
            k(&req("GET", "http://h/p?a=1&utm_source=z", &[], b""))
        );
        // Ambiguity: "a=1b" vs "a1=b".
        assert_ne!(
            k(&req("GET", "http://h/p?a=1b", &[], b"")),
            k(&req("GET", "http://h/p?a1=b", &[], b""))
        );
    }

    #[test]
    fn many_params_fall_back_to_heap_consistently() {
        let fwd: Vec<String> = (0..50).map(|i| format!("p{i:02}={i}")).collect();
        let mut rev = fwd.clone();
        rev.reverse();
        let a = k(&req(
            "GET",
            &format!("http://h/?{}", fwd.join("&")),
            &[],
            b"",
        ));
        let b = k(&req(
            "GET",
            &format!("http://h/?{}", rev.join("&")),
            &[],
            b"",
        ));
        assert_eq!(a, b);
    }

    #[test]
    fn credentials_partition_and_redaction() {
        let d = deriver();
        let anon = req("GET", "http://h/p", &[], b"");
        let alice = req("GET", "http://h/p?API_KEY=alice", &[], b"");
        let alice2 = req("GET", "http://h/p?api_key=alice", &[], b"");
        let bob = req("GET", "http://h/p?api_key=bob", &[], b"");
        let hdr = req("GET", "http://h/p", &[("cookie", "alice")], b"");
        let keys = [d.key(&anon), d.key(&alice), d.key(&bob), d.key(&hdr)];
        for i in 0..keys.len() {
            for j in 0..i {
                assert_ne!(keys[i], keys[j], "{i} vs {j}");
            }
        }
        // Credential parameter names match case-insensitively.
        assert_eq!(d.key(&alice), d.key(&alice2));
        // All share the URL id (invalidation reaches every partition).
        assert_eq!(d.url_id(anon.uri()), d.url_id(alice.uri()));
        assert_eq!(d.url_id(alice.uri()), d.url_id(bob.uri()));
        let u = "http://user:pw@H.example:443/p?x=1&token=sekrit&y=2"
            .parse::<Uri>()
            .unwrap();
        assert_eq!(d.redacted_url(&u), "http://h.example:443/p?x=1&y=2");
        let u = "https://user:pw@h/p?token=s".parse::<Uri>().unwrap();
        assert_eq!(d.redacted_url(&u), "https://h/p");
        // Userinfo partitions too.
        let u1 = req("GET", "http://u1:pw@h/p", &[], b"");
        let u2 = req("GET", "http://u2:pw@h/p", &[], b"");
        assert_ne!(d.key(&u1), d.key(&u2));
        // A credential header value cannot be confused with a credential parameter.
        assert_ne!(
            d.key(&req("GET", "http://h/p", &[("authorization", "x")], b"")),
            d.key(&req("GET", "http://h/p?token=x", &[], b""))
        );
    }

    #[test]
    fn seeds_change_keys() {
        let r = req("GET", "http://h/p", &[], b"");
        let a = KeyDeriver::new(1, vec![], vec![], vec![], vec![], true).key(&r);
        let b = KeyDeriver::new(2, vec![], vec![], vec![], vec![], true).key(&r);
        let a2 = KeyDeriver::new(1, vec![], vec![], vec![], vec![], true).key(&r);
        assert_ne!(a, b);
        assert_eq!(a, a2);
        assert_ne!(a.as_u128() >> 64, 0);
        assert_eq!(format!("{a}").len(), 32);
        assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{a}\""));
    }

    #[test]
    fn include_query_off_ignores_query_but_not_credentials() {
        let d = KeyDeriver::new(3, vec![], vec![], vec!["key".into()], vec![], false);
        assert_eq!(
            d.key(&req("GET", "http://h/p?a=1", &[], b"")),
            d.key(&req("GET", "http://h/p?a=2", &[], b""))
        );
        assert_ne!(
            d.key(&req("GET", "http://h/p?key=1", &[], b"")),
            d.key(&req("GET", "http://h/p?key=2", &[], b""))
        );
    }

    #[test]
    fn vary_hash_distinguishes_values_and_absence() {
        let d = deriver();
        let names = [http::header::ACCEPT_LANGUAGE];
        let h = |v: Option<&str>| {
            let mut m = HeaderMap::new();
            if let Some(v) = v {
                m.insert(http::header::ACCEPT_LANGUAGE, v.parse().unwrap());
            }
            d.vary_hash(&names, &m)
        };
        assert_eq!(h(Some("en")), h(Some("en")));
        assert_ne!(h(Some("en")), h(Some("de")));
        assert_ne!(h(Some("")), h(None));
    }
}
