"""The scenario vectors (tests/vectors/*.json) run from Python, through the runner built into
the wheel's extension, must reach the same decisions as in the Rust suite."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest

from tether import _tether

VECTORS = sorted(
    p
    for p in (pathlib.Path(__file__).resolve().parents[2] / "tests" / "vectors").glob("*.json")
    if p.name != "schema.json"
)


def test_every_vector_file_is_found() -> None:
    assert len(VECTORS) >= 20, [p.name for p in VECTORS]


@pytest.mark.parametrize("driver", ["async", "blocking"])
@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
def test_vector(path: pathlib.Path, driver: str) -> None:
    mismatches = _tether.run_vector(path.read_text(), driver)
    assert mismatches == [], "\n".join(mismatches)


def first_status_expectation(vector: dict[str, Any]) -> dict[str, Any] | None:
    for step in vector.get("steps", []):
        for request in step.get("send", []):
            expect: dict[str, Any] = request.get("expect", {})
            if "status" in expect:
                return expect
    return None


@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
def test_a_wrong_expectation_is_reported(path: pathlib.Path) -> None:
    vector = json.loads(path.read_text())
    expect = first_status_expectation(vector)
    if expect is None:
        pytest.skip("no request states a status")
    expect["status"] = 599 if expect["status"] != 599 else 598
    mismatches = _tether.run_vector(json.dumps(vector))
    assert any(".status" in m or ": status:" in m for m in mismatches), mismatches


def test_bad_input_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not a vector"):
        _tether.run_vector("{}")
    with pytest.raises(ValueError, match="driver"):
        _tether.run_vector(VECTORS[0].read_text(), "threads")
