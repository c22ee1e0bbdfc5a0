"""Airflow finds the provider through its entry point and shows the langgraph connection type."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import distribution
from pathlib import Path

import pytest

import airflow_lg
from airflow_lg.get_provider_info import get_provider_info

FORM_FIELDS = {"headers", "timeout", "verify", "retry"}


@pytest.fixture(scope="module")
def providers_manager():
    from airflow.providers_manager import ProvidersManager

    return ProvidersManager()


def test_the_distribution_registers_get_provider_info_as_its_provider_entry_point():
    dist = distribution("airflow-lg")
    assert dist.version == airflow_lg.__version__
    entry_points = dist.entry_points.select(group="apache_airflow_provider")
    assert [(ep.name, ep.value) for ep in entry_points] == [
        ("provider_info", "airflow_lg.get_provider_info:get_provider_info")
    ]
    (entry_point,) = entry_points
    assert entry_point.load() is get_provider_info


def test_provider_info_names_the_package_and_its_version():
    info = get_provider_info()
    assert info["package-name"] == "airflow-lg"
    assert info["versions"] == [airflow_lg.__version__]
    assert info["hooks"] == [
        {"integration-name": "LangGraph", "python-modules": ["airflow_lg.hooks.langgraph"]}
    ]


def test_the_declared_connection_type_matches_the_hook_class():
    from airflow_lg.hooks.langgraph import LangGraphHook

    (conn_type,) = get_provider_info()["connection-types"]
    assert conn_type["hook-class-name"] == (
        f"{LangGraphHook.__module__}.{LangGraphHook.__qualname__}"
    )
    assert conn_type["connection-type"] == LangGraphHook.conn_type
    assert conn_type["hook-name"] == LangGraphHook.hook_name


def test_providers_manager_lists_the_provider(providers_manager):
    provider = providers_manager.providers["airflow-lg"]
    assert provider.version == airflow_lg.__version__
    assert provider.data["package-name"] == "airflow-lg"


@pytest.mark.filterwarnings("ignore:ProvidersManager.hooks is deprecated")
def test_providers_manager_knows_the_hook_for_the_langgraph_connection_type(providers_manager):
    hook = providers_manager.hooks["langgraph"]
    assert hook is not None
    assert hook.hook_class_name == "airflow_lg.hooks.langgraph.LangGraphHook"
    assert hook.package_name == "airflow-lg"
    assert hook.connection_type == "langgraph"
    assert hook.connection_id_attribute_name == "langgraph_conn_id"
    assert hook.hook_name == "LangGraph Agent Server"
    assert hook.connection_testable is True


def test_the_connection_form_relabels_host_and_password(providers_manager):
    behaviour = providers_manager.field_behaviours["langgraph"]
    assert behaviour["relabeling"] == {"host": "Server URL", "password": "API key"}
    assert behaviour["placeholders"]["host"] == "http://127.0.0.1:2024"
    assert set(behaviour["hidden_fields"]) == {"schema", "login", "port", "extra"}


def test_the_connection_form_has_the_extra_fields(providers_manager):
    widgets = {
        widget.field_name: widget
        for key, widget in providers_manager.connection_form_widgets.items()
        if key.startswith("extra__langgraph__")
    }
    assert set(widgets) >= FORM_FIELDS
    for name in FORM_FIELDS:
        assert widgets[name].hook_class_name == "airflow_lg.hooks.langgraph.LangGraphHook"
        assert widgets[name].package_name == "airflow-lg"
        assert widgets[name].is_sensitive is False
    assert widgets["headers"].field["schema"]["title"] == "Extra headers (JSON)"
    assert widgets["timeout"].field["schema"]["title"] == "Timeout (seconds)"
    assert widgets["verify"].field["schema"]["title"] == "Verify TLS"
    assert widgets["retry"].field["schema"]["title"] == "Retry settings (JSON)"


def test_the_airflow_cli_shows_the_provider(tmp_path):
    airflow = Path(sys.executable).parent / "airflow"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONWARNINGS": "ignore",
    }
    done = subprocess.run(
        [str(airflow), "providers", "get", "airflow-lg", "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        {"Provider": "airflow-lg", "Version": airflow_lg.__version__}
    ]


@pytest.mark.parametrize(
    ("section", "classes"),
    [
        ("operators", {"CreateRunOperator", "WaitRunOperator", "BatchRunOperator"}),
        ("sensors", {"RunStatusSensor"}),
        ("triggers", {"LangGraphRunTrigger"}),
    ],
)
def test_provider_info_declares_every_operator_sensor_and_trigger_module(section, classes):
    import importlib

    (entry,) = get_provider_info()[section]
    assert entry["integration-name"] == "LangGraph"
    found = {
        name
        for module in entry["python-modules"]
        for name in vars(importlib.import_module(module))
        if name in classes
    }
    assert found == classes
