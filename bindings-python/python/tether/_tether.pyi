"""Type stubs of the compiled extension ``tether._tether``."""

import asyncio
from typing import Any, Final

WORKERS_ENV: Final[str]

class TetherError(Exception):
    """Base class of the errors raised by Tether's extension."""

class RuntimeClosed(TetherError):
    """The tokio runtime shut down (or the event loop closed) before the task finished."""

class RustPanic(TetherError):
    """A Rust task panicked; the panic message went to stderr."""

class TransportError(TetherError):
    """An HTTP request failed below HTTP (connect, send, receive)."""

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

class HttpProbe:
    """A pooled HTTP/1 client (``http://`` only) whose GETs are asyncio futures."""

    def __init__(self, pool_size: int = 128) -> None: ...
    def get(self, url: str) -> asyncio.Future[tuple[int, bytes]]: ...
    def get_raw(self, url: str, response_class: Any = None) -> asyncio.Future[Any]: ...
    def get_future_into_py(self, url: str) -> asyncio.Future[tuple[int, bytes]]: ...
