"""A drop-in replacement for the original ``common.http_client`` module, on Tether's Rust engine.

A service migrates by making its ``common/http_client.py``::

    from tether.http_client import *

Every public name of the original is here with the same signature, sync/async kind, dict
shapes and key order, exception classes and logger names (the module deliberately has no
``__all__``, so a star-import exports all of them, helpers and re-exported modules included).

Requests run through Tether's client layer (the response cache, circuit breakers, retries
with backoff and ``Retry-After``, metrics) and its native hyper transport on a tokio runtime;
the asyncio event loop only builds the request and receives the result. ``request()`` returns
``httpx.Response`` objects (a lazy subclass) and raises the httpx exception classes.

Where Tether deliberately behaves differently from the original (each with the switch that
restores the original where that is safe), ``docs/python-migration.md`` says so.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import logging
import pickle  # noqa: F401  (re-exported, as the original module did)
import random  # noqa: F401
import time
from collections import defaultdict, deque  # noqa: F401
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import Enum
from functools import wraps
from typing import Any, Callable, Dict, List, Optional, TypeVar, Union, cast  # noqa: F401, UP035

import httpx

from . import _tether
from ._response import Response
from .errors import BadGatewayError as BadGatewayError
from .errors import ForbiddenError as ForbiddenError
from .errors import GatewayTimeoutError as GatewayTimeoutError
from .errors import InvalidInputError as InvalidInputError
from .errors import NotFoundError as NotFoundError
from .errors import PerformanceLogger as PerformanceLogger
from .errors import RateLimitError as RateLimitError
from .errors import ServiceError as ServiceError
from .errors import ServiceUnavailableError as ServiceUnavailableError
from .errors import UnauthorizedError as UnauthorizedError
from .errors import ValidationError as ValidationError
from .errors import log_structured_error as log_structured_error

logger = logging.getLogger("common.http_client")

_T = TypeVar("_T")

# The original client's default headers.
DEFAULT_USER_AGENT = "FinancialAnalytics-HTTPClient/1.0"


def _iso_now() -> str:
    """Now as Tether writes timestamps: RFC 3339 UTC with microseconds."""
    return _iso(datetime.now(timezone.utc))


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ---------------------------------------------------------------------------------------------
# Configuration and metric records


class CircuitBreakerState(Enum):
    """The breaker states (the breakers report them as upper-case strings, as before)."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class CircuitBreakerConfig:
    """A breaker's settings."""

    failure_threshold: int = 5
    recovery_timeout: int = 60
    expected_exception: type = Exception


@dataclass
class CacheConfig:
    """Response caching of a client: on by default, GET answered 200 only, entries live
    ``ttl_seconds`` from when they were stored, at most ``max_size`` of them (least recently
    used dropped first). ``include_headers`` adds ``Accept`` and ``Content-Type`` to the key;
    credentials (``Authorization``, cookies, API-key headers) always keep users apart."""

    enabled: bool = True
    ttl_seconds: int = 300
    max_size: int = 1000
    include_headers: bool = False
    include_query_params: bool = True


@dataclass
class RequestMetrics:
    """Request counters and response times (seconds)."""

    total_requests: int = 0
    successful_requests: int = 0
    failed_requests: int = 0
    total_response_time: float = 0.0
    min_response_time: float = float("inf")
    max_response_time: float = 0.0
    last_request_time: Optional[datetime] = None  # noqa: UP045
    error_counts: Dict[str, int] = field(default_factory=dict)  # noqa: UP006

    @property
    def average_response_time(self) -> float:
        """Mean response time, 0.0 without requests."""
        if self.total_requests == 0:
            return 0.0
        return self.total_response_time / self.total_requests

    @property
    def success_rate(self) -> float:
        """Share of successful requests, 0.0 without requests."""
        if self.total_requests == 0:
            return 0.0
        return self.successful_requests / self.total_requests


def _metrics_record(d: Mapping[str, Any]) -> RequestMetrics:
    total = int(d["total_requests"])
    return RequestMetrics(
        total_requests=total,
        successful_requests=int(d["successful_requests"]),
        failed_requests=int(d["failed_requests"]),
        total_response_time=float(d["average_response_time"]) * total,
        min_response_time=float(d["min_response_time"]) if total else float("inf"),
        max_response_time=float(d["max_response_time"]),
        last_request_time=_parse_iso(d["last_request_time"]),
        error_counts=dict(d["error_counts"]),
    )


class CircuitBreakerError(Exception):
    """A circuit breaker refused the call: ``Circuit breaker is OPEN. Last failure: <time>``."""


class GatewayError(Exception):
    """Kept for compatibility (the original never raised it)."""


class _CircuitOpenError(CircuitBreakerError, httpx.TransportError):
    """What a request refused by the engine's breaker raises: a ``CircuitBreakerError`` that is
    also an ``httpx.TransportError`` (nothing was sent)."""


# ---------------------------------------------------------------------------------------------
# Cache


class CacheKey:
    """The original public cache key (an MD5 hex string). Tether's own cache keys are keyed
    hashes that also separate credentials; this one is kept because callers could see it."""

    @staticmethod
    def generate(
        method: str,
        url: str,
        headers: Optional[Dict[str, str]] = None,  # noqa: UP006, UP045
        query_params: Optional[Dict[str, Any]] = None,  # noqa: UP006, UP045
        body: Any = None,
        config: Optional[CacheConfig] = None,  # noqa: UP045
    ) -> str:
        """``md5("|".join([METHOD, url, params?, headers?, body?]))`` as 32 hex digits."""
        if not isinstance(method, str):
            raise TypeError(f"method must be a str, not {type(method).__name__}")
        if not isinstance(url, str):
            raise TypeError(f"url must be a str, not {type(url).__name__}")
        if not config:
            config = CacheConfig()
        parts = [method.upper(), url]
        if config.include_query_params and query_params:
            parts.append(json.dumps(sorted(query_params.items()), sort_keys=True))
        if config.include_headers and headers:
            kept = {
                k: v
                for k, v in headers.items()
                if k.lower() in ("accept", "content-type", "authorization")
            }
            if kept:
                parts.append(json.dumps(kept, sort_keys=True))
        if body:
            if isinstance(body, (dict, list)):
                parts.append(json.dumps(body, sort_keys=True))
            else:
                parts.append(str(body))
        return hashlib.md5("|".join(parts).encode("utf-8")).hexdigest()


def _check_cache_config(config: Any) -> CacheConfig:
    if config is None:
        return CacheConfig()
    if not isinstance(config, CacheConfig):
        raise TypeError(f"cache_config must be a CacheConfig, not {type(config).__name__}")
    for name in ("ttl_seconds", "max_size"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"CacheConfig.{name} must be an int, not {type(value).__name__}")
        if value < 1:
            raise ValueError(f"CacheConfig.{name} must be at least 1, got {value}")
    return config


class RequestCache:
    """A response cache keyed by :class:`CacheKey` strings.

    Unlike the original: nothing starts in the constructor (no event loop is needed), an
    entry lives ``ttl_seconds`` from when it was stored (reads do not extend it), and
    ``max_size`` is enforced on every insert (least recently used first). ``invalidate``
    matches ``pattern`` against the stored keys and, for a client's cache, against the URLs
    of the client's cached responses.
    """

    def __init__(self, config: Optional[CacheConfig] = None) -> None:  # noqa: UP045
        self.config = _check_cache_config(config)
        self._cache: dict[str, dict[str, Any]] = {}
        self._access_times: dict[str, datetime] = {}
        self._stored_at: dict[str, float] = {}
        self._cleanup_task: asyncio.Task[None] | None = None

    def get(self, key: str) -> Optional[Dict[str, Any]]:  # noqa: UP006, UP045
        """The entry stored under ``key`` if it has not expired, else ``None``."""
        if not self.config.enabled:
            return None
        entry = self._cache.get(key)
        if entry is None:
            return None
        if time.monotonic() - self._stored_at[key] > self.config.ttl_seconds:
            self._remove(key)
            return None
        # Most recently used last.
        self._cache[key] = self._cache.pop(key)
        self._access_times[key] = datetime.now()
        return entry

    def set(self, key: str, response_data: Dict[str, Any]) -> None:  # noqa: UP006
        """Stores ``response_data`` under ``key``, dropping the least recently used entries
        beyond ``max_size``."""
        if not self.config.enabled:
            return
        self._cache.pop(key, None)
        self._cache[key] = response_data
        self._access_times[key] = datetime.now()
        self._stored_at[key] = time.monotonic()
        while len(self._cache) > self.config.max_size:
            self._remove(next(iter(self._cache)))

    def _remove(self, key: str) -> None:
        self._cache.pop(key, None)
        self._access_times.pop(key, None)
        self._stored_at.pop(key, None)

    def invalidate(self, pattern: Optional[str] = None) -> None:  # noqa: UP045
        """Removes everything, or the entries whose key contains ``pattern``."""
        if pattern is None:
            self._cache.clear()
            self._access_times.clear()
            self._stored_at.clear()
            return
        for key in [k for k in self._cache if pattern in k]:
            self._remove(key)

    def get_stats(self) -> Dict[str, Any]:  # noqa: UP006
        """``{enabled, size, max_size, ttl_seconds}``."""
        return {
            "enabled": self.config.enabled,
            "size": len(self._cache),
            "max_size": self.config.max_size,
            "ttl_seconds": self.config.ttl_seconds,
        }

    def _cleanup_expired(self) -> None:
        now = time.monotonic()
        for key in [k for k, t in self._stored_at.items() if now - t > self.config.ttl_seconds]:
            self._remove(key)

    async def close(self) -> None:
        """Nothing runs in the background; kept for compatibility."""
        self._cleanup_task = None


class _ClientCache(RequestCache):
    """``HTTPClient.cache``: the engine's response cache, seen through the original API.
    ``get_stats`` reports the engine's entries (plus Tether's hit and miss counters);
    ``invalidate()`` drops everything the client cached, ``invalidate(pattern)`` the cached
    responses whose URL starts with ``pattern`` (and keys containing it stored by hand)."""

    def __init__(self, config: CacheConfig, engine: _tether.Client) -> None:
        super().__init__(config)
        self._engine = engine

    def invalidate(self, pattern: Optional[str] = None) -> None:  # noqa: UP045
        super().invalidate(pattern)
        self._engine.clear_cache(pattern)

    def get_stats(self) -> Dict[str, Any]:  # noqa: UP006
        stats: dict[str, Any] = self._engine.cache_stats()
        if not self.config.enabled:
            stats["size"] = 0
        return stats


# ---------------------------------------------------------------------------------------------
# Interceptors


async def _run_hook(hook: Callable[[dict[str, Any]], Any], data: dict[str, Any]) -> None:
    result = hook(data)
    if inspect.isawaitable(result):
        await result


class RequestInterceptor:
    """Request, response and error hooks, run in registration order; a hook's exception is
    logged (``Request hook failed: <e>`` …) and swallowed. Hooks may be coroutines or plain
    functions."""

    def __init__(self) -> None:
        self.request_hooks: list[Callable[[dict[str, Any]], Any]] = []
        self.response_hooks: list[Callable[[dict[str, Any]], Any]] = []
        self.error_hooks: list[Callable[[dict[str, Any]], Any]] = []

    @staticmethod
    def _check(hook: Any) -> None:
        if not callable(hook):
            raise TypeError(f"a hook must be callable, not {type(hook).__name__}")

    def add_request_hook(self, hook: Callable[[dict[str, Any]], Any]) -> None:
        """Runs before a request is sent (not for cache hits)."""
        self._check(hook)
        self.request_hooks.append(hook)

    def add_response_hook(self, hook: Callable[[dict[str, Any]], Any]) -> None:
        """Runs for every attempt that got a response."""
        self._check(hook)
        self.response_hooks.append(hook)

    def add_error_hook(self, hook: Callable[[dict[str, Any]], Any]) -> None:
        """Runs for every attempt that failed below HTTP."""
        self._check(hook)
        self.error_hooks.append(hook)

    async def execute_request_hooks(self, request_data: Dict[str, Any]) -> None:  # noqa: UP006
        """Awaits every request hook in turn."""
        await _run_hooks(self.request_hooks, request_data, "Request")

    async def execute_response_hooks(self, response_data: Dict[str, Any]) -> None:  # noqa: UP006
        """Awaits every response hook in turn."""
        await _run_hooks(self.response_hooks, response_data, "Response")

    async def execute_error_hooks(self, error_data: Dict[str, Any]) -> None:  # noqa: UP006
        """Awaits every error hook in turn."""
        await _run_hooks(self.error_hooks, error_data, "Error")


async def _run_hooks(
    hooks: list[Callable[[dict[str, Any]], Any]], data: dict[str, Any], stage: str
) -> None:
    """Awaits each hook on ``data`` in turn; a failure is logged (``<Stage> hook failed:
    <e>``) and the next hook runs."""
    for hook in list(hooks):
        try:
            await _run_hook(hook, data)
        except Exception as e:  # noqa: BLE001 (the contract: log or report, never raise)
            logger.error("%s hook failed: %s", stage, e)


# ---------------------------------------------------------------------------------------------
# Circuit breaker (for any callable; requests use the engine's breakers)


class CircuitBreaker:
    """Opens after ``failure_threshold`` consecutive failures (exceptions that are instances
    of ``expected_exception``) and refuses calls with :class:`CircuitBreakerError` for
    ``recovery_timeout`` seconds; then one probe call at a time is let through (half-open):
    success closes it, failure reopens it. ``state`` is ``'CLOSED'``, ``'OPEN'`` or
    ``'HALF_OPEN'``."""

    def __init__(
        self,
        failure_threshold: int = 5,
        recovery_timeout: float = 60,
        expected_exception: type = Exception,
    ) -> None:
        if isinstance(failure_threshold, bool) or not isinstance(failure_threshold, int):
            raise TypeError("failure_threshold must be an int")
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be at least 1, got {failure_threshold}")
        if isinstance(recovery_timeout, bool) or not isinstance(recovery_timeout, (int, float)):
            raise TypeError("recovery_timeout must be a number of seconds")
        if not recovery_timeout >= 0:
            raise ValueError(f"recovery_timeout must be at least 0, got {recovery_timeout}")
        if not (
            isinstance(expected_exception, type) and issubclass(expected_exception, BaseException)
        ):
            raise TypeError("expected_exception must be an exception class")
        self.failure_threshold = failure_threshold
        self.recovery_timeout = recovery_timeout
        self.expected_exception = expected_exception
        self.failure_count = 0
        self.last_failure_time: datetime | None = None
        self.state = "CLOSED"
        self._opened_at = 0.0
        self._probing = False

    def _admit(self) -> bool:
        """Whether a call may run now; True when it is the half-open probe."""
        if self.state == "OPEN":
            if time.monotonic() - self._opened_at >= self.recovery_timeout:
                self.state = "HALF_OPEN"
            else:
                raise CircuitBreakerError(
                    f"Circuit breaker is OPEN. Last failure: {self.last_failure_time}"
                )
        if self.state == "HALF_OPEN":
            if self._probing:
                raise CircuitBreakerError(
                    f"Circuit breaker is HALF_OPEN (probe in flight). "
                    f"Last failure: {self.last_failure_time}"
                )
            self._probing = True
            return True
        return False

    def _on_success(self) -> None:
        self.failure_count = 0
        self.state = "CLOSED"

    def _on_failure(self) -> None:
        self.failure_count += 1
        self.last_failure_time = datetime.now()
        if self.state == "HALF_OPEN" or self.failure_count >= self.failure_threshold:
            self.state = "OPEN"
            self._opened_at = time.monotonic()

    def call(self, func: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """Calls ``func(*args, **kwargs)`` through the breaker."""
        probe = self._admit()
        try:
            result = func(*args, **kwargs)
        except self.expected_exception:
            self._on_failure()
            raise
        finally:
            if probe:
                self._probing = False
        self._on_success()
        return result

    async def call_async(self, func: Callable[..., Awaitable[_T]], *args: Any, **kwargs: Any) -> _T:
        """Awaits ``func(*args, **kwargs)`` through the breaker."""
        probe = self._admit()
        try:
            result = await func(*args, **kwargs)
        except self.expected_exception:
            self._on_failure()
            raise
        finally:
            if probe:
                self._probing = False
        self._on_success()
        return result

    def get_state(self) -> Dict[str, Any]:  # noqa: UP006
        """``{state, failure_count, last_failure_time, failure_threshold}``."""
        return {
            "state": self.state,
            "failure_count": self.failure_count,
            "last_failure_time": self.last_failure_time.isoformat()
            if self.last_failure_time
            else None,
            "failure_threshold": self.failure_threshold,
        }


class _EngineBreaker(CircuitBreaker):
    """``ServiceClient.circuit_breaker``: a view of the engine's breaker for the service,
    which every ``call_service`` goes through (5 consecutive failures, 60 s). ``call`` and
    ``call_async`` refuse with :class:`CircuitBreakerError` while that breaker is open and
    otherwise run the function; their outcomes do not move it (the service's requests do)."""

    def __init__(
        self, engine: _tether.Client, service: str, threshold: int, recovery: float
    ) -> None:
        super().__init__(threshold, recovery)
        self._engine = engine
        self._service = service

    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = self._engine.breaker_state(self._service)
        return state

    @property
    def state(self) -> str:
        return str(self._state()["state"])

    @state.setter
    def state(self, value: str) -> None:
        pass

    @property
    def failure_count(self) -> int:
        return int(self._state()["failure_count"])

    @failure_count.setter
    def failure_count(self, value: int) -> None:
        pass

    @property
    def last_failure_time(self) -> datetime | None:
        return _parse_iso(self._state()["last_failure_time"])

    @last_failure_time.setter
    def last_failure_time(self, value: datetime | None) -> None:
        pass

    def _admit(self) -> bool:
        state = self._state()
        if state["state"] == "OPEN":
            raise CircuitBreakerError(
                f"Circuit breaker is OPEN. Last failure: {_parse_iso(state['last_failure_time'])}"
            )
        return False

    def _on_success(self) -> None:
        pass

    def _on_failure(self) -> None:
        pass

    def get_state(self) -> Dict[str, Any]:  # noqa: UP006
        state = self._state()
        state.pop("service", None)
        return state


# ---------------------------------------------------------------------------------------------
# The HTTP client

_REQUEST_KWARGS = frozenset(
    {
        "params",
        "headers",
        "json",
        "data",
        "content",
        "files",
        "cookies",
        "auth",
        "timeout",
        "follow_redirects",
        "extensions",
    }
)

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 20
_ORIGIN_BOUND = frozenset({"authorization", "cookie", "proxy-authorization"})
_REDACTED: str = _tether.REDACTED


def _text(value: Any) -> str:
    """A query or form value as httpx writes it."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    return str(value)


def _query_pairs(params: Any) -> list[tuple[str, str]] | None:
    if params is None:
        return None
    if isinstance(params, dict):
        pairs: list[tuple[str, str]] = []
        for key, value in params.items():
            if not isinstance(key, str):
                raise TypeError(f"query parameter names must be str, not {type(key).__name__}")
            if isinstance(value, (list, tuple)):
                pairs.extend((key, _text(v)) for v in value)
            else:
                pairs.append((key, _text(value)))
        return pairs
    try:
        return list(httpx.QueryParams(params).multi_items())
    except (TypeError, ValueError, AttributeError) as e:
        raise TypeError(f"params must be a mapping, a list of pairs or a string: {e}") from None


def _header_pairs(headers: Any) -> list[tuple[str, str]]:
    if headers is None:
        return []
    if isinstance(headers, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        return list(headers.items())
    try:
        return list(httpx.Headers(headers).multi_items())
    except (TypeError, ValueError, AttributeError) as e:
        raise TypeError(f"headers must be a mapping or a list of pairs: {e}") from None


def _timeout_seconds(timeout: Any) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool):
        raise TypeError("timeout must be a number of seconds, an httpx.Timeout or None")
    if isinstance(timeout, (int, float)):
        return float(timeout)
    if isinstance(timeout, httpx.Timeout):
        phases = [t for t in (timeout.connect, timeout.read, timeout.write, timeout.pool) if t]
        return max(phases) if phases else None
    raise TypeError("timeout must be a number of seconds, an httpx.Timeout or None")


@dataclass
class _Prepared:
    method: str
    url: str
    query: list[tuple[str, str]] | None
    headers: list[tuple[str, str]]
    body: bytes | None
    timeout: float | None
    follow_redirects: bool


def _encode_body(
    method: str, url: str, kwargs: dict[str, Any]
) -> tuple[bytes | None, list[tuple[str, str]]]:
    """The request body and the headers it needs (``Content-Type``), encoded as httpx does."""
    content = kwargs.get("content")
    data = kwargs.get("data")
    files = kwargs.get("files")
    json_body = kwargs.get("json")
    if content is None and data is None and files is None and json_body is None:
        return None, []
    if content is not None and data is None and files is None and json_body is None:
        if isinstance(content, bytes):
            return content, []
        if isinstance(content, str):
            return content.encode("utf-8"), []
        if isinstance(content, (bytearray, memoryview)):
            return bytes(content), []
        raise TypeError("content must be bytes or str (streaming request bodies are not supported)")
    if json_body is not None and content is None and data is None and files is None:
        encoded = json.dumps(json_body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return encoded.encode("utf-8"), [("Content-Type", "application/json")]
    # Forms, multipart and mixed cases: exactly httpx's encoding.
    built = httpx.Request(
        method, "http://body.invalid/", content=content, data=data, files=files, json=json_body
    )
    body = built.read()
    extra = [(k, v) for k, v in built.headers.multi_items() if k.lower() == "content-type"]
    return body, extra


def _auth_headers(method: str, url: str, auth: Any) -> list[tuple[str, str]]:
    if auth is None:
        return []
    if isinstance(auth, tuple) and len(auth) == 2:
        auth = httpx.BasicAuth(*auth)
    probe = httpx.Request(method, url)
    before = dict(probe.headers)
    if isinstance(auth, httpx.Auth):
        flow = auth.sync_auth_flow(probe)
        sent = next(flow)
    elif callable(auth):
        sent = auth(probe)
    else:
        raise TypeError("auth must be a (user, password) tuple, an httpx.Auth or a callable")
    return [(k, v) for k, v in sent.headers.multi_items() if before.get(k) != v]


def _cookie_header(cookies: Any, url: str) -> list[tuple[str, str]]:
    if not cookies:
        return []
    probe = httpx.Request("GET", url)
    httpx.Cookies(cookies).set_cookie_header(probe)
    value = probe.headers.get("cookie")
    return [("Cookie", value)] if value else []


def _prepare(method: Any, url: Any, kwargs: dict[str, Any]) -> _Prepared:
    unknown = kwargs.keys() - _REQUEST_KWARGS
    if unknown:
        raise TypeError(f"request() got an unexpected keyword argument {sorted(unknown)[0]!r}")
    if not isinstance(method, str):
        raise TypeError(f"method must be a str, not {type(method).__name__}")
    if isinstance(url, httpx.URL):
        url = str(url)
    if not isinstance(url, str):
        raise TypeError(f"url must be a str or httpx.URL, not {type(url).__name__}")
    headers = _header_pairs(kwargs.get("headers"))
    body, body_headers = _encode_body(method, url, kwargs)
    if body_headers and not any(k.lower() == "content-type" for k, _ in headers):
        headers.extend(body_headers)
    headers.extend(_auth_headers(method, url, kwargs.get("auth")))
    headers.extend(_cookie_header(kwargs.get("cookies"), url))
    follow = kwargs.get("follow_redirects", False)
    if not isinstance(follow, bool):
        raise TypeError("follow_redirects must be a bool")
    extensions = kwargs.get("extensions")
    if extensions is not None and not isinstance(extensions, Mapping):
        raise TypeError("extensions must be a mapping")
    return _Prepared(
        method=method,
        url=url,
        query=_query_pairs(kwargs.get("params")),
        headers=headers,
        body=body,
        timeout=_timeout_seconds(kwargs.get("timeout")),
        follow_redirects=follow,
    )


def _redacted_mapping(values: Any, secret: Callable[[str], bool]) -> dict[str, Any]:
    if not values:
        return {}
    try:
        items = values.items() if isinstance(values, Mapping) else list(values)
    except TypeError:
        return {}
    out: dict[str, Any] = {}
    for key, value in items:
        out[key] = _REDACTED if isinstance(key, str) and secret(key) else value
    return out


def _response_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """``dict(response.headers)``: lower-case names, repeats joined with ``", "``, secret
    values (``set-cookie``, …) redacted."""
    out: dict[str, str] = {}
    for name, value in pairs:
        if _tether.is_secret_header(name):
            value = _REDACTED
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


# httpx exception classes for Tether's transport error kinds.
_ERROR_CLASSES: dict[str, type[httpx.RequestError]] = {
    "connect": httpx.ConnectError,
    "reset": httpx.ReadError,
    "protocol": httpx.RemoteProtocolError,
    "body_too_large": httpx.ReadError,
    "other": httpx.TransportError,
    "overloaded": httpx.PoolTimeout,
    "only_if_cached": httpx.TransportError,
    "cancelled": httpx.TransportError,
}


def _error_class(kind: str, message: str) -> type[Exception]:
    """The httpx class the original would have raised for a failure of this kind."""
    if kind == "timeout":
        if "connect" in message:
            return httpx.ConnectTimeout
        if "slot" in message:
            return httpx.PoolTimeout
        if "write" in message:
            return httpx.WriteTimeout
        return httpx.ReadTimeout
    if kind == "invalid_url":
        if "scheme" in message:
            return httpx.UnsupportedProtocol
        return httpx.InvalidURL
    return _ERROR_CLASSES.get(kind, httpx.TransportError)


def _raise_failure(failure: _tether.RequestFailed, method: str, url: str) -> None:
    kind = failure.kind
    message = failure.message
    if kind == "closed":
        raise RuntimeError("Cannot send a request, as the client has been closed.") from None
    if kind in ("invalid_request",):
        raise ValueError(message) from None
    if kind in ("config", "runtime_unavailable", "no_executor", "internal", "registry_full"):
        raise RuntimeError(message) from None
    request = httpx.Request(method, url) if kind != "invalid_url" else None
    if kind == "circuit_open":
        raise _CircuitOpenError(
            f"Circuit breaker is OPEN. Last failure: {getattr(failure, 'last_failure', None)}",
            request=request,
        ) from None
    cls = _error_class(kind, message)
    if cls is httpx.InvalidURL:
        raise httpx.InvalidURL(message) from None
    raise cast(Any, cls)(message, request=request) from None


class HTTPClient:
    """An asynchronous HTTP client with caching, retries, circuit breaking and metrics.

    ``timeout`` (seconds) bounds each phase of an attempt — connecting, each read, each write
    — as before; ``max_retries`` retries follow an attempt answered 5xx or 429 or failed
    below HTTP (backoff ``min(2**n + U(0,1), 30)`` s, ``Retry-After`` honoured up to 60 s);
    ``connection_pool_size`` idle connections are kept per host (twice as many open at most).

    Keyword-only switches (``docs/python-migration.md``): ``retry_non_idempotent=True``
    retries POST and PATCH too, as the original did; ``circuit_breaker=True`` puts a breaker
    on every host this client calls; ``user_agent`` replaces the default ``User-Agent``.
    """

    def __init__(
        self,
        timeout: float = 30,
        max_retries: int = 3,
        cache_config: Optional[CacheConfig] = None,  # noqa: UP045
        connection_pool_size: int = 100,
        *,
        retry_non_idempotent: bool = False,
        circuit_breaker: bool = False,
        user_agent: str = DEFAULT_USER_AGENT,
        _service_breaker: tuple[str, int, float, bool] | None = None,
    ) -> None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int):
            raise TypeError(f"max_retries must be an int, not {type(max_retries).__name__}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be at least 0, got {max_retries}")
        if isinstance(connection_pool_size, bool) or not isinstance(connection_pool_size, int):
            raise TypeError("connection_pool_size must be an int")
        if connection_pool_size < 1:
            raise ValueError(f"connection_pool_size must be at least 1, got {connection_pool_size}")
        if not isinstance(user_agent, str):
            raise TypeError("user_agent must be a str")
        config = _check_cache_config(cache_config)
        self.timeout = timeout
        self.max_retries = max_retries
        self.connection_pool_size = connection_pool_size
        self._default_headers = [
            ("User-Agent", user_agent),
            ("Accept", "application/json"),
            ("Accept-Encoding", "gzip, deflate"),
        ]
        self._engine = _tether.Client(
            {
                "timeout": float(timeout),
                "max_retries": max_retries,
                "pool_size": connection_pool_size,
                "cache": (
                    bool(config.enabled),
                    config.ttl_seconds,
                    config.max_size,
                    bool(config.include_headers),
                    bool(config.include_query_params),
                ),
                "retry_non_idempotent": bool(retry_non_idempotent),
                "host_breaker": (5, 60.0, True) if circuit_breaker else None,
                "service_breakers": [_service_breaker] if _service_breaker else [],
                "user_agent": user_agent,
                "default_headers": self._default_headers,
            }
        )
        self.cache: RequestCache = _ClientCache(config, self._engine)
        self.interceptor = RequestInterceptor()
        self.logger = logger
        self._httpx_client: httpx.AsyncClient | None = None

    @property
    def metrics(self) -> RequestMetrics:
        """The client's counters now (a snapshot; ``get_metrics()`` has the same numbers)."""
        return _metrics_record(self._engine.metrics())

    @property
    def client(self) -> httpx.AsyncClient:
        """A plain ``httpx.AsyncClient`` with this client's timeout, pool limits and default
        headers, for what Tether does not do itself (streaming). Requests sent through it
        bypass Tether: no cache, retries, breaker or metrics. Closed by :meth:`close`."""
        if self._httpx_client is None:
            self._httpx_client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout),
                limits=httpx.Limits(
                    max_keepalive_connections=self.connection_pool_size,
                    max_connections=self.connection_pool_size * 2,
                    keepalive_expiry=30.0,
                ),
                headers=self._default_headers,
            )
        return self._httpx_client

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Sends a request (httpx keyword arguments: ``params``, ``headers``, ``json``,
        ``data``, ``content``, ``files``, ``cookies``, ``auth``, ``timeout``,
        ``follow_redirects``, ``extensions``) and returns the final response of any status;
        raises the httpx exception classes when no attempt got a response."""
        return await self._send(method, url, None, kwargs)

    async def _send(
        self, method: Any, url: Any, service: str | None, kwargs: dict[str, Any]
    ) -> httpx.Response:
        prepared = _prepare(method, url, kwargs)
        response = await self._send_once(prepared, service, kwargs)
        if not prepared.follow_redirects:
            return response
        return await self._follow(prepared, response, service, kwargs)

    async def _send_once(
        self, prepared: _Prepared, service: str | None, kwargs: dict[str, Any]
    ) -> httpx.Response:
        engine = self._engine
        interceptor = self.interceptor
        if interceptor.request_hooks:
            if prepared.method.upper() == "GET":
                raw = engine.peek(prepared.method, prepared.url, prepared.query, prepared.headers)
                if raw is not None:
                    if logger.isEnabledFor(logging.DEBUG):
                        logger.debug("Cache hit for %s", _tether.redact_url(raw.url))
                    return Response(raw)
            await self._request_hooks(prepared, kwargs)
        record = bool(interceptor.response_hooks or interceptor.error_hooks)
        begun = datetime.now() if record else None
        try:
            response: Response = await engine.send(
                prepared.method,
                prepared.url,
                prepared.query,
                prepared.headers,
                prepared.body,
                prepared.timeout,
                service,
                record,
                Response,
            )
        except _tether.RequestFailed as failure:
            if begun is not None and failure.attempts:
                await self._attempt_hooks(prepared, failure.attempts, begun)
            if failure.kind == "circuit_open":
                failure.last_failure = self._last_failure(failure.service)
            _raise_failure(failure, prepared.method, prepared.url)
            raise  # unreachable: _raise_failure always raises
        if begun is not None:
            attempts = response._raw.attempts()
            if attempts:
                await self._attempt_hooks(prepared, attempts, begun)
        if response._raw.from_cache and logger.isEnabledFor(logging.DEBUG):
            logger.debug("Cache hit for %s", _tether.redact_url(response._raw.url))
        return response

    def _last_failure(self, service: str | None) -> str | None:
        if not service:
            return None
        state = self._engine.breaker_state(service)
        moment = _parse_iso(state["last_failure_time"])
        return str(moment) if moment else None

    async def _request_hooks(self, prepared: _Prepared, kwargs: dict[str, Any]) -> None:
        """Runs the request hooks on a copy of the request (secrets redacted); headers and
        params the hooks add or change are applied to the request."""
        headers = _redacted_mapping(dict(prepared.headers), _tether.is_secret_header)
        params = _redacted_mapping(prepared.query or [], _tether.is_secret_param)
        before_headers = dict(headers)
        before_params = dict(params)
        data: dict[str, Any] = {
            "method": prepared.method,
            "url": _tether.redact_url(prepared.url),
            "headers": headers,
            "params": params,
            "timestamp": datetime.now(),
        }
        await self.interceptor.execute_request_hooks(data)
        if headers != before_headers and isinstance(data.get("headers"), dict):
            prepared.headers = _apply_changes(prepared.headers, before_headers, data["headers"])
        if params != before_params and isinstance(data.get("params"), dict):
            prepared.query = _apply_changes(prepared.query or [], before_params, data["params"])

    async def _attempt_hooks(
        self, prepared: _Prepared, attempts: list[Any], begun: datetime
    ) -> None:
        """The response or error hooks of each attempt, in order; each dict's ``timestamp`` is
        when its attempt ended."""
        url = _tether.redact_url(prepared.url)
        for attempt, started, latency, status, error_kind, error_message, headers in attempts:
            if status is not None:
                await self.interceptor.execute_response_hooks(
                    {
                        "method": prepared.method,
                        "url": url,
                        "status_code": status,
                        "response_time": started + latency,
                        "headers": _response_headers(headers or []),
                        "timestamp": begun + timedelta(seconds=started + latency),
                    }
                )
            else:
                message = error_message or str(error_kind)
                await self.interceptor.execute_error_hooks(
                    {
                        "method": prepared.method,
                        "url": url,
                        "error_type": _error_class(str(error_kind), message).__name__,
                        "error_message": message,
                        "response_time": started + latency,
                        "attempt": attempt,
                        "timestamp": begun + timedelta(seconds=started + latency),
                    }
                )

    async def _follow(
        self,
        prepared: _Prepared,
        response: httpx.Response,
        service: str | None,
        kwargs: dict[str, Any],
    ) -> httpx.Response:
        history: list[httpx.Response] = []
        while response.status_code in _REDIRECTS and "location" in response.headers:
            if len(history) >= _MAX_REDIRECTS:
                raise httpx.TooManyRedirects(
                    "Exceeded maximum allowed redirects.", request=response.request
                )
            history.append(response)
            current = httpx.URL(str(response.url))
            target = current.join(response.headers["location"])
            if self._confine is not None:
                target = httpx.URL(self._confine(str(target)))
            method = prepared.method
            body = prepared.body
            if response.status_code == 303 or (
                response.status_code in (301, 302) and method.upper() == "POST"
            ):
                method, body = "GET", None
            headers = prepared.headers
            if (target.scheme, target.host, target.port) != (
                current.scheme,
                current.host,
                current.port,
            ):
                # Credentials stay with their origin: Authorization, Cookie and every header
                # the redaction rule calls secret (X-API-Key, X-Auth-Token, …).
                headers = [
                    (k, v)
                    for k, v in headers
                    if k.lower() not in _ORIGIN_BOUND and not _tether.is_secret_header(k)
                ]
            if body is None:
                headers = [(k, v) for k, v in headers if k.lower() != "content-type"]
            prepared = _Prepared(
                method=method,
                url=str(target),
                query=None,
                headers=headers,
                body=body,
                timeout=prepared.timeout,
                follow_redirects=True,
            )
            response = await self._send_once(prepared, service, kwargs)
        response.history = history
        return response

    # Confinement of followed redirects (a service client's base URL); None: anywhere.
    _confine: Callable[[str], str] | None = None

    def get_metrics(self) -> Dict[str, Any]:  # noqa: UP006
        """``{total_requests, successful_requests, failed_requests, success_rate,
        average_response_time, min_response_time, max_response_time, error_counts,
        cache_stats, last_request_time}``."""
        metrics: dict[str, Any] = self._engine.metrics()
        metrics["cache_stats"] = self.cache.get_stats()
        return metrics

    async def close(self) -> None:
        """Closes the client: later requests raise ``RuntimeError``."""
        self._engine.close()
        if self._httpx_client is not None:
            await self._httpx_client.aclose()
            self._httpx_client = None
        await self.cache.close()


def _apply_changes(
    pairs: list[tuple[str, str]], before: dict[str, Any], after: dict[str, Any]
) -> list[tuple[str, str]]:
    """``pairs`` with the entries a hook added, changed (to anything but the redaction
    marker) or removed in its copy."""
    changed = {
        k: v
        for k, v in after.items()
        if isinstance(k, str) and v != _REDACTED and (k not in before or before[k] != v)
    }
    removed = {k for k in before if k not in after}
    kept = [(k, v) for k, v in pairs if k not in removed and k not in changed]
    return kept + [(k, str(v)) for k, v in changed.items()]


# ---------------------------------------------------------------------------------------------
# Service client


class _InvalidEndpointError(InvalidInputError, ValueError):
    """An endpoint that would leave the service's base URL; nothing was sent."""


_combined: dict[tuple[type, type], type] = {}


def _service_error_class(
    base: type[ServiceError], httpx_class: type[Exception]
) -> type[ServiceError]:
    """``base`` that is also an instance of ``httpx_class`` (named like ``base``)."""
    key = (base, httpx_class)
    cls = _combined.get(key)
    if cls is None:
        cls = type(base.__name__, (base, httpx_class), {"__module__": base.__module__})
        cls.__qualname__ = f"{base.__qualname__}[{httpx_class.__name__}]"
        _combined[key] = cls
    return cls


def _status_message(service: str, response: httpx.Response) -> str:
    """``Service <name> returned <status>``, then ``: <detail>`` for a JSON object's
    ``detail``, or ``: <first 200 characters>`` of a body that is not JSON or is a JSON
    scalar (a JSON object or array without ``detail`` adds nothing)."""
    message = f"Service {service} returned {response.status_code}"
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        excerpt = response.text[:200]
    else:
        if isinstance(body, dict):
            if "detail" not in body:
                return message
            detail = body["detail"]
            excerpt = (
                detail if isinstance(detail, str) else json.dumps(detail, separators=(",", ":"))
            )
            excerpt = excerpt[:200]
        elif isinstance(body, list):
            return message
        else:
            excerpt = response.text[:200]
    return f"{message}: {excerpt}" if excerpt else message


class ServiceClient:
    """A client for one service: ``call_service(method, endpoint)`` joins the endpoint to
    ``base_url`` (refusing one that would leave it), goes through the service's circuit
    breaker (5 consecutive failures, 60 s) and returns the parsed JSON."""

    def __init__(
        self,
        base_url: str,
        service_name: str,
        timeout: float = 30,
        cache_config: Optional[CacheConfig] = None,  # noqa: UP045
        *,
        max_retries: int = 3,
        breaker_counts_http_errors: bool = True,
        retry_non_idempotent: bool = False,
    ) -> None:
        if not isinstance(base_url, str):
            raise TypeError(f"base_url must be a str, not {type(base_url).__name__}")
        if not isinstance(service_name, str) or not service_name:
            raise TypeError("service_name must be a non-empty str")
        self.base_url = base_url.rstrip("/")
        self.service_name = service_name
        self.http_client = HTTPClient(
            timeout=timeout,
            max_retries=max_retries,
            cache_config=cache_config,
            retry_non_idempotent=retry_non_idempotent,
            _service_breaker=(service_name, 5, 60.0, bool(breaker_counts_http_errors)),
        )
        # Validates the base URL; the service's metrics and breaker live in the engine.
        self._service = self.http_client._engine.service(service_name, base_url)
        self._base = self._service.base_url
        self.http_client._confine = self._confine
        self.circuit_breaker: CircuitBreaker = _EngineBreaker(
            self.http_client._engine, service_name, 5, 60
        )
        self.logger = logging.getLogger(f"service_client.{service_name}")
        self.performance_logger = PerformanceLogger(f"service_client.{service_name}")

    def _confine(self, url: str) -> str:
        if (
            url == self._base
            or url.startswith(self._base + "/")
            or url.startswith(self._base + "?")
        ):
            return url
        shown = _tether.redact_url(url)
        raise httpx.UnsupportedProtocol(
            f"redirect to {shown} leaves the base URL of service {self.service_name}"
        )

    @property
    def service_metrics(self) -> RequestMetrics:
        """The service's counters now (a snapshot)."""
        return _metrics_record(self._service.metrics())

    async def call_service(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        """Calls ``endpoint`` and returns its JSON body, or ``{"data": text, "status_code":
        status}`` when the body is not JSON. A 4xx or 5xx raises ``httpx.HTTPStatusError``;
        an open breaker ``ServiceUnavailableError`` (503), a timeout ``GatewayTimeoutError``
        (504), a connection or other transport failure ``BadGatewayError`` (502) — each also
        an instance of the httpx class the failure had."""
        if not isinstance(endpoint, str):
            raise TypeError(f"endpoint must be a str, not {type(endpoint).__name__}")
        headers = kwargs.get("headers")
        request_id = headers.get("X-Request-ID") if isinstance(headers, Mapping) else None
        # What logs, metrics and errors show of the endpoint: secret query values redacted.
        shown = _tether.redact_url(endpoint)
        context = {"service": self.service_name, "endpoint": shown}
        ids: dict[str, Any] = {"request_id": request_id, "service_name": self.service_name}
        try:
            url = self._service.url(endpoint)
        except ValueError as e:
            raise _InvalidEndpointError(str(e), context=context, **ids) from None
        started = time.monotonic()
        try:
            response = await self.http_client._send(method, url, self.service_name, kwargs)
        except CircuitBreakerError as e:
            self.performance_logger.log_error(
                "circuit_breaker_open",
                str(e),
                self.service_name,
                shown,
                request_id,
                self.service_name,
            )
            raise _service_error_class(ServiceUnavailableError, type(e))(
                f"Service {self.service_name} is currently unavailable: {e}", context=context, **ids
            ) from e
        except httpx.TimeoutException as e:
            elapsed = time.monotonic() - started
            self.performance_logger.log_error(
                "timeout",
                f"Request timeout after {elapsed:.2f}s",
                self.service_name,
                shown,
                request_id,
                self.service_name,
            )
            raise _service_error_class(GatewayTimeoutError, type(e))(
                f"Service {self.service_name} timeout after {elapsed:.2f}s",
                context={**context, "response_time": elapsed},
                **ids,
            ) from e
        except httpx.ConnectError as e:
            self.performance_logger.log_error(
                "connection_error", str(e), self.service_name, shown, request_id, self.service_name
            )
            raise _service_error_class(BadGatewayError, type(e))(
                f"Cannot connect to service {self.service_name}: {e}", context=context, **ids
            ) from e
        except httpx.RequestError as e:
            self.performance_logger.log_error(
                "request_error", str(e), self.service_name, shown, request_id, self.service_name
            )
            raise _service_error_class(BadGatewayError, type(e))(
                f"Request error to service {self.service_name}: {e}", context=context, **ids
            ) from e
        elapsed = time.monotonic() - started
        self.performance_logger.log_performance(
            self.service_name, shown, elapsed, response.status_code, request_id
        )
        if response.status_code >= 400:
            error = httpx.HTTPStatusError(
                _status_message(self.service_name, response),
                request=response.request,
                response=response,
            )
            try:
                raise error
            except httpx.HTTPStatusError as e:
                log_structured_error(
                    self.logger,
                    f"Unexpected error calling {self.service_name}: {e}",
                    error_category="service_communication_error",
                    exc_info=True,
                    request_id=request_id,
                    service_name=self.service_name,
                    endpoint=shown,
                    downstream_service=self.service_name,
                )
                raise
        try:
            return response.json()
        except (ValueError, UnicodeDecodeError):
            return {"data": response.text, "status_code": response.status_code}

    def get_circuit_breaker_state(self) -> Dict[str, Any]:  # noqa: UP006
        """``{service, state, failure_count, last_failure_time, failure_threshold}``."""
        state: dict[str, Any] = self._service.breaker_state()
        return state

    def get_service_metrics(self) -> Dict[str, Any]:  # noqa: UP006
        """The service's counters, then ``http_client_metrics`` (the client's
        ``get_metrics()``)."""
        metrics: dict[str, Any] = self._service.metrics()
        metrics["http_client_metrics"] = self.http_client.get_metrics()
        return metrics

    async def close(self) -> None:
        """Closes the service's client."""
        await self.http_client.close()


# ---------------------------------------------------------------------------------------------
# Batching, factories and helpers


class RequestBatcher:
    """Runs jobs in batches of at most ``max_batch_size`` at once, pausing ``max_wait_time``
    seconds between batches. ``await add_request(f, *args)`` returns a future of the job's
    result (or exception) at once."""

    def __init__(self, max_batch_size: int = 10, max_wait_time: float = 0.1) -> None:
        if isinstance(max_batch_size, bool) or not isinstance(max_batch_size, int):
            raise TypeError("max_batch_size must be an int")
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
        if isinstance(max_wait_time, bool) or not isinstance(max_wait_time, (int, float)):
            raise TypeError("max_wait_time must be a number of seconds")
        if not max_wait_time >= 0:
            raise ValueError(f"max_wait_time must be at least 0, got {max_wait_time}")
        self.max_batch_size = max_batch_size
        self.max_wait_time = max_wait_time
        self.pending_requests: deque[
            tuple[asyncio.Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]
        ] = deque()
        self.processing = False
        self._batch_task: asyncio.Task[None] | None = None

    async def add_request(
        self, request_func: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> asyncio.Future[Any]:
        """Queues ``request_func(*args, **kwargs)``; returns the future of its result."""
        if not callable(request_func):
            raise TypeError("request_func must be callable")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending_requests.append((future, request_func, args, kwargs))
        if not self.processing:
            # Set before the task starts, so jobs added meanwhile join this processor.
            self.processing = True
            self._batch_task = asyncio.ensure_future(self._process_batches())
        return future

    async def _process_batches(self) -> None:
        try:
            while self.pending_requests:
                batch = [
                    self.pending_requests.popleft()
                    for _ in range(min(self.max_batch_size, len(self.pending_requests)))
                ]
                await asyncio.gather(*(self._run(job) for job in batch))
                if self.pending_requests:
                    await asyncio.sleep(self.max_wait_time)
        finally:
            self.processing = False

    @staticmethod
    async def _run(
        job: tuple[asyncio.Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]],
    ) -> None:
        future, func, args, kwargs = job
        try:
            result = func(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
        except Exception as e:  # noqa: BLE001 (the contract: log or report, never raise)
            if not future.done():
                future.set_exception(e)
        else:
            if not future.done():
                future.set_result(result)


def create_service_client(
    service_name: str,
    base_url: str,
    timeout: float = 30,
    cache_config: Optional[CacheConfig] = None,  # noqa: UP045
) -> ServiceClient:
    """A new :class:`ServiceClient` (not registered: see :func:`get_service_client`)."""
    return ServiceClient(
        base_url=base_url, service_name=service_name, timeout=timeout, cache_config=cache_config
    )


# The registry monitoring reads.
_service_clients: Dict[str, ServiceClient] = {}  # noqa: UP006


def get_service_client(service_name: str, base_url: str) -> ServiceClient:
    """The registered client of ``service_name``, created and registered on first use. A
    later call with another ``base_url`` gets the first client (and a warning)."""
    client = _service_clients.get(service_name)
    if client is None:
        client = ServiceClient(base_url=base_url, service_name=service_name)
        _service_clients[service_name] = client
        _tether.monitor_register(client._service)
    elif base_url.rstrip("/") != client.base_url:
        logger.warning(
            "Service %s is registered with another base URL; keeping the first", service_name
        )
    return client


async def close_all_service_clients() -> None:
    """Closes every registered client and empties the registry."""
    clients = list(_service_clients.items())
    _service_clients.clear()
    for name, client in clients:
        _tether.monitor_unregister(name)
        await client.close()


async def propagate_request_id(
    headers: Optional[Dict[str, str]],  # noqa: UP006, UP045
    request_id: Optional[str] = None,  # noqa: UP045
) -> Dict[str, str]:  # noqa: UP006
    """Sets ``X-Request-ID`` in ``headers`` (changed in place and returned; a new dict when
    ``headers`` is empty) unless it is there."""
    if not headers:
        headers = {}
    if request_id and "X-Request-ID" not in headers:
        headers["X-Request-ID"] = request_id
    return headers


async def parallel_requests(requests: List[Dict[str, Any]]) -> List[Any]:  # noqa: UP006
    """Sends every request (keyword arguments of :meth:`HTTPClient.request`, with ``method``
    and ``url``) at once; returns, in order, each response's JSON or the exception it raised.
    They share one client, closed afterwards."""
    if not isinstance(requests, (list, tuple)):
        raise TypeError("requests must be a list of dicts")
    client = HTTPClient()

    async def one(spec: Any) -> Any:
        if not isinstance(spec, Mapping):
            raise TypeError("each request must be a dict of request() arguments")
        response = await client.request(**spec)
        return response.json()

    try:
        return list(await asyncio.gather(*(one(r) for r in requests), return_exceptions=True))
    finally:
        await client.close()


def with_retry(
    max_retries: int = 3, delay: float = 1.0
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Retries the decorated coroutine function (or plain function) on any exception, up to
    ``max_retries`` times, sleeping ``delay * 2**attempt`` seconds between attempts."""
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ValueError("max_retries must be an int of at least 0")
    if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not delay >= 0:
        raise ValueError("delay must be a number of seconds of at least 0")

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            last: Exception | None = None
            for attempt in range(max_retries + 1):
                try:
                    result = func(*args, **kwargs)
                    if inspect.isawaitable(result):
                        result = await result
                    return result
                except Exception as e:  # noqa: BLE001 (the contract: log or report, never raise)
                    last = e
                    if attempt < max_retries:
                        logger.warning("Attempt %d failed: %s, retrying...", attempt + 1, e)
                        await asyncio.sleep(delay * (2**attempt))
            assert last is not None
            raise last

        return wrapper

    return decorator


# ---------------------------------------------------------------------------------------------
# Health


class HealthMonitor:
    """Named health checks (zero-argument coroutine functions); ``check_health()`` runs them
    all at once, each within ``check_timeout`` seconds."""

    def __init__(self, check_timeout: float = 10.0) -> None:
        self.monitors: Dict[str, Callable[[], Awaitable[Any]]] = {}  # noqa: UP006
        self.health_status: Dict[str, Dict[str, Any]] = {}  # noqa: UP006
        self.check_timeout = check_timeout

    def add_monitor(self, name: str, check_func: Callable[[], Awaitable[Any]]) -> None:
        """Adds (or replaces) a check."""
        if not isinstance(name, str):
            raise TypeError("name must be a str")
        if not callable(check_func):
            raise TypeError("check_func must be callable")
        self.monitors[name] = check_func

    async def _check(self, check: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
        started = time.monotonic()
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await asyncio.wait_for(result, self.check_timeout)
        except asyncio.TimeoutError:
            return {
                "healthy": False,
                "check_time": time.monotonic() - started,
                "last_check": _iso_now(),
                "error": f"health check timed out after {self.check_timeout}s",
            }
        except Exception as e:  # noqa: BLE001 (the contract: log or report, never raise)
            return {
                "healthy": False,
                "check_time": time.monotonic() - started,
                "last_check": _iso_now(),
                "error": str(e),
            }
        return {
            "healthy": result,
            "check_time": time.monotonic() - started,
            "last_check": _iso_now(),
        }

    async def check_health(self) -> Dict[str, Dict[str, Any]]:  # noqa: UP006
        """Runs every check concurrently; replaces ``health_status`` with the results."""
        names = list(self.monitors)
        results = await asyncio.gather(*(self._check(self.monitors[n]) for n in names))
        self.health_status = dict(zip(names, results))
        return self.health_status

    def get_health_status(self) -> Dict[str, Dict[str, Any]]:  # noqa: UP006
        """The latest results (``{}`` before the first check)."""
        return self.health_status


_running_checks: set[asyncio.Future[None]] = set()


def _start_check(check: Callable[[], Any], done: Callable[..., None]) -> None:
    """Runs a Python health check for the monitor, on the event loop that called this, and
    reports its result through ``done``."""

    async def run() -> None:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
        except Exception as e:  # noqa: BLE001 (the contract: log or report, never raise)
            done(False, str(e) or type(e).__name__)
        except asyncio.CancelledError:
            done(False, "the check was cancelled")
        else:
            done(bool(result))

    task = asyncio.ensure_future(run())
    _running_checks.add(task)
    task.add_done_callback(_running_checks.discard)


class _MonitoredHealthMonitor(HealthMonitor):
    """The global ``health_monitor``: its checks run in Tether's monitor, concurrently, each
    within the monitor's check time limit (5 s), also on their own every 30 s once the
    monitoring routes are served; the routes and collections read the same results."""

    def add_monitor(self, name: str, check_func: Callable[[], Awaitable[Any]]) -> None:
        super().add_monitor(name, check_func)
        _tether.monitor_add_python_check(name, check_func, _start_check)

    def _add_url_monitor(
        self, name: str, check_func: Callable[[], Awaitable[Any]], url: str, status: int | None
    ) -> None:
        """A check that is ``GET url`` (healthy on ``status``, or any 2xx), run in Rust."""
        HealthMonitor.add_monitor(self, name, check_func)
        _tether.monitor_add_url_check(name, url, status)

    async def check_health(self) -> Dict[str, Dict[str, Any]]:  # noqa: UP006
        results: dict[str, dict[str, Any]] = await _tether.monitor_check_health()
        return results

    def get_health_status(self) -> Dict[str, Dict[str, Any]]:  # noqa: UP006
        status: dict[str, dict[str, Any]] = _tether.monitor_health_status()
        return status

    @property
    def health_status(self) -> Dict[str, Dict[str, Any]]:  # noqa: UP006
        return self.get_health_status()

    @health_status.setter
    def health_status(self, value: Dict[str, Dict[str, Any]]) -> None:  # noqa: UP006
        pass


health_monitor: HealthMonitor = _MonitoredHealthMonitor()


def get_all_metrics() -> Dict[str, Any]:  # noqa: UP006
    """``{service_clients: {name: get_service_metrics()}, global_health: latest health}``."""
    return {
        "service_clients": {
            name: client.get_service_metrics() for name, client in _service_clients.items()
        },
        "global_health": health_monitor.get_health_status(),
    }


async def health_check_all_services() -> Dict[str, Any]:  # noqa: UP006
    """Runs every health check (``health_monitor.check_health()``)."""
    return await health_monitor.check_health()
