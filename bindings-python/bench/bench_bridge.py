#!/usr/bin/env python3
"""The asyncio bridge, measured: GETs of a small JSON from nginx on loopback, side by side.

Usage (from the repository root, after ``make wheel`` and installing the wheel into the
venv that runs this script, e.g. ``make bench-bridge``)::

    python bindings-python/bench/bench_bridge.py [--duration 3] [--concurrency 1,64]

It starts nginx (one worker, private prefix, loopback only), measures wrk's ceiling, then runs
every variant in a fresh subprocess at each concurrency and prints a table of requests per
second and process CPU per request (``getrusage(RUSAGE_SELF)`` user + system over the timed
part, all threads included, divided by the requests). Variants:

- ``bridge GET``          hyper GET awaited through Tether's bridge, ``(status, bytes)``
- ``bridge GET+Response`` the same, delivered as a lazy ``tether.Response`` (an httpx.Response)
- ``bridge GET+eager``    the same Rust response turned into an eager ``httpx.Response`` with
                          its ``httpx.Request``, as httpx itself builds them
- ``future_into_py GET``  the same hyper GET through ``pyo3_async_runtimes::tokio::future_into_py``
- ``bridge no-op``, ``future_into_py no-op``  the bridges alone
- ``asyncio floor``       a future completed by ``loop.call_soon``: the await machinery alone
- ``aiohttp``, ``httpx``  the Python peers

A last section times response construction alone (lazy vs eager) per object.

This is a benchmark, not a test: nothing here fails on a slow machine.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import functools
import json
import operator
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import httpx

VARIANTS = [
    "bridge GET",
    "bridge GET+Response",
    "bridge GET+eager",
    "future_into_py GET",
    "bridge no-op",
    "future_into_py no-op",
    "asyncio floor",
    "aiohttp",
    "httpx",
]

NGINX_CONF = """\
worker_processes 1;
pid {prefix}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    server {{
        listen 127.0.0.1:{port};
        root {prefix}/www;
        location / {{
            default_type application/json;
            add_header Cache-Control "no-store";
        }}
        location /cached/ {{
            default_type application/json;
            add_header Cache-Control "max-age=3600";
        }}
    }}
}}
"""

SMALL_JSON = {
    "id": 42,
    "name": "tether",
    "status": "ok",
    "tags": ["cache", "breaker", "retry"],
    "limits": {"rps": 100, "burst": 20},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Nginx:
    """nginx in the foreground with a private prefix, stopped by its pid."""

    def __init__(self) -> None:
        self.prefix = tempfile.mkdtemp(prefix="tether-bench-nginx-")
        # nginx's worker drops privileges when started as root: let it read the files.
        os.chmod(self.prefix, 0o755)
        self.port = free_port()
        os.makedirs(f"{self.prefix}/www", mode=0o755)
        os.makedirs(f"{self.prefix}/www/cached", mode=0o755)
        for name in ("small.json", "cached/small.json"):
            with open(f"{self.prefix}/www/{name}", "w") as f:
                json.dump(SMALL_JSON, f)
        with open(f"{self.prefix}/nginx.conf", "w") as f:
            f.write(NGINX_CONF.format(prefix=self.prefix, port=self.port))
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.log = open(f"{self.prefix}/stderr.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [nginx, "-p", self.prefix, "-c", f"{self.prefix}/nginx.conf", "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("nginx did not start") from None
                time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}/small.json"
        # The same document, cacheable for an hour.
        self.cached_url = f"http://127.0.0.1:{self.port}/cached/small.json"

    def stop(self) -> None:
        self.process.send_signal(signal.SIGQUIT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        with open(f"{self.prefix}/stderr.log", "rb") as f:
            errors = f.read().decode(errors="replace").strip()
        if errors:
            print(f"\nnginx stderr (last lines):\n{os.linesep.join(errors.splitlines()[-5:])}")
        shutil.rmtree(self.prefix, ignore_errors=True)


def wrk_ceiling(url: str, concurrency: int, seconds: int) -> float | None:
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    out = subprocess.run(
        [wrk, "-t1", f"-c{concurrency}", f"-d{seconds}s", url],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(match.group(1)) if match else None


# ---------------------------------------------------------------------------- child side


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def eager_response(raw: Any) -> httpx.Response:
    """The ``httpx.Response`` (with its ``httpx.Request``) httpx itself would build."""
    import httpx

    response = httpx.Response(
        raw.status,
        headers=raw.header_list(),
        content=raw.content,
        request=httpx.Request(raw.method, raw.url),
    )
    response.elapsed = datetime.timedelta(seconds=raw.elapsed)
    return response


async def drive(
    call: Callable[[], Awaitable[Any]], concurrency: int, warmup: float, duration: float
) -> dict[str, float]:
    done = 0
    errors = 0
    stop = False

    async def worker() -> None:
        nonlocal done, errors
        while not stop:
            try:
                await call()
            except Exception:  # noqa: BLE001 - counted and reported
                errors += 1
            done += 1

    workers = [asyncio.ensure_future(worker()) for _ in range(concurrency)]
    await asyncio.sleep(warmup)
    n0, cpu0, t0 = done, process_cpu(), time.perf_counter()
    await asyncio.sleep(duration)
    n1, cpu1, t1 = done, process_cpu(), time.perf_counter()
    stop = True
    await asyncio.gather(*workers)
    requests = n1 - n0
    return {
        "requests": requests,
        "rps": requests / (t1 - t0),
        "cpu_us": 1e6 * (cpu1 - cpu0) / max(requests, 1),
        "errors": errors,
    }


async def child(
    variant: str, url: str, concurrency: int, warmup: float, duration: float
) -> dict[str, float]:
    import httpx

    import tether
    from tether import _tether

    workers = _tether.runtime_workers()  # None: not started yet
    env_workers = os.environ.get(_tether.WORKERS_ENV)
    # The same worker count as the bridge (its default: at most 2).
    fip_workers = int(env_workers) if env_workers else min(os.cpu_count() or 2, 2)
    _tether.configure_future_into_py(fip_workers)
    probe = _tether.HttpProbe(pool_size=max(concurrency, 8))
    loop = asyncio.get_running_loop()

    call: Callable[[], Awaitable[Any]]
    status_of: Callable[[Any], int] | None = None
    cleanup: Callable[[], Awaitable[None]] | None = None
    if variant == "bridge GET":
        call = functools.partial(probe.get, url)
        status_of = operator.itemgetter(0)
    elif variant == "bridge GET+Response":
        call = functools.partial(probe.get_raw, url, tether.Response)
        status_of = operator.attrgetter("status_code")
    elif variant == "bridge GET+eager":

        async def eager() -> httpx.Response:
            return eager_response(await probe.get_raw(url))

        call = eager
        status_of = operator.attrgetter("status_code")
    elif variant == "future_into_py GET":
        call = functools.partial(probe.get_future_into_py, url)
        status_of = operator.itemgetter(0)
    elif variant == "bridge no-op":
        call = _tether.noop
    elif variant == "future_into_py no-op":
        call = _tether.noop_future_into_py
    elif variant == "asyncio floor":

        def completed_soon() -> Awaitable[None]:
            future: asyncio.Future[None] = loop.create_future()
            loop.call_soon(future.set_result, None)
            return future

        call = completed_soon
    elif variant == "aiohttp":
        import aiohttp

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=max(concurrency, 8)))

        async def aiohttp_get() -> int:
            async with session.get(url) as response:
                await response.read()
                return response.status

        call, status_of, cleanup = aiohttp_get, int, session.close
    elif variant == "httpx":
        client = httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=max(concurrency, 8), max_keepalive_connections=max(concurrency, 8)
            )
        )

        async def httpx_get() -> int:
            response = await client.get(url)
            return response.status_code

        call, status_of, cleanup = httpx_get, int, client.aclose
    else:
        raise SystemExit(f"unknown variant {variant!r}")
    if status_of is not None:
        got = status_of(await call())
        if got != 200:
            raise SystemExit(f"{variant}: status {got}")
    result = await drive(call, concurrency, warmup, duration)
    if cleanup is not None:
        await cleanup()
    result["workers"] = _tether.runtime_workers() or workers or 0
    return result


async def construction(url: str, number: int) -> dict[str, float]:
    """Microseconds to build one response object from a Rust response, per kind."""
    import httpx

    import tether
    from tether import _tether

    probe = _tether.HttpProbe()
    raw = await probe.get_raw(url)
    header_list = raw.header_list()

    def lazy() -> Any:
        return tether.Response(raw)

    def lazy_all() -> Any:
        r = tether.Response(raw)
        r.headers, r.url, r.request, r.elapsed, r.content  # noqa: B018 - touching is the point
        return r.json()

    def eager() -> Any:
        return eager_response(raw)

    def eager_no_request() -> Any:
        return httpx.Response(raw.status, headers=header_list, content=raw.content)

    def request_only() -> Any:
        return httpx.Request("GET", url)

    out = {}
    for name, fn in [
        ("lazy tether.Response(raw)", lazy),
        ("lazy, then every attribute + .json()", lazy_all),
        ("eager httpx.Response + httpx.Request", eager),
        ("eager httpx.Response (no request)", eager_no_request),
        ("httpx.Request(GET, url) alone", request_only),
    ]:
        best = min(timeit.repeat(fn, number=number, repeat=5))
        out[name] = 1e6 * best / number
    return out


# --------------------------------------------------------------------------- parent side


def run_child(args: argparse.Namespace, variant: str, url: str, concurrency: int) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        variant,
        "--url",
        url,
        "--c",
        str(concurrency),
        "--duration",
        str(args.duration),
        "--warmup",
        str(args.warmup),
    ]
    env = dict(os.environ)
    if args.workers:
        env["TETHER_WORKER_THREADS"] = str(args.workers)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"error": " / ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"error": runs[0]["error"]}
    rps = sorted(r["rps"] for r in ok)
    cpu = sorted(r["cpu_us"] for r in ok)
    return {
        "rps": statistics.median(rps),
        "rps_min": rps[0],
        "rps_max": rps[-1],
        "cpu_us": statistics.median(cpu),
        "cpu_min": cpu[0],
        "cpu_max": cpu[-1],
        "errors": sum(r["errors"] for r in ok),
        "failed_runs": len(runs) - len(ok),
    }


def print_table(rows: dict[str, dict[str, Any]], base_name: str, width: int = 22) -> None:
    """A Markdown table of the summarized rows, with each one's ratio to ``base_name``."""
    base = rows.get(base_name, {}).get("rps")
    ratio_head = f"× {base_name}"
    print(f"| {'variant':{width}s} | {'req/s':>24s} | {'CPU µs/req':>20s} | {ratio_head} |")
    print(f"|{'-' * (width + 2)}|{'-' * 26}|{'-' * 22}|{'-' * (len(ratio_head) + 2)}|")
    for variant, row in rows.items():
        if "error" in row:
            print(f"| {variant:{width}s} | failed: {row['error']}")
            continue
        ratio = f"{row['rps'] / base:.2f}×" if base else "n/a"
        rps = f"{row['rps']:,.0f} [{row['rps_min']:,.0f}–{row['rps_max']:,.0f}]"
        cpu = f"{row['cpu_us']:.1f} [{row['cpu_min']:.1f}–{row['cpu_max']:.1f}]"
        print(f"| {variant:{width}s} | {rps:>24s} | {cpu:>20s} | {ratio:>{len(ratio_head)}s} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=3.0, help="timed seconds per variant")
    parser.add_argument("--warmup", type=float, default=0.5, help="untimed seconds first")
    parser.add_argument("--concurrency", default="1,64", help="comma-separated levels")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repetitions")
    parser.add_argument("--workers", type=int, default=0, help="tokio worker threads (0: default)")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--c", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        if args.child == "construction":
            result = asyncio.run(construction(args.url, 20_000))
        else:
            result = asyncio.run(child(args.child, args.url, args.c, args.warmup, args.duration))
        print(json.dumps(result))
        return

    levels = [int(c) for c in args.concurrency.split(",")]
    variants = [v.strip() for v in args.variants.split(",")]
    # A terminated run still stops its nginx (the `finally` below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    nginx = Nginx()
    results: dict[str, Any] = {
        "url": nginx.url,
        "python": sys.version.split()[0],
        "rounds": args.rounds,
        "duration": args.duration,
        "runs": {},
    }
    print(
        f"nginx (1 worker) at {nginx.url}; {args.rounds} interleaved rounds of "
        f"{args.duration:g} s per variant; medians, [min–max] over rounds"
    )
    try:
        for concurrency in levels:
            ceiling = wrk_ceiling(nginx.url, concurrency, max(1, int(args.duration)))
            samples: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
            for _ in range(args.rounds):
                # Interleaved, so a noisy neighbour slows every variant alike.
                for variant in variants:
                    samples[variant].append(run_child(args, variant, nginx.url, concurrency))
            rows = {v: summarize(runs) for v, runs in samples.items()}
            results["runs"][str(concurrency)] = {
                "wrk": ceiling,
                "variants": rows,
                "samples": samples,
            }
            print(
                f"\n## c={concurrency}  (wrk -t1 -c{concurrency}: "
                f"{'n/a' if ceiling is None else f'{ceiling:,.0f} req/s'})\n"
            )
            print_table(rows, "aiohttp")
            for variant, row in rows.items():
                if row.get("errors") or row.get("failed_runs"):
                    print(
                        f"warning: {variant}: {row.get('errors')} failed requests, "
                        f"{row.get('failed_runs')} failed runs"
                    )
        construct = run_child(args, "construction", nginx.url, 1)
        results["construction_us"] = construct
        print("\n## Response construction, µs per object (best of 5 × 20,000)\n")
        if "error" in construct:
            print(f"failed: {construct['error']}")
        else:
            for name, us in construct.items():
                print(f"- {name}: {us:.2f} µs")
    finally:
        nginx.stop()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
