"""A drop-in replacement for the original ``common.monitoring`` module, on Tether's monitor.

A service migrates by making its ``common/monitoring.py``::

    from tether.monitoring import *

Every public name of the original is here with the same signature and sync/async kind
(no ``__all__``: a star-import exports them all). Underneath is one process-wide native
monitor: health checks run concurrently, each within its own time limit; the host is sampled
off the event loop (nothing blocks it for a second); every collection is judged by Tether's
alert rules, which fire once while a condition holds and resolve when it ends; the history and
the alerts are bounded. Importing this module registers the five default health checks, as
the original did; checks and collections run when asked, and also on their own (every 30 s and
10 s) once the monitoring routes are served.

Timestamps are RFC 3339 UTC (``2026-11-26T18:40:58.167771Z``); ``docs/python-migration.md``
lists every difference from the original and why.
"""

from __future__ import annotations

import json
import logging
import os  # noqa: F401  (re-exported, as the original module did)
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional  # noqa: UP035

from . import _tether
from .http_client import CacheConfig as CacheConfig
from .http_client import HTTPClient as HTTPClient
from .http_client import RequestMetrics as RequestMetrics
from .http_client import ServiceClient as ServiceClient
from .http_client import _MonitoredHealthMonitor
from .http_client import get_all_metrics as get_all_metrics
from .http_client import health_check_all_services as health_check_all_services
from .http_client import health_monitor as health_monitor

logger = logging.getLogger("common.monitoring")


def _parse_time(text: Any) -> datetime:
    if isinstance(text, datetime):
        return text
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(timezone.utc)


@dataclass
class SystemMetrics:
    """Host numbers: CPU, memory and disk (``/``) percentages, cumulative network counters,
    process count."""

    cpu_percent: float = 0.0
    memory_percent: float = 0.0
    disk_usage_percent: float = 0.0
    network_io: Dict[str, int] = field(default_factory=dict)  # noqa: UP006
    process_count: int = 0
    timestamp: datetime = field(default_factory=datetime.now)


@dataclass
class ServiceHealth:
    """One health monitor's state."""

    service_name: str
    status: str
    response_time: float
    last_check: datetime
    error_count: int = 0
    success_rate: float = 0.0
    details: Dict[str, Any] = field(default_factory=dict)  # noqa: UP006


# The original threshold names and the alert rules they set.
_THRESHOLD_RULES = {
    "response_time_ms": "service_slow",
    "error_rate": "service_errors",
    "cpu_percent": "system_cpu_high",
    "memory_percent": "system_memory_high",
}


class _Thresholds(Dict[str, float]):  # noqa: UP006
    """``alert_thresholds``: setting a key sets the matching alert rule's threshold."""

    def __setitem__(self, key: str, value: float) -> None:
        rule = _THRESHOLD_RULES.get(key)
        if rule is None:
            raise KeyError(f"unknown threshold {key!r}; known: {sorted(_THRESHOLD_RULES)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"threshold {key!r} must be a number")
        _tether.monitor_set_threshold(rule, float(value))
        super().__setitem__(key, value)


class PerformanceMonitor:
    """Collections of host numbers, service metrics and health results, judged by the alert
    rules. ``collect_all_metrics()`` checks every monitor now and collects; once the routes
    are served, the monitor also collects on its own every 10 s."""

    max_history_size = 1000

    def __init__(self) -> None:
        self.alert_thresholds: Dict[str, float] = _Thresholds()  # noqa: UP006
        for key, value in (
            ("response_time_ms", 5000),
            ("error_rate", 0.1),
            ("cpu_percent", 80.0),
            ("memory_percent", 85.0),
        ):
            self.alert_thresholds[key] = value

    @property
    def metrics_history(self) -> List[Dict[str, Any]]:  # noqa: UP006
        """Every collection kept (the last 24 h, at most ``max_history_size``), oldest first."""
        history: list[dict[str, Any]] = _tether.monitor_history(24)
        return history[-self.max_history_size :]

    @property
    def alerts(self) -> List[Dict[str, Any]]:  # noqa: UP006
        """Every alert record kept, oldest first."""
        alerts: list[dict[str, Any]] = _tether.monitor_alerts(None)
        return alerts

    async def collect_system_metrics(self) -> SystemMetrics:
        """Samples the host now (off the event loop)."""
        try:
            system = await _tether.monitor_sample_system()
        except Exception as e:  # noqa: BLE001 (the contract: log or report, never raise)
            logger.error("Failed to collect system metrics: %s", e)
            return SystemMetrics()
        return SystemMetrics(
            cpu_percent=system["cpu_percent"],
            memory_percent=system["memory_percent"],
            disk_usage_percent=system["disk_usage_percent"],
            network_io=dict(system["network_io"]),
            process_count=system["process_count"],
        )

    async def collect_service_metrics(self) -> Dict[str, Any]:  # noqa: UP006
        """``get_all_metrics()``, or ``{}`` when it fails."""
        try:
            return get_all_metrics()
        except Exception as e:  # noqa: BLE001 (the contract: log or report, never raise)
            logger.error("Failed to collect service metrics: %s", e)
            return {}

    async def check_service_health(self) -> List[ServiceHealth]:  # noqa: UP006
        """Runs every health check now."""
        try:
            results = await health_check_all_services()
        except Exception as e:  # noqa: BLE001 (the contract: log or report, never raise)
            logger.error("Failed to check service health: %s", e)
            return []
        return [
            ServiceHealth(
                service_name=name,
                status="healthy" if result.get("healthy") else "unhealthy",
                response_time=float(result.get("check_time", 0.0)),
                last_check=_parse_time(result.get("last_check")),
                details={"error": result["error"]} if "error" in result else {},
            )
            for name, result in results.items()
        ]

    async def collect_all_metrics(self) -> Dict[str, Any]:  # noqa: UP006
        """Checks every monitor now, then collects: ``{timestamp, system, services,
        health}``, added to the history and judged by the alert rules."""
        data: dict[str, Any] = await _tether.monitor_collect()
        return data

    async def _check_alerts(self, metrics: Dict[str, Any]) -> None:  # noqa: UP006
        """Kept for compatibility: every collection is judged by the alert rules as it is
        made."""

    def get_alerts(self, severity: Optional[str] = None) -> List[Dict[str, Any]]:  # noqa: UP006, UP045
        """Alert records (``{type, [service], message, severity, timestamp, id,
        resolved_at}``), oldest first, of one severity or all."""
        if severity is not None and not isinstance(severity, str):
            raise TypeError("severity must be a str or None")
        alerts: list[dict[str, Any]] = _tether.monitor_alerts(severity)
        return alerts

    def get_metrics_history(self, hours: int = 24) -> List[Dict[str, Any]]:  # noqa: UP006
        """Collections of the last ``hours``, oldest first."""
        if isinstance(hours, bool) or not isinstance(hours, (int, float)):
            raise TypeError("hours must be a number")
        if hours < 0:
            raise ValueError(f"hours must be at least 0, got {hours}")
        history: list[dict[str, Any]] = _tether.monitor_history(int(min(hours, 8760)))
        return history

    def get_performance_summary(self) -> Dict[str, Any]:  # noqa: UP006
        """Averages over the last hour (``{}`` when nothing was collected in it)."""
        summary: dict[str, Any] = _tether.monitor_summary()
        return summary


class MetricsExporter:
    """The original exporters, byte for byte: ``json`` (indent 2), ``prometheus`` (the
    original text) and ``influxdb`` (a list of lines). Tether's own exporters (one HELP/TYPE
    per family, escaped labels, exact timestamps) serve ``/monitoring/metrics``."""

    def __init__(self) -> None:
        self.export_formats: Dict[str, Callable[[Dict[str, Any]], Any]] = {  # noqa: UP006
            "json": self._export_json,
            "prometheus": self._export_prometheus,
            "influxdb": self._export_influxdb,
        }

    def export(self, metrics: Dict[str, Any], format: str = "json") -> Any:  # noqa: UP006
        """``metrics`` in ``format``; ``ValueError("Unsupported format: <f>")`` otherwise."""
        exporter = self.export_formats.get(format) if isinstance(format, str) else None
        if exporter is None:
            raise ValueError(f"Unsupported format: {format}")
        return exporter(metrics)

    def _export_json(self, metrics: Dict[str, Any]) -> str:  # noqa: UP006
        return json.dumps(metrics, indent=2, default=str)

    def _export_prometheus(self, metrics: Dict[str, Any]) -> str:  # noqa: UP006
        return _tether.compat_prometheus(json.dumps(metrics, default=str))

    def _export_influxdb(self, metrics: Dict[str, Any]) -> List[str]:  # noqa: UP006
        moment = _parse_time(metrics["timestamp"])
        if moment.tzinfo is None:
            seconds = moment.timestamp()
        else:
            seconds = moment.astimezone(timezone.utc).timestamp()
        return _tether.compat_influx(json.dumps(metrics, default=str), seconds)


performance_monitor = PerformanceMonitor()
metrics_exporter = MetricsExporter()


async def get_monitoring_data() -> Dict[str, Any]:  # noqa: UP006
    """``performance_monitor.collect_all_metrics()``."""
    return await performance_monitor.collect_all_metrics()


async def get_performance_summary() -> Dict[str, Any]:  # noqa: UP006
    """``performance_monitor.get_performance_summary()``."""
    return performance_monitor.get_performance_summary()


def get_alerts(severity: Optional[str] = None) -> List[Dict[str, Any]]:  # noqa: UP006, UP045
    """``performance_monitor.get_alerts(severity)``."""
    return performance_monitor.get_alerts(severity)


def export_metrics(metrics: Dict[str, Any], format: str = "json") -> Any:  # noqa: UP006
    """``metrics_exporter.export(metrics, format)``: a ``str``, or a list of lines for
    ``influxdb``."""
    return metrics_exporter.export(metrics, format)


async def check_http_client_health() -> bool:
    """Whether ``GET http://httpbin.org/get`` answers 200 (a client made for the check and
    closed after it)."""
    client = HTTPClient(timeout=5, max_retries=0)
    try:
        response = await client.request("GET", "http://httpbin.org/get")
        return response.status_code == 200
    except Exception:  # noqa: BLE001 (the contract: log or report, never raise)
        return False
    finally:
        await client.close()


async def check_service_connectivity(service_name: str, base_url: str) -> bool:
    """Whether ``GET <base_url>/health`` answers below 400 (a client made for the check and
    closed after it)."""
    client = ServiceClient(base_url=base_url, service_name=service_name, timeout=5, max_retries=0)
    try:
        await client.call_service("GET", "/health")
        return True
    except Exception:  # noqa: BLE001 (the contract: log or report, never raise)
        return False
    finally:
        await client.close()


# The original's default checks: the public httpbin and the four services by their Docker
# names. They run in Rust as plain URL checks (same verdicts as the functions above).
_DEFAULT_CHECKS = (
    ("http_client", check_http_client_health, "http://httpbin.org/get", 200),
    ("data-service", None, "http://data-service:8002/health", None),
    ("chart-service", None, "http://chart-service:8003/health", None),
    ("graph-service", None, "http://graph-service:8004/health", None),
    ("ai-service", None, "http://ai-service:8005/health", None),
)


def setup_default_health_monitors() -> None:
    """Registers the five default health checks on ``health_monitor``."""
    for name, function, url, status in _DEFAULT_CHECKS:
        check = function
        if check is None:
            base = url.rsplit("/", 1)[0]

            async def check(name: str = name, base: str = base) -> bool:
                return await check_service_connectivity(name, base)

        if isinstance(health_monitor, _MonitoredHealthMonitor):
            health_monitor._add_url_monitor(name, check, url, status)
        else:
            health_monitor.add_monitor(name, check)


setup_default_health_monitors()
