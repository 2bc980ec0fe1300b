#!/usr/bin/env python3
"""Writes hand-made seed inputs for the fuzz targets into `fuzz/seeds/<target>/` (run from
anywhere; no arguments). `scripts/fuzz-smoke.sh` adds these directories to each run's corpus, so
even a short smoke run starts from inputs that reach the deep states.

For engine_sequence the byte layout mirrors the decoder in `fuzz_targets/engine_sequence.rs`
(front to back, little-endian integers, one-byte tags, one-byte length prefixes); the lists of
known methods, origins, paths, header names, values and statuses are read from the model in
`tests/src/lifecycle.rs`, so seeds pick by name. Keep the encoders below in sync with both.
"""
import pathlib

from seedlib import boolean, option, rust_list, u8, u16, u32, u64

HERE = pathlib.Path(__file__).resolve().parent
LIFECYCLE = (HERE.parent.parent / "tests" / "src" / "lifecycle.rs").read_text()
METHODS, PATHS = rust_list(LIFECYCLE, "METHODS"), rust_list(LIFECYCLE, "PATHS")
REQUEST_HEADERS = rust_list(LIFECYCLE, "REQUEST_HEADERS")
RESPONSE_HEADERS = rust_list(LIFECYCLE, "RESPONSE_HEADERS")
VALUES, STATUSES = rust_list(LIFECYCLE, "VALUES"), [int(x) for x in rust_list(LIFECYCLE, "STATUSES")]


def setup(seed=7, max_in_flight=7, cache_entries=7, default_ttl=0, sie=None, failures=4,
          break_ms=999, probes=1, attempts=2, backoff_ms=10, budget=False, deadline_ms=None,
          attempt_timeout_ms=None, alert_ms=None, health=0):
    """Values as `Setup` stores them (see `Setup::config` for how each maps)."""
    return (u64(seed) + u8(max_in_flight) + u8(cache_entries) + u8(default_ttl) + option(sie, u8)
            + u8(failures) + u16(break_ms) + u8(probes) + u8(attempts) + u16(backoff_ms)
            + boolean(budget) + option(deadline_ms, u16) + option(attempt_timeout_ms, u16)
            + option(alert_ms, u16) + u8(health))


def value(v):
    """A known value by text, or raw bytes."""
    if isinstance(v, bytes):
        assert len(v) < 16
        return u8(224) + u8(len(v)) + v
    return u8(VALUES.index(v))


def headers(table, items, max_n):
    assert len(items) <= max_n
    return u8(len(items)) + b"".join(u8(table.index(n)) + value(v) for n, v in items)


# ----- operations (tag bytes as decoded: tag % 32) -----
def advance_us(us):
    return u8(0) + u16(us)


def advance_s(s):
    return u8(4) + u16(s)


RUN_TIMERS, HANDLE_TIMEOUT, EVALUATE_ALERTS = u8(5), u8(6), u8(28)


def begin(path="/items", origin=0, method=0, hdrs=(), service=1):
    p = PATHS.index(path) if isinstance(path, str) else path
    return u8(7) + u8(method) + u8(origin) + u8(p) + headers(REQUEST_HEADERS, list(hdrs), 2) + u8(service)


def respond(status=200, hdrs=(), pick=0, body_len=3):
    return u8(13) + u8(pick) + u8(STATUSES.index(status) * 6) + headers(RESPONSE_HEADERS, list(hdrs), 4) + u8(body_len)


def fail(kind=0, pick=0):
    return u8(13) + u8(pick) + u8(5) + u8(kind)


def resume(pick=0):
    return u8(19) + u8(pick)


def proceed(pick=0):
    return u8(21) + u8(pick)


def cancel(pick=0):
    return u8(23) + u8(pick)


def misuse_proceed(pick=0):
    return u8(24) + u8(pick)


def use_stale(pick=0):
    return u8(25) + u8(pick)


def check_result(service=0, ok=True):
    return u8(26) + u8(service) + boolean(ok)


def system_sample(cpu, memory):
    return u8(27) + u8(cpu) + u8(memory)


def command(kind, target=0):
    return u8(29) + u8(kind) + u8(target)


CC, ETAG, RETRY_AFTER, AGE, VARY = "cache-control", "etag", "retry-after", "age", "vary"

SEEDS = {
    # miss stored (max-age=1, stale-while-revalidate, ETag), fresh hit, stale hit with a
    # background refresh answered 304, then a conditional revalidation
    "cache_swr_revalidate": setup() + b"".join([
        begin(), respond(200, [(CC, "max-age=1, stale-while-revalidate=30"), (ETAG, '"v1"')]),
        begin(), advance_s(2), begin(), respond(304, [(ETAG, '"v1"')]),
        advance_s(40), begin(), respond(304, [(ETAG, 'W/"v1"'), (AGE, "120")]), begin(),
    ]),
    # single flight: three identical GETs; the leader's 503 is retried, its no-store 200 sends
    # the followers off on their own; one follower is cancelled, the other proceeds
    "followers_retry_proceed": setup() + b"".join([
        begin(), begin(), begin(), respond(503, [(RETRY_AFTER, "2")]), advance_s(2), resume(),
        respond(200, [(CC, "no-store")]), proceed(), cancel(0), respond(200, [(CC, "max-age=60")]),
        begin(), begin(),
    ]),
    # the breaker opens after one failure, refuses, half-opens on the timer, probes close it
    "breaker_cycle": setup(failures=0, attempts=0, break_ms=5, probes=1) + b"".join([
        begin(service=1), fail(0), begin(service=1), begin(service=1), RUN_TIMERS, begin(service=1),
        begin(service=1), respond(200), begin(service=1), respond(500), advance_us(7000), RUN_TIMERS,
        begin(service=1), fail(1), HANDLE_TIMEOUT,
    ]),
    # misuse: proceed with an attempt out, cancel twice, report a cancelled request's permit
    "misuse": setup() + b"".join([
        begin(), misuse_proceed(), begin("/other"), cancel(1), use_stale(), cancel(200),
        respond(429, [(RETRY_AFTER, "1.5")]), misuse_proceed(), cancel(0), use_stale(),
        misuse_proceed(200),
    ]),
    # health checks and alerts on timers, a hot host, breaker and cache commands
    "health_alerts_commands": setup(health=2, alert_ms=999) + b"".join([
        RUN_TIMERS, check_result(0, False), check_result(1, True), system_sample(99, 90),
        begin(service=1), respond(503), resume(), respond(503), advance_s(1), RUN_TIMERS,
        EVALUATE_ALERTS, command(0, 0), begin(service=1), command(1, 0), command(2, 1),
        command(3, 1), command(4), command(5, 2), command(6), command(7), command(8, 200),
        RUN_TIMERS, advance_s(60), RUN_TIMERS,
    ]),
    # garbage directives, raw header bytes, Vary, stale-if-error, deadlines, huge time jumps
    "garbage_and_deadlines": setup(sie=30, default_ttl=3, deadline_ms=50, attempt_timeout_ms=20, budget=True) + b"".join([
        begin(hdrs=[("cache-control", "max-stale"), ("authorization", "Bearer a")]),
        respond(200, [(CC, "max-age=99999999999999999999"), (VARY, "authorization, accept"), (CC, b"max-age=\"7\"")]),
        begin(hdrs=[("authorization", "Bearer b")]), respond(200, [(CC, ",,;=,"), (AGE, "-5")]),
        begin("/items/1", hdrs=[("cache-control", "only-if-cached")]), begin("/items/1"),
        respond(502, [(RETRY_AFTER, "Fri, 31 Dec 9999 23:59:59 GMT")]), advance_us(60000), resume(),
        u8(3) + u32(4_000_000_000), begin(), fail(1), advance_s(65535), begin(origin=3), begin(origin=4),
    ]),
}


DATES = [
    b"Sun, 06 Nov 1994 08:49:37 GMT",
    b"Sunday, 06-Nov-94 08:49:37 GMT",
    b"Sun Nov  6 08:49:37 1994",
    b"Fri, 31 Dec 9999 23:59:59 GMT",
    b"Thu, 01 Jan 1970 00:00:00 GMT",
]
TEXT_SEEDS = {
    "parse_cache_control": [
        b"max-age=60",
        b'Max-Age="60", no-cache="set-cookie, x", junk=,, public',
        b"private, max-age=600, s-maxage=0, must-revalidate, proxy-revalidate, no-transform",
        b"max-age=99999999999999999999, stale-while-revalidate=30, stale-if-error=60",
        b"max-stale, min-fresh=10, only-if-cached, no-store, immutable, must-understand",
        b"max-stale=5, max-age=-1, max-age=1.5",
    ],
    "parse_http_date": DATES + [b" \tSun, 06 Nov 1994 08:49:37 GMT\t"],
    "parse_vary": [b"accept", b"Accept, accept-encoding, ACCEPT", b"*", b"accept, *", b" , x\ty, (bad)"],
    # wall clock (u64 LE, microseconds) then the header value
    "parse_retry_after": [
        u64(1_431_704_061_000_000) + v
        for v in [b"120", b" 7 ", b"99999999999999999999999", b"1.5", b"-1", b""] + DATES
    ],
}


def main():
    import machines_seeds

    targets = dict(TEXT_SEEDS, engine_sequence=list(SEEDS.items()),
                   machines_sequence=list(machines_seeds.SEEDS.items()))
    for target, seeds in targets.items():
        out = HERE / target
        out.mkdir(exist_ok=True)
        for i, seed in enumerate(seeds):
            name, data = seed if isinstance(seed, tuple) else (f"seed{i:02}", seed)
            (out / name).write_bytes(data)
        print(f"wrote {len(seeds)} seeds to {out}")


if __name__ == "__main__":
    main()
