"""README's "Python in 30 seconds", copied verbatim from README.md, runs."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
from typing import Any

import pytest

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> list[str]:
    text = README.read_text()
    section = text.split("## Python in 30 seconds", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_section_has_the_client_and_the_router() -> None:
    blocks = python_blocks()
    assert len(blocks) == 2
    assert "HTTPClient" in blocks[0] and "create_router" in blocks[1]


def test_the_client_example_runs(chaos: Any, tmp_path: pathlib.Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(python_blocks()[0])
    done = subprocess.run(
        [sys.executable, str(script)],
        env={**os.environ, "UPSTREAM": chaos.base},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "200 {'q': 'tether'}"
    assert "'size': 1" in lines[1] and "'hits': 1" in lines[1]
    assert lines[-1] == "1"


def test_the_router_example_serves_the_routes() -> None:
    testclient = pytest.importorskip("fastapi.testclient")
    namespace: dict[str, Any] = {}
    exec(python_blocks()[1], namespace)
    with testclient.TestClient(namespace["app"]) as client:
        live = client.get("/monitoring/health/live")
        assert live.status_code == 200 and live.json()["status"] == "alive"
        assert client.post("/monitoring/refresh").status_code == 401
        refreshed = client.post(
            "/monitoring/refresh", headers={"Authorization": "Bearer change-me"}
        )
        assert refreshed.status_code == 200


def test_the_typed_example_runs(chaos: Any) -> None:
    example = pathlib.Path(__file__).resolve().parents[1] / "examples" / "typed_client.py"
    done = subprocess.run(
        [sys.executable, str(example)],
        env={**os.environ, "UPSTREAM": chaos.base},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "status error: 404" in done.stdout and "bad gateway: 502 BadGatewayError" in done.stdout
