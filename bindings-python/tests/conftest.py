"""Shared fixtures: the chaos upstream on loopback (the project's real test server)."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest


def _chaos_binary() -> str:
    configured = os.environ.get("TETHER_CHAOS_BIN")
    if configured:
        return configured
    root = pathlib.Path(__file__).resolve().parents[2]
    for profile in ("release", "debug"):
        candidate = root / "target" / profile / "tether-chaos"
        if candidate.exists():
            return str(candidate)
    raise pytest.UsageError(
        "tether-chaos not found: build it (cargo build -p tether-chaos) or set TETHER_CHAOS_BIN"
    )


def _dying_with_us(command: list[str]) -> list[str]:
    """The command, made to stop when the test process dies (Linux `setpriv --pdeathsig`),
    even if the test process is killed before its fixtures clean up."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return command
    return [setpriv, "--pdeathsig", "TERM", "--", *command]


@dataclass
class Chaos:
    base: str

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture(scope="session")
def chaos() -> Iterator[Chaos]:
    """The chaos upstream, started once per session and stopped at the end."""
    process = subprocess.Popen(
        _dying_with_us([_chaos_binary(), "--port", "0"]),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        if not first.startswith("listening on "):
            raise RuntimeError(f"tether-chaos did not start: {first!r}")
        yield Chaos("http://" + first.removeprefix("listening on "))
    finally:
        process.terminate()
        process.wait(timeout=10)
