"""Tether: a resilient, observable HTTP client on a Rust engine.

This release holds the foundation of the package: the asyncio bridge of the compiled
extension (``tether._tether``) and the lazy ``httpx.Response`` subclass its responses become
(``tether.Response``). The drop-in modules ``tether.http_client`` and ``tether.monitoring``
are built on them.
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
