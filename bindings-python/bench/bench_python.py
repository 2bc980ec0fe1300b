#!/usr/bin/env python3
"""Tether's drop-in client against the Python peers: GETs of a small JSON from nginx on
loopback, side by side (``make bench-python``).

Usage (from the repository root, after ``make wheel`` and installing the wheel into the venv
that runs this script)::

    python bindings-python/bench/bench_python.py [--duration 3] [--rounds 3]

Variants, each in a fresh subprocess, interleaved over rounds (medians reported):

- ``tether``                    ``tether.http_client.HTTPClient().request("GET", url)`` with
                                its defaults (cache on; nginx answers ``no-store``)
- ``aiohttp``                   ``aiohttp.ClientSession``
- ``httpx``                     ``httpx.AsyncClient``
- ``httpx+tenacity+pybreaker``  httpx with what Tether does built in: retries (tenacity) and a
                                circuit breaker (pybreaker) around each call
- ``tether cache hit``          the same client on a URL nginx marks cacheable, served from
                                Tether's cache
- ``httpx+hishel cache hit``    ``hishel.httpx.AsyncCacheClient`` on the same URL

at concurrency 1 and 64 (the cache-hit pair at 64 only unless ``--hit-concurrency`` says
otherwise); requests per second and process CPU per request (``getrusage`` user + system, all
threads). This is a benchmark, not a test: nothing here fails on a slow machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import signal
import sys
import tempfile
from collections.abc import Awaitable
from typing import Any, Callable

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from bench_bridge import Nginx, drive, print_table, summarize, wrk_ceiling

GET_VARIANTS = ["tether", "aiohttp", "httpx", "httpx+tenacity+pybreaker"]
HIT_VARIANTS = ["tether cache hit", "httpx+hishel cache hit"]


async def child(
    variant: str, url: str, cached_url: str, concurrency: int, warmup: float, duration: float
) -> dict[str, float]:
    call: Callable[[], Awaitable[int]]
    cleanup: Callable[[], Awaitable[None]] | None = None
    pool = max(concurrency, 8)
    if variant in ("tether", "tether cache hit"):
        from tether.http_client import HTTPClient

        client = HTTPClient(connection_pool_size=pool)
        target = url if variant == "tether" else cached_url

        async def tether_get() -> int:
            response = await client.request("GET", target)
            return response.status_code

        call, cleanup = tether_get, client.close
    elif variant == "aiohttp":
        import aiohttp

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=pool))

        async def aiohttp_get() -> int:
            async with session.get(url) as response:
                await response.read()
                return response.status

        call, cleanup = aiohttp_get, session.close
    elif variant in ("httpx", "httpx+tenacity+pybreaker"):
        import httpx

        limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
        http = httpx.AsyncClient(limits=limits)

        async def httpx_get() -> int:
            response = await http.get(url)
            return response.status_code

        call, cleanup = httpx_get, http.aclose
        if variant == "httpx+tenacity+pybreaker":
            import pybreaker
            import tenacity

            breaker = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60)
            retrying = tenacity.AsyncRetrying(
                stop=tenacity.stop_after_attempt(4),
                wait=tenacity.wait_exponential(multiplier=1, max=30),
                retry=tenacity.retry_if_exception_type(httpx.TransportError),
                reraise=True,
            )

            async def resilient_get() -> int:
                async for attempt in retrying:
                    with attempt, breaker.calling():
                        response = await http.get(url)
                        if response.status_code >= 500:
                            raise httpx.TransportError(f"status {response.status_code}")
                        return response.status_code
                raise AssertionError("tenacity ends with a result or an exception")

            call = resilient_get
    elif variant == "httpx+hishel cache hit":
        import hishel
        import hishel.httpx

        folder = tempfile.mkdtemp(prefix="tether-bench-hishel-")
        storage = hishel.AsyncSqliteStorage(database_path=os.path.join(folder, "cache.db"))
        cache_client = hishel.httpx.AsyncCacheClient(storage=storage)

        async def hishel_get() -> int:
            response = await cache_client.get(cached_url)
            return response.status_code

        call, cleanup = hishel_get, cache_client.aclose
    else:
        raise SystemExit(f"unknown variant {variant!r}")
    status = await call()
    if status != 200:
        raise SystemExit(f"{variant}: status {status}")
    result = await drive(call, concurrency, warmup, duration)
    if variant == "tether cache hit":
        stats = client.get_metrics()["cache_stats"]
        result["hit_ratio"] = stats["hits"] / max(stats["hits"] + stats["misses"], 1)
    if cleanup is not None:
        await cleanup()
    return result


def run_child(
    args: argparse.Namespace, variant: str, nginx: Nginx, concurrency: int
) -> dict[str, Any]:
    import subprocess

    cmd = [
        sys.executable,
        __file__,
        "--child",
        variant,
        "--url",
        nginx.url,
        "--cached-url",
        nginx.cached_url,
        "--c",
        str(concurrency),
        "--duration",
        str(args.duration),
        "--warmup",
        str(args.warmup),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"error": " / ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=3.0, help="timed seconds per variant")
    parser.add_argument("--warmup", type=float, default=0.5, help="untimed seconds first")
    parser.add_argument("--concurrency", default="1,64", help="levels of the GET variants")
    parser.add_argument("--hit-concurrency", default="64", help="levels of the cache-hit pair")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repetitions")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--cached-url", help=argparse.SUPPRESS)
    parser.add_argument("--c", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        result = asyncio.run(
            child(args.child, args.url, args.cached_url, args.c, args.warmup, args.duration)
        )
        print(json.dumps(result))
        return

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    nginx = Nginx()
    plan = [(int(c), GET_VARIANTS, "aiohttp") for c in args.concurrency.split(",")]
    plan += [
        (int(c), HIT_VARIANTS, "httpx+hishel cache hit") for c in args.hit_concurrency.split(",")
    ]
    results: dict[str, Any] = {"python": sys.version.split()[0], "runs": {}}
    print(
        f"nginx (1 worker) at {nginx.url}; {args.rounds} interleaved rounds of "
        f"{args.duration:g} s per variant; medians, [min–max] over rounds"
    )
    try:
        for concurrency, variants, base in plan:
            ceiling = wrk_ceiling(nginx.url, concurrency, max(1, int(args.duration)))
            samples: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
            for _ in range(args.rounds):
                for variant in variants:
                    samples[variant].append(run_child(args, variant, nginx, concurrency))
            rows = {v: summarize(runs) for v, runs in samples.items()}
            key = f"{'hit' if base.endswith('hit') else 'get'} c={concurrency}"
            results["runs"][key] = {"wrk": ceiling, "variants": rows, "samples": samples}
            wrk = "n/a" if ceiling is None else f"{ceiling:,.0f} req/s"
            print(f"\n## {key}  (wrk -t1 -c{concurrency}: {wrk})\n")
            print_table(rows, base, width=26)
    finally:
        nginx.stop()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
