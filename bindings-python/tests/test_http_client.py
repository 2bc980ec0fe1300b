"""tether.http_client against the original contract, item by item (the numbers are the items
of the original contract's compatibility checklist; docs/python-migration.md says what
changed), over the chaos upstream."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import inspect
import json
import logging
import time
import urllib.parse
import urllib.request
from datetime import datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio

import tether.errors
import tether.http_client as hc
from tether import _tether
from tether.http_client import (
    CacheConfig,
    CacheKey,
    CircuitBreaker,
    CircuitBreakerConfig,
    CircuitBreakerError,
    CircuitBreakerState,
    GatewayError,
    HealthMonitor,
    HTTPClient,
    RequestBatcher,
    RequestCache,
    RequestInterceptor,
    RequestMetrics,
    ServiceClient,
)

# Every public name of the original module (its inventory), the re-exported error classes and
# helpers, and the modules it imported.
ORIGINAL_NAMES = [
    "logger",
    "CircuitBreakerState",
    "CircuitBreakerConfig",
    "CacheConfig",
    "RequestMetrics",
    "CircuitBreakerError",
    "GatewayError",
    "CacheKey",
    "RequestCache",
    "RequestInterceptor",
    "CircuitBreaker",
    "HTTPClient",
    "ServiceClient",
    "RequestBatcher",
    "create_service_client",
    "propagate_request_id",
    "_service_clients",
    "get_service_client",
    "close_all_service_clients",
    "parallel_requests",
    "with_retry",
    "HealthMonitor",
    "health_monitor",
    "get_all_metrics",
    "health_check_all_services",
    "ServiceError",
    "BadGatewayError",
    "ServiceUnavailableError",
    "GatewayTimeoutError",
    "UnauthorizedError",
    "ForbiddenError",
    "InvalidInputError",
    "NotFoundError",
    "ValidationError",
    "RateLimitError",
    "log_structured_error",
    "PerformanceLogger",
    "httpx",
    "asyncio",
    "json",
    "time",
    "random",
    "hashlib",
    "pickle",
    "datetime",
    "timedelta",
    "defaultdict",
    "deque",
    "dataclass",
    "field",
    "Enum",
    "wraps",
]


def hits(chaos: Any, key: str) -> int:
    with urllib.request.urlopen(chaos.url(f"/count/{key}")) as r:
        return int(json.load(r)["hits"])


def unique(name: str) -> str:
    return f"{name}-{time.monotonic_ns()}"


@pytest_asyncio.fixture
async def client() -> Any:
    c = HTTPClient(timeout=5, max_retries=1)
    yield c
    await c.close()


# 1, 2 - names and star export


def test_01_02_every_original_name_is_importable_and_star_exported() -> None:
    missing = [n for n in ORIGINAL_NAMES if not hasattr(hc, n)]
    assert not missing, missing
    namespace: dict[str, Any] = {}
    exec("from tether.http_client import *", namespace)
    public = [n for n in ORIGINAL_NAMES if not n.startswith("_")]
    assert not [n for n in public if n not in namespace]
    assert not hasattr(hc, "__all__"), "an __all__ would hide names from the star-import"
    assert hc.ServiceError is tether.errors.ServiceError


# 4 - logger names


def test_04_logger_names() -> None:
    assert hc.logger is logging.getLogger("common.http_client")
    service = ServiceClient("http://127.0.0.1:1", "billing")
    assert service.logger is logging.getLogger("service_client.billing")
    assert HTTPClient().logger is hc.logger


# 5-8 - records and exceptions


def test_05_cache_config_is_the_original_dataclass() -> None:
    assert dataclasses.is_dataclass(CacheConfig)
    assert [f.name for f in dataclasses.fields(CacheConfig)] == [
        "enabled",
        "ttl_seconds",
        "max_size",
        "include_headers",
        "include_query_params",
    ]
    default = CacheConfig()
    assert (default.enabled, default.ttl_seconds, default.max_size) == (True, 300, 1000)
    assert (default.include_headers, default.include_query_params) == (False, True)
    assert CacheConfig(True, 60, 100) == CacheConfig(enabled=True, ttl_seconds=60, max_size=100)
    assert CacheConfig(False) != CacheConfig()
    assert repr(CacheConfig()) == (
        "CacheConfig(enabled=True, ttl_seconds=300, max_size=1000, include_headers=False, "
        "include_query_params=True)"
    )


def test_06_request_metrics_fields_defaults_and_properties() -> None:
    m = RequestMetrics()
    assert [f.name for f in dataclasses.fields(RequestMetrics)] == [
        "total_requests",
        "successful_requests",
        "failed_requests",
        "total_response_time",
        "min_response_time",
        "max_response_time",
        "last_request_time",
        "error_counts",
    ]
    assert m.min_response_time == float("inf") and m.error_counts == {}
    assert m.average_response_time == 0.0 and m.success_rate == 0.0
    m.total_requests, m.successful_requests, m.total_response_time = 4, 3, 2.0
    assert m.average_response_time == 0.5 and m.success_rate == 0.75
    assert RequestMetrics().error_counts is not RequestMetrics().error_counts


def test_07_breaker_state_enum_and_config() -> None:
    assert [s.value for s in CircuitBreakerState] == ["closed", "open", "half_open"]
    c = CircuitBreakerConfig()
    assert (c.failure_threshold, c.recovery_timeout, c.expected_exception) == (5, 60, Exception)


def test_08_exceptions_and_breaker_message() -> None:
    assert issubclass(CircuitBreakerError, Exception) and issubclass(GatewayError, Exception)
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=60)
    with pytest.raises(ZeroDivisionError):
        breaker.call(lambda: 1 / 0)
    with pytest.raises(CircuitBreakerError) as e:
        breaker.call(lambda: 1)
    message = str(e.value)
    assert message.startswith("Circuit breaker is OPEN. Last failure: ")
    assert datetime.fromisoformat(message.rsplit(": ", 1)[1]) == breaker.last_failure_time


def test_service_error_family() -> None:
    e = tether.errors.RateLimitError(retry_after=3, request_id="r1", service_name="s")
    assert (e.http_status, e.error_code, e.context) == (429, "RateLimitError", {"retry_after": 3})
    assert list(e.to_dict()) == [
        "error",
        "message",
        "status_code",
        "context",
        "request_id",
        "service",
    ]
    assert json.loads(e.to_json())["status_code"] == 429
    for cls, status, message in [
        (tether.errors.InvalidInputError, 400, "Invalid input provided"),
        (tether.errors.UnauthorizedError, 401, "Authentication required"),
        (tether.errors.ForbiddenError, 403, "Access forbidden"),
        (tether.errors.NotFoundError, 404, "Resource not found"),
        (tether.errors.ValidationError, 422, "Validation failed"),
        (tether.errors.BadGatewayError, 502, "Bad gateway"),
        (tether.errors.ServiceUnavailableError, 503, "Service temporarily unavailable"),
        (tether.errors.GatewayTimeoutError, 504, "Gateway timeout"),
    ]:
        err = cls()
        assert (err.http_status, str(err), err.status_code) == (status, message, status)
        with pytest.raises(TypeError):
            cls(http_status=500)


# 9, 10 - cache key and cache


def test_09_cache_key_is_the_original_md5() -> None:
    assert isinstance(inspect.getattr_static(CacheKey, "generate"), staticmethod)
    key = CacheKey.generate("get", "http://h/p", query_params={"b": 2, "a": "1"})
    assert key == hashlib.md5(b'GET|http://h/p|[["a", "1"], ["b", 2]]').hexdigest()
    assert key == "493636df19ecddb93860b74b949820ec"
    a = CacheKey.generate("GET", "http://h/p", headers={"Authorization": "Bearer a"})
    b = CacheKey.generate("GET", "http://h/p", headers={"Authorization": "Bearer b"})
    assert a == b, "the public key keeps the original's (credential-blind) value"
    with_headers = CacheConfig(include_headers=True)
    assert CacheKey.generate("GET", "u", headers={"Accept": "x"}, config=with_headers) == (
        hashlib.md5(b'GET|u|{"Accept": "x"}').hexdigest()
    )
    assert CacheKey.generate("POST", "u", body={"b": 1, "a": [1]}) == (
        hashlib.md5(b'POST|u|{"a": [1], "b": 1}').hexdigest()
    )


def test_10_request_cache_api_with_fixed_ttl_and_lru() -> None:
    cache = RequestCache(CacheConfig(ttl_seconds=1, max_size=2))
    assert cache.config.max_size == 2
    cache.set("a", {"status_code": 200})
    cache.set("b", {"status_code": 201})
    assert cache.get("a") == {"status_code": 200}
    cache.set("c", {"status_code": 202})  # evicts b, the least recently used
    assert cache.get("b") is None and cache.get("a") is not None
    assert cache.get_stats() == {"enabled": True, "size": 2, "max_size": 2, "ttl_seconds": 1}
    cache.invalidate("c")
    assert cache.get("c") is None
    time.sleep(0.6)
    assert cache.get("a") is not None, "still fresh"
    time.sleep(0.6)
    assert cache.get("a") is None, "a read does not extend the entry's life"
    cache.invalidate()
    assert cache.get_stats()["size"] == 0
    assert asyncio.run(cache.close()) is None
    assert RequestCache(CacheConfig(enabled=False)).get("x") is None


# 11, 12 - interceptors and hook dicts


@pytest.mark.asyncio
async def test_11_interceptor_runs_hooks_in_order_and_swallows_failures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    interceptor = RequestInterceptor()
    order: list[str] = []

    async def first(d: dict[str, Any]) -> None:
        order.append("first")
        raise RuntimeError("boom")

    def second(d: dict[str, Any]) -> None:  # a plain function is accepted too
        order.append("second")

    interceptor.add_request_hook(first)
    interceptor.add_request_hook(second)
    assert interceptor.request_hooks == [first, second]
    assert interceptor.response_hooks == [] and interceptor.error_hooks == []
    assert inspect.iscoroutinefunction(interceptor.execute_request_hooks)
    with caplog.at_level(logging.ERROR, logger="common.http_client"):
        await interceptor.execute_request_hooks({})
    assert order == ["first", "second"]
    assert [r.getMessage() for r in caplog.records] == ["Request hook failed: boom"]


@pytest.mark.asyncio
async def test_12_hook_dicts_per_attempt_and_not_on_cache_hits(chaos: Any) -> None:
    client = HTTPClient(timeout=5, max_retries=1)
    seen: list[tuple[str, dict[str, Any]]] = []
    client.interceptor.add_request_hook(lambda d: seen.append(("request", d)))
    client.interceptor.add_response_hook(lambda d: seen.append(("response", d)))
    client.interceptor.add_error_hook(lambda d: seen.append(("error", d)))
    key = unique("hooks")
    url = chaos.url(f"/flaky/{key}?fail=1")
    response = await client.request("GET", url)
    assert response.status_code == 200
    assert [kind for kind, _ in seen] == ["request", "response", "response"]
    request = seen[0][1]
    assert list(request) == ["method", "url", "headers", "params", "timestamp"]
    assert isinstance(request["timestamp"], datetime)
    first, second = seen[1][1], seen[2][1]
    assert list(first) == ["method", "url", "status_code", "response_time", "headers", "timestamp"]
    assert (first["status_code"], second["status_code"]) == (503, 200)
    assert second["response_time"] >= 1.0 > first["response_time"], "cumulative from the start"
    gap = (second["timestamp"] - first["timestamp"]).total_seconds()
    assert gap >= 1.0, "each attempt's dict is stamped when that attempt ended"
    assert second["headers"]["content-type"] == "application/json"
    seen.clear()
    assert (await client.request("GET", url)).status_code == 200
    assert seen == [], "a cache hit runs no hook"
    dead = "http://127.0.0.1:9/"
    with pytest.raises(httpx.ConnectError):
        await client.request("GET", dead)
    errors = [d for kind, d in seen if kind == "error"]
    assert [d["attempt"] for d in errors] == [1, 2]
    assert list(errors[0]) == [
        "method",
        "url",
        "error_type",
        "error_message",
        "response_time",
        "attempt",
        "timestamp",
    ]
    assert {d["error_type"] for d in errors} == {"ConnectError"}
    await client.close()


@pytest.mark.asyncio
async def test_12_request_hooks_see_redacted_copies_and_can_add_headers(chaos: Any) -> None:
    client = HTTPClient(timeout=5, max_retries=0)
    seen: list[dict[str, Any]] = []

    async def hook(d: dict[str, Any]) -> None:
        seen.append(json.loads(json.dumps(d, default=str)))
        d["headers"]["X-Added"] = "yes"

    client.interceptor.add_request_hook(hook)
    headers = {"Authorization": "Bearer SECRET-TOKEN", "X-Plain": "1"}
    params = {"api_key": "SECRET-KEY", "q": "x"}
    response = await client.request("GET", chaos.url("/echo"), headers=headers, params=params)
    echoed = response.json()
    assert echoed["headers"]["x-added"] == "yes", "a hook's header reaches the request"
    assert echoed["headers"]["authorization"] == "Bearer SECRET-TOKEN"
    assert headers == {"Authorization": "Bearer SECRET-TOKEN", "X-Plain": "1"}, (
        "caller's dict untouched"
    )
    assert "SECRET" not in json.dumps(seen)
    assert seen[0]["headers"]["X-Plain"] == "1" and seen[0]["params"]["q"] == "x"
    await client.close()


# 13, 14 - circuit breaker


def test_13_14_circuit_breaker_transitions() -> None:
    breaker = CircuitBreaker(failure_threshold=2, recovery_timeout=0.2, expected_exception=KeyError)
    assert (breaker.state, breaker.failure_count, breaker.last_failure_time) == ("CLOSED", 0, None)
    assert (breaker.failure_threshold, breaker.recovery_timeout, breaker.expected_exception) == (
        2,
        0.2,
        KeyError,
    )

    def fail() -> None:
        raise KeyError("x")

    with pytest.raises(ValueError):
        breaker.call(int, "not a number")  # not the expected exception: no change
    assert breaker.failure_count == 0
    for _ in range(2):
        with pytest.raises(KeyError):
            breaker.call(fail)
    assert breaker.state == "OPEN"
    calls: list[int] = []
    with pytest.raises(CircuitBreakerError):
        breaker.call(calls.append, 1)
    assert calls == [], "an open breaker does not call"
    time.sleep(0.25)
    assert breaker.call(lambda: "ok") == "ok"
    assert (breaker.state, breaker.failure_count) == ("CLOSED", 0)
    state = breaker.get_state()
    assert list(state) == ["state", "failure_count", "last_failure_time", "failure_threshold"]
    assert isinstance(state["last_failure_time"], str)


@pytest.mark.asyncio
async def test_14_call_async_and_a_single_half_open_probe() -> None:
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=0.05)

    async def fail() -> None:
        raise RuntimeError("down")

    with pytest.raises(RuntimeError):
        await breaker.call_async(fail)
    await asyncio.sleep(0.06)
    release = asyncio.Event()

    async def slow_probe() -> str:
        await release.wait()
        return "probe"

    probe = asyncio.ensure_future(breaker.call_async(slow_probe))
    await asyncio.sleep(0)
    assert breaker.state == "HALF_OPEN"
    with pytest.raises(CircuitBreakerError):
        await breaker.call_async(slow_probe)
    release.set()
    assert await probe == "probe" and breaker.state == "CLOSED"


# 15-23 - the HTTP client


def test_15_built_outside_a_loop_and_used_from_two_loops(chaos: Any) -> None:
    client = HTTPClient(timeout=5, max_retries=0, cache_config=CacheConfig(enabled=False))
    for attr in ("timeout", "max_retries", "cache", "interceptor", "metrics", "logger", "client"):
        assert hasattr(client, attr), attr
    assert (client.timeout, client.max_retries) == (5, 0)
    first = asyncio.run(client.request("GET", chaos.url("/get")))
    second = asyncio.run(client.request("GET", chaos.url("/get")))
    assert first.status_code == second.status_code == 200
    assert client.get_metrics()["total_requests"] == 2
    asyncio.run(client.close())


@pytest.mark.asyncio
async def test_16_httpx_keyword_arguments(chaos: Any, client: HTTPClient) -> None:
    r = await client.request(
        method="POST",
        url=chaos.url("/post"),
        params={"p": "1", "flag": True},
        headers={"X-Trace": "t"},
        json={"a": [1, 2]},
        cookies={"session": "c1"},
        auth=("user", "pw"),
        timeout=5.0,
        follow_redirects=False,
        extensions={},
    )
    body = r.json()
    assert body["json"] == {"a": [1, 2]} and body["args"] == {"p": "1", "flag": "true"}
    assert body["headers"]["X-Trace"] == "t"
    assert body["headers"]["Cookie"] == "session=c1"
    assert body["headers"]["Authorization"] == "Basic dXNlcjpwdw=="
    form = (await client.request("POST", chaos.url("/post"), data={"f": "v"})).json()
    assert form["form"] == {"f": "v"}
    files = await client.request("POST", chaos.url("/echo"), files={"up": ("a.txt", b"hi")})
    echoed = files.json()
    assert echoed["headers"]["content-type"].startswith("multipart/form-data; boundary=")
    assert 'name="up"; filename="a.txt"' in echoed["body"] and "\r\nhi\r\n" in echoed["body"]
    raw = (await client.request("PUT", chaos.url("/put"), content=b"raw")).json()
    assert raw["data"] == "raw"
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        await client.request("GET", chaos.url("/get"), bogus=1)


@pytest.mark.asyncio
async def test_17_responses_are_httpx_responses_also_from_the_cache(
    chaos: Any, client: HTTPClient
) -> None:
    url = chaos.url(f"/json/small?key={unique('resp')}")
    for expected_cache in (False, True):
        r = await client.request("GET", url)
        assert isinstance(r, httpx.Response)
        assert r.from_cache is expected_cache  # type: ignore[attr-defined]
        assert r.status_code == 200 and r.json() and r.text and r.content
        assert r.headers["content-type"].startswith("application/json")
        assert r.url == httpx.URL(url) and r.request.url == httpx.URL(url)
        assert r.raise_for_status() is r
    missing = await client.request("GET", chaos.url("/status/404"))
    with pytest.raises(httpx.HTTPStatusError):
        missing.raise_for_status()


@pytest.mark.asyncio
async def test_18_only_get_200_is_cached_and_a_hit_sends_nothing(chaos: Any) -> None:
    client = HTTPClient(timeout=5, max_retries=0)
    key = unique("cache")
    url = chaos.url(f"/get?key={key}")
    await client.request("GET", url)
    await client.request("GET", url)
    assert hits(chaos, key) == 1
    post_key = unique("post")
    for _ in range(2):
        await client.request("POST", chaos.url(f"/post?key={post_key}"))
    assert hits(chaos, post_key) == 2
    status_key = unique("201")
    for _ in range(2):
        await client.request("GET", chaos.url(f"/status/201?key={status_key}"))
    assert hits(chaos, status_key) == 2
    assert client.get_metrics()["cache_stats"]["size"] == 1
    await client.close()


@pytest.mark.asyncio
async def test_19_retries_5xx_and_429_and_returns_the_last(chaos: Any) -> None:
    client = HTTPClient(timeout=5, max_retries=1)
    key = unique("always")
    r = await client.request("GET", chaos.url(f"/status/503?key={key}"))
    assert r.status_code == 503, "the last 5xx is returned, not raised"
    assert hits(chaos, key) == 2, "max_retries + 1 attempts"
    key = unique("404")
    assert (await client.request("GET", chaos.url(f"/status/404?key={key}"))).status_code == 404
    assert hits(chaos, key) == 1, "4xx is not retried"
    key = unique("429")
    started = time.monotonic()
    r = await client.request("GET", chaos.url(f"/retry-after/1?status=429&key={key}&fail=1"))
    assert r.status_code == 200 and time.monotonic() - started >= 1.0
    key = unique("post")
    r = await client.request("POST", chaos.url(f"/flaky/{key}?fail=1"))
    assert r.status_code == 503 and hits(chaos, key) == 1, "POST is not retried by default"
    await client.close()
    legacy = HTTPClient(timeout=5, max_retries=1, retry_non_idempotent=True)
    key = unique("post-legacy")
    assert (await legacy.request("POST", chaos.url(f"/flaky/{key}?fail=1"))).status_code == 200
    await legacy.close()


@pytest.mark.asyncio
async def test_20_transport_failures_raise_httpx_classes(chaos: Any) -> None:
    client = HTTPClient(timeout=0.3, max_retries=0)
    with pytest.raises(httpx.ConnectError) as e:
        await client.request("GET", "http://127.0.0.1:9/x")
    assert isinstance(e.value, httpx.RequestError) and e.value.request.url.port == 9
    with pytest.raises(httpx.ReadTimeout):
        await client.request("GET", chaos.url("/delay/2000"))
    with pytest.raises(httpx.TransportError):
        await client.request("GET", chaos.url("/reset?at=headers"))
    with pytest.raises(httpx.UnsupportedProtocol):
        await client.request("GET", "ftp://example.com/")
    errors = client.get_metrics()["error_counts"]
    # Counted under the httpx class names, as the original's error hook did.
    assert errors["ConnectError"] == 1 and errors["ReadTimeout"] == 1, errors
    assert "connect" not in errors and "timeout" not in errors, errors
    assert errors.get("ReadError", 0) + errors.get("RemoteProtocolError", 0) == 1, errors
    await client.close()


@pytest.mark.asyncio
async def test_21_transport_defaults(chaos: Any, client: HTTPClient) -> None:
    headers = (await client.request("GET", chaos.url("/echo"))).json()["headers"]
    assert headers["user-agent"] == "FinancialAnalytics-HTTPClient/1.0"
    assert headers["accept"] == "application/json"
    assert headers["accept-encoding"] == "gzip, deflate"
    target = chaos.url("/get")
    r = await client.request("GET", chaos.url(f"/status/302?location={target}"))
    assert r.status_code == 302, "redirects are not followed"
    followed = await client.request(
        "GET", chaos.url(f"/status/302?location={target}"), follow_redirects=True
    )
    assert followed.status_code == 200 and [h.status_code for h in followed.history] == [302]
    # The timeout bounds each read, not the whole response: 6 chunks 0.2 s apart take 1 s
    # with a 0.5 s timeout.
    slow = HTTPClient(timeout=0.5, max_retries=0)
    r = await slow.request("GET", chaos.url("/slow-body?chunks=6&interval_ms=200"))
    assert r.status_code == 200 and len(r.content) == 6 * 16
    await slow.close()


@pytest.mark.asyncio
async def test_redirects_keep_credentials_on_their_origin(chaos: Any, client: HTTPClient) -> None:
    headers = {"Authorization": "Bearer s3cret", "X-API-Key": "k3y", "X-Trace": "t-1"}
    here = chaos.url("/echo")
    elsewhere = here.replace("127.0.0.1", "localhost")  # the same server, another origin
    seen = []
    for target in (here, elsewhere):
        location = urllib.parse.quote(target, safe="")
        r = await client.request(
            "GET",
            chaos.url(f"/status/302?location={location}"),
            headers=headers,
            follow_redirects=True,
        )
        assert r.status_code == 200 and [h.status_code for h in r.history] == [302]
        seen.append(r.json()["headers"])
    same, cross = seen
    assert same["authorization"] == "Bearer s3cret" and same["x-api-key"] == "k3y"
    assert "authorization" not in cross and "x-api-key" not in cross, cross
    assert cross["x-trace"] == "t-1", "headers that are not credentials go along"


@pytest.mark.asyncio
async def test_22_get_metrics_keys_order_and_types(chaos: Any) -> None:
    client = HTTPClient()
    empty = client.get_metrics()
    assert list(empty) == [
        "total_requests",
        "successful_requests",
        "failed_requests",
        "success_rate",
        "average_response_time",
        "min_response_time",
        "max_response_time",
        "error_counts",
        "cache_stats",
        "last_request_time",
    ]
    assert empty["min_response_time"] == 0 and type(empty["min_response_time"]) is int
    assert (empty["success_rate"], empty["max_response_time"], empty["last_request_time"]) == (
        0.0,
        0.0,
        None,
    )
    assert list(empty["cache_stats"])[:4] == ["enabled", "size", "max_size", "ttl_seconds"]
    await client.request("GET", chaos.url("/status/404"))
    await client.request("GET", chaos.url("/get"))
    m = client.get_metrics()
    assert (m["total_requests"], m["successful_requests"], m["failed_requests"]) == (2, 1, 1)
    assert m["error_counts"] == {"http_404": 1} and m["success_rate"] == 0.5
    assert isinstance(m["min_response_time"], float) and m["last_request_time"].endswith("Z")
    json.dumps(m)
    snapshot = client.metrics
    assert isinstance(snapshot, RequestMetrics) and snapshot.total_requests == 2
    await client.close()


@pytest.mark.asyncio
async def test_23_close(chaos: Any) -> None:
    client = HTTPClient()
    url = chaos.url(f"/get?key={unique('close')}")
    await client.request("GET", url)
    await client.close()
    with pytest.raises(RuntimeError):
        await client.request("GET", chaos.url("/get"))


# 24-31 - the service client


@pytest.mark.asyncio
async def test_24_25_service_client_attributes_and_results(chaos: Any) -> None:
    service = ServiceClient(chaos.base + "/", "svc-a", timeout=5)
    assert service.base_url == chaos.base and service.service_name == "svc-a"
    assert isinstance(service.http_client, HTTPClient)
    assert isinstance(service.circuit_breaker, CircuitBreaker)
    assert (
        service.circuit_breaker.failure_threshold,
        service.circuit_breaker.recovery_timeout,
    ) == (5, 60)
    assert isinstance(service.service_metrics, RequestMetrics)
    body = await service.call_service(method="POST", endpoint="/post", json=[1, 2, 3])
    assert body["json"] == [1, 2, 3]
    text = await service.call_service("GET", "/status/200?body=plain")
    assert text == {"data": "plain", "status_code": 200}
    redirect = await service.call_service("GET", "/status/302?body=")
    assert redirect == {"data": "", "status_code": 302}
    await service.close()


@pytest.mark.asyncio
async def test_26_status_errors(chaos: Any) -> None:
    service = ServiceClient(chaos.base, "svc-b", timeout=5, max_retries=0)
    with pytest.raises(httpx.HTTPStatusError) as e:
        await service.call_service("GET", "/status/404?body=no%20such%20thing")
    assert str(e.value) == "Service svc-b returned 404: no such thing"
    assert e.value.response.status_code == 404 and e.value.request.method == "GET"
    with pytest.raises(httpx.HTTPStatusError) as e:
        await service.call_service("GET", "/status/418")
    assert str(e.value) == "Service svc-b returned 418"
    await service.close()


async def _append_later(into: list[str], value: str) -> None:
    into.append(value)


@pytest.mark.asyncio
async def test_27_transport_errors_are_service_errors_and_httpx_errors(chaos: Any) -> None:
    dead = ServiceClient("http://127.0.0.1:9", "dead-svc", timeout=1, max_retries=0)
    for _ in range(5):
        with pytest.raises(tether.errors.BadGatewayError) as e:
            await dead.call_service("GET", "/x", headers={"X-Request-ID": "req-7"})
        assert isinstance(e.value, httpx.ConnectError) and e.value.http_status == 502
        assert e.value.request_id == "req-7" and e.value.service_name == "dead-svc"
        assert str(e.value).startswith("Cannot connect to service dead-svc: ")
        assert e.value.context == {"service": "dead-svc", "endpoint": "/x"}
    with pytest.raises(tether.errors.ServiceUnavailableError) as unavailable:
        await dead.call_service("GET", "/x")
    assert isinstance(unavailable.value, CircuitBreakerError)
    assert unavailable.value.http_status == 503
    assert str(unavailable.value).startswith(
        "Service dead-svc is currently unavailable: Circuit breaker is OPEN"
    )
    assert dead.get_circuit_breaker_state()["state"] == "OPEN"
    # The breaker object refuses as the service's requests are refused, and runs nothing.
    ran: list[str] = []
    with pytest.raises(CircuitBreakerError, match=r"Circuit breaker is OPEN\. Last failure: "):
        dead.circuit_breaker.call(lambda: ran.append("sync"))
    with pytest.raises(CircuitBreakerError):
        await dead.circuit_breaker.call_async(_append_later, ran, "async")
    assert ran == [] and dead.circuit_breaker.state == "OPEN"
    await dead.close()
    slow = ServiceClient(chaos.base, "slow-svc", timeout=0.2, max_retries=0)
    with pytest.raises(tether.errors.GatewayTimeoutError) as timeout:
        await slow.call_service("GET", "/delay/1000")
    assert isinstance(timeout.value, httpx.TimeoutException)
    assert timeout.value.http_status == 504 and "response_time" in timeout.value.context
    await slow.close()


@pytest.mark.asyncio
async def test_27_endpoints_cannot_leave_the_base_url(chaos: Any) -> None:
    service = ServiceClient(chaos.base, "confined")
    for endpoint in ("@evil.example/x", "//evil.example/x", "/../admin", "http://evil.example/"):
        with pytest.raises(tether.errors.InvalidInputError) as e:
            await service.call_service("GET", endpoint)
        assert isinstance(e.value, ValueError)
    assert service.get_service_metrics()["total_requests"] == 0, "nothing was sent"
    await service.close()


@pytest.mark.asyncio
async def test_28_to_30_request_id_metrics_and_breaker_state(chaos: Any) -> None:
    service = ServiceClient(chaos.base, "svc-c")
    await service.call_service("GET", "/get", headers={"X-Request-ID": "abc"})
    state = service.get_circuit_breaker_state()
    assert list(state) == [
        "service",
        "state",
        "failure_count",
        "last_failure_time",
        "failure_threshold",
    ]
    assert state == {
        "service": "svc-c",
        "state": "CLOSED",
        "failure_count": 0,
        "last_failure_time": None,
        "failure_threshold": 5,
    }
    metrics = service.get_service_metrics()
    assert list(metrics) == [
        "service",
        "total_requests",
        "successful_requests",
        "failed_requests",
        "success_rate",
        "average_response_time",
        "min_response_time",
        "max_response_time",
        "error_counts",
        "last_request_time",
        "http_client_metrics",
    ]
    assert metrics["service"] == "svc-c" and metrics["total_requests"] == 1
    assert metrics["http_client_metrics"]["total_requests"] == 1
    json.dumps(metrics)
    await service.close()
    with pytest.raises(RuntimeError):
        await service.call_service("GET", "/get")


@pytest.mark.asyncio
async def test_11_d11_breaker_counts_5xx_by_default_and_not_when_switched_off(chaos: Any) -> None:
    counting = ServiceClient(chaos.base, "svc-5xx", max_retries=0)
    legacy = ServiceClient(
        chaos.base, "svc-5xx-legacy", breaker_counts_http_errors=False, max_retries=0
    )
    for service in (counting, legacy):
        for _ in range(5):
            with pytest.raises(httpx.HTTPStatusError):
                await service.call_service("GET", "/status/500")
    assert counting.get_circuit_breaker_state()["state"] == "OPEN"
    assert legacy.get_circuit_breaker_state()["state"] == "CLOSED"
    await counting.close()
    await legacy.close()


# 32-38 - batching, factories, helpers


@pytest.mark.asyncio
async def test_32_batcher_bounds_concurrency_and_keeps_order() -> None:
    batcher = RequestBatcher(max_batch_size=2, max_wait_time=0.01)
    running = 0
    peak = 0

    async def job(i: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1
        if i == 3:
            raise ValueError("three")
        return i * 10

    futures = [await batcher.add_request(job, i) for i in range(6)]
    assert all(isinstance(f, asyncio.Future) for f in futures)
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert results[:3] == [0, 10, 20] and isinstance(results[3], ValueError)
    assert results[4:] == [40, 50]
    assert peak == 2, "max_batch_size bounds how many run at once"
    assert batcher._batch_task is not None
    await batcher._batch_task
    assert batcher.processing is False and not batcher.pending_requests


@pytest.mark.asyncio
async def test_33_to_35_factories_and_registry(chaos: Any) -> None:
    made = hc.create_service_client("not-registered", chaos.base, timeout=5)
    assert "not-registered" not in hc._service_clients
    first = hc.get_service_client("reg-svc", chaos.base)
    again = hc.get_service_client("reg-svc", "http://127.0.0.1:1")
    assert first is again and first.base_url == chaos.base, "the first base URL wins"
    assert "reg-svc" in _tether.monitor_services()
    assert "reg-svc" in hc.get_all_metrics()["service_clients"]
    await hc.close_all_service_clients()
    assert hc._service_clients == {} and "reg-svc" not in _tether.monitor_services()
    await made.close()


@pytest.mark.asyncio
async def test_36_to_38_helpers(chaos: Any) -> None:
    headers = {"A": "1"}
    assert await hc.propagate_request_id(headers, "rid") is headers
    assert headers == {"A": "1", "X-Request-ID": "rid"}
    assert await hc.propagate_request_id(None) == {}
    results = await hc.parallel_requests(
        [
            {"method": "POST", "url": chaos.url("/post"), "json": [1, 2, 3]},
            {"method": "GET", "url": "http://127.0.0.1:9/"},
        ]
    )
    assert results[0]["json"] == [1, 2, 3] and isinstance(results[1], httpx.ConnectError)
    attempts: list[float] = []

    @hc.with_retry(max_retries=2, delay=0.05)
    async def flaky() -> str:
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise RuntimeError("not yet")
        return "done"

    assert await flaky() == "done"
    gaps = [b - a for a, b in zip(attempts, attempts[1:])]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1

    @hc.with_retry(max_retries=1, delay=0.01)
    async def never() -> None:
        raise KeyError("always")

    with pytest.raises(KeyError):
        await never()


# 39, 40 - health


@pytest.mark.asyncio
async def test_39_health_monitor_results() -> None:
    monitor = HealthMonitor()
    assert monitor.get_health_status() == {} and monitor.monitors == {}

    async def ok() -> bool:
        return True

    async def broken() -> bool:
        raise RuntimeError("db down")

    monitor.add_monitor("ok", ok)
    monitor.add_monitor("broken", broken)
    results = await monitor.check_health()
    assert list(results) == ["ok", "broken"]
    assert list(results["ok"]) == ["healthy", "check_time", "last_check"]
    assert results["ok"]["healthy"] is True
    assert results["broken"]["healthy"] is False and results["broken"]["error"] == "db down"
    assert monitor.get_health_status() is monitor.health_status


@pytest.mark.asyncio
async def test_40_global_health_and_aggregation() -> None:
    calls: list[int] = []

    async def ping() -> bool:
        calls.append(1)
        return True

    hc.health_monitor.add_monitor("python-check", ping)
    try:
        results = await hc.health_check_all_services()
        assert results["python-check"]["healthy"] is True and calls
        assert hc.health_monitor.get_health_status()["python-check"]["healthy"] is True
        everything = hc.get_all_metrics()
        assert list(everything) == ["service_clients", "global_health"]
        assert "python-check" in everything["global_health"]
    finally:
        _tether.monitor_remove_check("python-check")
        hc.health_monitor.monitors.pop("python-check", None)


# 48 - the escape hatch


@pytest.mark.asyncio
async def test_48_client_is_a_real_httpx_async_client_for_streaming(chaos: Any) -> None:
    client = HTTPClient(timeout=5)
    assert isinstance(client.client, httpx.AsyncClient)
    async with client.client.stream("GET", chaos.url("/slow-body?chunks=3&interval_ms=10")) as r:
        chunks = [c async for c in r.aiter_bytes()]
    assert b"".join(chunks) and r.status_code == 200
    await client.close()
    assert client._httpx_client is None


@pytest.mark.asyncio
async def test_cache_hits_yield_to_the_loop_and_cancel_cleanly(chaos: Any) -> None:
    client = HTTPClient()
    url = chaos.url("/json/small?k=yield")
    await client.request("GET", url)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    running = asyncio.ensure_future(ticker())
    for _ in range(50):
        assert (await client.request("GET", url)).from_cache  # type: ignore[attr-defined]
    running.cancel()
    assert ticks >= 25, "a hit's await lets other tasks run"
    problems: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: problems.append(context))
    task = asyncio.ensure_future(client.request("GET", url))
    await asyncio.sleep(0)  # the request has started; its result is on its way
    task.cancel()
    await asyncio.sleep(0.01)
    assert task.cancelled() and problems == []
    assert client.get_metrics()["cache_stats"]["hits"] >= 50
    await client.close()
