"""The error classes and logging helpers the original ``common.http_client`` re-exported
(from its ``common.errors`` and ``common.log_utils``), with the same names, signatures and
``to_dict()`` shape.

``ServiceError(message, http_status=500, error_code=None, context=None, request_id=None,
service_name=None)`` and its subclasses fix the status; ``RateLimitError`` and
``ServiceUnavailableError`` also take ``retry_after``. ``ServiceClient.call_service`` raises
the 502/503/504 ones as instances that are *also* instances of the matching httpx class
(``httpx.ConnectError``, ``httpx.ReadTimeout``, …), so that both ``except ServiceError`` and
``except httpx.RequestError`` callers keep working.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict, deque
from typing import Any

__all__ = [
    "BadGatewayError",
    "ForbiddenError",
    "GatewayTimeoutError",
    "InvalidInputError",
    "NotFoundError",
    "PerformanceLogger",
    "RateLimitError",
    "ServiceError",
    "ServiceUnavailableError",
    "UnauthorizedError",
    "ValidationError",
    "log_structured_error",
]


class ServiceError(Exception):
    """An error a service reports to its caller, with an HTTP status."""

    def __init__(
        self,
        message: str,
        http_status: int = 500,
        error_code: str | None = None,
        context: dict[str, Any] | None = None,
        request_id: str | None = None,
        service_name: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.error_code = error_code or type(self).__name__
        self.context: dict[str, Any] = dict(context) if context else {}
        self.request_id = request_id
        self.service_name = service_name

    @property
    def status_code(self) -> int:
        """The same as ``http_status`` (some callers of the original read this name)."""
        return self.http_status

    def to_dict(self) -> dict[str, Any]:
        """``{error, message, status_code, context, request_id, service}``."""
        return {
            "error": self.error_code,
            "message": self.message,
            "status_code": self.http_status,
            "context": self.context,
            "request_id": self.request_id,
            "service": self.service_name,
        }

    def to_json(self) -> str:
        """``to_dict()`` as a JSON string."""
        return json.dumps(self.to_dict(), default=str)


class InvalidInputError(ServiceError):
    """400."""

    def __init__(self, message: str = "Invalid input provided", **kwargs: Any) -> None:
        super().__init__(message, http_status=400, **kwargs)


class UnauthorizedError(ServiceError):
    """401."""

    def __init__(self, message: str = "Authentication required", **kwargs: Any) -> None:
        super().__init__(message, http_status=401, **kwargs)


class ForbiddenError(ServiceError):
    """403."""

    def __init__(self, message: str = "Access forbidden", **kwargs: Any) -> None:
        super().__init__(message, http_status=403, **kwargs)


class NotFoundError(ServiceError):
    """404."""

    def __init__(self, message: str = "Resource not found", **kwargs: Any) -> None:
        super().__init__(message, http_status=404, **kwargs)


class ValidationError(ServiceError):
    """422."""

    def __init__(self, message: str = "Validation failed", **kwargs: Any) -> None:
        super().__init__(message, http_status=422, **kwargs)


class RateLimitError(ServiceError):
    """429; ``retry_after`` goes into ``context["retry_after"]``."""

    def __init__(
        self, message: str = "Rate limit exceeded", retry_after: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(message, http_status=429, **kwargs)
        if retry_after is not None:
            self.context["retry_after"] = retry_after


class BadGatewayError(ServiceError):
    """502."""

    def __init__(self, message: str = "Bad gateway", **kwargs: Any) -> None:
        super().__init__(message, http_status=502, **kwargs)


class ServiceUnavailableError(ServiceError):
    """503; ``retry_after`` goes into ``context["retry_after"]``."""

    def __init__(
        self,
        message: str = "Service temporarily unavailable",
        retry_after: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, http_status=503, **kwargs)
        if retry_after is not None:
            self.context["retry_after"] = retry_after


class GatewayTimeoutError(ServiceError):
    """504."""

    def __init__(self, message: str = "Gateway timeout", **kwargs: Any) -> None:
        super().__init__(message, http_status=504, **kwargs)


def log_structured_error(
    logger: logging.Logger,
    message: str,
    *,
    error_category: str | None = None,
    exc_info: bool = False,
    **fields: Any,
) -> None:
    """Logs ``message`` at ERROR with ``error_category`` and ``fields`` as record attributes
    (``extra``)."""
    extra = {"error_category": error_category, **fields}
    logger.error(message, extra=_safe_extra(extra), exc_info=exc_info)


# Attribute names a LogRecord already has: `extra` may not overwrite them.
_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
}


def _safe_extra(fields: dict[str, Any]) -> dict[str, Any]:
    return {(f"field_{k}" if k in _RESERVED else k): v for k, v in fields.items()}


_SEVERITY_MEDIUM = frozenset({"network_error", "timeout", "external_api_error"})
_SEVERITY_LOW = frozenset({"computation_error", "data_validation_error"})


class PerformanceLogger:
    """Performance and categorized-error records on the logger ``logger_name``.

    Percentiles are over the last 100 calls of each ``service:endpoint``, and at most
    ``max_keys`` keys are remembered (the least recently used go first), so the memory it
    holds is bounded.
    """

    def __init__(self, logger_name: str, max_keys: int = 1000) -> None:
        if not isinstance(logger_name, str):
            raise TypeError("logger_name must be a string")
        self.logger = logging.getLogger(logger_name)
        self.max_keys = max_keys
        self.response_times: OrderedDict[str, deque[float]] = OrderedDict()
        self.error_counts: OrderedDict[str, int] = OrderedDict()

    def _bounded(self, table: OrderedDict[str, Any], key: str, default: Any) -> Any:
        if key in table:
            table.move_to_end(key)
        else:
            table[key] = default
            while len(table) > self.max_keys:
                table.popitem(last=False)
        return table[key]

    def log_performance(
        self,
        service_name: str,
        endpoint: str,
        response_time: float,
        status_code: int,
        request_id: str | None = None,
    ) -> None:
        """INFO ``Performance metrics: <endpoint>`` with ``p50_response_time`` and
        ``p95_response_time`` over the key's last 100 calls."""
        times: deque[float] = self._bounded(
            self.response_times, f"{service_name}:{endpoint}", deque(maxlen=100)
        )
        times.append(response_time)
        if not self.logger.isEnabledFor(logging.INFO):
            return
        ordered = sorted(times)
        p50 = ordered[len(ordered) // 2]
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
        self.logger.info(
            "Performance metrics: %s",
            endpoint,
            extra=_safe_extra(
                {
                    "service_name": service_name,
                    "endpoint": endpoint,
                    "response_time": response_time,
                    "status_code": status_code,
                    "p50_response_time": p50,
                    "p95_response_time": p95,
                    "request_id": request_id,
                }
            ),
        )

    def log_error(
        self,
        error_category: str,
        message: str,
        service_name: str | None = None,
        endpoint: str | None = None,
        request_id: str | None = None,
        downstream_service: str | None = None,
    ) -> None:
        """ERROR ``Categorized error: <message>`` with a running ``error_count`` per
        ``service:endpoint:category`` and an ``error_severity``."""
        key = f"{service_name}:{endpoint}:{error_category}"
        count = self._bounded(self.error_counts, key, 0) + 1
        self.error_counts[key] = count
        if error_category in _SEVERITY_MEDIUM:
            severity = "medium"
        elif error_category in _SEVERITY_LOW:
            severity = "low"
        else:
            severity = "high"
        self.logger.error(
            "Categorized error: %s",
            message,
            extra=_safe_extra(
                {
                    "error_category": error_category,
                    "service_name": service_name,
                    "endpoint": endpoint,
                    "error_count": count,
                    "error_severity": severity,
                    "request_id": request_id,
                    "downstream_service": downstream_service,
                }
            ),
        )
