"""tether.Response: an httpx.Response built lazily from the Rust response, over real GETs."""

from __future__ import annotations

import datetime
import json
import pickle
import urllib.request
from typing import Any

import httpx
import pytest

import tether
from tether import TransportError, _tether


@pytest.fixture(scope="module")
def probe() -> _tether.HttpProbe:
    return _tether.HttpProbe()


async def get(probe: _tether.HttpProbe, url: str) -> tether.Response:
    response = await probe.get_raw(url, tether.Response)
    assert type(response) is tether.Response
    return response


@pytest.mark.asyncio
async def test_is_an_httpx_response_with_httpx_behaviour(probe: Any, chaos: Any) -> None:
    url = chaos.url("/json/small")
    response = await get(probe, url)
    assert isinstance(response, httpx.Response)
    assert response.status_code == 200
    assert response.is_success and not response.is_error
    assert response.reason_phrase == "OK"
    assert response.http_version == "HTTP/1.1"
    document = response.json()
    assert isinstance(document, dict) and document
    # The body is the server's bytes, as another client reads them.
    with urllib.request.urlopen(url) as direct:
        assert response.content == direct.read()
    assert json.loads(response.content) == document
    assert response.text == response.content.decode("utf-8")
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["Content-Length"] == str(len(response.content))
    assert response.headers["cache-control"] == "max-age=60"
    assert response.url == httpx.URL(url)
    assert isinstance(response.request, httpx.Request)
    assert response.request.method == "GET"
    assert response.request.url == httpx.URL(url)
    assert isinstance(response.elapsed, datetime.timedelta)
    assert response.elapsed > datetime.timedelta(0)
    assert response.num_bytes_downloaded == len(response.content)
    assert response.raise_for_status() is response
    assert repr(response) == "<Response [200 OK]>"
    assert response.encoding == "utf-8"


@pytest.mark.asyncio
async def test_objects_are_built_on_first_access(probe: Any, chaos: Any) -> None:
    response = await get(probe, chaos.url("/json/small"))
    lazy = ("headers", "_request", "url", "_content", "_elapsed")
    assert [name for name in lazy if name in vars(response)] == []
    assert response.raise_for_status() is response  # a 2xx needs no request object
    assert "_request" not in vars(response)
    headers = response.headers
    assert vars(response)["headers"] is headers
    assert response.headers is headers  # built once
    request = response.request
    assert response.request is request
    assert response.url is vars(response)["url"]
    assert request.url == response.url


@pytest.mark.asyncio
async def test_raise_for_status_on_errors(probe: Any, chaos: Any) -> None:
    url = chaos.url("/status/404")
    response = await get(probe, url)
    assert response.status_code == 404
    assert response.is_client_error
    with pytest.raises(httpx.HTTPStatusError) as caught:
        response.raise_for_status()
    assert caught.value.response is response
    assert caught.value.request.url == httpx.URL(url)
    assert "Client error '404 Not Found' for url" in str(caught.value)

    server_error = await get(probe, chaos.url("/status/503"))
    with pytest.raises(httpx.HTTPStatusError, match="Server error '503 Service Unavailable'"):
        server_error.raise_for_status()


@pytest.mark.asyncio
async def test_attributes_can_be_replaced_like_httpx(probe: Any, chaos: Any) -> None:
    response = await get(probe, chaos.url("/json/small"))
    response.headers["x-added"] = "yes"
    assert response.headers["X-Added"] == "yes"
    replacement = httpx.Request("GET", "http://example.invalid/other")
    response.request = replacement
    assert response.request is replacement
    response.elapsed = datetime.timedelta(seconds=3)
    assert response.elapsed == datetime.timedelta(seconds=3)


@pytest.mark.asyncio
async def test_async_read_and_close_and_iteration(probe: Any, chaos: Any) -> None:
    response = await get(probe, chaos.url("/json/small"))
    assert await response.aread() == response.content
    assert response.read() == response.content
    await response.aclose()
    assert response.is_closed


@pytest.mark.asyncio
async def test_pickles_as_a_plain_httpx_response(probe: Any, chaos: Any) -> None:
    response = await get(probe, chaos.url("/json/small"))
    copy = pickle.loads(pickle.dumps(response))
    assert "_raw" not in vars(copy)
    assert copy.status_code == 200
    assert copy.json() == response.json()
    assert copy.headers == response.headers
    assert copy.request.url == response.request.url
    assert copy.elapsed == response.elapsed


@pytest.mark.asyncio
async def test_charset_from_the_content_type(probe: Any, chaos: Any) -> None:
    response = await get(probe, chaos.url("/status/200?body=caf%C3%A9"))
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "café"


@pytest.mark.asyncio
async def test_raw_response_without_a_class(probe: Any, chaos: Any) -> None:
    raw = await probe.get_raw(chaos.url("/json/small"))
    assert type(raw) is _tether.RawResponse
    assert raw.status == 200
    names = [name for name, _ in raw.header_list()]
    assert b"content-type" in names
    assert all(isinstance(v, bytes) for _, v in raw.header_list())
    assert raw.method == "GET"
    assert raw.elapsed > 0


@pytest.mark.asyncio
async def test_status_and_body_tuple(probe: Any, chaos: Any) -> None:
    status, body = await probe.get(chaos.url("/status/418"))
    assert status == 418
    assert json.loads(body) == {"status": 418}


@pytest.mark.asyncio
async def test_connection_refused_is_a_transport_error(probe: Any) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        with pytest.raises(TransportError, match="request failed"):
            await probe.get(f"http://127.0.0.1:{port}/")


@pytest.mark.parametrize(
    "url",
    ["not a url?api_key=SECRET", "https://127.0.0.1/?api_key=SECRET", "/relative?token=SECRET", ""],
)
@pytest.mark.asyncio
async def test_bad_urls_are_value_errors_that_do_not_repeat_them(probe: Any, url: str) -> None:
    with pytest.raises(ValueError, match="bad URL") as caught:
        probe.get(url)
    assert "SECRET" not in str(caught.value)


def test_pool_size_must_be_a_count() -> None:
    with pytest.raises((OverflowError, TypeError)):
        _tether.HttpProbe(pool_size=-1)
    with pytest.raises(TypeError):
        _tether.HttpProbe(pool_size="many")  # type: ignore[arg-type]
