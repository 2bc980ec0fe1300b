"""The ``/monitoring`` routes as a FastAPI ``APIRouter`` (install ``tether[fastapi]``).

::

    from fastapi import FastAPI
    from tether.fastapi import create_router

    app = FastAPI()
    app.include_router(create_router(token="s3cret"))

Every route answers through Tether's route table, the same function the native monitoring
server calls, so both answer the same bytes for the same state: the 15 routes of the
original, with the original methods, paths, query parameters and JSON keys. ``POST`` routes
(``/refresh``, ``/cache/clear``) need ``Authorization: Bearer <token>``; read routes are open
unless ``protect_reads=True``. Without a token argument, ``TETHER_MONITORING_TOKEN`` is used,
and without that a random one is generated (read it from ``router.monitoring_token``).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from typing import Any

from fastapi import APIRouter, Request, Response

from . import _tether
from . import monitoring as _monitoring  # noqa: F401  (registers the default checks)

__all__ = ["ROUTES", "create_router"]

logger = logging.getLogger("monitoring_routes")

# The original's 15 routes: (method, path under the prefix).
ROUTES: tuple[tuple[str, str], ...] = (
    ("GET", "/health"),
    ("GET", "/metrics"),
    ("GET", "/metrics/summary"),
    ("GET", "/alerts"),
    ("GET", "/services"),
    ("GET", "/services/{service_name}"),
    ("GET", "/system"),
    ("GET", "/history"),
    ("POST", "/refresh"),
    ("GET", "/dashboard"),
    ("GET", "/cache/stats"),
    ("POST", "/cache/clear"),
    ("GET", "/circuit-breakers"),
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
)

_OTHER_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class _MonitoringRouter(APIRouter):
    monitoring_token: str


def create_router(
    *,
    token: str | None = None,
    protect_reads: bool = False,
    prefix: str = "/monitoring",
    tags: list[str] | None = None,
) -> _MonitoringRouter:
    """An ``APIRouter`` with the monitoring routes under ``prefix``."""
    if token is None:
        token = os.environ.get("TETHER_MONITORING_TOKEN") or secrets.token_hex(32)
    if not isinstance(token, str) or not token or any(c.isspace() for c in token):
        raise ValueError("token must be a non-empty string without spaces")
    if not isinstance(prefix, str) or not prefix.startswith("/") or prefix.endswith("/"):
        raise ValueError("prefix must start with '/' and not end with it")
    router = _MonitoringRouter(prefix=prefix, tags=list(tags or ["monitoring"]))
    router.monitoring_token = token

    async def answer(request: Request) -> Response:
        scope_path: str = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
        # The route table sees the path from the prefix on, however the router is mounted.
        at = scope_path.find(prefix)
        path = scope_path[at:] if at >= 0 else scope_path
        status, content_type, headers, body = _tether.monitor_route(
            request.method,
            path,
            request.url.query,
            request.headers.getlist("authorization"),
            token,
            protect_reads,
            prefix,
        )
        if status >= 500:
            logger.error("Monitoring route %s %s failed: %s", request.method, path, status)
        response = Response(content=body, status_code=status)
        response.headers["content-type"] = content_type
        for name, value in headers:
            response.headers.append(name, value)
        return response

    def route(method: str, path: str) -> None:
        async def endpoint(request: Request) -> Response:
            return await answer(request)

        words = re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_")
        endpoint.__name__ = f"monitoring_{method.lower()}_{words}"
        methods = [method, "HEAD"] if method == "GET" else [method]
        router.add_api_route(path, endpoint, methods=methods, response_class=Response)

    for method, path in ROUTES:
        route(method, path)

    async def other(request: Request, rest: str = "") -> Any:
        return await answer(request)

    # Everything else under the prefix (wrong methods, unknown paths) gets the route
    # table's own 404 and 405 answers, as from the native server.
    router.add_api_route("/{rest:path}", other, methods=_OTHER_METHODS, include_in_schema=False)
    return router
