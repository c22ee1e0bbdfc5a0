"""Access to ``scripts/agent_server.py`` from tests, plus a pool that starts servers in parallel.

The script is not in a package (it is also run as a plain CLI), so it is loaded from its path
and registered as the module ``agent_server``, the same name a ``sys.path`` import would use.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "agent_server.py"


def load_script(name: str) -> ModuleType:
    """``scripts/<name>.py`` as the module ``name`` (the name a ``sys.path`` import gives)."""
    if name in sys.modules:
        return sys.modules[name]
    scripts = str(SCRIPT.parent)
    if scripts not in sys.path:
        sys.path.append(scripts)  # server_beds imports agent_server by name
    spec = importlib.util.spec_from_file_location(name, SCRIPT.parent / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before exec: dataclasses and pickling look it up
    spec.loader.exec_module(module)
    return module


def _load_script() -> ModuleType:
    return load_script("agent_server")


if TYPE_CHECKING:  # give type checkers the real names
    from scripts.agent_server import AgentServer, AgentServerError, start_server
else:
    _script = _load_script()
    AgentServer = _script.AgentServer
    AgentServerError = _script.AgentServerError
    start_server = _script.start_server
    ensure_server_venv = _script.ensure_server_venv

__all__ = [
    "AgentServer",
    "AgentServerError",
    "ServerPool",
    "ensure_server_venv",
    "load_script",
    "start_server",
]


class ServerPool:
    """Named servers started in background threads, so several boot at the same time.

    ``prestart(name)`` begins a start without waiting; ``get(name)`` waits for it (starting it
    first if nobody asked before) and re-raises its failure; ``close()`` stops everything.
    Each server takes ~2.5 s of mostly CPU-bound imports to boot; two boot in parallel on
    two cores in about the time of one.
    """

    def __init__(self, specs: dict[str, Callable[[], dict[str, Any]]]) -> None:
        self._specs = specs
        self._futures: dict[str, Future[AgentServer]] = {}
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="agent-server")
        self._lock = threading.Lock()

    def prestart(self, name: str) -> Future[AgentServer]:
        with self._lock:
            if name not in self._futures:
                kwargs = self._specs[name]()
                self._futures[name] = self._executor.submit(start_server, **kwargs)
            return self._futures[name]

    def get(self, name: str) -> AgentServer:
        return self.prestart(name).result()

    def close(self) -> None:
        with self._lock:
            futures, self._futures = list(self._futures.values()), {}
        for future in futures:
            # A failed start was reported by its fixture already.
            with contextlib.suppress(Exception):
                future.result().close()
        self._executor.shutdown(wait=True)
