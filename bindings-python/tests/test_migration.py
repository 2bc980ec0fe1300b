"""Migration: a ``common`` package whose two modules are ``from tether.http_client import *``
and ``from tether.monitoring import *`` runs a script written for the original API
(tests/migration/enhanced_features.py, modelled on the original acceptance script) unchanged,
against the chaos upstream's httpbin-like routes: exit 0, no ❌ line."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
from typing import Any

SCRIPT = pathlib.Path(__file__).parent / "migration" / "enhanced_features.py"


def test_the_original_script_runs_on_the_two_star_imports(
    tmp_path: pathlib.Path, chaos: Any
) -> None:
    common = tmp_path / "common"
    common.mkdir()
    (common / "__init__.py").write_text("")
    (common / "http_client.py").write_text("from tether.http_client import *\n")
    (common / "monitoring.py").write_text("from tether.monitoring import *\n")
    script = tmp_path / SCRIPT.name
    shutil.copy(SCRIPT, script)
    environment = {**os.environ, "HTTPBIN": chaos.base, "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "❌" not in output, output
    for expected in (
        "✅ GET request successful: 200",
        "✅ POST request successful: 200",
        "✅ Cache working correctly",
        "✅ Batch processing completed: 5 results",
        "📊 Monitoring data collected: 4 keys",
        "📤 Prometheus export: 9 lines",
        "📈 Metrics history: 1 entries",
        "✅ Error handled correctly: HTTPStatusError",
        "🎉 Test suite completed",
    ):
        assert expected in output, (expected, output)
