"""A typed use of the drop-in modules, checked with ``mypy --strict`` (``make lint-python``) and
run by the test suite: hooks, a service client, its errors, health and monitoring."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import httpx

from tether.http_client import (
    BadGatewayError,
    CacheConfig,
    HTTPClient,
    ServiceClient,
    ServiceError,
    health_check_all_services,
)
from tether.monitoring import export_metrics, get_monitoring_data


async def log_status(data: dict[str, Any]) -> None:
    print(
        f"{data['method']} {data['url']} -> {data['status_code']} in {data['response_time']:.3f}s"
    )


async def run(base: str) -> int:
    client = HTTPClient(timeout=5, max_retries=1, cache_config=CacheConfig(ttl_seconds=60))
    client.interceptor.add_response_hook(log_status)
    response: httpx.Response = await client.request("GET", f"{base}/get", params={"page": 1})
    document: dict[str, Any] = response.json()
    print(document["args"], client.get_metrics()["total_requests"])
    await client.close()

    service = ServiceClient(base, "typed-example", timeout=5)
    body: Any = await service.call_service("POST", "/post", json={"n": 1})
    print(body["json"])
    try:
        await service.call_service("GET", "/status/404")
    except httpx.HTTPStatusError as e:
        print("status error:", e.response.status_code)
    await service.close()

    unreachable = ServiceClient("http://127.0.0.1:9", "typed-down", max_retries=0)
    try:
        await unreachable.call_service("GET", "/health")
    except BadGatewayError as e:
        assert isinstance(e, ServiceError) and isinstance(e, httpx.ConnectError)
        print("bad gateway:", e.http_status, e.to_dict()["error"])
    await unreachable.close()

    health = await health_check_all_services()
    data = await get_monitoring_data()
    prometheus: str = export_metrics(data, "prometheus")
    print(len(health), "checks;", len(prometheus.split("\n")), "Prometheus lines")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(run(os.environ.get("UPSTREAM", "https://httpbin.org"))))
