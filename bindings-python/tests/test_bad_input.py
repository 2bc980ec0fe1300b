"""Wrong types and values give a clear TypeError / ValueError (or the contract's own class) at
once: never a Rust panic, never a hang."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

import httpx
import pytest

import tether.http_client as hc
import tether.monitoring as mon
from tether import RustPanic, _tether
from tether.http_client import (
    CacheConfig,
    CacheKey,
    CircuitBreaker,
    HealthMonitor,
    HTTPClient,
    RequestBatcher,
    RequestInterceptor,
    ServiceClient,
)

CONSTRUCTORS: list[tuple[str, Callable[[], Any], type[Exception]]] = [
    ("timeout str", lambda: HTTPClient(timeout="30"), TypeError),  # type: ignore[arg-type]
    ("timeout negative", lambda: HTTPClient(timeout=-1), ValueError),
    ("timeout nan", lambda: HTTPClient(timeout=float("nan")), ValueError),
    ("timeout inf", lambda: HTTPClient(timeout=float("inf")), ValueError),
    ("max_retries str", lambda: HTTPClient(max_retries="3"), TypeError),  # type: ignore[arg-type]
    ("max_retries negative", lambda: HTTPClient(max_retries=-1), ValueError),
    ("max_retries huge", lambda: HTTPClient(max_retries=10**9), ValueError),
    ("pool zero", lambda: HTTPClient(connection_pool_size=0), ValueError),
    ("pool float", lambda: HTTPClient(connection_pool_size=1.5), TypeError),  # type: ignore[arg-type]
    ("cache_config dict", lambda: HTTPClient(cache_config={"enabled": True}), TypeError),  # type: ignore[arg-type]
    ("cache ttl str", lambda: HTTPClient(cache_config=CacheConfig(ttl_seconds="1")), TypeError),  # type: ignore[arg-type]
    ("cache size zero", lambda: HTTPClient(cache_config=CacheConfig(max_size=0)), ValueError),
    ("user_agent newline", lambda: HTTPClient(user_agent="a\nb"), ValueError),
    ("service base not str", lambda: ServiceClient(5, "svc"), TypeError),  # type: ignore[arg-type]
    ("service base not a URL", lambda: ServiceClient("not a url", "svc"), ValueError),
    ("service base with query", lambda: ServiceClient("http://h/?q=1", "svc"), ValueError),
    ("service name empty", lambda: ServiceClient("http://h", ""), TypeError),
    ("batcher zero", lambda: RequestBatcher(0), ValueError),
    ("batcher str", lambda: RequestBatcher("10"), TypeError),  # type: ignore[arg-type]
    ("batcher wait negative", lambda: RequestBatcher(2, -1), ValueError),
    ("breaker zero", lambda: CircuitBreaker(0), ValueError),
    ("breaker str", lambda: CircuitBreaker("5"), TypeError),  # type: ignore[arg-type]
    ("breaker negative recovery", lambda: CircuitBreaker(5, -1), ValueError),
    ("breaker not an exception", lambda: CircuitBreaker(5, 60, int), TypeError),
    ("with_retry negative", lambda: hc.with_retry(-1), ValueError),
    ("with_retry delay str", lambda: hc.with_retry(1, "1"), ValueError),  # type: ignore[arg-type]
    ("hook not callable", lambda: RequestInterceptor().add_request_hook(5), TypeError),  # type: ignore[arg-type]
    ("monitor name", lambda: HealthMonitor().add_monitor(5, asyncio.sleep), TypeError),  # type: ignore[arg-type]
    ("monitor check", lambda: HealthMonitor().add_monitor("x", 5), TypeError),  # type: ignore[arg-type]
    ("cache key method", lambda: CacheKey.generate(5, "u"), TypeError),  # type: ignore[arg-type]
    (
        "cache key params list",
        lambda: CacheKey.generate("GET", "u", query_params=[("a", 1)]),  # type: ignore[arg-type]
        AttributeError,
    ),
    ("history negative", lambda: mon.performance_monitor.get_metrics_history(-1), ValueError),
    ("history str", lambda: mon.performance_monitor.get_metrics_history("1"), TypeError),  # type: ignore[arg-type]
    ("export format", lambda: mon.export_metrics({}, "xml"), ValueError),
    ("export format type", lambda: mon.export_metrics({}, None), ValueError),  # type: ignore[arg-type]
    ("service url", lambda: _tether.service_url("http://h", "@evil/x"), ValueError),
    ("vector", lambda: _tether.run_vector("[]"), ValueError),
]


@pytest.mark.parametrize("name, make, error", CONSTRUCTORS, ids=[c[0] for c in CONSTRUCTORS])
def test_constructors_and_sync_calls(
    name: str, make: Callable[[], Any], error: type[Exception]
) -> None:
    with pytest.raises(error) as e:
        make()
    assert not isinstance(e.value, RustPanic)
    assert str(e.value), "the error says what is wrong"


REQUESTS: list[tuple[str, dict[str, Any], type[Exception]]] = [
    ("method int", {"method": 1}, TypeError),
    ("method with a space", {"method": "GE T"}, ValueError),
    ("url int", {"url": 5}, TypeError),
    ("url relative", {"url": "/just/a/path"}, httpx.UnsupportedProtocol),
    ("url garbage", {"url": "http://"}, httpx.InvalidURL),
    ("url credentials", {"url": "http://user:pw@127.0.0.1:9/"}, httpx.InvalidURL),
    ("scheme", {"url": "gopher://127.0.0.1/"}, httpx.UnsupportedProtocol),
    ("header newline", {"headers": {"X-A": "a\nb"}}, ValueError),
    ("header name", {"headers": {"bad name": "v"}}, ValueError),
    ("headers type", {"headers": 5}, TypeError),
    ("params type", {"params": 5}, TypeError),
    ("params key type", {"params": {1: "a"}}, TypeError),
    ("json not serialisable", {"method": "POST", "json": object()}, TypeError),
    ("json nan", {"method": "POST", "json": float("nan")}, ValueError),
    ("content type", {"method": "POST", "content": 123}, TypeError),
    ("timeout type", {"timeout": "5"}, TypeError),
    ("timeout negative", {"timeout": -1}, ValueError),
    ("follow_redirects type", {"follow_redirects": "yes"}, TypeError),
    ("auth type", {"auth": 5}, TypeError),
    ("extensions type", {"extensions": 5}, TypeError),
    ("unknown keyword", {"verify": False}, TypeError),
]


@pytest.mark.asyncio
@pytest.mark.parametrize("name, change, error", REQUESTS, ids=[r[0] for r in REQUESTS])
async def test_request_arguments(name: str, change: dict[str, Any], error: type[Exception]) -> None:
    client = HTTPClient(timeout=2, max_retries=1)
    arguments: dict[str, Any] = {"method": "GET", "url": "http://127.0.0.1:9/x", **change}
    started = asyncio.get_running_loop().time()
    with pytest.raises(error) as e:
        await asyncio.wait_for(client.request(**arguments), 10)
    assert not isinstance(e.value, RustPanic)
    assert asyncio.get_running_loop().time() - started < 1.0, "refused before anything is sent"
    assert client.get_metrics()["total_requests"] == 0
    await client.close()


@pytest.mark.asyncio
async def test_service_and_helper_arguments() -> None:
    service = ServiceClient("http://127.0.0.1:9", "bad-input")
    with pytest.raises(TypeError):
        await service.call_service("GET", 5)  # type: ignore[arg-type]
    with pytest.raises(hc.InvalidInputError):
        await service.call_service("GET", "http://elsewhere/")
    await service.close()
    batcher = RequestBatcher()
    with pytest.raises(TypeError):
        await batcher.add_request(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await hc.parallel_requests("not a list")  # type: ignore[arg-type]
    results = await hc.parallel_requests([5, {"method": "GET"}])  # type: ignore[list-item]
    assert isinstance(results[0], TypeError) and isinstance(results[1], TypeError)
    with pytest.raises(TypeError):
        hc.get_service_client(5, "http://h")  # type: ignore[arg-type]
    assert "5" not in hc._service_clients
