"""``tether.Response``: an ``httpx.Response`` built lazily from the Rust response.

``httpx.Response.__init__`` parses headers, encodes content and builds a ``Request`` (whose
URL parsing alone costs about as much as a whole request through the bridge). This subclass
skips it: construction stores the Rust response and the status code, and each httpx object
(headers, request, URL, elapsed, extensions, stream) is built on first access and then
cached as a plain instance attribute, exactly where ``httpx.Response`` keeps it. Everything
``httpx.Response`` offers works unchanged, because it reads those same attributes.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any, Callable, Generic, TypeVar, overload

import httpx

if TYPE_CHECKING:
    from ._tether import RawResponse

__all__ = ["Response"]

_T = TypeVar("_T")


class _lazy(Generic[_T]):
    """A non-data descriptor that computes the attribute once and stores it on the instance.

    After the first access the instance ``__dict__`` entry shadows the descriptor, so later
    reads cost a plain attribute lookup (and assignments simply replace the value, as they
    do on ``httpx.Response``).
    """

    __slots__ = ("_build", "_name")

    def __init__(self, build: Callable[[Response], _T]) -> None:
        self._build = build
        self._name = build.__name__

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> _lazy[_T]: ...
    @overload
    def __get__(self, instance: Response, owner: type | None = None) -> _T: ...
    def __get__(self, instance: Response | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = self._build(instance)
        instance.__dict__[self._name] = value
        return value


class Response(httpx.Response):
    """A complete (already read) HTTP response; ``isinstance(r, httpx.Response)`` holds."""

    # What httpx.Response.__init__ would set, for a response whose body has been read.
    next_request: httpx.Request | None = None
    is_closed = True
    is_stream_consumed = True
    default_encoding: str | Callable[[bytes], str] = "utf-8"

    def __init__(self, raw: RawResponse) -> None:
        self._raw = raw
        self.status_code = raw.status

    # The attributes httpx.Response reads, built on first access.
    @_lazy
    def _content(self) -> bytes:
        return self._raw.content

    @_lazy
    def headers(self) -> httpx.Headers:
        return httpx.Headers(self._raw.header_list())

    @_lazy
    def url(self) -> httpx.URL:
        return httpx.URL(self._raw.url)

    @_lazy
    def _request(self) -> httpx.Request | None:
        return httpx.Request(self._raw.method, self.url)

    @_lazy
    def _elapsed(self) -> datetime.timedelta:
        return datetime.timedelta(seconds=self._raw.elapsed)

    @_lazy
    def extensions(self) -> dict[str, Any]:
        return {"http_version": b"HTTP/1.1"}

    @_lazy
    def history(self) -> list[httpx.Response]:
        return []

    @_lazy
    def stream(self) -> httpx.ByteStream:
        return httpx.ByteStream(self._content)

    @_lazy
    def _num_bytes_downloaded(self) -> int:
        return len(self._content)

    @property
    def from_cache(self) -> bool:
        """Whether Tether's cache answered (no request was sent)."""
        return bool(self._raw.from_cache)

    def raise_for_status(self) -> Response:
        """Raise ``httpx.HTTPStatusError`` unless the status is 2xx (without building the
        request object on success)."""
        if 200 <= self.status_code < 300:
            return self
        super().raise_for_status()
        return self

    def __getstate__(self) -> dict[str, Any]:
        # Materialise everything httpx pickles, and leave the Rust response behind.
        for name in ("_content", "headers", "url", "_request", "_elapsed", "history"):
            getattr(self, name)
        state = super().__getstate__()
        state.pop("_raw", None)
        return state
