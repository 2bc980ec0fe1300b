"""Type stubs of the compiled extension ``tether._tether``."""

import asyncio
from collections.abc import Callable
from typing import Any, Final, TypeVar

_R = TypeVar("_R")

WORKERS_ENV: Final[str]
REDACTED: Final[str]

class TetherError(Exception):
    """Base class of the errors raised by Tether's extension."""

class RuntimeClosed(TetherError):
    """The tokio runtime shut down (or the event loop closed) before the task finished."""

class RustPanic(TetherError):
    """A Rust task panicked; the panic message went to stderr."""

class TransportError(TetherError):
    """An HTTP request failed below HTTP (connect, send, receive)."""

class RequestFailed(TetherError):
    """A request ended without a response."""

    kind: str
    message: str
    service: str | None
    http_status: int
    elapsed: float
    retry_after: float | None
    status: int | None
    body: bytes | None
    attempts: list[Attempt] | None
    is_request: bool
    last_failure: str | None

# One attempt: (attempt, started_s, latency_s, status, error_kind, error_message, headers).
Attempt = tuple[int, float, float, int | None, str | None, str | None, list[tuple[str, str]] | None]

def shutdown() -> None:
    """Stop the tokio runtime; running calls fail with ``RuntimeClosed`` (idempotent)."""

def _shutdown_at_exit() -> None:
    """Tear down every event-loop bridge, then stop the runtime (``atexit``)."""

def _after_fork_in_child() -> None:
    """Forget the parent's runtime and bridges (``os.register_at_fork``)."""

def configure(worker_threads: int | None = None) -> None:
    """Set the runtime's worker thread count; only while no runtime runs."""

def runtime_workers() -> int | None:
    """Worker threads of the running runtime, or ``None``."""

def live_bridges() -> int:
    """Number of event loops that currently have a bridge."""

def configure_future_into_py(worker_threads: int) -> None:
    """Configure pyo3-async-runtimes' runtime (benchmark comparison only)."""

def noop() -> asyncio.Future[None]:
    """Complete with ``None`` once the runtime polls the task."""

def noop_future_into_py() -> asyncio.Future[None]:
    """The same no-op through ``pyo3_async_runtimes::tokio::future_into_py``."""

def sleep(seconds: float) -> asyncio.Future[None]:
    """Complete with ``None`` after ``seconds`` on a tokio timer."""

def echo(value: int, seconds: float) -> asyncio.Future[int]:
    """Complete with ``value`` after ``seconds`` (at once for 0)."""

def live_sleeps() -> int:
    """How many ``sleep`` Rust futures are alive."""

def fail(message: str) -> asyncio.Future[None]:
    """Fail with ``TetherError(message)``."""

def fail_with(exception_class: type[BaseException], message: str) -> asyncio.Future[None]:
    """Fail with ``exception_class(message)``, created when the result is delivered."""

def panic() -> asyncio.Future[None]:
    """Run a Rust future that panics (fails with ``RustPanic``)."""

class RawResponse:
    """A response as the transport produced it."""

    @property
    def status(self) -> int: ...
    @property
    def content(self) -> bytes: ...
    def header_list(self) -> list[tuple[bytes, bytes]]: ...
    @property
    def elapsed(self) -> float: ...
    @property
    def url(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def from_cache(self) -> bool: ...
    def header_strings(self) -> list[tuple[str, str]]: ...
    def attempts(self) -> list[Attempt] | None: ...

class HttpProbe:
    """A pooled HTTP/1 client (``http://`` only) whose GETs are asyncio futures."""

    def __init__(self, pool_size: int = 128) -> None: ...
    def get(self, url: str) -> asyncio.Future[tuple[int, bytes]]: ...
    def get_raw(self, url: str, response_class: Any = None) -> asyncio.Future[Any]: ...
    def get_future_into_py(self, url: str) -> asyncio.Future[tuple[int, bytes]]: ...

class Client:
    """The engine behind one ``tether.http_client.HTTPClient``, from a dict of settings:
    ``timeout``, ``max_retries``, ``pool_size``, ``cache`` (``(enabled, ttl_seconds,
    max_size, include_headers, include_query_params)``), ``retry_non_idempotent``,
    ``host_breaker``, ``service_breakers``, ``user_agent``, ``default_headers``."""

    def __init__(self, settings: dict[str, Any]) -> None: ...
    def send(
        self,
        method: str,
        url: str,
        query: list[tuple[str, str]] | None,
        headers: list[tuple[str, str]] | None,
        body: bytes | None,
        timeout: float | None,
        service: str | None,
        record: bool,
        response_class: Callable[[RawResponse], _R],
    ) -> asyncio.Future[_R]: ...
    def peek(
        self,
        method: str,
        url: str,
        query: list[tuple[str, str]] | None,
        headers: list[tuple[str, str]] | None,
    ) -> RawResponse | None: ...
    def metrics(self) -> dict[str, Any]: ...
    def service(self, name: str, base_url: str) -> Service: ...
    def cache_stats(self) -> dict[str, Any]: ...
    def clear_cache(self, prefix: str | None = None) -> int: ...
    def breaker_state(self, service: str) -> dict[str, Any]: ...
    def export(self, format: str) -> str: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...

class Service:
    """A service of a ``Client``: its metrics and breaker, its endpoints' URLs."""

    def metrics(self) -> dict[str, Any]: ...
    def breaker_state(self) -> dict[str, Any]: ...
    def url(self, endpoint: str) -> str: ...
    @property
    def base_url(self) -> str: ...

def service_url(base_url: str, endpoint: str) -> str:
    """``base_url + endpoint``, confined to the base; ``ValueError`` otherwise."""

def redact_url(url: str) -> str:
    """``url`` with secret query values replaced by ``[REDACTED]``."""

def is_secret_header(name: str) -> bool: ...
def is_secret_param(name: str) -> bool: ...
def run_vector(text: str, driver: str = "async") -> list[str]:
    """Runs one scenario vector; its mismatches (empty when it passes)."""

def monitor_register(service: Service) -> bool: ...
def monitor_unregister(name: str) -> bool: ...
def monitor_services() -> list[str]: ...
def monitor_add_url_check(name: str, url: str, status: int | None = None) -> None: ...
def monitor_add_python_check(
    name: str, check: Callable[[], Any], starter: Callable[[Callable[[], Any], Any], None]
) -> None: ...
def monitor_remove_check(name: str) -> bool: ...
def monitor_start() -> None: ...
def monitor_check_health() -> asyncio.Future[dict[str, dict[str, Any]]]: ...
def monitor_health_status() -> dict[str, dict[str, Any]]: ...
def monitor_collect() -> asyncio.Future[dict[str, Any]]: ...
def monitor_sample_system() -> asyncio.Future[dict[str, Any]]: ...
def monitor_history(hours: int) -> list[dict[str, Any]]: ...
def monitor_alerts(severity: str | None = None) -> list[dict[str, Any]]: ...
def monitor_summary() -> dict[str, Any]: ...
def monitor_set_threshold(rule: str, threshold: float) -> None: ...
def monitor_route(
    method: str,
    path: str,
    query: str,
    authorization: list[str],
    token: str | None,
    protect_reads: bool = False,
    prefix: str = "/monitoring",
) -> tuple[int, str, list[tuple[str, str]], bytes]: ...
def monitor_serve(port: int = 0, token: str | None = None) -> asyncio.Future[tuple[str, str]]: ...
def monitor_stop_server() -> asyncio.Future[None]: ...
def compat_prometheus(snapshot_json: str) -> str: ...
def compat_influx(snapshot_json: str, timestamp: float) -> list[str]: ...
