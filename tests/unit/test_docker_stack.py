"""The docker stack (docker/), checked without Docker: the compose file is valid YAML with the
expected services, every file and directory it refers to exists, every image is pinned to a
version, the versions agree with the repository's locks, and the Airflow services reach the
agent server through a valid ``langgraph`` connection.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
COMPOSE = DOCKER / "compose.yaml"

AIRFLOW_COMPONENTS = {
    "airflow-apiserver": ["api-server"],
    "airflow-scheduler": ["scheduler"],
    "airflow-dag-processor": ["dag-processor"],
    "airflow-triggerer": ["triggerer"],
}
AGENT_SERVICES = {"agent-server", "agent-postgres", "agent-redis"}
EXPECTED_SERVICES = {*AIRFLOW_COMPONENTS, "airflow-init", "postgres", *AGENT_SERVICES}
AIRFLOW_SERVICES = {*AIRFLOW_COMPONENTS, "airflow-init"}
CONN_VAR = "AIRFLOW_CONN_LANGGRAPH_DEFAULT"
DAGS_FOLDER = "/opt/airflow/dags"  # the official image's [core] dags_folder
# floating tags that name no version
UNPINNED_TAGS = {"latest", "stable", "edge", "nightly", "main", "master", "slim", "alpine"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def _lock_pin(lock: Path, package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==(\S+)$", lock.read_text(), re.MULTILINE)
    assert match, f"{package} is not pinned in {lock}"
    return match.group(1)


def _dockerfiles(services: dict[str, dict[str, Any]]) -> dict[str, Path]:
    """service -> its Dockerfile (each service that is built)."""
    found = {}
    for name, service in services.items():
        build = service.get("build")
        if build:
            context = (DOCKER / build["context"]).resolve()
            found[name] = context / build.get("dockerfile", "Dockerfile")
    return found


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def _args(dockerfile: Path) -> dict[str, str]:
    args = {}
    for keyword, rest in _instructions(dockerfile):
        if keyword == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            args[name] = value
    return args


def _assert_pinned(image: str, where: str) -> None:
    assert "$" not in image, f"{where}: {image!r} is not a literal image reference"
    name, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
    assert name and tag, f"{where}: image {image!r} has no tag"
    assert tag.lower() not in UNPINNED_TAGS, f"{where}: image {image!r} is not pinned"
    assert re.search(r"\d", tag), f"{where}: tag of {image!r} names no version"


def test_the_compose_file_is_yaml_with_the_expected_services(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    assert set(services) == EXPECTED_SERVICES
    for name, command in AIRFLOW_COMPONENTS.items():
        assert services[name]["command"] == command, name
    assert services["airflow-init"]["command"] == ["db", "migrate"]
    assert "postgres" in services["postgres"]["image"]


def test_every_image_is_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        if "image" in service:
            _assert_pinned(service["image"], f"service {name}")
    for name, dockerfile in _dockerfiles(services).items():
        bases = [
            rest.split()[0] for keyword, rest in _instructions(dockerfile) if keyword == "FROM"
        ]
        assert bases, f"{dockerfile.name} has no FROM"
        for base in bases:
            _assert_pinned(base, f"{dockerfile.name} (service {name})")


def test_every_file_the_stack_refers_to_exists(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    named_volumes = set(compose.get("volumes") or {})
    for name, service in services.items():
        build = service.get("build")
        if build:
            context = (DOCKER / build["context"]).resolve()
            assert context.is_dir(), f"{name}: build context {context} does not exist"
            assert (context / build["dockerfile"]).is_file(), f"{name}: no {build['dockerfile']}"
        for env_file in service.get("env_file") or []:
            path = env_file if isinstance(env_file, str) else env_file["path"]
            assert (DOCKER / path).is_file(), f"{name}: env file {path} does not exist"
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0] if isinstance(volume, str) else volume["source"]
            if source.startswith((".", "/")):
                assert (DOCKER / source).exists(), f"{name}: mounted {source} does not exist"
            else:
                assert source in named_volumes, f"{name}: volume {source} is not declared"


def test_every_file_a_dockerfile_copies_is_sent_in_its_build_context(
    services: dict[str, dict[str, Any]],
) -> None:
    """COPY sources exist, and the Dockerfile's own .dockerignore (an allow-list) lets them in."""
    for dockerfile in _dockerfiles(services).values():
        context = REPO
        ignore = dockerfile.with_name(dockerfile.name + ".dockerignore")
        assert ignore.is_file(), f"{dockerfile.name} sends the whole repository (.venv...)"
        lines = [line.strip() for line in ignore.read_text().splitlines()]
        allowed = [line[1:].rstrip("/") for line in lines if line.startswith("!")]
        assert "*" in lines, f"{ignore.name} should exclude everything but what it allows"
        for keyword, rest in _instructions(dockerfile):
            if keyword != "COPY":
                continue
            parts = [part for part in rest.split() if not part.startswith("--")]
            for source in parts[:-1]:
                source = source.rstrip("/")
                assert (context / source).exists(), f"{dockerfile.name}: COPY {source} missing"
                assert source in allowed, f"{dockerfile.name}: {ignore.name} excludes {source}"


def test_the_airflow_image_is_the_official_one_at_the_locked_version(
    services: dict[str, dict[str, Any]],
) -> None:
    locked = _lock_pin(REPO / "requirements" / "dev.txt", "apache-airflow")
    dockerfiles = _dockerfiles(services)
    for name in AIRFLOW_SERVICES:
        assert dockerfiles[name].name == "airflow.Dockerfile", name
    dockerfile = dockerfiles["airflow-scheduler"]
    (base,) = [rest for keyword, rest in _instructions(dockerfile) if keyword == "FROM"]
    assert base == f"apache/airflow:{locked}-python3.11"
    assert _args(dockerfile)["AIRFLOW_VERSION"] == locked
    install = " ".join(rest for keyword, rest in _instructions(dockerfile) if keyword == "RUN")
    assert '"apache-airflow==${AIRFLOW_VERSION}" /opt/airflow-lg' in install


def test_the_agent_server_is_langgraph_api_on_postgres_and_redis_at_the_locked_version(
    services: dict[str, dict[str, Any]],
) -> None:
    dockerfile = _dockerfiles(services)["agent-server"]
    instructions = _instructions(dockerfile)
    (base,) = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert base.startswith("python:3.11-")
    locked = _lock_pin(REPO / "requirements" / "server-pg.txt", "langgraph-runtime-pg")
    assert _args(dockerfile)["LANGGRAPH_RUNTIME_PG_VERSION"] == locked
    assert any(
        k == "RUN" and "pip install -r /tmp/server-pg.txt" in rest for k, rest in instructions
    )
    (command,) = [json.loads(rest) for keyword, rest in instructions if keyword == "CMD"]
    assert command[:2] == ["langhost", "serve"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert command[command.index("--port") + 1] == "2024"
    assert services["agent-server"]["ports"] == ["2024:2024"]
    assert (REPO / "agents" / command[command.index("--config") + 1]).is_file()
    # its storage and queue are services of the stack, started (healthy) before it
    env = services["agent-server"]["environment"]
    database, redis = urlsplit(env["DATABASE_URI"]), urlsplit(env["REDIS_URI"])
    assert (database.scheme, database.hostname) == ("postgresql", "agent-postgres")
    assert (redis.scheme, redis.hostname) == ("redis", "agent-redis")
    postgres = services["agent-postgres"]["environment"]
    assert database.path == f"/{postgres['POSTGRES_DB']}"
    assert (database.username, database.password) == (
        postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"],
    )  # fmt: skip
    depends = services["agent-server"]["depends_on"]
    assert {name: d["condition"] for name, d in depends.items()} == {
        "agent-postgres": "service_healthy", "agent-redis": "service_healthy",
    }  # fmt: skip


def test_the_airflow_services_mount_the_examples_and_share_settings(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in AIRFLOW_SERVICES:
        service = services[name]
        mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in service["volumes"]}
        assert (DOCKER / mounts[DAGS_FOLDER]).resolve() == REPO / "example_dags", name
        assert "/opt/airflow/logs" in mounts, f"{name}: task logs must be shared"
        assert service["env_file"] == ["airflow.env"], name
    settings = _env_file(DOCKER / "airflow.env")
    assert settings["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert urlsplit(settings["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).hostname == "postgres"
    execution_api = urlsplit(settings["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert execution_api.hostname == "airflow-apiserver"
    assert f"{execution_api.port}:{execution_api.port}" in services["airflow-apiserver"]["ports"]
    assert settings["AIRFLOW__API_AUTH__JWT_SECRET"], "every component needs the same secret"


def _env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", key), f"{path.name}: {line!r}"
            values[key] = value
    return values


def test_the_connection_points_at_the_agent_server_service(
    services: dict[str, dict[str, Any]],
) -> None:
    from airflow.models.connection import Connection

    for name in AIRFLOW_SERVICES:
        raw = services[name]["environment"][CONN_VAR]
        spec = json.loads(raw)
        assert spec["conn_type"] == "langgraph", name
        conn = Connection.from_json(raw, conn_id="langgraph_default")
        assert conn.conn_type == "langgraph"
        url = urlsplit(conn.host)
        assert url.scheme == "http"
        assert url.hostname == "agent-server"
        assert f"{url.port}:{url.port}" in services["agent-server"]["ports"]


def test_the_connection_is_read_by_the_hook_as_the_agent_server_url(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_lg.hooks.langgraph import LangGraphHook

    monkeypatch.setenv(CONN_VAR, services["airflow-scheduler"]["environment"][CONN_VAR])
    settings = LangGraphHook("langgraph_default").settings
    assert settings.base_url.rstrip("/") == "http://agent-server:2024"


def test_the_docs_show_how_to_start_the_stack() -> None:
    readme = (DOCKER / "README.md").read_text()
    assert "docker compose -f docker/compose.yaml up" in readme
    assert "http://localhost:8080" in readme
    assert "langhost serve" in readme  # the production-shaped server it runs


def test_the_stack_enables_the_connection_test_button() -> None:
    settings = (Path(__file__).resolve().parents[2] / "docker" / "airflow.env").read_text()
    assert "AIRFLOW__CORE__TEST_CONNECTION=Enabled" in settings.splitlines()
