"""Tether: a resilient, observable HTTP client on a Rust engine.

- ``tether.http_client`` and ``tether.monitoring``: drop-ins for the original
  ``common.http_client`` and ``common.monitoring`` modules (``docs/python-migration.md``).
- ``tether.fastapi``: the ``/monitoring`` routes as a FastAPI router (``tether[fastapi]``).
- ``tether.Response``: the lazy ``httpx.Response`` subclass every response is.
- ``tether._tether``: the compiled extension — the asyncio bridge to the tokio runtime that
  runs the requests, the native client and monitor.
"""

from __future__ import annotations

import atexit
import os

from . import _tether
from ._response import Response
from ._tether import RuntimeClosed, RustPanic, TetherError, TransportError

__all__ = [
    "Response",
    "RuntimeClosed",
    "RustPanic",
    "TetherError",
    "TransportError",
]

# Stop the tokio runtime and close every event loop's wake socket before the interpreter
# goes away. Tokio threads hold no Python objects, so this only has to stop them cleanly.
atexit.register(_tether._shutdown_at_exit)

# A forked child inherits the runtime's memory but not its threads: start afresh there.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_tether._after_fork_in_child)
