"""Seed inputs for the `machines_sequence` fuzz target (imported by gen_seeds.py).

The byte layout mirrors the decoder in `fuzz_targets/machines_sequence.rs` (front to back,
little-endian integers, one-byte enum tags, one-byte length prefixes); the lists of known
methods, paths, header names and statuses are read from that file (the header values from the
engine model's list in `tests/src/lifecycle.rs`, which the target uses too), so seeds pick by
name. Keep the encoders below in sync with the `Arbitrary` impls there.
"""
import pathlib

from seedlib import boolean, option, rust_list, u8, u16, u32, u64

HERE = pathlib.Path(__file__).resolve().parent
SRC = (HERE.parent / "fuzz_targets" / "machines_sequence.rs").read_text()
LIFECYCLE = (HERE.parent.parent / "tests" / "src" / "lifecycle.rs").read_text()
METHODS, PATHS, HOSTS = rust_list(SRC, "METHODS"), rust_list(SRC, "PATHS"), rust_list(SRC, "HOSTS")
REQ_HEADERS, RESP_HEADERS = rust_list(SRC, "REQ_HEADERS"), rust_list(SRC, "RESP_HEADERS")
VALUES, STATUSES = rust_list(LIFECYCLE, "VALUES"), [int(x) for x in rust_list(SRC, "STATUSES")]


def blob(b):
    assert len(b) < 256
    return u8(len(b)) + b


def pick(table, v):
    """Known element of `table` by value, or raw bytes."""
    if isinstance(v, bytes):
        return u8(255) + blob(v)
    return u8(table.index(v))


def fields(table, items):
    assert len(items) <= 5
    return u8(len(items)) + b"".join(pick(table, n) + pick(VALUES, v) for n, v in items)


def status(s):
    return u8(STATUSES.index(s)) if s in STATUSES else u8(255) + u16(s)


def breaker_setup(consecutive=3, break_us=1000, probes=2, probe_timeout_us=4000, ratio=None):
    # ratio: None or (count_window, failure_ratio_u8, min_throughput)
    r = b""
    if ratio is None:
        r = boolean(False)
    else:
        window, fr, mt = ratio
        r = boolean(True) + option(window, u8) + u32(1_000_000) + u8(10) + u8(fr) + u8(mt)
        r += option(None, None)
    return (u8(consecutive) + r + u16(break_us) + option(None, None) + u8(probes - 1)
            + u16(probe_timeout_us // 16) + u8(16))


def cache_setup(max_entries=4, max_bytes=8192, ttl_only=False, default_ttl=300, sie=None,
                key_accept=False, cache_post=False):
    return (u8(max_entries - 1) + u16(max_bytes - 1024) + u16(0) + boolean(ttl_only)
            + u16(default_ttl) + u16(86_400 % 65_536) + option(sie, u16) + boolean(False)
            + boolean(True) + boolean(key_accept) + boolean(cache_post) + boolean(True)
            + u64(0x5EED))


def header(start_us=1_000_000, wall_secs=1_700_000_000):
    return u32(start_us) + u32(wall_secs)


# ----- operations -----
def adv_us(us):
    return u8(0) + u16(us)


def adv_s(s):
    return u8(2) + u8(s)


def brk(tag, rest=b""):
    return u8(5) + u8(tag) + rest


ACQUIRE = brk(0)
HANDLE_TIMEOUT = brk(5)
ISOLATE, RESET, DISABLE, ENABLE = brk(7), brk(8), brk(9), brk(10)


def report(idx, kind, dur_us=100, wall=True):
    return brk(2, u8(idx) + u8(kind) + u32(dur_us) + boolean(wall))


def drop(idx):
    return brk(4, u8(idx))


def call(kind, dur_us=100):  # kind: 0 success, 1 failure, 2 ignored
    return brk(11, u8(kind) + u16(dur_us))


def cache(tag, rest=b""):
    return u8(10) + u8(tag) + rest


def req(method="GET", host=0, path="/v1/items?b=2&a=1", headers=(), body=b""):
    return pick(METHODS, method) + u8(host) + pick(PATHS, path) + fields(REQ_HEADERS, list(headers)) + blob(body)


def resp(s=200, headers=(), body_len=4):
    return status(s) + fields(RESP_HEADERS, list(headers)) + u8(body_len)


def lookup(r, bypass=None):
    return cache(0, r + (bypass if bypass is not None else resp()))


def again(i):
    return cache(5, u8(i))


def respond(idx, rs):
    return cache(8, u8(idx) + u8(0) + rs)


def error(idx):
    return cache(8, u8(idx) + u8(2))


def abandon(idx):
    return cache(8, u8(idx) + u8(3))


def leave(i):
    return cache(12, u8(i))


def invalidate_url(i):
    return cache(13, u8(i))


INVALIDATE_ALL = cache(14, u8(0))
PURGE = cache(14, u8(3))


def invalidate_key(i):
    return cache(14, u8(1) + u8(i))


def invalidate_prefix(p):
    return cache(14, u8(2) + blob(p))


BASE = header() + breaker_setup() + cache_setup()
CC, ETAG, VARY, EXPIRES, LM, DATE, AGE, LOCATION = (
    "cache-control", "etag", "vary", "expires", "last-modified", "date", "age", "location")

SEEDS = {
    # miss -> store -> fresh hit -> stale -> conditional revalidation (304) -> hit again
    "hit_and_revalidate": BASE + b"".join([
        lookup(req(headers=[("accept", "application/json"), ("authorization", "Bearer a")])),
        respond(0, resp(200, [(CC, "max-age=60"), (ETAG, '"v1"'), (LM, "Sun, 06 Nov 1994 08:49:37 GMT")])),
        again(0), adv_s(30), again(0), adv_s(60), again(0),
        respond(0, resp(304, [(ETAG, '"v1"'), (CC, "max-age=60")])),
        again(0), adv_s(90), again(0),
        respond(0, resp(304, [(ETAG, '"v2"')])),
        again(0), respond(0, resp(200, [(CC, "max-age=60")])), again(0), PURGE, INVALIDATE_ALL,
    ]),
    # single flight: followers, one leaves, leader stores a Vary response -> Relookup
    "followers_vary": header() + breaker_setup() + cache_setup(key_accept=False) + b"".join([
        lookup(req(headers=[("accept", "application/json")])), again(0), again(0), again(0),
        leave(1),
        respond(0, resp(200, [(CC, "max-age=60"), (VARY, "accept")])),
        lookup(req(headers=[("accept", "*")])), again(1), again(0),
        respond(0, resp(200, [(CC, "max-age=60"), (VARY, "accept, accept-language")])),
        again(1), again(0),
    ]),
    # leader fails -> followers FetchYourself; leader cancelled -> first follower promoted
    "followers_error_abandon": BASE + b"".join([
        lookup(req(path="/v1/items/1")), again(0), again(0),
        error(0), respond(0, resp(500)), abandon(0),
        lookup(req(path="/")), again(1), again(1), abandon(0), again(1), abandon(0),
        respond(0, resp(200, [(CC, "max-age=60")])), again(1),
    ]),
    # stale-while-revalidate and stale-if-error
    "stale_windows": header() + breaker_setup() + cache_setup(sie=120) + b"".join([
        lookup(req(path="/v1/items/1")),
        respond(0, resp(200, [(CC, "max-age=1, stale-while-revalidate=30"), (ETAG, '"v1"')])),
        adv_s(2), again(0), again(0), respond(0, resp(304, [(ETAG, 'W/"v1"')])), again(0),
        lookup(req(path="/")),
        respond(0, resp(200, [(CC, "max-age=1, stale-if-error=60")])),
        adv_s(5), again(1), respond(0, resp(503)), again(1), error(0), again(1), adv_s(200), again(1), error(0),
    ]),
    # request directives, bypasses, unsafe invalidation, Expires/Date/Age
    "directives_and_unsafe": header() + breaker_setup() + cache_setup(max_entries=3, max_bytes=2048) + b"".join([
        lookup(req(path="/v1/items/1")),
        respond(0, resp(200, [(EXPIRES, "Fri, 31 Dec 9999 23:59:59 GMT"), (DATE, "Sun, 06 Nov 1994 08:49:37 GMT"), (AGE, "3600")])),
        lookup(req(path="/v1/items/1", headers=[("cache-control", "only-if-cached")])),
        lookup(req(path="/v1/other#frag", headers=[("cache-control", "only-if-cached")])),
        lookup(req(path="/v1/items/1", headers=[("cache-control", "no-cache")])),
        respond(0, resp(200, [(CC, "no-store")])),
        lookup(req(path="/v1/items/1", headers=[("range", "bytes=0-1")])),
        lookup(req(path="/v1/items/1", headers=[("cache-control", "max-stale"), ("pragma", "no-cache")])),
        lookup(req("POST", path="/v1/items/1", body=b"{}"), resp(201, [(LOCATION, "/v1/items/1")])),
        lookup(req(path="/v1/items?api_key=s3cret&a=1", host=2)), respond(0, resp(200, [(CC, "private, max-age=600")], 200)),
        lookup(req(path="/", host=1)), respond(0, resp(200, [(CC, "public, max-age=31536000, immutable")], 200)),
        lookup(req(path="/v1/items?a=1&b=2", host=3)), respond(0, resp(200, [], 200)),
        lookup(req(path="/v1/other#frag")), respond(0, resp(200, [(CC, "max-age=60")], 255)),
        invalidate_url(0), invalidate_key(1), invalidate_prefix(b"https://api.example.com/v1"),
        lookup(req(path=b"/raw%20path?x=\xff", headers=[(b"x-raw", b"\x01value")])),
        respond(0, resp(299, [(b"cache-control", b"max-age=\"7\""), (VARY, "*")])),
    ]),
    # breaker: trip, reject, half-open probes (success, failure, ignored, dropped, timed out)
    "breaker_cycle": header() + breaker_setup(consecutive=2, break_us=1000, probes=3, probe_timeout_us=4000) + cache_setup() + b"".join([
        call(1), call(1), ACQUIRE, adv_us(1500), ACQUIRE, ACQUIRE, ACQUIRE, ACQUIRE,
        report(0, 0), report(0, 2), ACQUIRE, report(0, 0), report(0, 0),
        call(1), call(1), adv_us(1500), ACQUIRE, report(0, 1), adv_us(1500), ACQUIRE, ACQUIRE,
        drop(0), adv_us(5000), HANDLE_TIMEOUT, adv_us(2000), HANDLE_TIMEOUT, ACQUIRE,
        report(0, 0), report(0, 0), ISOLATE, ACQUIRE, RESET, DISABLE, call(1), call(1), call(1),
        ENABLE, call(1), RESET, ACQUIRE, RESET, report(0, 1),
    ]),
    # breaker with a ratio window and a slow-call result
    "breaker_ratio": header() + breaker_setup(consecutive=0, ratio=(10, 128, 4), probes=1) + cache_setup() + b"".join([
        call(0), call(1), call(0), call(1), call(1), adv_us(2000), ACQUIRE, adv_us(10000), HANDLE_TIMEOUT,
        ACQUIRE, report(0, 0, 10_000_000), call(0),
    ]),
}
