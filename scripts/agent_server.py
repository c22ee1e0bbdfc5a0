#!/usr/bin/env python3
"""Run a real LangGraph Agent Server (``langgraph dev``) over the graphs in ``agents/``.

Used by the pytest fixtures (``tests/conftest.py``), the demo script and the benchmarks, and as
a CLI::

    python scripts/agent_server.py setup                      # build .venv-server only
    python scripts/agent_server.py serve [--port N] [--auth]  # foreground until Ctrl-C/SIGTERM
    python scripts/agent_server.py start [--port N] [--auth] --state-file F   # background
    python scripts/agent_server.py stop --state-file F

Standard library only: it runs under the provider's Python, which cannot also hold the server
(langgraph-api pins structlog<26, Airflow needs >=26.1). The server gets its own venv,
``<repo>/.venv-server``, built with uv from ``requirements/server.txt``.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVER_VENV = ".venv-server"
SERVER_LOCK = Path("requirements") / "server.txt"
AGENTS_DIR = "agents"
DEFAULT_CONFIG = "langgraph.json"
AUTH_CONFIG = "langgraph.auth.json"
API_KEY_ENV = "AGENTS_API_KEY"
HOST = "127.0.0.1"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
_LOCK_STAMP = ".server-lock.sha256"
_LOG_NAME = "agent-server.log"
_OWNED_MARKER = ".agent-server-owned"
# Fixed settings: no telemetry, no version check, no LangSmith tracing (all would go online).
_SERVER_ENV = {
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "true",
    "LANGSMITH_TRACING": "false",
    "PYTHONUNBUFFERED": "1",
}
_KEY_PREFIXES = ("LANGSMITH", "LANGCHAIN", "LANGGRAPH")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


_RUNNING: set[AgentServer] = set()


@atexit.register
def _stop_leftovers() -> None:
    """Stop servers this interpreter started and did not stop (e.g. after a crash in a test).

    Servers started by the ``start`` CLI command are detached and meant to outlive us.
    """
    for server in list(_RUNNING):
        server.close()


class AgentServerError(RuntimeError):
    """The server venv could not be built or the server did not come up as asked."""


# --- the server venv -------------------------------------------------------------------------


def _uv_command() -> list[str]:
    """The uv command; install uv with pip first when it is not on PATH."""
    uv = shutil.which("uv")
    if uv:
        return [uv]
    # Venvs made by uv have no pip, so also try the system python3.
    for python in dict.fromkeys([sys.executable, shutil.which("python3") or ""]):
        if not python:
            continue
        result = subprocess.run([python, "-m", "pip", "install", "--quiet", "uv"], check=False)
        if result.returncode == 0:
            return [python, "-m", "uv"]
    raise AgentServerError("uv is not on PATH and `python3 -m pip install uv` failed")


def _lock_digest(lock: Path) -> str:
    return hashlib.sha256(lock.read_bytes()).hexdigest()


@contextlib.contextmanager
def _exclusive(name: str) -> Iterator[None]:
    """A cross-process lock, so parallel test sessions do not build the same venv twice."""
    path = Path(tempfile.gettempdir()) / f"agent-server-{hashlib.sha1(name.encode()).hexdigest()}"
    with open(f"{path}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_server_venv(repo_root: Path | str = REPO_ROOT) -> Path:
    """Build ``<repo>/.venv-server`` (``langgraph dev``) when missing or stale; return its
    ``langgraph`` executable."""
    return ensure_venv(SERVER_VENV, SERVER_LOCK, "python3.11", "langgraph", repo_root)


def ensure_venv(
    name: str, lock: Path | str, python: str, executable: str, repo_root: Path | str = REPO_ROOT
) -> Path:
    """Build the venv ``<repo>/<name>`` from ``lock`` with uv when missing or stale; return the
    path of its ``bin/<executable>``.

    The lock's sha256 is stored in the venv, so an unchanged lock costs one file read.
    """
    root = Path(repo_root).resolve()
    venv, lock = root / name, root / lock
    target, stamp = venv / "bin" / executable, venv / _LOCK_STAMP
    digest = _lock_digest(lock)
    if _is_current(target, stamp, digest):
        return target
    with _exclusive(str(venv)):
        if _is_current(target, stamp, digest):  # another process built it meanwhile
            return target
        uv = _uv_command()
        if not (venv / "bin" / "python").exists():
            _run([*uv, "venv", "--quiet", "--clear", "-p", python, str(venv)])
        stamp.unlink(missing_ok=True)
        env = {**os.environ, "VIRTUAL_ENV": str(venv)}
        _run([*uv, "pip", "sync", "--quiet", str(lock)], env=env, cwd=root)
        if not target.exists():
            raise AgentServerError(f"{lock} did not install a `{executable}` executable")
        stamp.write_text(digest + "\n")
    return target


def _is_current(langgraph: Path, stamp: Path, digest: str) -> bool:
    return langgraph.exists() and stamp.exists() and stamp.read_text().strip() == digest


def _run(cmd: list[str], **kwargs: object) -> None:
    result = subprocess.run(cmd, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise AgentServerError(f"command failed ({result.returncode}): {' '.join(cmd)}")


# --- ports and process ownership -------------------------------------------------------------


def free_port() -> int:
    """A port the kernel just handed out on loopback (free now; we release it to the server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on 127.0.0.1:port or 0.0.0.0:port, from /proc/net/tcp."""
    wanted = {f"0100007F:{port:04X}", f"00000000:{port:04X}"}
    inodes: set[str] = set()
    with open("/proc/net/tcp") as table:
        next(table)  # header
        for line in table:
            fields = line.split()
            if fields[1] in wanted and fields[3] == "0A":  # 0A = LISTEN
                inodes.add(fields[9])
    return inodes


def _process_tree(root_pid: int) -> set[int]:
    """root_pid and all its descendants, from the parent pids in /proc/<pid>/stat."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = set(), [root_pid]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo.extend(children.get(pid, []))
    return tree


def port_owned_by(port: int, root_pid: int) -> bool | None:
    """Whether the socket listening on ``port`` belongs to root_pid's process tree.

    None when /proc is not available (not Linux): callers fall back to weaker checks.
    """
    if not Path("/proc/net/tcp").exists():
        return None
    inodes = _listening_inodes(port)
    if not inodes:
        return False
    targets = {f"socket:[{inode}]" for inode in inodes}
    for pid in _process_tree(root_pid):
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in targets:
                        return True
    return False


# --- the server ------------------------------------------------------------------------------


def server_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The server's environment: ours minus API keys and Python path overrides, plus ``env``."""
    result = {
        name: value
        for name, value in os.environ.items()
        # No LangSmith/LangChain/LangGraph keys: the server must never call out with them.
        if not (name.startswith(_KEY_PREFIXES) and "KEY" in name)
        # The server venv must not see the provider's packages.
        and name not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    }
    result.update(_SERVER_ENV)
    result.update(env or {})
    return result


def prepare_workdir(workdir: Path | str | None, repo_root: Path | str = REPO_ROOT) -> Path:
    """Copy ``agents/`` into workdir (a new temp dir when None), keeping its saved state.

    The server pickles its state into ``<workdir>/.langgraph_api``; that folder is never
    overwritten, so a server restarted on the same workdir sees its earlier threads and runs.
    """
    if workdir is None:
        path = Path(tempfile.mkdtemp(prefix="agent-server-"))
        (path / _OWNED_MARKER).touch()
    else:
        path = Path(workdir).resolve()
        path.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", ".langgraph_api", "*.pyc")
    shutil.copytree(Path(repo_root) / AGENTS_DIR, path, dirs_exist_ok=True, ignore=ignore)
    return path


def _get_json(url: str, timeout: float = 2.0) -> object:
    # An opener without proxies: the server is on loopback, whatever HTTP_PROXY says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as response:
        return json.loads(response.read())


def _strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


class AgentServer:
    """A ``langgraph dev`` child process serving ``agents/`` on ``http://127.0.0.1:<port>``.

    Attributes: ``url``, ``port``, ``pid``, ``workdir``, ``log_path``, ``config``, ``env``.
    ``stop()`` ends it, ``restart()`` brings it back on the same port and workdir (state kept),
    ``close()`` stops it and removes the workdir if it was a temp dir made by us. Use it as a
    context manager to get ``close()`` on exit.
    """

    def __init__(
        self,
        *,
        langgraph: Path,
        workdir: Path,
        port: int,
        config: str,
        env: Mapping[str, str] | None,
        n_jobs_per_worker: int = 10,
    ) -> None:
        self.langgraph = langgraph
        self.n_jobs_per_worker = n_jobs_per_worker
        self.workdir = workdir
        self.port = port
        self.config = config
        self.env = dict(env or {})
        self.log_path = workdir / _LOG_NAME
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def launch(self, timeout: float = START_TIMEOUT) -> None:
        """Start the process and return once it serves ``/ok`` on our port; raise otherwise."""
        if self.running:
            raise AgentServerError(f"server already running as pid {self.pid}")
        command = self.command()
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                command,
                cwd=self.workdir,
                env=server_environment(self.server_env()),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: stop() signals the whole tree
            )
        _RUNNING.add(self)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    kind = "dev"
    """Which server this is: ``dev`` (``langgraph dev``); subclasses name theirs."""
    ready_path = "/ok"

    def command(self) -> list[str]:
        """The command line that serves ``agents/`` on our port (run in the workdir)."""
        return [
            str(self.langgraph), "dev", "--no-browser", "--no-reload",
            "--host", HOST, "--port", str(self.port),
            "--n-jobs-per-worker", str(self.n_jobs_per_worker), "--config", self.config,
        ]  # fmt: skip

    def server_env(self) -> dict[str, str]:
        """What the process gets on top of ``server_environment()``."""
        return self.env

    def is_ready(self, body: object) -> bool:
        """Whether ``ready_path``'s JSON says the server is up: ``{"ok": true, ...}``."""
        return isinstance(body, dict) and body.get("ok") is True

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive_and_port()
            if self._answers_ok():
                self._check_ownership()
                return
            if time.monotonic() > deadline:
                raise self._error(f"{self.ready_path} did not answer within {timeout:.0f} s")
            time.sleep(0.1)

    def _check_alive_and_port(self) -> None:
        assert self._process is not None
        # Checked first: `langgraph dev` moves to another port when ours is taken ("Port N is
        # already in use, using port M instead"), or dies when it loses a bind race.
        if "already in use" in self.new_log():
            raise self._error(f"port {self.port} is already in use", port_taken=True)
        if self._process.poll() is not None:
            raise self._error(f"server exited with code {self._process.returncode}")

    def _answers_ok(self) -> bool:
        try:
            body = _get_json(f"{self.url}{self.ready_path}", timeout=1.0)
        except (OSError, ValueError):
            return False
        return self.is_ready(body)

    def _check_ownership(self) -> None:
        assert self._process is not None
        owned = port_owned_by(self.port, self._process.pid)
        if owned is False or "already in use" in self.new_log():
            raise self._error(f"port {self.port} answers, but not from our server", True)

    def _error(self, reason: str, port_taken: bool = False) -> AgentServerError:
        error = AgentServerError(f"{reason}\n--- {self.log_path} (tail) ---\n{self.log_tail()}")
        error.port_taken = port_taken  # type: ignore[attr-defined]
        return error

    def new_log(self) -> str:
        """The log written since the last launch (earlier launches append to the same file)."""
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as log:
            log.seek(self._log_offset)
            return _strip_ansi(log.read().decode(errors="replace"))

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.new_log().splitlines()[-lines:])

    def stop(self, timeout: float = STOP_TIMEOUT, signum: signal.Signals = signal.SIGTERM) -> None:
        """``signum`` (SIGTERM) to the process group, SIGKILL after ``timeout`` seconds.
        Idempotent."""
        process, self._process = self._process, None
        _RUNNING.discard(self)
        if process is None:
            return
        if process.poll() is None:
            _signal_group(process.pid, signum)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()
        # Children that outlived the leader (none expected) go with the group.
        _signal_group(process.pid, signal.SIGKILL)

    def restart(
        self,
        timeout: float = START_TIMEOUT,
        signum: signal.Signals = signal.SIGTERM,
        down_for: float = 0.0,
    ) -> None:
        """Stop (by ``signum``), stay down ``down_for`` seconds, then start again on the same
        port and workdir (or database): threads and runs persist."""
        self.stop(signum=signum)
        time.sleep(down_for)
        self.launch(timeout)

    def detach(self) -> None:
        """Let the server outlive this interpreter (no stop at exit); for ``start``."""
        _RUNNING.discard(self)

    def close(self) -> None:
        """Stop, and delete the workdir when it is a temp dir that start_server made."""
        self.stop()
        if (self.workdir / _OWNED_MARKER).exists() and not os.environ.get("AGENT_SERVER_KEEP"):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> AgentServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AgentServer(url={self.url!r}, pid={self.pid}, workdir={str(self.workdir)!r})"


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def start_server(
    config: str = DEFAULT_CONFIG,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    workdir: Path | str | None = None,
    *,
    repo_root: Path | str = REPO_ROOT,
    timeout: float = START_TIMEOUT,
    n_jobs_per_worker: int = 10,
) -> AgentServer:
    """Start ``langgraph dev`` on 127.0.0.1 and return once it answers ``/ok`` on our port.

    ``config`` is a file name inside ``agents/`` (``langgraph.json`` or ``langgraph.auth.json``).
    With ``port=None`` a free port is picked, and picked again (up to 3 tries) if someone takes
    it before the server binds it. ``env`` is added to the server's environment.
    ``n_jobs_per_worker`` is how many runs the server executes at once (``langgraph dev``
    overrides ``N_JOBS_PER_WORKER`` in ``env`` with its flag, so it is set here).
    """
    langgraph = ensure_server_venv(repo_root)
    path = prepare_workdir(workdir, repo_root)
    tries = 3 if port is None else 1
    for attempt in range(1, tries + 1):
        server = AgentServer(
            langgraph=langgraph,
            workdir=path,
            port=port or free_port(),
            config=config,
            env=env,
            n_jobs_per_worker=n_jobs_per_worker,
        )
        try:
            server.launch(timeout)
            return server
        except AgentServerError as error:
            if attempt == tries or not getattr(error, "port_taken", False):
                if workdir is None:
                    server.close()
                raise
    raise AssertionError("unreachable")


# --- CLI -------------------------------------------------------------------------------------


def _config_and_env(args: argparse.Namespace) -> tuple[str, dict[str, str]]:
    if not args.auth:
        return DEFAULT_CONFIG, {}
    key = args.api_key or os.environ.get(API_KEY_ENV)
    if not key:
        raise SystemExit(f"--auth needs --api-key or ${API_KEY_ENV}")
    return AUTH_CONFIG, {API_KEY_ENV: key}


def _cmd_setup(args: argparse.Namespace) -> int:
    ensure_server_venv(REPO_ROOT)  # quiet on success: the demo prints only what it came for
    return 0


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _cmd_serve(args: argparse.Namespace) -> int:
    config, env = _config_and_env(args)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)  # SIGTERM ends it like Ctrl-C
    with start_server(config, port=args.port, env=env, n_jobs_per_worker=args.n_jobs) as server:
        print(server.url, flush=True)
        print(f"log: {server.log_path}", file=sys.stderr, flush=True)
        try:
            while server.running:
                time.sleep(0.5)
        except KeyboardInterrupt:
            return 0
    print("server exited", file=sys.stderr)
    return 1


def _cmd_start(args: argparse.Namespace) -> int:
    config, env = _config_and_env(args)
    server = start_server(config, port=args.port, env=env, n_jobs_per_worker=args.n_jobs)
    server.detach()
    state = {
        "url": server.url,
        "port": server.port,
        "pid": server.pid,
        "workdir": str(server.workdir),
        "log_path": str(server.log_path),
    }
    Path(args.state_file).write_text(json.dumps(state, indent=2) + "\n")
    print(server.url)
    return 0


def stop_from_state(state_file: Path | str, timeout: float = STOP_TIMEOUT) -> None:
    """Stop a server started by ``start --state-file``; remove its temp workdir and the file."""
    path = Path(state_file)
    state = json.loads(path.read_text())
    pid, workdir = int(state["pid"]), Path(state["workdir"])
    if _is_our_server(pid):
        _signal_group(pid, signal.SIGTERM)
        if not _wait_gone(pid, timeout):
            _signal_group(pid, signal.SIGKILL)
            _wait_gone(pid, 5.0)
    if (workdir / _OWNED_MARKER).exists():
        shutil.rmtree(workdir, ignore_errors=True)
    path.unlink()


def _is_our_server(pid: int) -> bool:
    """Guard against pid reuse: only signal a process that still is a `langgraph dev`."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:
        return True  # no /proc: trust the state file
    return b"langgraph" in cmdline and b"dev" in cmdline


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _cmd_stop(args: argparse.Namespace) -> int:
    stop_from_state(args.state_file)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("setup", help="build .venv-server from requirements/server.txt")
    for name, help_text in (("serve", "run in the foreground"), ("start", "run in background")):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--port", type=int, default=None, help="default: a free port")
        sub.add_argument("--auth", action="store_true", help=f"use agents/{AUTH_CONFIG}")
        sub.add_argument("--api-key", default=None, help=f"accepted key (default ${API_KEY_ENV})")
        sub.add_argument("--n-jobs", type=int, default=10, metavar="N",
                         help="runs the server executes at once (default 10)")  # fmt: skip
        if name == "start":
            sub.add_argument("--state-file", required=True, help="JSON with url, pid, workdir")
    stop = commands.add_parser("stop", help="stop a server started with `start`")
    stop.add_argument("--state-file", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"setup": _cmd_setup, "serve": _cmd_serve, "start": _cmd_start, "stop": _cmd_stop}
    try:
        return handlers[args.command](args)
    except AgentServerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
