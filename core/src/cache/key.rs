//! Cache-key derivation: a seeded 128-bit hash of the request's identity, plus the credential
//! partition, the invalidation URL id and the `Vary` secondary key.
//!
//! Key = H(method, scheme, host (lower-cased, default port elided), path, query params
//! ordered by name with the order of repeated names kept, or as sent when
//! `sort_query_by_name` is off (minus excluded and credential params; all omitted when
//! `include_query` is off), the body if non-empty, the configured key
//! headers, the partition).
//!
//! The partition — userinfo, credential query parameters (whatever `include_query` says) and
//! every request header that may identify the caller (see [`super::partition`]) — is hashed
//! into the key under its own tags, so two callers never share a key. Only the hash exists;
//! no secret is retained.
//!
//! Two foldhash instances with different seeds (both derived from the seed given to
//! `Cache::new`) give the two 64-bit halves, so collisions cannot be precomputed offline. The
//! hot path does not allocate: parts are encoded (tag, length, bytes; host and scheme
//! lower-cased) into a stack buffer that is hashed in one go, the query is scanned byte by
//! byte and up to [`STACK_PARAMS`] kept parameters are sorted in a stack array, and the
//! request's headers are classified in one pass (key header, identifying, or neither).

use std::cmp::Ordering;
use std::fmt;
use std::hash::Hasher;

use foldhash::SharedSeed;
use foldhash::quality::FoldHasher;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Uri};
use serde::{Serialize, Serializer};

use super::partition::{HOST_CODE, IDENTIFIES, KNOWN, Partition, host_matches};
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

// Domain-separation tags for the parts of a key. Each part is a 4-byte head — the tag in
// the low byte and a 24-bit number above it (a length, a count, a port or an index) — or,
// for numbers of 2^24 and more, the tag with `LONG` set followed by an 8-byte number.
const T_METHOD: u8 = 1;
const T_SCHEME: u8 = 2;
/// `http` / `https`, as a code (1 / 2) in the number field.
const T_SCHEME_CODE: u8 = 3;
const T_HOST: u8 = 4;
const T_PORT: u8 = 5;
const T_USERINFO: u8 = 6;
const T_PATH: u8 = 7;
/// The kept non-credential query parameters as `name=value` joined by `&`, ordered by name
/// (repeated names in their order in the request).
const T_QUERY: u8 = 8;
/// A credential query parameter's lower-cased name (its value follows as `T_VALUE`).
const T_CRED_PARAM: u8 = 9;
const T_BODY: u8 = 10;
/// A key header: the number of its values (which follow as `T_VALUE`s).
const T_HEADER: u8 = 11;
/// A value's position among the values of its header name (in a partition sum).
const T_POSITION: u8 = 12;
const T_VALUE: u8 = 13;
/// A query too long for `http` to have parsed, as it is.
const T_QUERY_VERBATIM: u8 = 14;
/// An identifying header's name (its value follows as `T_VALUE`). The identifying headers come
/// last in a key, by name, repeated names in their order in the request; each is
/// self-delimiting, so their number needs no head of its own.
const T_NAME: u8 = 15;
/// A configured credential header among the identifying headers, by its index in the
/// configuration (instead of its name: fewer bytes to hash).
const T_CREDENTIAL: u8 = 17;
/// The identifying headers of a request with more than [`STACK_PARTITION`] of them: their
/// number of values, then a 16-byte keyed sum of one hash per value.
const T_PARTITION_SUM: u8 = 16;
const LONG: u8 = 0x80;

/// Per-hasher seed tweak so the URL id and Vary hashes are independent of key hashes.
const URL_TWEAK: u64 = 0x5EED_0F0D_u64;
const VARY_TWEAK: u64 = 0x7A11_0E55_u64;

/// The target URI as given: what its part of a key depends on.
struct RawUri<'a> {
    scheme: Option<&'a str>,
    authority: &'a str,
    path_and_query: Option<&'a str>,
}

impl<'a> RawUri<'a> {
    fn of(uri: &'a Uri) -> Self {
        RawUri {
            scheme: uri.scheme_str(),
            authority: uri.authority().map_or("", http::uri::Authority::as_str),
            path_and_query: uri.path_and_query().map(http::uri::PathAndQuery::as_str),
        }
    }
}

/// Longest URI (and URI part of a key stream) a [`KeyMemo`] keeps.
const MEMO_CAP: usize = 256;

/// The last target URI whose part of the key stream was computed, with that part, so that
/// repeated requests for one URL (the hot case for a cache) skip re-normalising it. Holds
/// only URIs without credentials (no userinfo, no credential query parameter): no secret is
/// retained. Allocated once; never grows.
pub(crate) struct KeyMemo {
    valid: bool,
    /// Scheme presence and the lengths of scheme, authority, path-and-query (`u16::MAX`:
    /// absent) as in `raw`.
    shape: (bool, u16, u16, u16),
    raw: Vec<u8>,
    stream: Vec<u8>,
}

impl fmt::Debug for KeyMemo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyMemo")
            .field("valid", &self.valid)
            .finish_non_exhaustive()
    }
}

impl KeyMemo {
    pub(crate) fn new() -> Self {
        KeyMemo {
            valid: false,
            shape: (false, 0, 0, 0),
            raw: Vec::with_capacity(MEMO_CAP),
            stream: Vec::with_capacity(MEMO_CAP),
        }
    }

    fn shape_of(raw: &RawUri<'_>) -> (bool, u16, u16, u16) {
        let len = |s: &str| u16::try_from(s.len()).unwrap_or(u16::MAX - 1);
        (
            raw.scheme.is_some(),
            raw.scheme.map_or(0, len),
            len(raw.authority),
            raw.path_and_query.map_or(u16::MAX, len),
        )
    }

    fn holds(&self, raw: &RawUri<'_>) -> bool {
        if !self.valid || self.shape != Self::shape_of(raw) {
            return false;
        }
        let (a, rest) = self.raw.split_at(usize::from(self.shape.1));
        let (b, c) = rest.split_at(usize::from(self.shape.2));
        bytes_eq(a, raw.scheme.unwrap_or("").as_bytes())
            && bytes_eq(b, raw.authority.as_bytes())
            && bytes_eq(c, raw.path_and_query.unwrap_or("").as_bytes())
    }

    fn keep(&mut self, raw: &RawUri<'_>, stream: &[u8]) {
        let parts = [
            raw.scheme.unwrap_or(""),
            raw.authority,
            raw.path_and_query.unwrap_or(""),
        ];
        let raw_len: usize = parts.iter().map(|p| p.len()).sum();
        if raw_len > MEMO_CAP || stream.len() > MEMO_CAP {
            self.forget();
            return;
        }
        self.raw.clear();
        for p in parts {
            self.raw.extend_from_slice(p.as_bytes());
        }
        self.stream.clear();
        self.stream.extend_from_slice(stream);
        self.shape = Self::shape_of(raw);
        self.valid = true;
    }

    fn forget(&mut self) {
        self.valid = false;
    }
}

/// Derives keys; owns the seeds and the key-relevant configuration.
pub(crate) struct KeyDeriver {
    seed_a: SharedSeed,
    seed_b: SharedSeed,
    per_a: u64,
    per_b: u64,
    /// The key headers (without duplicates): their values are part of every key.
    key_headers: Vec<HeaderName>,
    /// Which request headers partition.
    partition: Partition,
    /// Lower-cased.
    credential_params: Vec<String>,
    exclude_params: Vec<String>,
    /// [`length_mask`] of `credential_params` / `exclude_params`: most names are rejected
    /// by their length alone.
    credential_mask: u64,
    exclude_mask: u64,
    include_query: bool,
    /// Order parameters by name (else: as sent).
    sort_query: bool,
}

impl fmt::Debug for KeyDeriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyDeriver")
            .field("seed", &"<redacted>")
            .field("key_headers", &self.key_headers)
            .field("partition", &self.partition)
            .field("credential_params", &self.credential_params)
            .field("exclude_params", &self.exclude_params)
            .field("include_query", &self.include_query)
            .field("sort_query", &self.sort_query)
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
    fn finish(&self) -> u64 {
        self.a.finish()
    }
}

/// Bytes gathered on the stack before they reach the hasher.
const SINK_BUF: usize = 256;

/// A byte stream in front of a hasher: the parts of a key are encoded (4-byte head, then the
/// bytes) into a stack buffer that reaches the hasher in `SINK_BUF`-byte blocks, plus a last
/// partial block at the end. Block boundaries depend only on the byte stream, never on how it
/// was written, so any two ways of producing the same bytes (one copy of an already sorted
/// query, or one copy per parameter after sorting) give the same hash; and the encoding is
/// prefix-free, so different parts give different streams. A typical key is one or two
/// `write`s instead of dozens of tiny ones.
struct Sink<H> {
    h: H,
    buf: [u8; SINK_BUF],
    len: usize,
    /// Whole blocks handed to the hasher so far.
    blocks: usize,
}

impl<H: Hasher> Sink<H> {
    fn new(h: H) -> Self {
        Sink {
            h,
            buf: [0; SINK_BUF],
            len: 0,
            blocks: 0,
        }
    }

    /// Appends `b`.
    #[expect(clippy::inline_always, reason = "measured: the key's hot loop")]
    #[inline(always)]
    fn raw(&mut self, b: &[u8]) {
        let at = self.len;
        if b.len() <= SINK_BUF - at {
            copy_short(&mut self.buf[at..at + b.len()], b);
            self.len = at + b.len();
        } else {
            self.raw_spill(b);
        }
    }

    /// [`raw`](Self::raw) across block boundaries.
    #[cold]
    #[inline(never)]
    fn raw_spill(&mut self, mut b: &[u8]) {
        let room = SINK_BUF - self.len;
        self.buf[self.len..].copy_from_slice(&b[..room]);
        self.h.write(&self.buf);
        self.blocks += 1;
        b = &b[room..];
        // Whole blocks straight from the input: the same writes as through the buffer.
        while b.len() >= SINK_BUF {
            self.h.write(&b[..SINK_BUF]);
            self.blocks += 1;
            b = &b[SINK_BUF..];
        }
        self.buf[..b.len()].copy_from_slice(b);
        self.len = b.len();
    }

    /// Appends `b`, ASCII-lower-cased.
    fn raw_lower(&mut self, b: &[u8]) {
        let mut tmp = [0u8; 64];
        for chunk in b.chunks(tmp.len()) {
            let t = &mut tmp[..chunk.len()];
            for (d, c) in t.iter_mut().zip(chunk) {
                *d = c.to_ascii_lowercase();
            }
            self.raw(t);
        }
    }

    /// A part's head: `tag` and a number (a length, count, port or index).
    #[expect(clippy::inline_always, reason = "measured: the key's hot loop")]
    #[inline(always)]
    fn head(&mut self, tag: u8, n: usize) {
        if n < 1 << 24 {
            self.raw(&((n as u32) << 8 | u32::from(tag)).to_le_bytes());
        } else {
            self.raw(&[tag | LONG]);
            self.raw(&(n as u64).to_le_bytes());
        }
    }

    /// Length-prefixed bytes.
    #[expect(clippy::inline_always, reason = "measured: the key's hot loop")]
    #[inline(always)]
    fn put(&mut self, tag: u8, b: &[u8]) {
        self.head(tag, b.len());
        self.raw(b);
    }

    /// Length-prefixed, ASCII-lower-cased bytes.
    fn put_lower(&mut self, tag: u8, b: &[u8]) {
        self.head(tag, b.len());
        self.raw_lower(b);
    }

    /// The hasher, fed the whole stream. (By reference: moving the sink would copy its
    /// buffer.)
    fn finish(&mut self) -> &H {
        if self.len > 0 {
            self.h.write(&self.buf[..self.len]);
            self.len = 0;
        }
        &self.h
    }
}

/// `a == b` for short slices without a `memcmp` call: eight bytes at a time, the last word
/// overlapping (four, for slices of four to seven bytes).
#[inline]
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        if n < 4 {
            return a.iter().zip(b).all(|(x, y)| x == y);
        }
        let half =
            |s: &[u8], i: usize| u32::from_le_bytes(s[i..i + 4].try_into().unwrap_or([0; 4]));
        return half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4);
    }
    let word = |s: &[u8], i: usize| u64::from_le_bytes(s[i..i + 8].try_into().unwrap_or([0; 8]));
    let mut i = 0;
    while i + 8 < n {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    word(a, n - 8) == word(b, n - 8)
}

/// `dst.copy_from_slice(src)` for the short parts keys are made of, without a `memcpy` call:
/// two overlapping fixed-size copies.
#[expect(clippy::inline_always, reason = "measured: the key's hot loop")]
#[inline(always)]
fn copy_short(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    if n > 64 {
        dst.copy_from_slice(src);
    } else if n >= 32 {
        dst[..32].copy_from_slice(&src[..32]);
        dst[n - 32..].copy_from_slice(&src[n - 32..]);
    } else if n >= 16 {
        dst[..16].copy_from_slice(&src[..16]);
        dst[n - 16..].copy_from_slice(&src[n - 16..]);
    } else if n >= 8 {
        dst[..8].copy_from_slice(&src[..8]);
        dst[n - 8..].copy_from_slice(&src[n - 8..]);
    } else if n >= 4 {
        dst[..4].copy_from_slice(&src[..4]);
        dst[n - 4..].copy_from_slice(&src[n - 4..]);
    } else {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = *s;
        }
    }
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Whether any byte of `w` is `b` (exact, SWAR).
#[inline]
fn word_has(w: u64, b: u8) -> bool {
    let x = w ^ (LO * u64::from(b));
    x.wrapping_sub(LO) & !x & HI != 0
}

/// What a scan of an authority found (see [`scan_authority`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum AuthorityShape {
    /// Only a lower-case host: hash it as it is.
    Plain,
    /// A host with upper-case letters and nothing else: lower-case it.
    Upper,
    /// A port, userinfo, an IPv6 literal or non-ASCII bytes: split it properly.
    Complex,
}

/// Classifies an authority eight bytes at a time.
#[inline]
pub(crate) fn scan_authority(a: &[u8]) -> AuthorityShape {
    let n = a.len();
    if n == 0 || a[0] == b'[' {
        return AuthorityShape::Complex;
    }
    let mut upper = false;
    let mut check = |w: u64| -> bool {
        // Bytes ≥ 0x80 would break the range test below (and never occur in a parsed
        // authority); `@` and `:` need the full split.
        if w & HI != 0 || word_has(w, b'@') || word_has(w, b':') {
            return false;
        }
        // High bit of each byte in 'A'..='Z' (all bytes < 0x80, so no carries).
        let ge_a = w.wrapping_add(LO * u64::from(0x80 - b'A'));
        let gt_z = w.wrapping_add(LO * u64::from(0x80 - b'Z' - 1));
        upper |= ge_a & !gt_z & HI != 0;
        true
    };
    let word = |s: &[u8]| {
        let mut b = [0u8; 8];
        b[..s.len()].copy_from_slice(s);
        u64::from_le_bytes(b)
    };
    if n >= 8 {
        let mut i = 0;
        while i + 8 <= n {
            if !check(word(&a[i..i + 8])) {
                return AuthorityShape::Complex;
            }
            i += 8;
        }
        if i < n && !check(word(&a[n - 8..])) {
            return AuthorityShape::Complex;
        }
    } else if !check(word(a)) {
        return AuthorityShape::Complex;
    }
    if upper {
        AuthorityShape::Upper
    } else {
        AuthorityShape::Plain
    }
}

/// Position of the first `c` in `b` (a plain byte loop: the inputs are short).
#[inline]
fn find_byte(b: &[u8], c: u8) -> Option<usize> {
    b.iter().position(|&x| x == c)
}

/// Splits a query segment into (name, value); a segment without `=` has an empty value.
fn split_param(seg: &str) -> (&str, &str) {
    match find_byte(seg.as_bytes(), b'=') {
        Some(i) => (&seg[..i], &seg[i + 1..]),
        None => (seg, ""),
    }
}

/// One query segment: byte offsets into the query (`eq` is the end of the name, `end` when
/// the segment has no `=`). `u16` offsets: `http` caps a URI at 65 534 bytes.
#[derive(Clone, Copy)]
struct Param {
    start: u16,
    eq: u16,
    end: u16,
    credential: bool,
}

impl Param {
    const EMPTY: Param = Param {
        start: 0,
        eq: 0,
        end: 0,
        credential: false,
    };

    fn segment(self, q: &[u8]) -> &[u8] {
        &q[usize::from(self.start)..usize::from(self.end)]
    }

    fn name(self, q: &[u8]) -> &[u8] {
        &q[usize::from(self.start)..usize::from(self.eq)]
    }

    fn value(self, q: &[u8]) -> &[u8] {
        if self.has_eq() {
            &q[usize::from(self.eq) + 1..usize::from(self.end)]
        } else {
            &[]
        }
    }

    fn has_eq(self) -> bool {
        self.eq < self.end
    }

    /// Order of plain parameters: by name, then by position in the query. Parameters with
    /// different names commute (`b=2&a=1` keys as `a=1&b=2`), but a repeated name keeps the
    /// order of its values (`id=1&id=2` is not `id=2&id=1`: a list, whose order is data).
    fn cmp_plain(self, other: Param, q: &[u8]) -> Ordering {
        self.name(q)
            .cmp(other.name(q))
            .then(self.start.cmp(&other.start))
    }

    /// Order of credential parameters: by lower-cased name, then by position in the query.
    fn cmp_credential(self, other: Param, q: &[u8]) -> Ordering {
        let lower = |p: Param| p.name(q).iter().map(u8::to_ascii_lowercase);
        lower(self)
            .cmp(lower(other))
            .then(self.start.cmp(&other.start))
    }
}

/// Byte order of the non-empty names `q[x.0..x.1]` and `q[y.0..y.1]`, deciding on the first
/// byte when it differs (the common case) without a `memcmp` call.
#[inline(always)]
#[expect(clippy::inline_always, reason = "measured: the key's hot loop")]
fn cmp_names(q: &[u8], x: (u16, u16), y: (u16, u16)) -> Ordering {
    let x = &q[usize::from(x.0)..usize::from(x.1)];
    let y = &q[usize::from(y.0)..usize::from(y.1)];
    match x[0].cmp(&y[0]) {
        Ordering::Equal => x[1..].cmp(&y[1..]),
        o => o,
    }
}

/// Insertion sort (the parameter lists are short; `sort_unstable_by` costs more to set up).
fn sort_params(p: &mut [Param], mut less: impl FnMut(&Param, &Param) -> bool) {
    for i in 1..p.len() {
        let mut j = i;
        while j > 0 && less(&p[j], &p[j - 1]) {
            p.swap(j, j - 1);
            j -= 1;
        }
    }
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

/// The parts of an authority (same results as `http`'s `host()` and `port_u16()`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct AuthorityParts<'a> {
    /// `user:pass` of `user:pass@host`.
    pub(crate) userinfo: Option<&'a str>,
    pub(crate) host: &'a str,
    pub(crate) port: Option<u16>,
}

/// Splits an authority in one reverse scan for `@` and one forward scan of the host part
/// (no char searchers).
pub(crate) fn split_authority(a: &str) -> AuthorityParts<'_> {
    let b = a.as_bytes();
    let at = b.iter().rposition(|&c| c == b'@');
    let (userinfo, host_port) = match at {
        Some(i) => (Some(&a[..i]), &a[i + 1..]),
        None => (None, a),
    };
    let hp = host_port.as_bytes();
    let host = if hp.first() == Some(&b'[') {
        match find_byte(hp, b']') {
            Some(i) => &host_port[..=i],
            None => host_port,
        }
    } else {
        match find_byte(hp, b':') {
            Some(i) => &host_port[..i],
            None => host_port,
        }
    };
    // `http` parses the text after the authority's last ':'; when that ':' lies in the
    // userinfo, the text contains '@' and never parses, so only the host part matters.
    let port = hp
        .iter()
        .rposition(|&c| c == b':')
        .and_then(|i| host_port[i + 1..].parse::<u16>().ok());
    AuthorityParts {
        userinfo,
        host,
        port,
    }
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

/// Bitmask of the lengths (below 64) of `names`; bit 63 stands for every longer length.
fn length_mask<S: AsRef<str>>(names: &[S]) -> u64 {
    names
        .iter()
        .fold(0, |m, n| m | (1u64 << n.as_ref().len().min(63)))
}

fn length_may_match(mask: u64, len: usize) -> bool {
    mask & (1u64 << len.min(63)) != 0
}

/// Keeps the first occurrence of each name.
fn dedup_names(names: Vec<HeaderName>) -> Vec<HeaderName> {
    let mut out: Vec<HeaderName> = Vec::with_capacity(names.len());
    for n in names {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// The bytes of a matched header value.
fn value_bytes<'v>(f: &(usize, Option<&'v HeaderValue>)) -> &'v [u8] {
    f.1.map_or(&[][..], HeaderValue::as_bytes)
}

/// An identifying header value collected for the partition: name, value, and the index of
/// the credential header it is ([`NOT_CREDENTIAL`] if none).
type PartEntry<'a> = Option<(&'a HeaderName, &'a HeaderValue, usize)>;

const NOT_CREDENTIAL: usize = usize::MAX;

/// The header name of a collected partition entry.
fn entry_name(e: PartEntry<'_>) -> &str {
    e.map_or("", |e| e.0.as_str())
}

/// Matched key header values collected on the stack; more fall back to lookups.
const STACK_HEADERS: usize = 8;

/// Identifying header values ordered on the stack; more are hashed as a keyed sum.
const STACK_PARTITION: usize = 8;

impl KeyDeriver {
    pub(crate) fn new(
        seed: u64,
        key_headers: Vec<HeaderName>,
        partition: Partition,
        credential_params: Vec<String>,
        exclude_params: Vec<String>,
        include_query: bool,
        sort_query: bool,
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
        let credential_params: Vec<String> = credential_params
            .into_iter()
            .map(|s| s.to_ascii_lowercase())
            .collect();
        KeyDeriver {
            seed_a: SharedSeed::from_u64(a),
            seed_b: SharedSeed::from_u64(b),
            per_a: mix(b),
            per_b: mix(mix(b)),
            key_headers: dedup_names(key_headers),
            partition,
            credential_mask: length_mask(&credential_params),
            exclude_mask: length_mask(&exclude_params),
            credential_params,
            exclude_params,
            include_query,
            sort_query,
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

    #[inline]
    fn is_credential_param(&self, name: &[u8]) -> bool {
        length_may_match(self.credential_mask, name.len())
            && self
                .credential_params
                .iter()
                .any(|p| p.as_bytes().eq_ignore_ascii_case(name))
    }

    #[inline]
    fn is_excluded_param(&self, name: &[u8]) -> bool {
        length_may_match(self.exclude_mask, name.len())
            && self.exclude_params.iter().any(|p| p.as_bytes() == name)
    }

    /// Hashes the target URI into `s`. With `creds`, credential parts (userinfo, credential
    /// query parameters) are hashed too, under their own tags; without, they are skipped.
    /// Returns whether the URI had no credential part at all.
    fn hash_target<H: Hasher>(&self, uri: &Uri, s: &mut Sink<H>, creds: bool) -> bool {
        let scheme = uri.scheme_str().unwrap_or("");
        match scheme {
            "http" => s.head(T_SCHEME_CODE, 1),
            "https" => s.head(T_SCHEME_CODE, 2),
            other => s.put_lower(T_SCHEME, other.as_bytes()),
        }
        let authority = uri.authority().map_or("", http::uri::Authority::as_str);
        let mut secret_free = true;
        match scan_authority(authority.as_bytes()) {
            AuthorityShape::Plain => {
                s.put(T_HOST, authority.as_bytes());
                s.head(T_PORT, 0);
            }
            AuthorityShape::Upper => {
                s.put_lower(T_HOST, authority.as_bytes());
                s.head(T_PORT, 0);
            }
            AuthorityShape::Complex => {
                let parts = split_authority(authority);
                s.put_lower(T_HOST, parts.host.as_bytes());
                let port = parts.port.filter(|&p| default_port(scheme) != Some(p));
                s.head(T_PORT, port.map_or(0, |p| usize::from(p) + 1));
                if let Some(ui) = parts.userinfo {
                    secret_free = false;
                    if creds {
                        s.put(T_USERINFO, ui.as_bytes());
                    }
                }
            }
        }
        s.put(T_PATH, uri.path().as_bytes());
        if let Some(q) = uri.query() {
            secret_free &= self.hash_query(q.as_bytes(), s, creds);
        }
        secret_free
    }

    /// The query: the kept plain parameters, ordered by name (a repeated name keeps the order
    /// of its values), as one `name=value&…` part, then the credential parameters (with
    /// `creds`). The common case — a few plain `name=value` segments — takes one byte scan, a
    /// tiny stable insertion sort on the stack when they are out of order, and one copy when
    /// they are not; anything else goes the general way. Returns whether the query had no
    /// credential parameter.
    fn hash_query<H: Hasher>(&self, q: &[u8], s: &mut Sink<H>, creds: bool) -> bool {
        const SMALL: usize = 8;
        if q.len() > usize::from(u16::MAX) {
            // Unreachable through `http` (it caps a URI at 65 534 bytes): hash it verbatim,
            // which still partitions by every credential it contains.
            s.put(T_QUERY_VERBATIM, q);
            return false;
        }
        if !self.include_query {
            return self.hash_query_sorted(q, s, creds);
        }
        // (start, end of name, end) of each segment; every one has a `=`.
        let mut segs = [(0u16, 0u16, 0u16); SMALL];
        let mut prev_name = (0u16, 0u16);
        let mut n = 0;
        let mut sorted = true;
        let mut start = 0;
        loop {
            let rest = &q[start..];
            let len = rest.iter().position(|&c| c == b'&').unwrap_or(rest.len());
            let seg = &rest[..len];
            let Some(eq) = seg.iter().position(|&c| c == b'=') else {
                // Empty segment or no `=` (an empty name also goes the general way below).
                return self.hash_query_sorted(q, s, creds);
            };
            let name = &seg[..eq];
            if n == SMALL
                || name.is_empty()
                || self.is_credential_param(name)
                || self.is_excluded_param(name)
            {
                return self.hash_query_sorted(q, s, creds);
            }
            let cur = (start as u16, (start + eq) as u16, (start + len) as u16);
            if sorted
                && n > 0
                && self.sort_query
                && cmp_names(q, (prev_name.0, prev_name.1), (cur.0, cur.1)) == Ordering::Greater
            {
                sorted = false;
            }
            prev_name = (cur.0, cur.1);
            segs[n] = cur;
            n += 1;
            if len == rest.len() {
                break;
            }
            start += len + 1;
        }
        if sorted {
            s.put(T_QUERY, q);
            return true;
        }
        let segs = &mut segs[..n];
        // Stable: only a strictly smaller name moves left.
        for i in 1..n {
            let mut j = i;
            while j > 0
                && cmp_names(q, (segs[j].0, segs[j].1), (segs[j - 1].0, segs[j - 1].1))
                    == Ordering::Less
            {
                segs.swap(j, j - 1);
                j -= 1;
            }
        }
        // Same length as `q`: the same segments and separators, reordered.
        s.head(T_QUERY, q.len());
        for (i, &(a, _, b)) in segs.iter().enumerate() {
            if i > 0 {
                s.raw(b"&");
            }
            s.raw(&q[usize::from(a)..usize::from(b)]);
        }
        true
    }

    /// [`hash_query`](Self::hash_query) for a query that needs sorting or dropping: the same
    /// stream, built from the kept segments. Allocates only beyond [`STACK_PARAMS`] kept
    /// parameters.
    #[inline(never)]
    fn hash_query_sorted<H: Hasher>(&self, q: &[u8], sink: &mut Sink<H>, creds: bool) -> bool {
        let mut stack = [Param::EMPTY; STACK_PARAMS];
        let mut heap: Vec<Param> = Vec::new();
        let mut n = 0;
        let (mut plain, mut plain_len) = (0, 0);
        let mut credentials = false;
        let mut start = 0;
        while start <= q.len() {
            let end = find_byte(&q[start..], b'&').map_or(q.len(), |i| start + i);
            if end > start {
                let eq = find_byte(&q[start..end], b'=').map_or(end, |i| start + i);
                let mut p = Param {
                    start: start as u16,
                    eq: eq as u16,
                    end: end as u16,
                    credential: false,
                };
                let name = p.name(q);
                let keep = if self.is_credential_param(name) {
                    p.credential = true;
                    credentials = true;
                    creds
                } else {
                    self.include_query && !self.is_excluded_param(name)
                };
                if keep {
                    if !p.credential {
                        plain += 1;
                        plain_len += end - start + usize::from(!p.has_eq());
                    }
                    if n < STACK_PARAMS {
                        stack[n] = p;
                    } else {
                        if heap.is_empty() {
                            heap.extend_from_slice(&stack);
                        }
                        heap.push(p);
                    }
                    n += 1;
                }
            }
            start = end + 1;
        }
        let params: &mut [Param] = if n <= STACK_PARAMS {
            &mut stack[..n]
        } else {
            &mut heap
        };
        // Plain parameters first, each group in its order (or as sent).
        let order = |x: &Param, y: &Param| match (x.credential, y.credential) {
            (false, false) if self.sort_query => x.cmp_plain(*y, q),
            (true, true) if self.sort_query => x.cmp_credential(*y, q),
            (a, b) if a == b => x.start.cmp(&y.start),
            (a, b) => a.cmp(&b),
        };
        if params.len() <= 16 {
            sort_params(params, |x, y| order(x, y) == Ordering::Less);
        } else {
            params.sort_unstable_by(order);
        }
        if plain > 0 {
            sink.head(T_QUERY, plain_len + plain - 1);
            for (i, p) in params[..plain].iter().enumerate() {
                if i > 0 {
                    sink.raw(b"&");
                }
                sink.raw(p.segment(q));
                if !p.has_eq() {
                    sink.raw(b"=");
                }
            }
        }
        for p in &params[plain..] {
            sink.put_lower(T_CRED_PARAM, p.name(q));
            sink.put(T_VALUE, p.value(q));
        }
        !credentials
    }

    /// The configured key headers (number of values, then the values, in configuration
    /// order), then the partition: every value of every header that may identify the caller,
    /// ordered by name (a repeated name keeps the order of its values). One pass over the
    /// request's headers; nothing allocates.
    fn hash_headers<H: Hasher>(&self, headers: &HeaderMap, uri: &Uri, s: &mut Sink<H>) {
        let keys = &self.key_headers;
        let mut found: [(usize, Option<&HeaderValue>); STACK_HEADERS] = [(0, None); STACK_HEADERS];
        let mut n = 0;
        let mut part: [PartEntry<'_>; STACK_PARTITION] = [None; STACK_PARTITION];
        let mut m = 0;
        for (name, value) in headers {
            for (slot, h) in keys.iter().enumerate() {
                if h == name {
                    if n < STACK_HEADERS {
                        found[n] = (slot, Some(value));
                    }
                    n += 1;
                }
            }
            let code = self.partition.code(name);
            if code == KNOWN || (code == HOST_CODE && host_matches(value, uri)) {
                continue;
            }
            // A credential header's index, or none.
            let credential = if code >= IDENTIFIES {
                NOT_CREDENTIAL
            } else {
                code
            };
            if m < STACK_PARTITION {
                part[m] = Some((name, value, credential));
            }
            m += 1;
        }
        if n > STACK_HEADERS {
            self.hash_key_headers_by_lookup(headers, s);
        } else if !keys.is_empty() {
            // By slot, keeping each header's values in order (stable insertion sort).
            let found = &mut found[..n];
            for i in 1..n {
                let mut j = i;
                while j > 0 && found[j].0 < found[j - 1].0 {
                    found.swap(j, j - 1);
                    j -= 1;
                }
            }
            let mut at = 0;
            for slot in 0..keys.len() {
                let count = found[at..].iter().take_while(|f| f.0 == slot).count();
                s.head(T_HEADER, count);
                for f in &found[at..at + count] {
                    s.put(T_VALUE, value_bytes(f));
                }
                at += count;
            }
        }
        if m > STACK_PARTITION {
            self.hash_partition_sum(headers, uri, m, s);
        } else if m > 0 {
            // By name; stable, so a repeated name keeps the order of its values (the values
            // of one name are adjacent in a `HeaderMap`).
            let part = &mut part[..m];
            for i in 1..m {
                let mut j = i;
                while j > 0 && entry_name(part[j]) < entry_name(part[j - 1]) {
                    part.swap(j, j - 1);
                    j -= 1;
                }
            }
            for &(name, value, credential) in part.iter().flatten() {
                if credential == NOT_CREDENTIAL {
                    s.put(T_NAME, name.as_str().as_bytes());
                } else {
                    s.head(T_CREDENTIAL, credential);
                }
                s.put(T_VALUE, value.as_bytes());
            }
        }
    }

    /// The key headers by one lookup per configured name (requests with very many matching
    /// values); the same stream as [`hash_headers`](Self::hash_headers) writes for them.
    #[cold]
    fn hash_key_headers_by_lookup<H: Hasher>(&self, headers: &HeaderMap, s: &mut Sink<H>) {
        for name in &self.key_headers {
            let values = headers.get_all(name);
            s.head(T_HEADER, values.iter().count());
            for v in values {
                s.put(T_VALUE, v.as_bytes());
            }
        }
    }

    /// The partition of a request with more than [`STACK_PARTITION`] identifying values: a
    /// keyed hash of each (name, its position among that name's values, value), summed, so
    /// that the order of different names does not matter and nothing has to be sorted.
    #[cold]
    fn hash_partition_sum<H: Hasher>(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
        count: usize,
        s: &mut Sink<H>,
    ) {
        let mut sum = 0u128;
        let mut prev: Option<&HeaderName> = None;
        let mut index = 0;
        for (name, value) in headers {
            if prev == Some(name) {
                index += 1;
            } else {
                (prev, index) = (Some(name), 0);
            }
            if !self.partition.identifies(name, value, uri) {
                continue;
            }
            let mut one = Sink::new(self.dual());
            one.put(T_NAME, name.as_str().as_bytes());
            one.head(T_POSITION, index);
            one.put(T_VALUE, value.as_bytes());
            sum = sum.wrapping_add(one.finish().finish128());
        }
        s.head(T_PARTITION_SUM, count);
        s.raw(&sum.to_le_bytes());
    }

    /// The primary cache key of a request. The partition (credentials in the URL, every
    /// identifying header) is hashed in with its own tags, so two callers never share a key;
    /// nothing is retained.
    pub(crate) fn key(&self, req: &Request) -> CacheKey {
        let mut s = Sink::new(self.dual());
        s.put(T_METHOD, req.method().as_str().as_bytes());
        let uri = req.uri();
        let _ = self.hash_target(uri, &mut s, true);
        s.put(T_BODY, req.body());
        self.hash_headers(req.headers(), uri, &mut s);
        CacheKey(s.finish().finish128())
    }

    /// [`key`](Self::key), reusing the target URI's part of the stream when the URI is the
    /// one `memo` holds (the same key: the same bytes enter the same stream), and
    /// remembering it otherwise.
    pub(crate) fn key_memo(&self, req: &Request, memo: &mut KeyMemo) -> CacheKey {
        let mut s = Sink::new(self.dual());
        s.put(T_METHOD, req.method().as_str().as_bytes());
        let uri = req.uri();
        let raw = RawUri::of(uri);
        if memo.holds(&raw) {
            s.raw(&memo.stream);
        } else {
            let (start, blocks) = (s.len, s.blocks);
            let secret_free = self.hash_target(uri, &mut s, true);
            if secret_free && s.blocks == blocks {
                memo.keep(&raw, &s.buf[start..s.len]);
            } else {
                memo.forget();
            }
        }
        s.put(T_BODY, req.body());
        self.hash_headers(req.headers(), uri, &mut s);
        CacheKey(s.finish().finish128())
    }

    /// The id used to find every entry of one URL (for unsafe-method invalidation): the target
    /// URI as it enters the key, without method, headers, body or credentials.
    pub(crate) fn url_id(&self, uri: &Uri) -> u64 {
        let mut s = Sink::new(self.single(URL_TWEAK));
        let _ = self.hash_target(uri, &mut s, false);
        s.finish().finish()
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
                let name = split_param(seg).0;
                if self.is_credential_param(name.as_bytes()) || crate::redact::is_secret_param(name)
                {
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
        let mut s = Sink::new(self.single(VARY_TWEAK));
        for name in names {
            let values = headers.get_all(name);
            s.head(T_HEADER, values.iter().count());
            for v in values {
                s.put(T_VALUE, v.as_bytes());
            }
        }
        s.finish().finish()
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
            Partition::new(
                &["authorization".into(), "cookie".into(), "accept".into()],
                &[],
            ),
            vec!["api_key".into(), "Token".into()],
            vec!["utm_source".into()],
            true,
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
    fn name_order_and_host_case_do_not_matter() {
        let a = k(&req("GET", "http://Example.COM:80/p?b=2&a=1&a=0", &[], b""));
        let b = k(&req("GET", "http://example.com/p?a=1&a=0&b=2", &[], b""));
        assert_eq!(a, b);
        let c = k(&req("GET", "http://example.com/p?a=1&a=0&b=3", &[], b""));
        assert_ne!(a, c);
        // A repeated name keeps the order of its values.
        let d = k(&req("GET", "http://example.com/p?a=0&a=1&b=2", &[], b""));
        assert_ne!(a, d);
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
        let new = |seed| {
            KeyDeriver::new(
                seed,
                vec![],
                Partition::default(),
                vec![],
                vec![],
                true,
                true,
            )
            .key(&r)
        };
        let (a, b, a2) = (new(1), new(2), new(1));
        assert_ne!(a, b);
        assert_eq!(a, a2);
        assert_ne!(a.as_u128() >> 64, 0);
        assert_eq!(format!("{a}").len(), 32);
        assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{a}\""));
    }

    #[test]
    fn query_as_sent_when_sorting_is_off() {
        let d = KeyDeriver::new(
            5,
            vec![],
            Partition::default(),
            vec!["token".into()],
            vec!["utm_source".into()],
            true,
            false,
        );
        let k = |u: &str| d.key(&req("GET", u, &[], b""));
        assert_ne!(k("http://h/p?a=1&b=2"), k("http://h/p?b=2&a=1"));
        assert_ne!(k("http://h/p?id=1&id=2"), k("http://h/p?id=2&id=1"));
        // Dropped parameters do not count, wherever they stand; credential parameters
        // partition, but apart from the plain ones, so their place does not count either.
        let plain = k("http://h/p?b=2&a=1");
        assert_eq!(plain, k("http://h/p?utm_source=x&b=2&a=1"));
        assert_eq!(plain, k("http://h/p?b=2&utm_source=y&a=1"));
        assert_ne!(plain, k("http://h/p?b=2&token=t&a=1"));
        assert_eq!(
            k("http://h/p?b=2&token=t&a=1"),
            k("http://h/p?token=t&b=2&a=1")
        );
        // The general path (a segment without `=`) gives the stream the fast path gives.
        assert_eq!(k("http://h/p?b=&a=1"), k("http://h/p?b&a=1"));
        assert_ne!(k("http://h/p?b=2&a=1&token=t"), k("http://h/p?b=2&a=1"));
    }

    #[test]
    fn include_query_off_ignores_query_but_not_credentials() {
        let d = KeyDeriver::new(
            3,
            vec![],
            Partition::default(),
            vec!["key".into()],
            vec![],
            false,
            true,
        );
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
    fn authority_split_matches_http() {
        for a in [
            "h",
            "h:8080",
            "H.Example.COM:443",
            "user@h",
            "user:pw@h",
            "user:pw@h:81",
            "u@v@h:82",
            "[::1]",
            "[::1]:8443",
            "user:pw@[fe80::1]:9",
            "h:",
            "h:+80",
            "h:99999",
        ] {
            let Ok(auth) = a.parse::<http::uri::Authority>() else {
                continue;
            };
            let parts = split_authority(auth.as_str());
            assert_eq!(parts.host, auth.host(), "{a}");
            assert_eq!(parts.port, auth.port_u16(), "{a}");
            let ui = auth.as_str().rfind('@').map(|i| &auth.as_str()[..i]);
            assert_eq!(parts.userinfo, ui, "{a}");
        }
    }

    #[test]
    fn authority_scan_classifies() {
        use AuthorityShape::{Complex, Plain, Upper};
        for (a, want) in [
            ("h", Plain),
            ("api.example.com", Plain),
            ("abcdefgh", Plain),
            ("abcdefghI", Upper),
            ("Abcdefghi", Upper),
            ("API.example.com", Upper),
            ("h.example.COM", Upper),
            ("@", Complex),
            ("h:80", Complex),
            ("api.example.com:8", Complex),
            ("u@api.example.com", Complex),
            ("[::1]", Complex),
            ("", Complex),
            ("a-z.0-9_~", Plain),
            ("\u{e9}t\u{e9}.example", Complex),
        ] {
            assert_eq!(scan_authority(a.as_bytes()), want, "{a}");
        }
        // Every shape gives the key the full split would.
        let d = deriver();
        for a in [
            "h",
            "H.Example.Com",
            "h.example.com:80",
            "H:80",
            "h:8080",
            "u:p@H",
        ] {
            let r = req("GET", &format!("http://{a}/p"), &[], b"");
            let mut fast = Sink::new(d.single(3));
            d.hash_target(r.uri(), &mut fast, true);
            let parts = split_authority(r.uri().authority().unwrap().as_str());
            let mut slow = Sink::new(d.single(3));
            slow.head(T_SCHEME_CODE, 1);
            slow.put_lower(T_HOST, parts.host.as_bytes());
            let port = parts.port.filter(|&p| p != 80);
            slow.head(T_PORT, port.map_or(0, |p| usize::from(p) + 1));
            if let Some(ui) = parts.userinfo {
                slow.put(T_USERINFO, ui.as_bytes());
            }
            slow.put(T_PATH, b"/p");
            assert_eq!(fast.finish().finish(), slow.finish().finish(), "{a}");
        }
    }

    #[test]
    fn canonical_and_sorted_queries_agree() {
        let same = [
            ("http://h/p?a=1&b=2", "http://h/p?b=2&a=1"),
            ("http://h/p?a=&b=2", "http://h/p?b=2&a"),
            ("http://h/p?a=1&b=2", "http://h/p?&b=2&&a=1&"),
            ("http://h/p?a=1&b=2", "http://h/p?utm_source=x&b=2&a=1"),
            ("http://h/p?a=1&b=2&b=2", "http://h/p?b=2&a=1&b=2"),
            ("http://h/p", "http://h/p?"),
            ("http://h/p", "http://h/p?utm_source=1"),
            ("http://h/p?a=1&token=x&b=2", "http://h/p?b=2&TOKEN=x&a=1"),
        ];
        for (a, b) in same {
            assert_eq!(
                k(&req("GET", a, &[], b"")),
                k(&req("GET", b, &[], b"")),
                "{a} {b}"
            );
        }
        let differ = [
            ("http://h/p?a=1&b=2", "http://h/p?a=1b=2"),
            ("http://h/p?a=1", "http://h/p?a=1&token=x"),
            ("http://h/p?token=x", "http://h/p?token=y"),
            (
                "http://h/p?api_key=x&token=y",
                "http://h/p?api_key=y&token=x",
            ),
            ("http://h/p?a=b=c", "http://h/p?a=b&c"),
            ("http://h/p?a", "http://h/p"),
        ];
        for (a, b) in differ {
            assert_ne!(
                k(&req("GET", a, &[], b"")),
                k(&req("GET", b, &[], b"")),
                "{a} {b}"
            );
        }
    }

    #[test]
    fn header_order_does_not_matter_and_many_values_agree() {
        let d = KeyDeriver::new(
            9,
            vec![http::header::ACCEPT, http::header::ACCEPT],
            Partition::new(&["authorization".into()], &[]),
            vec![],
            vec![],
            true,
            true,
        );
        let a = req(
            "GET",
            "http://h/p",
            &[
                ("accept", "a"),
                ("x-request-id", "1"),
                ("authorization", "t"),
            ],
            b"",
        );
        let b = req(
            "GET",
            "http://h/p",
            &[
                ("authorization", "t"),
                ("accept", "a"),
                ("x-request-id", "2"),
            ],
            b"",
        );
        assert_eq!(d.key(&a), d.key(&b));
        // Value order within one name matters; count matters.
        let c1 = req(
            "GET",
            "http://h/p",
            &[("accept", "a"), ("accept", "b")],
            b"",
        );
        let c2 = req(
            "GET",
            "http://h/p",
            &[("accept", "b"), ("accept", "a")],
            b"",
        );
        let c3 = req("GET", "http://h/p", &[("accept", "a")], b"");
        assert_ne!(d.key(&c1), d.key(&c2));
        assert_ne!(d.key(&c1), d.key(&c3));
        // Past the stack capacity the lookup path must give the same key as the one-pass
        // path would: compare a request just under and just over against a direct encoding.
        let uri: Uri = "http://h/p".parse().unwrap();
        for count in [STACK_HEADERS / 2 - 1, STACK_HEADERS / 2, STACK_HEADERS + 3] {
            let mut m = HeaderMap::new();
            for i in 0..count {
                m.append(http::header::ACCEPT, HeaderValue::from(i));
            }
            let mut fast = Sink::new(d.single(1));
            d.hash_headers(&m, &uri, &mut fast);
            let mut slow = Sink::new(d.single(1));
            d.hash_key_headers_by_lookup(&m, &mut slow);
            assert_eq!(fast.finish().finish(), slow.finish().finish(), "{count}");
        }
    }

    #[test]
    fn partition_ignores_the_order_of_names_but_not_of_values() {
        let d = deriver();
        // Below and above the stack capacity of identifying values.
        for names in [3, STACK_PARTITION / 2, STACK_PARTITION + 4] {
            let pairs: Vec<(String, String)> = (0..names)
                .flat_map(|i| {
                    [
                        (format!("x-id-{i}"), format!("{i}-first")),
                        (format!("x-id-{i}"), format!("{i}-second")),
                    ]
                })
                .collect();
            let build = |pairs: &[(String, String)]| {
                let h: Vec<(&str, &str)> = pairs
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                d.key(&req("GET", "http://h/p", &h, b""))
            };
            let key = build(&pairs);
            // Names in reverse order, each keeping its values' order: the same key.
            let mut by_name_reversed: Vec<(String, String)> = Vec::new();
            for chunk in pairs.chunks(2).rev() {
                by_name_reversed.extend_from_slice(chunk);
            }
            assert_eq!(build(&by_name_reversed), key, "{names} names");
            // Swap the two values of one name: another key.
            let mut swapped = pairs.clone();
            swapped.swap(0, 1);
            assert_ne!(build(&swapped), key, "{names} names");
            // One value different: another key.
            let mut changed = pairs.clone();
            changed[3].1.push('!');
            assert_ne!(build(&changed), key, "{names} names");
            // Allowlisted headers do not change it.
            let mut traced = pairs.clone();
            traced.push(("traceparent".into(), "00-1-2-01".into()));
            assert_eq!(build(&traced), key, "{names} names");
        }
    }

    #[test]
    fn the_memo_gives_the_same_keys_and_keeps_no_secret() {
        let d = deriver();
        let mut memo = KeyMemo::new();
        let long = format!("http://h/{}", "p".repeat(MEMO_CAP));
        let uris = [
            "http://h/p?b=2&a=1",
            "http://h/p?b=2&a=1",
            "http://H/p?b=2&a=1",
            "http://h/p?b=2&a=1",
            "http://h/p?b=2&a=2",
            "https://h/p?b=2&a=1",
            "http://h:80/p?b=2&a=1",
            "http://h/p?token=s&a=1",
            "http://h/p?token=s&a=1",
            "http://u:pw@h/p",
            "http://u:pw@h/p",
            "http://h/p",
            "http://h/p?",
            "http://h/p",
            "/relative?x=1",
            "/relative?x=1",
            &long,
            &long,
            "http://h/p",
        ];
        for u in uris {
            for r in [
                req("GET", u, &[], b""),
                req("GET", u, &[("authorization", "a")], b""),
                req("HEAD", u, &[], b"x"),
            ] {
                assert_eq!(d.key_memo(&r, &mut memo), d.key(&r), "{u}");
            }
            let secret = u.contains("token") || u.contains('@');
            if secret || u.len() > MEMO_CAP {
                assert!(!memo.valid, "{u} is not kept");
            } else {
                assert!(memo.valid, "{u} is kept");
                assert!(!memo.stream.windows(2).any(|w| w == b"pw"));
            }
        }
    }

    #[test]
    fn long_parts_cross_the_buffer_consistently() {
        let long = "x".repeat(3 * SINK_BUF + 7);
        let mid = "y".repeat(SINK_BUF - 20);
        let u1 = format!("http://h/{long}?a={mid}&b={long}");
        let u2 = format!("http://h/{long}?b={long}&a={mid}");
        assert_eq!(k(&req("GET", &u1, &[], b"")), k(&req("GET", &u2, &[], b"")));
        let u3 = format!("http://h/{long}?b={long}&a={mid}z");
        assert_ne!(k(&req("GET", &u1, &[], b"")), k(&req("GET", &u3, &[], b"")));
        let host = format!("http://{}.EXAMPLE/p", "Ab".repeat(200));
        let host_lower = host.to_ascii_lowercase();
        assert_eq!(
            k(&req("GET", &host, &[], b"")),
            k(&req("GET", &host_lower, &[], b""))
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
