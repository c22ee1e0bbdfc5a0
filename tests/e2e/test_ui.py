"""The provider's UI plugin on a real deployment, in a real browser (Debian's chromium through
chromium-driver): what a person sees of the agents.

The deployment runs the example DAGs plus two of ``ui_dags/`` (a run that fails, a run that
asks a person), against an agent server that needs an API key: the views read it through the
connection, and no page may show the key. User ``outsider`` may read one DAG only
(``tests/support/ui_auth_manager.py``). Screenshots of every page go to
``$AIRFLOW_LG_SCREENSHOTS`` (default ``.run/ui-screenshots``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.support.airflow_home import remove_at_exit, use_private_airflow_home

use_private_airflow_home()

from tests.support.airflow_deployment import AirflowDeploymentError  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("AIRFLOW_LG_SCREENSHOTS") or REPO / ".run" / "ui-screenshots")
pytestmark = pytest.mark.timeout(420)

INVOKE = "example_invoke_agent"
BATCH = "example_batch_backfill"
FAILING = "lg_ui_failing"
SLOW = "lg_ui_slow"
PAUSED = "lg_ui_paused"
BATCH_CONF = {"first_day": "2026-11-02", "last_day": "2026-11-04"}
OUTSIDER = "outsider"
OUTSIDER_PASSWORD = "outsider-password"
OUTSIDER_DAGS = (INVOKE,)  # the outsider may read this DAG only


# ---- the deployment ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dags_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="airflow-lg-ui-dags-"))
    remove_at_exit(str(folder))
    for source in [
        *(REPO / "example_dags").glob("example_*.py"),
        REPO / "tests/e2e/ui_dags/lg_ui.py",
    ]:
        shutil.copy(source, folder / source.name)
    return folder


@pytest.fixture(scope="module")
def airflow(
    airflow_deployment_factory: Any, auth_server: Any, auth_api_key: str, dags_folder: Path
) -> Iterator[Any]:
    users = Path(tempfile.mkdtemp(prefix="airflow-lg-ui-users-"))  # a folder: removed whole
    remove_at_exit(str(users))
    passwords = users / "passwords.json"
    passwords.write_text(json.dumps({"admin": "admin", OUTSIDER: OUTSIDER_PASSWORD}))
    conn = {"conn_type": "langgraph", "host": auth_server.url, "password": auth_api_key}
    env = {
        "AIRFLOW_CONN_LANGGRAPH_DEFAULT": json.dumps(conn),
        "AIRFLOW__CORE__AUTH_MANAGER": "tests.support.ui_auth_manager.OutsiderAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"admin:admin,{OUTSIDER}:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW_LG_OUTSIDER_DAGS": ",".join(OUTSIDER_DAGS),
        "PYTHONPATH": str(REPO),
    }
    deployment = airflow_deployment_factory(dags_folder, env=env, parallelism=6)
    try:
        yield deployment
    finally:
        deployment.stop()


@pytest.fixture(scope="module")
def runs(airflow: Any) -> dict[str, str]:
    """The DAGs the views are looked at for, triggered at once and run to their end."""
    triggered = {
        INVOKE: airflow.trigger(INVOKE, logical_date="2026-11-10T00:00:00+00:00"),
        BATCH: airflow.trigger(BATCH, conf=BATCH_CONF),
        FAILING: airflow.trigger(FAILING),
        PAUSED: airflow.trigger(PAUSED),
    }
    expected = {INVOKE: "success", BATCH: "success", FAILING: "failed", PAUSED: "success"}
    for dag_id, run_id in triggered.items():
        assert airflow.wait_dag_run(dag_id, run_id, timeout=240) == expected[dag_id], dag_id
    return triggered


def _token(airflow: Any, username: str, password: str) -> str:
    answer = httpx.post(
        f"{airflow.url}/auth/token", json={"username": username, "password": password}
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


# ---- the browser ---------------------------------------------------------------------------


class Browser:
    """Headless chromium, logged in to the deployment as one user (its JWT in the cookie the
    UI uses), reading the plugin's pages inside Airflow's own UI."""

    def __init__(self, airflow: Any, token: str) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})  # network, below
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                         "--window-size=1500,1100", "--disable-gpu"):  # fmt: skip
            options.add_argument(argument)
        service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
        self.driver = webdriver.Chrome(options=options, service=service)
        self.url = airflow.url
        self.driver.get(f"{self.url}/api/v2/version")  # a page of the origin, to set its cookie
        self.driver.add_cookie({"name": "_token", "value": token, "path": "/"})

    def close(self) -> None:
        self.driver.quit()

    def frame_text(self, path: str, title: str, until: Callable[[str], bool], shot: str) -> str:
        """Open ``path`` of Airflow's UI, wait until the plugin's frame ``title`` shows text
        for which ``until`` holds, screenshot the page; the frame's text."""
        self.driver.get(self.url + path)
        return self.watch(title, until, shot)

    def watch(
        self, title: str, until: Callable[[str], bool], shot: str, timeout: float = 60
    ) -> str:
        """Without loading anything: wait until the frame ``title`` shows text for which
        ``until`` holds (the frame may reload itself), screenshot; the frame's text."""

        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self._frame_body(title)
            if until(text):
                break
            time.sleep(0.5)
        time.sleep(0.5)  # let the UI settle for the picture
        self.shot(shot)
        return text

    def _frame_body(self, title: str) -> str:
        """The frame's text now; "" while the UI is (re)rendering it (React replaces
        elements: one found a moment ago may be gone)."""
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.common.by import By

        try:
            frames = self.driver.find_elements(By.CSS_SELECTOR, f"iframe[title='{title}']")
            if not frames:
                return ""
            self.driver.switch_to.frame(frames[0])
            return str(self.driver.find_element(By.TAG_NAME, "body").text)
        except WebDriverException:
            return ""
        finally:
            self.driver.switch_to.default_content()

    def click_in_frame(self, title: str, link_text: str, until: Callable[[str], bool]) -> str:
        """Click a link inside the plugin's frame; the frame's text once ``until`` holds."""
        from selenium.webdriver.common.by import By

        driver = self.driver
        driver.switch_to.frame(driver.find_element(By.CSS_SELECTOR, f"iframe[title='{title}']"))
        try:
            _wait_for(
                lambda: [a.click() or True for a in driver.find_elements(By.LINK_TEXT, link_text)][
                    :1
                ]
            )
            deadline = time.monotonic() + 30
            text = ""
            while time.monotonic() < deadline:
                text = driver.find_element(By.TAG_NAME, "body").text
                if until(text):
                    break
                time.sleep(0.3)
            return str(text)
        finally:
            driver.switch_to.default_content()

    def frame_source(self, title: str) -> str:
        from selenium.webdriver.common.by import By

        self.driver.switch_to.frame(
            self.driver.find_element(By.CSS_SELECTOR, f"iframe[title='{title}']")
        )
        try:
            return str(self.driver.page_source)
        finally:
            self.driver.switch_to.default_content()

    def answers_to(self, path_end: str) -> list[tuple[int, Any]]:
        """Since the last call: the status and JSON body of each answer the page received
        from a URL ending ``path_end`` (Chrome's network log)."""
        answers = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") != "Network.responseReceived":
                continue
            response = message["params"]["response"]
            if not response["url"].endswith(path_end):
                continue
            body = self.driver.execute_cdp_cmd(
                "Network.getResponseBody", {"requestId": message["params"]["requestId"]}
            )
            answers.append((int(response["status"]), json.loads(body["body"])))
        return answers

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


@pytest.fixture(scope="module")
def admin_browser(airflow: Any) -> Iterator[Browser]:
    browser = Browser(airflow, _token(airflow, "admin", "admin"))
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="module")
def outsider_browser(airflow: Any) -> Iterator[Browser]:
    browser = Browser(airflow, _token(airflow, OUTSIDER, OUTSIDER_PASSWORD))
    try:
        yield browser
    finally:
        browser.close()


def _task_tab(dag_id: str, run_id: str, task_id: str) -> str:
    return f"/dags/{dag_id}/runs/{quote(run_id, safe='')}/tasks/{task_id}/plugin/agent-run"


# ---- what a person sees ----------------------------------------------------------------------


def test_the_task_view_of_example_invoke_agent_shows_the_agents_answer_first(
    airflow: Any, runs: dict[str, str], admin_browser: Browser
) -> None:
    run_id = runs[INVOKE]
    answer = airflow.xcom(INVOKE, run_id, "report")
    text = admin_browser.frame_text(
        _task_tab(INVOKE, run_id, "ask_agent"),
        "Agent run",
        lambda t: answer in t,
        "task-view-invoke",
    )
    assert answer.startswith("You said: Summarise the orders of")
    lines = text.splitlines()
    assert lines[0].startswith("Agent run") and "success" in lines[0]
    assert lines[1] == "Answer" and lines[2] == answer  # the answer before everything else
    lg_run = airflow.xcom(INVOKE, run_id, "ask_agent", key="run_id")
    assert lg_run in text and "assistant" in text and "chat" in text
    assert "Conversation" in text and "Progress" in text and "respond" in text  # the node


def test_the_dag_run_view_of_example_batch_backfill_lists_one_run_per_day_with_its_status(
    airflow: Any, runs: dict[str, str], admin_browser: Browser
) -> None:
    run_id = runs[BATCH]
    text = admin_browser.frame_text(
        f"/dags/{BATCH}/runs/{run_id}/plugin/agent-runs-of-dag-run",
        "Agent runs",
        lambda t: "3 agent run(s)" in t,
        "dag-run-view-batch",
    )
    batch = airflow.xcom(BATCH, run_id, "ask_per_day")
    item_runs = [r["run_id"] for r in batch["runs"]]
    assert len(item_runs) == 3  # one per day of BATCH_CONF
    rows = [line for line in text.splitlines() if any(r in line for r in item_runs)]
    assert len(rows) == 3 and all(row.startswith("success") for row in rows), text
    assert [f"ask_per_day #{i}" in text for i in range(3)] == [True] * 3


def test_a_batch_task_view_is_a_table_of_its_items_that_opens_each(
    airflow: Any, runs: dict[str, str], admin_browser: Browser
) -> None:
    run_id = runs[BATCH]
    path = _task_tab(BATCH, run_id, "ask_per_day")
    text = admin_browser.frame_text(path, "Agent run", lambda t: "#2" in t, "task-view-batch")
    assert "Agent batch: 3 runs" in text and "3 success" in text
    item = admin_browser.click_in_frame("Agent run", "#1", lambda t: "all items" in t)
    admin_browser.shot("task-view-batch-item")
    second = airflow.xcom(BATCH, run_id, "ask_per_day")["runs"][1]["run_id"]
    assert second in item and "Answer" in item


def test_a_paused_run_shows_what_the_agent_asks(
    airflow: Any, runs: dict[str, str], admin_browser: Browser
) -> None:
    text = admin_browser.frame_text(
        _task_tab(PAUSED, runs[PAUSED], "ask_human_agent"),
        "Agent run",
        lambda t: "The agent asks" in t,
        "task-view-paused",
    )
    lines = text.splitlines()
    assert "paused" in lines[0]
    assert lines[1] == "The agent asks" and lines[2].startswith("approve?"), text
    assert "refund order 1234" in text  # the rest of what it asks, below the question


def test_a_failed_run_shows_its_error_first(
    airflow: Any, runs: dict[str, str], admin_browser: Browser
) -> None:
    text = admin_browser.frame_text(
        _task_tab(FAILING, runs[FAILING], "ask_failing_agent"),
        "Agent run",
        lambda t: "Error" in t,
        "task-view-failed",
    )
    lines = text.splitlines()
    assert "failed" in lines[0] and lines[1] == "Error"
    assert lines[2] == (
        "ValueError: failing agent failed on purpose: the warehouse table orders_2026 is missing"
    )


def test_the_task_view_follows_a_deferred_run_while_it_goes_then_shows_its_end(
    airflow: Any, runs: dict[str, str], admin_browser: Browser
) -> None:
    run_id = airflow.trigger(SLOW)
    airflow.wait_task_state(SLOW, run_id, "ask_slow_agent", {"deferred"}, timeout=90)
    lg_run = airflow.xcom(SLOW, run_id, "ask_slow_agent", key="run_id")
    going = admin_browser.frame_text(
        _task_tab(SLOW, run_id, "ask_slow_agent"),
        "Agent run",
        lambda t: "this page follows it" in t,
        "task-view-running",
    )
    assert "running" in going.splitlines()[0] and lg_run in going
    assert "Progress" in going and "sleep" in going  # the node it is at
    # nothing reloaded by the test: the page follows the run to its end by itself
    ended = admin_browser.watch(
        "Agent run", lambda t: t.startswith("Agent run success"), "task-view-ran", timeout=90
    )
    lines = ended.splitlines()
    assert lines[1] == "Answer" and '"slept": 10' in lines[2], ended
    airflow.wait_dag_run_succeeded(SLOW, run_id, timeout=90)
    # and the task log told the node from the triggerer
    log = airflow.task_log(SLOW, run_id, "ask_slow_agent")
    assert f"LangGraph run {lg_run}: node sleep finished: updated slept, done" in log


def test_the_nav_page_lists_recent_runs_with_failed_and_paused_ones_first(
    airflow: Any, runs: dict[str, str], admin_browser: Browser
) -> None:
    text = admin_browser.frame_text(
        "/plugin/agent-runs", "Agent runs", lambda t: "Needs attention" in t, "nav-page"
    )
    attention = text.split("Needs attention", 1)[1].split("Recent", 1)[0]
    assert FAILING in attention and PAUSED in attention and INVOKE not in attention
    assert "1 waiting for a person, 1 failed" in text
    recent = text.split("Recent", 1)[1]
    assert INVOKE in recent and BATCH in recent


def test_the_nav_page_filters_by_status(
    airflow: Any, runs: dict[str, str], admin_browser: Browser
) -> None:
    text = admin_browser.frame_text(
        "/plugin/agent-runs", "Agent runs", lambda t: "Recent" in t, "nav-page-before-filter"
    )
    assert FAILING in text
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = admin_browser.driver
    driver.switch_to.frame(driver.find_element(By.CSS_SELECTOR, "iframe[title='Agent runs']"))
    try:
        Select(driver.find_element(By.NAME, "status")).select_by_value("paused")
        driver.find_element(By.TAG_NAME, "button").click()
        time.sleep(2)
        filtered = driver.find_element(By.TAG_NAME, "body").text
    finally:
        driver.switch_to.default_content()
    admin_browser.shot("nav-page-paused-only")
    shown = filtered.split("Recent", 1)[1]  # the table (the filters list every DAG)
    assert PAUSED in shown and FAILING not in shown and INVOKE not in shown


def test_a_task_that_runs_no_agent_shows_an_empty_state(
    airflow: Any, runs: dict[str, str], admin_browser: Browser
) -> None:
    text = admin_browser.frame_text(
        _task_tab(INVOKE, runs[INVOKE], "build_question"),
        "Agent run",
        lambda t: "does not run an agent" in t,
        "task-view-not-an-agent",
    )
    assert "does not run an agent" in text


def test_a_user_who_may_not_read_the_dag_gets_no_data(
    airflow: Any, runs: dict[str, str], outsider_browser: Browser
) -> None:
    text = outsider_browser.frame_text(
        _task_tab(FAILING, runs[FAILING], "ask_failing_agent"),
        "Agent run",
        lambda t: "may not read" in t,
        "outsider-task-view",
    )
    assert "may not read" in text and "ValueError" not in text
    token = _token(airflow, OUTSIDER, OUTSIDER_PASSWORD)
    headers = {"Authorization": f"Bearer {token}"}
    for path in (
        f"/langgraph/task/{FAILING}/{runs[FAILING]}/ask_failing_agent/-1",
        f"/langgraph/dag-run/{BATCH}/{runs[BATCH]}",
    ):
        answer = httpx.get(airflow.url + path, headers=headers)
        assert answer.status_code == 403, path
        assert "run_id" not in answer.text and "failing agent" not in answer.text
    # the one DAG it may read, it reads; the list shows only that DAG's runs
    allowed = httpx.get(
        f"{airflow.url}/langgraph/task/{INVOKE}/{runs[INVOKE]}/ask_agent/-1", headers=headers
    )
    assert allowed.status_code == 200 and "Answer" in allowed.text
    listing = outsider_browser.frame_text(
        "/plugin/agent-runs", "Agent runs", lambda t: "Recent" in t, "outsider-nav-page"
    )
    assert INVOKE in listing and FAILING not in listing and BATCH not in listing


def test_a_request_without_a_login_gets_nothing(airflow: Any, runs: dict[str, str]) -> None:
    answer = httpx.get(f"{airflow.url}/langgraph/task/{INVOKE}/{runs[INVOKE]}/ask_agent/-1")
    assert answer.status_code == 401 and "Answer" not in answer.text


def test_no_page_shows_the_api_key(
    airflow: Any, runs: dict[str, str], admin_browser: Browser, auth_api_key: str
) -> None:
    token = _token(airflow, "admin", "admin")
    headers = {"Authorization": f"Bearer {token}"}
    paths = [
        f"/langgraph/task/{INVOKE}/{runs[INVOKE]}/ask_agent/-1",
        f"/langgraph/task/{BATCH}/{runs[BATCH]}/ask_per_day/-1",
        f"/langgraph/task/{BATCH}/{runs[BATCH]}/ask_per_day/-1?item=0",
        f"/langgraph/dag-run/{BATCH}/{runs[BATCH]}",
        "/langgraph/runs",
    ]
    for path in paths:
        answer = httpx.get(airflow.url + path, headers=headers)
        assert answer.status_code == 200, (path, answer.text[:500])
        assert auth_api_key not in answer.text, path
    admin_browser.frame_text(
        _task_tab(INVOKE, runs[INVOKE], "ask_agent"), "Agent run", lambda t: "Answer" in t, "key"
    )
    assert auth_api_key not in admin_browser.driver.page_source
    assert auth_api_key not in admin_browser.frame_source("Agent run")


# ---- the run link -------------------------------------------------------------------------


def test_the_run_link_opens_the_task_view_and_leaves_no_xcom_row(
    airflow: Any, runs: dict[str, str]
) -> None:
    for dag_id, task_id in ((INVOKE, "ask_agent"), (BATCH, "ask_per_day")):
        links = airflow.extra_links(dag_id, runs[dag_id], task_id)
        assert links == {"LangGraph run": _task_tab(dag_id, runs[dag_id], task_id)}
        run = quote(runs[dag_id], safe="")
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run}/taskInstances/{task_id}/xcomEntries"
        keys = {x["key"] for x in airflow.api("GET", path).json()["xcom_entries"]}
        assert not [k for k in keys if k.startswith("_link_")], keys
    # a task of another operator has no such link
    assert airflow.extra_links(INVOKE, runs[INVOKE], "build_question") == {"LangGraph run": None}


def test_the_run_link_in_the_ui_opens_the_agent_run_tab(
    airflow: Any, runs: dict[str, str], admin_browser: Browser
) -> None:
    from selenium.webdriver.common.by import By

    driver = admin_browser.driver
    details = f"/dags/{INVOKE}/runs/{quote(runs[INVOKE], safe='')}/tasks/ask_agent/details"
    driver.get(airflow.url + details)
    hrefs = _wait_for(
        lambda: [
            a.get_attribute("href")
            for a in driver.find_elements(By.PARTIAL_LINK_TEXT, "LangGraph run")
        ]
    )
    admin_browser.shot("run-link")
    assert hrefs == [airflow.url + _task_tab(INVOKE, runs[INVOKE], "ask_agent")]
    # on a task that runs no agent there is nothing to click
    driver.get(airflow.url + details.replace("/ask_agent/", "/build_question/"))
    _wait_for(lambda: "build_question" in driver.find_element(By.TAG_NAME, "body").text)
    time.sleep(2)
    admin_browser.shot("run-link-not-an-agent")
    assert not driver.find_elements(By.PARTIAL_LINK_TEXT, "LangGraph run")


# ---- the connection form's Test button -----------------------------------------------------


def test_the_test_button_on_a_connection_made_in_the_form_reports_success(
    airflow: Any, admin_browser: Browser, auth_server: Any, auth_api_key: str
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver = admin_browser.driver
    driver.get(f"{airflow.url}/connections")
    _click_button(driver, text="Add Connection")
    _wait_for(lambda: driver.find_elements(By.NAME, "connection_id"))
    driver.find_element(By.NAME, "connection_id").send_keys("lg_made_in_the_form")
    kind = driver.find_element(By.CSS_SELECTOR, "[role='dialog'] input:not([name])")
    kind.send_keys("LangGraph")
    time.sleep(1)
    kind.send_keys(Keys.ENTER)
    _wait_for(lambda: driver.find_elements(By.NAME, "host"))
    driver.find_element(By.NAME, "host").send_keys(auth_server.url)
    driver.find_element(By.NAME, "password").send_keys(auth_api_key)
    admin_browser.shot("connection-form")
    _click_button(driver, text="Save")
    stored = _wait_for(lambda: _connection(airflow, "lg_made_in_the_form"))
    assert stored["port"] is None and stored["host"] == auth_server.url  # as the form stores it

    driver.get(f"{airflow.url}/connections")
    _wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "button[aria-label='Test Connection']"))
    admin_browser.answers_to("/connections/test")  # forget what came before
    _wait_for(lambda: _click(driver, "button[aria-label='Test Connection']"))
    [(status, answer)] = _wait_for(lambda: admin_browser.answers_to("/connections/test"))
    time.sleep(0.5)
    admin_browser.shot("connection-test-button")  # the button turns green
    assert status == 200 and answer["status"] is True, answer
    assert answer["message"].startswith("Connected to LangGraph Agent Server"), answer
    assert auth_api_key not in driver.page_source


def _click(driver: Any, css: str) -> bool | None:
    from selenium.webdriver.common.by import By

    for element in driver.find_elements(By.CSS_SELECTOR, css):
        element.click()
        return True
    return None


def _click_button(driver: Any, *, text: str) -> None:
    """Click the button showing ``text`` once the page has it."""
    from selenium.webdriver.common.by import By

    def click() -> bool | None:
        for button in driver.find_elements(By.TAG_NAME, "button"):
            if text in (button.text or ""):
                button.click()
                return True
        return None

    _wait_for(click)


def _connection(airflow: Any, conn_id: str) -> dict[str, Any] | None:
    try:
        return dict(airflow.api("GET", f"/api/v2/connections/{conn_id}").json())
    except AirflowDeploymentError:
        return None


def _wait_for(probe: Callable[[], Any], timeout: float = 30) -> Any:
    """``probe()`` once it is truthy. An element the UI replaced while the probe used it
    (React re-renders) is a "not yet", not a failure."""
    from selenium.common.exceptions import StaleElementReferenceException

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = probe()
        except StaleElementReferenceException:
            found = None
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError("the page never showed what the test waited for")
