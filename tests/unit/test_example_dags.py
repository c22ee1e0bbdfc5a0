"""The example DAGs, parsed as Airflow parses them (no server, no database): every file imports
without errors, documents what it shows, is tagged, has the expected tasks, serializes, and
calls only the bundled agents through ``langgraph_default``. The days and questions the
scheduled examples compute are checked against their data intervals.

tests/unit/conftest.py points AIRFLOW_HOME at a throwaway directory before airflow is imported.
"""

from __future__ import annotations

import ast
import inspect
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
import pytest

from airflow_lg.waiting import POLL_INTERVAL, poll_delays

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "example_dags"
BUNDLED_AGENTS = set(json.loads((REPO / "agents" / "langgraph.json").read_text())["graphs"])

EXPECTED_TASKS = {
    "example_invoke_agent": {"build_question", "ask_agent", "report"},
    "example_batch_backfill": {"list_days", "questions", "ask_per_day", "answers_by_day"},
    "example_create_and_sense": {
        "start_research",
        "wait_for_research",
        "prepare_report",
        "publish",
    },
    "example_human_in_the_loop": {"thread_for_run", "ask", "review", "resume"},
    "example_stream_progress": {"crunch_numbers"},
    "example_mapped_runs": {"open_tickets", "answer_ticket", "collect"},
}
PROVIDER_MODULES = ("airflow_lg.operators.", "airflow_lg.sensors.")


@pytest.fixture(scope="module")
def dagbag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(EXAMPLES))


@pytest.fixture(scope="module")
def dags(dagbag: Any) -> dict[str, Any]:
    return dict(dagbag.dags)


def _files() -> list[Path]:
    return sorted(EXAMPLES.glob("*.py"))


def _attr(task: Any, name: str) -> Any:
    """An operator argument, also of a mapped task (where unmapped ones are partial kwargs)."""
    partial = getattr(task, "partial_kwargs", None)
    if partial is not None and name in partial:
        return partial[name]
    expanded = getattr(task, "expand_input", None)
    if expanded is not None and name in getattr(expanded, "value", {}):
        return expanded.value[name]
    if partial is not None:  # a mapped task: what the operator class defaults to
        for cls in _operator_class(task).__mro__:
            parameter = inspect.signature(cls.__init__).parameters.get(name)
            if parameter is not None and parameter.default is not inspect.Parameter.empty:
                return parameter.default
        raise AttributeError(name)
    return getattr(task, name)


def _provider_tasks(dag: Any) -> list[Any]:
    return [
        task for task in dag.tasks if _operator_class(task).__module__.startswith(PROVIDER_MODULES)
    ]


def _operator_class(task: Any) -> type:
    return getattr(task, "operator_class", None) or type(task)


def test_every_example_file_imports_without_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dags) == set(EXPECTED_TASKS)
    files = {Path(dag.fileloc).name for dag in dagbag.dags.values()}
    assert files == {path.name for path in _files()}, "one DAG per example file"


@pytest.mark.parametrize("path", _files(), ids=lambda path: path.name)
def test_every_example_file_explains_what_it_shows(path: Path, dags: dict[str, Any]) -> None:
    docstring = ast.get_docstring(ast.parse(path.read_text()))
    assert docstring, f"{path.name} has no module docstring"
    assert "What it shows" in docstring
    assert "agents/graphs.py" in docstring, "say which bundled agent it calls"
    (dag,) = (dag for dag in dags.values() if Path(dag.fileloc) == path)
    assert dag.doc_md and dag.doc_md.strip() == docstring.strip(), "doc_md=__doc__"
    assert path.stem == dag.dag_id, "the file is named after its DAG"


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_TASKS))
def test_every_example_is_tagged_and_has_the_expected_tasks(
    dag_id: str, dags: dict[str, Any]
) -> None:
    dag = dags[dag_id]
    assert {"airflow-lg", "example"} <= set(dag.tags)
    assert set(dag.task_dict) == EXPECTED_TASKS[dag_id]


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_TASKS))
def test_every_example_serializes_like_the_dag_processor_does(
    dag_id: str, dags: dict[str, Any]
) -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    serialized = DagSerialization.from_dict(DagSerialization.to_dict(dags[dag_id]))
    assert set(serialized.task_dict) == EXPECTED_TASKS[dag_id]


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_TASKS))
def test_examples_call_only_bundled_agents_over_the_default_connection(
    dag_id: str, dags: dict[str, Any]
) -> None:
    tasks = _provider_tasks(dags[dag_id])
    assert tasks, f"{dag_id} uses none of the provider's operators"
    for task in tasks:
        assert _attr(task, "langgraph_conn_id") == "langgraph_default"
        if _operator_class(task).__name__ != "RunStatusSensor":
            assert _attr(task, "assistant_id") in BUNDLED_AGENTS, task.task_id


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_TASKS))
def test_examples_look_again_within_a_second(dag_id: str, dags: dict[str, Any]) -> None:
    """Short intervals keep the examples (and the e2e tier running them) quick. The main job's
    DAG shows the default poll_interval, whose first re-check comes after a second too."""
    for task in _provider_tasks(dags[dag_id]):
        kind = _operator_class(task).__name__
        if kind == "RunStatusSensor":
            name = "poke_interval"
        elif kind == "BatchRunOperator" or (
            kind == "CreateRunOperator" and _attr(task, "wait_for_completion")
        ):
            name = "poll_interval"
        else:
            continue  # no wait, or WaitRunOperator's: the server answers when the run ends
        interval = _attr(task, name)
        seconds = interval.total_seconds() if isinstance(interval, timedelta) else interval
        if dag_id == "example_invoke_agent" and name == "poll_interval":
            assert seconds == POLL_INTERVAL and next(poll_delays(seconds)) == 1
            continue
        assert seconds == 1, f"{task.task_id}.{name} = {interval!r}"


def test_each_example_shows_the_feature_it_is_named_after(dags: dict[str, Any]) -> None:
    invoke = dags["example_invoke_agent"].task_dict
    assert invoke["ask_agent"].deferrable is True

    batch = dags["example_batch_backfill"].task_dict["ask_per_day"]
    assert type(batch).__name__ == "BatchRunOperator"
    assert batch.deferrable is True
    assert batch.inputs.operator.task_id == "questions", "inputs=<task>.output"

    sense = dags["example_create_and_sense"].task_dict
    assert sense["start_research"].wait_for_completion is False
    assert sense["wait_for_research"].deferrable is True
    assert "start_research" in sense["wait_for_research"].upstream_task_ids
    for field in ("thread_id", "run_id"):
        template = getattr(sense["wait_for_research"], field)
        assert f"task_ids='start_research', key='{field}'" in template

    human = dags["example_human_in_the_loop"].task_dict
    assert human["ask"].assistant_id == human["resume"].assistant_id == "human"
    assert human["ask"].on_interrupt == "succeed"
    assert human["ask"].if_not_exists == "create"
    assert type(human["review"]).__name__ == "HITLOperator"
    assert human["review"].options == ["approve", "reject"]
    assert "task_ids='ask', key='thread_id'" in human["resume"].thread_id
    assert set(human["resume"].command) == {"resume"}
    assert human["resume"].upstream_task_ids == {"review"}

    stream = dags["example_stream_progress"].task_dict["crunch_numbers"]
    assert type(stream).__name__ == "WaitRunOperator"
    assert set(stream.stream_mode) == {"updates", "custom"}

    mapped = dags["example_mapped_runs"].task_dict["answer_ticket"]
    assert type(mapped).__name__ == "MappedOperator"
    assert mapped.operator_class.__name__ == "CreateRunOperator"
    assert set(mapped.expand_input.value) == {"input"}
    assert mapped.partial_kwargs["map_index_template"]


def test_scheduled_examples_cover_a_day_and_a_week_of_data(dags: dict[str, Any]) -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    run_after = pendulum.datetime(2026, 11, 22, tz="UTC")
    for dag_id, length in (("example_invoke_agent", 1), ("example_batch_backfill", 7)):
        # the scheduler's view of the timetable: the serialized DAG's
        timetable = DagSerialization.from_dict(DagSerialization.to_dict(dags[dag_id])).timetable
        interval = timetable.infer_manual_data_interval(run_after=run_after)
        assert interval.end == run_after
        assert (interval.end - interval.start).in_days() == length, dag_id


def _callable(dags: dict[str, Any], dag_id: str, task_id: str) -> Any:
    return dags[dag_id].task_dict[task_id].python_callable


def test_the_daily_question_names_the_day_of_the_data_interval(dags: dict[str, Any]) -> None:
    build_question = _callable(dags, "example_invoke_agent", "build_question")
    start = pendulum.datetime(2026, 11, 24, tz="UTC")
    assert build_question(data_interval_start=start) == {
        "messages": [
            {
                "role": "user",
                "content": "Summarise the orders of Tuesday 24 November 2026 (2026-11-24)",
            }
        ]
    }


def test_the_backfill_lists_the_days_of_its_interval_or_of_its_params(
    dags: dict[str, Any],
) -> None:
    list_days = _callable(dags, "example_batch_backfill", "list_days")
    week = list_days(
        params={"first_day": None, "last_day": None},
        data_interval_start=pendulum.datetime(2026, 11, 15, tz="UTC"),
        data_interval_end=pendulum.datetime(2026, 11, 22, tz="UTC"),
    )
    assert week == [f"2026-11-{day}" for day in range(15, 22)]
    assert list_days(
        params={"first_day": "2026-11-30", "last_day": "2026-12-02"},
        data_interval_start=pendulum.datetime(2026, 11, 15, tz="UTC"),
        data_interval_end=pendulum.datetime(2026, 11, 22, tz="UTC"),
    ) == ["2026-11-30", "2026-12-01", "2026-12-02"]
    with pytest.raises(ValueError, match="both first_day and last_day"):
        list_days(params={"first_day": "2026-11-30", "last_day": None})
    with pytest.raises(ValueError, match="is empty"):
        list_days(params={"first_day": "2026-12-02", "last_day": "2026-11-30"})
    with pytest.raises(ValueError, match="longer than"):
        list_days(params={"first_day": "2020-01-01", "last_day": "2026-01-01"})


def test_the_backfill_collects_one_answer_per_day(dags: dict[str, Any]) -> None:
    questions = _callable(dags, "example_batch_backfill", "questions")
    answers_by_day = _callable(dags, "example_batch_backfill", "answers_by_day")
    days = ["2026-11-02", "2026-11-03"]
    assert [q["messages"][0]["content"] for q in questions(days)] == [
        "Summarise the orders of 2026-11-02",
        "Summarise the orders of 2026-11-03",
    ]

    def entry(index: int, answer: str) -> dict[str, Any]:
        output = {"messages": [{"type": "human"}, {"type": "ai", "content": answer}]}
        return {"index": index, "status": "success", "outcome": "success", "output": output}

    batch = {"runs": [entry(1, "b"), entry(0, "a")], "counts": {"success": 2}, "total": 2}
    assert answers_by_day(days, batch) == {"2026-11-02": "a", "2026-11-03": "b"}
    with pytest.raises(ValueError, match="2 days but 1 results"):
        answers_by_day(days, {"runs": [entry(0, "a")]})
