"""Shared pytest setup: markers and the real Agent Server fixtures.

- ``tests/unit/**`` is marked ``unit`` (no server); ``tests/server/**`` is marked ``server``
  (real ``langgraph dev`` processes; the first run builds ``.venv-server``). Select with
  ``-m unit`` / ``-m server`` / ``-m "not server"``.
- Session fixtures ``agent_server`` (agents/langgraph.json) and ``auth_server``
  (agents/langgraph.auth.json, accepting only ``auth_api_key``) are started in parallel as
  soon as collection shows that some selected test needs them.
- ``start_agent_server(**kwargs)`` starts a private server (kwargs of ``start_server``:
  config, port, env, workdir); all are stopped at session end.
- ``fault_proxy`` is a fresh ``FaultProxy`` in front of ``agent_server`` for each test.

A server that cannot start makes its tests error out; they are never skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.servers import AgentServer, ServerPool, start_server

if TYPE_CHECKING:
    from tests.support.fault_proxy import FaultProxy

AUTH_API_KEY = "airflow-lg-testbed-key"
_TESTS = Path(__file__).resolve().parent
_GROUPS = {"unit": _TESTS / "unit", "server": _TESTS / "server"}
_POOLED = ("agent_server", "auth_server")

_pool = ServerPool(
    {
        "agent_server": lambda: {},
        "auth_server": lambda: {
            "config": "langgraph.auth.json",
            "env": {"AGENTS_API_KEY": AUTH_API_KEY},
        },
    }
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "unit: needs no Agent Server (tests/unit)")
    config.addinivalue_line(
        "markers", "server: runs against a real LangGraph Agent Server (tests/server)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for marker, folder in _GROUPS.items():
            if item.path.is_relative_to(folder):
                item.add_marker(marker)


def pytest_collection_finish(session: pytest.Session) -> None:
    # After deselection (-k/-m): boot only the servers that the selected tests will use.
    if session.config.option.collectonly:
        return
    needed = {name for item in session.items for name in getattr(item, "fixturenames", ())}
    for name in _POOLED:
        if name in needed:
            _pool.prestart(name)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _pool.close()


@pytest.fixture(scope="session")
def agent_server() -> AgentServer:
    """The shared server over agents/langgraph.json (graphs: test_agent, sleeper, failing,
    human, chat). Do not stop or restart it: use ``start_agent_server`` for that."""
    return _pool.get("agent_server")


@pytest.fixture(scope="session")
def auth_api_key() -> str:
    """The only ``x-api-key`` that ``auth_server`` accepts."""
    return AUTH_API_KEY


@pytest.fixture(scope="session")
def auth_server(auth_api_key: str) -> AgentServer:
    """A server with the custom auth handler: 401 unless ``x-api-key: <auth_api_key>``."""
    return _pool.get("auth_server")


@pytest.fixture(scope="session")
def start_agent_server() -> Iterator[Callable[..., AgentServer]]:
    """Factory for private servers: ``start_agent_server(env={"BG_JOB_TIMEOUT_SECS": "3"})``.

    Takes ``start_server``'s keyword arguments (config, port, env, workdir, timeout). Safe to
    call from several threads at once to boot servers in parallel. Every server it started is
    closed at session end (closing one earlier yourself is fine).
    """
    servers: list[AgentServer] = []

    def factory(**kwargs: Any) -> AgentServer:
        server = start_server(**kwargs)
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.close()


@pytest.fixture
def fault_proxy(agent_server: AgentServer) -> Iterator[FaultProxy]:
    """A fresh FaultProxy (no faults, empty log) forwarding to ``agent_server``; use ``.url``."""
    from tests.support.fault_proxy import FaultProxy  # needs uvicorn/httpx: server tests only

    with FaultProxy(agent_server.url) as proxy:
        yield proxy
