"""The shape a newcomer reads in one pass (docs/architecture.md): small modules, Airflow
semantics only in operators/ and sensors/, every choice written once in schema.py."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

import pytest

from airflow_lg import arguments, schema

PACKAGE = Path(__file__).resolve().parents[2] / "airflow_lg"
AIRFLOW_SIDE = [*sorted((PACKAGE / "operators").glob("*.py")), PACKAGE / "sensors" / "runs.py"]


@pytest.mark.parametrize("module", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.name)
def test_no_module_is_over_500_lines(module: Path) -> None:
    assert len(module.read_text().splitlines()) <= 500


@pytest.mark.parametrize("module", AIRFLOW_SIDE, ids=lambda p: p.name)
def test_operators_and_sensors_send_no_http_themselves(module: Path) -> None:
    tree = ast.parse(module.read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {"httpx", "airflow_lg.wire"} & imported
    assert not any(m.startswith("airflow_lg.wire") for m in imported)
    paths = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and node.value.startswith(("/threads", "/runs"))
    ]  # fmt: skip
    assert paths == []


def test_every_checked_choice_is_read_from_a_literal_of_schema() -> None:
    literals = {
        tuple(get_args(value))
        for value in vars(schema).values()
        if getattr(value, "__origin__", None) is not None and get_args(value)
    }
    assert all(choices in literals for choices in arguments.CHOICES.values())
