#!/usr/bin/env python3
"""Production-shaped Agent Servers over ``agents/``, beside ``langgraph dev``:

- ``pg``: langgraph-api on its PostgreSQL + Redis runtime (``langgraph-runtime-pg``, served by
  ``langhost``), what LangSmith Deployments and self-hosted stacks run;
- ``aegra``: an independent open-source server of the same protocol, on PostgreSQL (and Redis
  for its worker mode).

Each lives in its own venv built from a lock (``.venv-server-pg`` from
``requirements/server-pg.txt``; ``.venv-server-aegra`` from ``requirements/server-aegra.txt``,
on Python 3.12, which aegra needs). PostgreSQL is a private cluster made with the Debian
packages' ``initdb``/``pg_ctl`` in a temp dir; Redis is a private ``redis-server``; both are
installed with apt when missing, listen on free loopback ports and are stopped by PID. Used by
the compatibility tier (``tests/compatibility``) and as a CLI::

    python scripts/server_beds.py setup                  # build both venvs, install PG/Redis
    python scripts/server_beds.py serve pg|aegra [--port N]   # foreground until Ctrl-C
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import agent_server
from agent_server import (
    HOST,
    REPO_ROOT,
    AgentServer,
    AgentServerError,
    ensure_venv,
    free_port,
    prepare_workdir,
)

KINDS = ("dev", "pg", "aegra")
"""Every server the compatibility tier runs against."""
_PG_PACKAGE = "postgresql"
_REDIS_PACKAGE = "redis-server"
_START_TIMEOUT = 120.0  # runtime-pg's first start runs its migrations (~24 s here)


@dataclass(frozen=True)
class VenvSpec:
    name: str
    lock: str
    python: str
    """The interpreter; empty for aegra's Python 3.12, looked up when the venv is built."""
    executable: str

    def ensure(self, repo_root: Path | str = REPO_ROOT) -> Path:
        python = self.python or python312()
        return ensure_venv(self.name, self.lock, python, self.executable, repo_root)


def python312() -> str:
    """A Python 3.12 for aegra: on PATH, or pyenv's (its shim is not active on these machines)."""
    roots = [os.environ.get("PYENV_ROOT", ""), str(Path.home() / ".pyenv")]
    candidates = [shutil.which("python3.12") or ""] + [
        found
        for root in filter(None, roots)
        for found in sorted(glob.glob(f"{root}/versions/3.12*/bin/python3.12"), reverse=True)
    ]
    for candidate in filter(None, candidates):
        # A pyenv shim is on PATH but fails when 3.12 is not its active version.
        if subprocess.run([candidate, "-V"], capture_output=True, check=False).returncode == 0:
            return candidate
    raise AgentServerError("aegra needs Python 3.12: none on PATH or under pyenv")


PG_VENV = VenvSpec(".venv-server-pg", "requirements/server-pg.txt", "python3.11", "langhost")
AEGRA_VENV = VenvSpec(".venv-server-aegra", "requirements/server-aegra.txt", "", "python")


def ensure_venvs(repo_root: Path | str = REPO_ROOT) -> None:
    PG_VENV.ensure(repo_root)
    AEGRA_VENV.ensure(repo_root)


# --- system packages -------------------------------------------------------------------------


def _apt_install(package: str) -> None:
    if os.geteuid() != 0:
        raise AgentServerError(f"`{package}` is missing; install it: apt-get install {package}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
        if subprocess.run(command, env=env, check=False, stdout=subprocess.DEVNULL).returncode:
            raise AgentServerError(f"`{' '.join(command)}` failed")


def pg_bin() -> Path:
    """The directory of the Debian packages' ``initdb`` and ``pg_ctl`` (not on PATH)."""
    for attempt in range(2):
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
        if found:
            return Path(found[0]).parent
        if attempt == 0:
            _apt_install(_PG_PACKAGE)
    raise AgentServerError("no PostgreSQL server binaries under /usr/lib/postgresql")


def redis_server() -> str:
    for attempt in range(2):
        found = shutil.which("redis-server")
        if found:
            return found
        if attempt == 0:
            _apt_install(_REDIS_PACKAGE)
    raise AgentServerError("redis-server is not on PATH")


def ensure_system_packages() -> None:
    pg_bin()
    redis_server()


# --- PostgreSQL and Redis --------------------------------------------------------------------


def _as_postgres(command: list[str]) -> list[str]:
    # initdb refuses to run as root; these machines run everything as root.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class Postgres:
    """A private PostgreSQL cluster (trust auth, fsync off) on 127.0.0.1:<port>."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        self.port = port or free_port()
        self.data, self.sockets = root / "pg", root / "pgsock"
        self.bin = pg_bin()

    @property
    def pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int((self.data / "postmaster.pid").read_text().split()[0])
        return None

    def start(self) -> Postgres:
        os.chmod(self.root, 0o755)  # the postgres user must reach its folders
        for folder in (self.data, self.sockets):
            folder.mkdir(exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(folder, "postgres", "postgres")
        if not (self.data / "PG_VERSION").exists():
            self._run([str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                       "--auth=trust", "-E", "UTF8"])  # fmt: skip
        options = (
            f"-p {self.port} -k {self.sockets} -c listen_addresses={HOST} -c fsync=off "
            "-c max_connections=200"
        )
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-l",
                   str(self.sockets / "pg.log"), "-w", "-o", options, "start"])  # fmt: skip
        return self

    def create_database(self, name: str) -> str:
        """Create ``name`` (one statement per call, as psql wants); return its URI."""
        self._run(["psql", "-h", HOST, "-p", str(self.port), "-U", "postgres", "-q",
                   "-c", f'create database "{name}"'], as_postgres=False)  # fmt: skip
        return f"postgresql://postgres:postgres@{HOST}:{self.port}/{name}"

    def stop(self) -> None:
        pid = self.pid
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)  # PostgreSQL's "fast" shutdown
        if not agent_server._wait_gone(pid, 20.0):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _run(self, command: list[str], as_postgres: bool = True) -> None:
        full = _as_postgres(command) if as_postgres else command
        done = subprocess.run(full, capture_output=True, text=True, check=False)
        if done.returncode:
            raise AgentServerError(f"{' '.join(command)} failed: {done.stderr or done.stdout}")


class Redis:
    """A private ``redis-server`` (no persistence) on 127.0.0.1:<port>, our child process."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def uri(self, db: int = 0) -> str:
        return f"redis://{HOST}:{self.port}/{db}"

    def start(self, timeout: float = 20.0) -> Redis:
        command = [redis_server(), "--port", str(self.port), "--bind", HOST, "--dir",
                   str(self.root), "--save", "", "--appendonly", "no"]  # fmt: skip
        with open(self.root / "redis.log", "ab") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while not self._pong():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AgentServerError(f"redis-server did not start on port {self.port}")
            time.sleep(0.1)
        return self

    def _pong(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=1.0) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the servers -----------------------------------------------------------------------------


class RuntimePgServer(AgentServer):
    """langgraph-api on PostgreSQL + Redis, served by ``langhost serve``."""

    kind = "pg"

    def command(self) -> list[str]:
        return [
            str(self.langgraph), "serve", "--host", HOST, "--port", str(self.port),
            "--config", self.config, "--n-jobs-per-worker", str(self.n_jobs_per_worker),
        ]  # fmt: skip


class AegraServer(AgentServer):
    """aegra under uvicorn, reading ``agents/langgraph.json`` as is."""

    kind = "aegra"
    ready_path = "/health"

    def command(self) -> list[str]:
        return [str(self.langgraph), "-m", "uvicorn", "aegra_api.main:app",
                "--host", HOST, "--port", str(self.port)]  # fmt: skip

    def server_env(self) -> dict[str, str]:
        return {
            "AUTH_TYPE": "noop",
            "CRON_ENABLED": "false",
            "OTEL_TARGETS": "",
            "AEGRA_CONFIG": str(self.workdir / self.config),
            **self.env,
        }

    def is_ready(self, body: object) -> bool:
        return isinstance(body, dict) and body.get("status") == "healthy"


class ServerBeds:
    """One PostgreSQL and one Redis, shared by every server started through ``start``.

    Each server gets its own database and Redis db number, so servers never see each other's
    threads. ``close()`` stops the servers, then Redis, then PostgreSQL, and removes the folder.
    """

    def __init__(self, root: Path | None = None) -> None:
        ensure_system_packages()
        self.root = root or Path(tempfile.mkdtemp(prefix="server-beds-"))
        self.postgres = Postgres(self.root).start()
        try:
            self.redis = Redis(self.root).start()
        except BaseException:
            self.postgres.stop()
            raise
        self.servers: list[AgentServer] = []
        self._count = 0

    def start(
        self,
        kind: str,
        *,
        env: Mapping[str, str] | None = None,
        config: str = agent_server.DEFAULT_CONFIG,
        n_jobs_per_worker: int = 10,
        timeout: float = _START_TIMEOUT,
    ) -> AgentServer:
        """Start a ``pg`` or ``aegra`` server (a fresh database) on a free port."""
        self._count += 1
        name = f"{kind}{self._count}"
        database = self.postgres.create_database(name)
        workdir = prepare_workdir(self.root / name)
        server = self._server(kind, workdir, database, dict(env or {}), config, n_jobs_per_worker)
        server.launch(timeout)
        self.servers.append(server)
        return server

    def _server(
        self, kind: str, workdir: Path, database: str, env: dict[str, str], config: str, jobs: int
    ) -> AgentServer:
        common = {"workdir": workdir, "port": free_port(), "config": config}
        if kind == "pg":
            env = {
                "DATABASE_URI": f"{database}?sslmode=disable",
                "REDIS_URI": self.redis.uri(self._count % 16),
                **env,
            }
            return RuntimePgServer(
                langgraph=PG_VENV.ensure(), env=env, n_jobs_per_worker=jobs, **common
            )
        if kind == "aegra":
            # Redis worker mode: a lease reaper re-queues the runs of a killed server
            # (without it they stay `running`: "no crash recovery").
            env = {
                "DATABASE_URL": database,
                "REDIS_BROKER_ENABLED": "true",
                "REDIS_URL": self.redis.uri(self._count % 16),
                **env,
            }
            return AegraServer(langgraph=AEGRA_VENV.ensure(), env=env, **common)
        raise AgentServerError(f"unknown server kind {kind!r}; expected pg or aegra")

    def close(self) -> None:
        for server in self.servers:
            server.stop()
        self.redis.stop()
        self.postgres.stop()
        if not os.environ.get("AGENT_SERVER_KEEP"):
            shutil.rmtree(self.root, ignore_errors=True)


# --- CLI -------------------------------------------------------------------------------------


def _cmd_setup(args: argparse.Namespace) -> int:
    ensure_system_packages()
    ensure_venvs()
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    beds = ServerBeds()
    try:
        server = beds.start(args.kind)
        print(server.url, flush=True)
        print(f"log: {server.log_path}", file=sys.stderr, flush=True)
        signal.signal(signal.SIGTERM, agent_server._raise_keyboard_interrupt)
        with contextlib.suppress(KeyboardInterrupt):
            while server.running:
                time.sleep(0.5)
    finally:
        beds.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("setup", help="build the venvs; install PostgreSQL and Redis if missing")
    serve = commands.add_parser("serve", help="run one server in the foreground")
    serve.add_argument("kind", choices=("pg", "aegra"))
    args = parser.parse_args(argv)
    try:
        return {"setup": _cmd_setup, "serve": _cmd_serve}[args.command](args)
    except AgentServerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
