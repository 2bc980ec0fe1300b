"""A script written for the original ``common.http_client`` / ``common.monitoring`` API,
modelled on the original system's acceptance script (eight scenarios, printing ✅ or ❌).
Only the httpbin base URL is a parameter (``HTTPBIN``), so it runs against a local stand-in.
It is run unchanged, with a ``common`` package whose two modules are one star-import each."""

import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common.http_client import (
    CacheConfig,
    HTTPClient,
    RequestBatcher,
    ServiceClient,  # noqa: F401
    create_service_client,
    get_all_metrics,
    health_check_all_services,
    health_monitor,
)
from common.monitoring import (
    export_metrics,
    get_alerts,
    get_monitoring_data,
    get_performance_summary,
    performance_monitor,
)

HTTPBIN = os.environ.get("HTTPBIN", "https://httpbin.org")
FAILED = []


def ok(message):
    print(f"✅ {message}")


def fail(message):
    FAILED.append(message)
    print(f"❌ {message}")


async def test_basic_http_client():
    print("\n🧪 Testing Basic HTTP Client...")
    client = HTTPClient(timeout=10, max_retries=2)
    try:
        response = await client.request("GET", f"{HTTPBIN}/get")
        print(f"✅ GET request successful: {response.status_code}")
        response = await client.request("POST", f"{HTTPBIN}/post", json={"test": "data"})
        print(f"✅ POST request successful: {response.status_code}")
        metrics = client.get_metrics()
        print(f"📊 Client metrics: {json.dumps(metrics, indent=2)}")
        if (
            metrics["total_requests"],
            metrics["successful_requests"],
            metrics["failed_requests"],
        ) != (2, 2, 0):
            fail(f"unexpected counts {metrics}")
        if metrics["cache_stats"]["size"] != 1:
            fail("the GET should be cached")
    except Exception as e:
        fail(f"Basic HTTP client test failed: {e}")
    finally:
        await client.close()


async def test_caching():
    print("\n🧪 Testing Caching...")
    cache_config = CacheConfig(
        enabled=True, ttl_seconds=60, max_size=100, include_query_params=True
    )
    client = HTTPClient(cache_config=cache_config)
    try:
        start = time.time()
        response1 = await client.request("GET", f"{HTTPBIN}/delay/1000")
        first = time.time() - start
        start = time.time()
        response2 = await client.request("GET", f"{HTTPBIN}/delay/1000")
        second = time.time() - start
        print(f"⏱️ First request: {first:.2f}s")
        print(f"⏱️ Second request (cached): {second:.2f}s")
        if response1.text == response2.text and second < first:
            ok("Cache working correctly")
        else:
            fail("Cache not working as expected")
        stats = client.get_metrics()["cache_stats"]
        print(f"📊 Cache stats: {stats}")
        if (stats["enabled"], stats["size"], stats["max_size"], stats["ttl_seconds"]) != (
            True,
            1,
            100,
            60,
        ):
            fail(f"unexpected cache stats {stats}")
    except Exception as e:
        fail(f"Caching test failed: {e}")
    finally:
        await client.close()


async def test_service_client():
    print("\n🧪 Testing Service Client...")
    service_client = create_service_client(
        service_name="test-service", base_url=HTTPBIN, timeout=10
    )
    try:
        result = await service_client.call_service("GET", "/get")
        print(f"✅ Service call successful: {type(result)}")
        metrics = service_client.get_service_metrics()
        print(f"📊 Service metrics: {json.dumps(metrics, indent=2)}")
        breaker = service_client.get_circuit_breaker_state()
        print(f"🔌 Circuit breaker: {json.dumps(breaker, indent=2)}")
        if metrics["service"] != "test-service" or metrics["total_requests"] != 1:
            fail(f"unexpected service metrics {metrics}")
        if breaker["state"] != "CLOSED" or breaker["failure_threshold"] != 5:
            fail(f"unexpected breaker {breaker}")
    except Exception as e:
        fail(f"Service client test failed: {e}")
    finally:
        await service_client.close()


async def test_request_batching():
    print("\n🧪 Testing Request Batching...")
    batcher = RequestBatcher(max_batch_size=5, max_wait_time=0.5)

    async def make_request(url):
        client = HTTPClient(timeout=5)
        try:
            response = await client.request("GET", url)
            return {"url": url, "status": response.status_code}
        finally:
            await client.close()

    urls = [f"{HTTPBIN}/get"] + [f"{HTTPBIN}/status/{code}" for code in (200, 201, 202, 203)]
    try:
        futures = []
        for url in urls:
            future = await batcher.add_request(make_request, url)
            futures.append(future)
        results = await asyncio.gather(*futures)
        print(f"✅ Batch processing completed: {len(results)} results")
        for result in results:
            print(f"  📍 {result['url']}: {result['status']}")
        if [r["status"] for r in results] != [200, 200, 201, 202, 203]:
            fail("results out of order or wrong")
    except Exception as e:
        fail(f"Batching test failed: {e}")


async def test_health_monitoring():
    print("\n🧪 Testing Health Monitoring...")
    try:
        health_results = await health_check_all_services()
        print(f"🏥 Health check results: {json.dumps(health_results, indent=2)}")
        status = health_monitor.get_health_status()
        print(f"📊 Health status: {json.dumps(status, indent=2)}")
        if set(health_results) != {
            "http_client",
            "data-service",
            "chart-service",
            "graph-service",
            "ai-service",
        }:
            fail(f"unexpected monitors {sorted(health_results)}")
        if status != health_results:
            fail("the status differs from the results")
    except Exception as e:
        fail(f"Health monitoring test failed: {e}")


async def test_monitoring():
    print("\n🧪 Testing Monitoring System...")
    try:
        data = await get_monitoring_data()
        print(f"📊 Monitoring data collected: {len(data.keys())} keys")
        summary = await get_performance_summary()
        print(f"📈 Performance summary: {json.dumps(summary, indent=2)}")
        alerts = get_alerts()
        print(f"🚨 Active alerts: {len(alerts)}")
        exported = export_metrics(data, "json")
        print(f"📤 JSON export: {len(exported)} characters")
        prometheus = export_metrics(data, "prometheus")
        lines = prometheus.split("\n")
        print(f"📤 Prometheus export: {len(lines)} lines")
        if len(data.keys()) != 4 or len(lines) != 9:
            fail(f"unexpected snapshot: {len(data.keys())} keys, {len(lines)} Prometheus lines")
        if summary["total_metrics_collected"] != 1:
            fail("one collection expected")
        if not any(a["type"] == "service_unhealthy" for a in alerts):
            fail("unreachable services should raise alerts")
    except Exception as e:
        fail(f"Monitoring test failed: {e}")


async def test_metrics_collection():
    print("\n🧪 Testing Metrics Collection...")
    try:
        all_metrics = get_all_metrics()
        print(f"📊 All metrics: {json.dumps(all_metrics, indent=2)}")
        history = performance_monitor.get_metrics_history(hours=1)
        print(f"📈 Metrics history: {len(history)} entries")
        alerts = performance_monitor.get_alerts()
        print(f"🚨 Performance alerts: {len(alerts)}")
        if all_metrics["service_clients"] != {} or len(history) != 1:
            fail("unexpected metrics collection")
    except Exception as e:
        fail(f"Metrics collection test failed: {e}")


async def test_error_handling():
    print("\n🧪 Testing Error Handling...")
    service_client = create_service_client("error-test-service", HTTPBIN, timeout=5)
    try:
        try:
            await service_client.call_service("GET", "/nonexistent")
            fail("a 404 should raise")
        except Exception as e:
            print(f"✅ Error handled correctly: {type(e).__name__}")
            if type(e).__name__ != "HTTPStatusError":
                fail(f"unexpected error type {type(e).__name__}")
        result = await service_client.call_service("GET", "/status/200?body=")
        print(f"✅ Valid call result: {result}")
        breaker = service_client.get_circuit_breaker_state()
        print(f"🔌 Circuit breaker after errors: {json.dumps(breaker, indent=2)}")
        if result != {"data": "", "status_code": 200} or breaker["state"] != "CLOSED":
            fail("unexpected result or breaker")
    except Exception as e:
        fail(f"Error handling test failed: {e}")
    finally:
        await service_client.close()


async def main():
    print("🚀 Starting Enhanced Features Test Suite")
    start = time.time()
    await test_basic_http_client()
    await test_caching()
    await test_service_client()
    await test_request_batching()
    await test_health_monitoring()
    await test_monitoring()
    await test_metrics_collection()
    await test_error_handling()
    print(f"\n🎉 Test suite completed in {time.time() - start:.2f}s")
    if FAILED:
        sys.exit(1)


if __name__ == "__main__":
    asyncio.run(main())
