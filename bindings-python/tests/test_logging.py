"""Logs: the original logger names, levels and messages, and no secret in any log line."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

import tether.http_client as hc
from tether.http_client import HTTPClient, ServiceClient

SECRETS = ["TOPSECRET-BEARER", "TOPSECRET-KEY", "TOPSECRET-COOKIE", "TOPSECRET-QUERY"]


def everything_logged(records: list[logging.LogRecord]) -> str:
    """Every message, argument, exception text and extra field of every record."""
    parts = []
    for r in records:
        parts.append(r.getMessage())
        parts.append(repr(r.__dict__))
        if r.exc_info and r.exc_info[1] is not None:
            parts.append(repr(r.exc_info[1]))
            parts.append(str(r.exc_info[1]))
    return "\n".join(parts)


@pytest.mark.asyncio
async def test_no_secret_reaches_any_log_line(chaos: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    headers = {
        "Authorization": "Bearer TOPSECRET-BEARER",
        "X-API-Key": "TOPSECRET-KEY",
        "Cookie": "session=TOPSECRET-COOKIE",
    }
    client = HTTPClient(timeout=2, max_retries=0)

    async def noisy_hook(d: dict[str, Any]) -> None:
        raise RuntimeError(f"hook saw {d}")

    client.interceptor.add_request_hook(noisy_hook)
    client.interceptor.add_response_hook(noisy_hook)
    client.interceptor.add_error_hook(noisy_hook)
    url = chaos.url("/get?api_key=TOPSECRET-QUERY&x=1")
    await client.request("GET", url, headers=headers)
    await client.request("GET", url, headers=headers)  # a cache hit, logged at DEBUG
    with pytest.raises(httpx.ConnectError):
        await client.request("GET", "http://127.0.0.1:9/?token=TOPSECRET-QUERY", headers=headers)
    await client.close()
    service = ServiceClient(chaos.base, "logged-svc", max_retries=0)
    with pytest.raises(httpx.HTTPStatusError):
        await service.call_service("GET", "/status/403?api_key=TOPSECRET-QUERY", headers=headers)
    await service.call_service("GET", "/get?token=TOPSECRET-QUERY", headers=headers)
    await service.close()
    dead = ServiceClient("http://127.0.0.1:9", "dead-logged", max_retries=0)
    with pytest.raises(hc.BadGatewayError):
        await dead.call_service("GET", "/x?secret=TOPSECRET-QUERY", headers=headers)
    await dead.close()
    text = everything_logged(caplog.records)
    assert caplog.records, "the scenario logs"
    for secret in SECRETS:
        assert secret not in text, secret
    names = {r.name for r in caplog.records}
    assert {
        "common.http_client",
        "service_client.logged-svc",
        "service_client.dead-logged",
    } <= names


@pytest.mark.asyncio
async def test_original_messages_and_levels(chaos: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = HTTPClient(timeout=2, max_retries=0)
    url = chaos.url("/json/small?k=logging-messages")
    await client.request("GET", url)
    await client.request("GET", url)
    hits = [
        r for r in caplog.records if r.name == "common.http_client" and r.levelno == logging.DEBUG
    ]
    assert [r.getMessage() for r in hits] == [f"Cache hit for {url}"]

    def bad(d: dict[str, Any]) -> None:
        raise ValueError("nope")

    client.interceptor.add_response_hook(bad)
    await client.request("GET", chaos.url("/status/201"))
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == ["Response hook failed: nope"]
    await client.close()

    @hc.with_retry(max_retries=1, delay=0.0)
    async def once() -> None:
        raise KeyError("k")

    with pytest.raises(KeyError):
        await once()
    assert "Attempt 1 failed: 'k', retrying..." in [
        r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
    ]
    caplog.clear()
    service = ServiceClient(chaos.base, "msg-svc", max_retries=0)
    await service.call_service("GET", "/get")
    with pytest.raises(httpx.HTTPStatusError):
        await service.call_service("GET", "/status/404")
    records = [r for r in caplog.records if r.name == "service_client.msg-svc"]
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (logging.INFO, "Performance metrics: /get"),
        (logging.INFO, "Performance metrics: /status/404"),
        (logging.ERROR, "Unexpected error calling msg-svc: Service msg-svc returned 404"),
    ]
    performance = records[0].__dict__
    for field in (
        "service_name",
        "endpoint",
        "response_time",
        "status_code",
        "p50_response_time",
        "p95_response_time",
        "request_id",
    ):
        assert field in performance, field
    failure = records[2]
    assert (
        failure.exc_info is not None
        and failure.__dict__["error_category"] == "service_communication_error"
    )
    await service.close()


def test_monitoring_logger_name() -> None:
    import tether.monitoring as mon

    assert mon.logger is logging.getLogger("common.monitoring")
