"""tether.monitoring against the original contract (checklist items 3 and 41-46)."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

import tether.http_client as hc
import tether.monitoring as mon
from tether import _tether

ORIGINAL_NAMES = [
    "logger",
    "SystemMetrics",
    "ServiceHealth",
    "PerformanceMonitor",
    "MetricsExporter",
    "performance_monitor",
    "metrics_exporter",
    "get_monitoring_data",
    "get_performance_summary",
    "get_alerts",
    "export_metrics",
    "check_http_client_health",
    "check_service_connectivity",
    "setup_default_health_monitors",
    "get_all_metrics",
    "health_check_all_services",
    "health_monitor",
    "ServiceClient",
    "HTTPClient",
    "RequestMetrics",
    "CacheConfig",
    "os",
]

DEFAULT_CHECKS = {
    "http_client": "http://httpbin.org/get",
    "data-service": "http://data-service:8002/health",
    "chart-service": "http://chart-service:8003/health",
    "graph-service": "http://graph-service:8004/health",
    "ai-service": "http://ai-service:8005/health",
}


def test_names_and_star_export() -> None:
    namespace: dict[str, Any] = {}
    exec("from tether.monitoring import *", namespace)
    assert not [n for n in ORIGINAL_NAMES if n not in namespace]
    assert mon.logger.name == "common.monitoring"
    assert isinstance(mon.performance_monitor, mon.PerformanceMonitor)
    assert isinstance(mon.metrics_exporter, mon.MetricsExporter)


@pytest.mark.asyncio
async def test_03_import_registers_the_five_default_checks() -> None:
    for name in DEFAULT_CHECKS:
        assert name in hc.health_monitor.monitors
    results = await hc.health_check_all_services()
    for name, url in DEFAULT_CHECKS.items():
        result = results[name]
        # The Docker names and httpbin do not resolve here; each check names its URL.
        assert result["healthy"] is True or url in result["error"], (name, result)
        assert result["check_time"] < 6, "each check is bounded by its time limit"


def test_41_records() -> None:
    s = mon.SystemMetrics()
    assert [f.name for f in dataclasses.fields(mon.SystemMetrics)] == [
        "cpu_percent",
        "memory_percent",
        "disk_usage_percent",
        "network_io",
        "process_count",
        "timestamp",
    ]
    assert (s.cpu_percent, s.memory_percent, s.network_io, s.process_count) == (0.0, 0.0, {}, 0)
    assert isinstance(s.timestamp, datetime)
    h = mon.ServiceHealth("svc", "healthy", 0.1, datetime.now())
    assert (h.error_count, h.success_rate, h.details) == (0, 0.0, {})


@pytest.mark.asyncio
async def test_42_43_performance_monitor_and_the_snapshot_shape(chaos: Any) -> None:
    pm = mon.performance_monitor
    assert pm.max_history_size == 1000
    assert pm.alert_thresholds == {
        "response_time_ms": 5000,
        "error_rate": 0.1,
        "cpu_percent": 80.0,
        "memory_percent": 85.0,
    }
    service = hc.get_service_client("mon-svc", chaos.base)
    await service.call_service("GET", "/get")
    system = await pm.collect_system_metrics()
    assert isinstance(system, mon.SystemMetrics) and 0 <= system.cpu_percent <= 100
    assert set(system.network_io) <= {"bytes_sent", "bytes_recv", "packets_sent", "packets_recv"}
    assert (await pm.collect_service_metrics())["service_clients"]["mon-svc"]["total_requests"] == 1
    health = await pm.check_service_health()
    assert {h.service_name for h in health} >= set(DEFAULT_CHECKS) | {"mon-svc"}
    assert next(h for h in health if h.service_name == "mon-svc").status == "healthy"
    before = len(pm.get_metrics_history(24))
    data = await mon.get_monitoring_data()
    assert list(data) == ["timestamp", "system", "services", "health"]
    assert list(data["system"]) == [
        "cpu_percent",
        "memory_percent",
        "disk_usage_percent",
        "network_io",
        "process_count",
    ]
    assert list(data["services"]) == ["service_clients", "global_health"]
    assert data["services"]["service_clients"]["mon-svc"]["total_requests"] == 1
    assert list(data["health"]["mon-svc"]) == [
        "status",
        "response_time",
        "last_check",
        "error_count",
        "success_rate",
    ]
    history = pm.get_metrics_history(24)
    # The monitor also collects on its own every 10 s.
    assert len(history) >= before + 1
    assert data["timestamp"] in [h["timestamp"] for h in pm.metrics_history]
    summary = await mon.get_performance_summary()
    assert list(summary) == [
        "summary_timestamp",
        "time_period_hours",
        "system_averages",
        "service_performance",
        "active_alerts",
        "total_metrics_collected",
    ]
    assert summary["service_performance"]["mon-svc"]["total_requests"] == 1
    json.dumps(data)
    await hc.close_all_service_clients()


@pytest.mark.asyncio
async def test_44_alerts_fire_once_with_the_original_records() -> None:
    await mon.get_monitoring_data()
    await mon.get_monitoring_data()
    alerts = mon.get_alerts()
    unhealthy = [
        a for a in alerts if a["type"] == "service_unhealthy" and a["service"] == "ai-service"
    ]
    assert len(unhealthy) == 1, "a condition that holds fires once, not once per collection"
    record = unhealthy[0]
    assert list(record)[:5] == ["type", "service", "message", "severity", "timestamp"]
    assert (record["message"], record["severity"]) == ("Service ai-service is unhealthy", "error")
    assert all(a["severity"] == "error" for a in mon.get_alerts("error"))
    assert mon.get_alerts("nonsense") == []
    with pytest.raises(TypeError):
        mon.get_alerts(5)  # type: ignore[arg-type]


def test_44_thresholds_reach_the_alert_rules() -> None:
    pm = mon.performance_monitor
    pm.alert_thresholds["cpu_percent"] = 80.0
    with pytest.raises(KeyError):
        pm.alert_thresholds["bogus"] = 1
    with pytest.raises(TypeError):
        pm.alert_thresholds["cpu_percent"] = "high"  # type: ignore[assignment]


SNAPSHOT = {
    "timestamp": "2026-11-26T18:37:27.077308Z",
    "system": {
        "cpu_percent": 99.5,
        "memory_percent": 40.0,
        "disk_usage_percent": 9.5367431640625e-07,
        "network_io": {},
        "process_count": 2,
    },
    "services": {
        "service_clients": {
            "api": {
                "total_requests": 2,
                "average_response_time": 0.025758743286132812,
                "success_rate": 1.0,
            }
        },
        "global_health": {},
    },
    "health": {},
}


def test_46_exporter_formats() -> None:
    exporter = mon.metrics_exporter
    assert set(exporter.export_formats) == {"json", "prometheus", "influxdb"}
    assert mon.export_metrics(SNAPSHOT) == json.dumps(SNAPSHOT, indent=2, default=str)
    text = mon.export_metrics(SNAPSHOT, "prometheus")
    lines = text.split("\n")
    assert len(lines) == 18 and not text.endswith("\n")
    assert lines[2] == "system_cpu_percent 99.5"
    assert lines[8] == "system_disk_usage_percent 9.5367431640625e-07"
    assert lines[9:12] == [
        "# HELP service_requests_total Total requests for api",
        "# TYPE service_requests_total counter",
        'service_requests_total{service="api"} 2',
    ]
    assert lines[14] == 'service_response_time_seconds{service="api"} 0.025758743286132812'
    influx = mon.export_metrics(SNAPSHOT, "influxdb")
    assert isinstance(influx, list) and len(influx) == 2
    stamp = int(datetime(2026, 11, 26, 18, 37, 27, 77308, tzinfo=timezone.utc).timestamp() * 1e9)
    assert influx[0] == (
        "system_metrics cpu_percent=99.5,memory_percent=40.0,"
        f"disk_usage_percent=9.5367431640625e-07 {stamp}"
    )
    assert re.fullmatch(
        r"service_metrics,service=api total_requests=2,success_rate=1.0,"
        rf"avg_response_time=0\.025758743286132812 {stamp}",
        influx[1],
    )
    with pytest.raises(ValueError, match=r"^Unsupported format: xml$"):
        mon.export_metrics(SNAPSHOT, "xml")
    with pytest.raises(KeyError):
        mon.export_metrics({}, "influxdb")


@pytest.mark.asyncio
async def test_45_module_functions(chaos: Any) -> None:
    assert await mon.check_service_connectivity("chaos", chaos.base) is True
    assert await mon.check_service_connectivity("nothing", "http://127.0.0.1:9") is False
    assert isinstance(await mon.check_http_client_health(), bool)
    assert isinstance(await mon.get_performance_summary(), dict)
    assert isinstance(mon.get_alerts(), list)
    before = set(hc.health_monitor.monitors)
    mon.setup_default_health_monitors()
    assert set(hc.health_monitor.monitors) == before, "registering again replaces, not adds"


@pytest.mark.asyncio
async def test_python_checks_run_on_the_loop_and_report_errors() -> None:
    async def failing() -> bool:
        raise RuntimeError("replica lag")

    hc.health_monitor.add_monitor("py-failing", failing)
    try:
        results = await hc.health_check_all_services()
        assert results["py-failing"]["healthy"] is False
        assert results["py-failing"]["error"] == "replica lag"
    finally:
        _tether.monitor_remove_check("py-failing")
        hc.health_monitor.monitors.pop("py-failing", None)


@pytest.mark.asyncio
async def test_routes_count_transport_failures_under_the_httpx_names() -> None:
    """`error_counts` uses the httpx class names in `get_service_metrics()` and in the
    monitoring routes alike (the original's retry timings: this takes about 7 s)."""
    client = hc.get_service_client("names-probe", "http://127.0.0.1:9")
    try:
        with pytest.raises(Exception) as failure:
            await client.call_service("GET", "/x")
        assert isinstance(failure.value, httpx.ConnectError)
        assert client.get_service_metrics()["error_counts"] == {"ConnectError": 4}
        await _tether.monitor_collect()
        status, _, _, body = _tether.monitor_route("GET", "/monitoring/metrics", "", [], None)
        assert status == 200
        text = body.decode()
        assert '"error_counts":{"ConnectError":4}' in text.replace(" ", ""), text[:2000]
        assert '"connect":' not in text
    finally:
        await hc.close_all_service_clients()
