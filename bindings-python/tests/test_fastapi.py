"""tether.fastapi through a real uvicorn server answers byte for byte what the native
monitoring server answers for the same state (both call the one route table)."""

from __future__ import annotations

import asyncio
import re
import socket
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

fastapi = pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

import tether.http_client as hc  # noqa: E402
import tether.monitoring as mon  # noqa: E402
from tether import _tether  # noqa: E402
from tether.fastapi import ROUTES, create_router  # noqa: E402

TOKEN = "test-token-123"
STAMP = re.compile(rb'"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)"')
NANOS = re.compile(rb"(?<![\d.])(\d{19})(?![\d.])")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mask_now(body: bytes, since: datetime) -> bytes:
    """Replaces the timestamps made while answering (not older than `since`)."""

    def replace(m: re.Match[bytes]) -> bytes:
        moment = datetime.strptime(m.group(1).decode(), "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=timezone.utc
        )
        return b'"<now>"' if moment >= since else m.group(0)

    def replace_nanos(m: re.Match[bytes]) -> bytes:
        return b"<now-ns>" if int(m.group(1)) >= int(since.timestamp() * 1e9) else m.group(0)

    return NANOS.sub(replace_nanos, STAMP.sub(replace, body))


def test_the_router_has_the_15_routes() -> None:
    router = create_router(token=TOKEN)
    documented = {
        (m, getattr(r, "path", ""))
        for r in router.routes
        for m in getattr(r, "methods", ())
        if getattr(r, "include_in_schema", False)
    }
    assert {(m, "/monitoring" + p) for m, p in ROUTES} <= documented
    assert len(ROUTES) == 15
    with pytest.raises(ValueError):
        create_router(token="has space")


@pytest.mark.asyncio
async def test_uvicorn_answers_like_the_native_server(chaos: Any) -> None:
    service = hc.get_service_client("parity-svc", chaos.base)
    await service.call_service("GET", "/get")
    with pytest.raises(httpx.HTTPStatusError):
        await service.call_service("GET", "/status/404")
    await mon.get_monitoring_data()
    app = fastapi.FastAPI()
    app.include_router(create_router(token=TOKEN))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    serving = asyncio.ensure_future(server.serve())
    native_url, native_token = await _tether.monitor_serve(0, TOKEN)
    assert native_token == TOKEN
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        python_url = f"http://127.0.0.1:{port}/monitoring"
        requests: list[tuple[str, str, dict[str, str]]] = [
            ("GET", "/health", {}),
            ("GET", "/health/live", {}),
            ("GET", "/health/ready", {}),
            ("GET", "/metrics", {}),
            ("GET", "/metrics?format=prometheus", {}),
            ("GET", "/metrics?format=influxdb", {}),
            ("GET", "/metrics?format=xml", {}),
            ("GET", "/metrics/summary", {}),
            ("GET", "/alerts", {}),
            ("GET", "/alerts?severity=error&limit=2", {}),
            ("GET", "/alerts?limit=abc", {}),
            ("GET", "/services", {}),
            ("GET", "/services/parity-svc", {}),
            ("GET", "/services/nobody", {}),
            ("GET", "/system", {}),
            ("GET", "/history?hours=1&service=parity-svc", {}),
            ("GET", "/history?hours=-5", {}),
            ("GET", "/dashboard", {}),
            ("GET", "/cache/stats", {}),
            ("GET", "/circuit-breakers", {}),
            ("GET", "/refresh", {}),
            ("DELETE", "/health", {}),
            ("GET", "/no/such/route", {}),
            ("POST", "/refresh", {}),
            ("POST", "/cache/clear", {"Authorization": "Bearer wrong"}),
            ("POST", "/cache/clear?service=nobody", {"Authorization": f"Bearer {TOKEN}"}),
            ("POST", "/cache/clear?service=parity-svc", {"Authorization": f"Bearer {TOKEN}"}),
            ("POST", "/refresh", {"Authorization": f"Bearer {TOKEN}"}),
        ]
        async with httpx.AsyncClient(timeout=10) as http:
            for method, path, headers in requests:
                for _attempt in range(3):
                    since = datetime.now(timezone.utc)
                    native = await http.request(method, native_url + path, headers=headers)
                    python = await http.request(method, python_url + path, headers=headers)
                    same = (
                        native.status_code == python.status_code
                        and native.headers.get("content-type") == python.headers.get("content-type")
                        and native.headers.get("allow") == python.headers.get("allow")
                        and native.headers.get("www-authenticate")
                        == python.headers.get("www-authenticate")
                        and mask_now(native.content, since) == mask_now(python.content, since)
                    )
                    if same:
                        break
                    # A collection by the monitor between the two requests changes the state.
                    await asyncio.sleep(0.2)
                assert same, (
                    method,
                    path,
                    native.status_code,
                    python.status_code,
                    native.content[:300],
                    python.content[:300],
                )
                if method == "POST" and "wrong" not in str(headers) and headers:
                    assert native.status_code in (200, 404)
        statuses = {}
        async with httpx.AsyncClient() as http:
            for m, p in [("POST", "/refresh"), ("GET", "/services/nobody"), ("DELETE", "/health")]:
                statuses[(m, p)] = (await http.request(m, python_url + p)).status_code
        assert statuses == {
            ("POST", "/refresh"): 401,
            ("GET", "/services/nobody"): 404,
            ("DELETE", "/health"): 405,
        }
    finally:
        await _tether.monitor_stop_server()
        server.should_exit = True
        await serving
        await hc.close_all_service_clients()
