"""A private, throwaway AIRFLOW_HOME for test processes, set before Airflow is imported.

Airflow reads its configuration once, at import: each tier's conftest calls
:func:`use_private_airflow_home` at import time, before any test module imports airflow_lg.
"""

from __future__ import annotations

import os
import tempfile


def remove_at_exit(path: str) -> None:
    """A temp folder this test run made is removed when the run ends (not left in /tmp)."""
    import atexit
    import shutil

    atexit.register(shutil.rmtree, path, ignore_errors=True)


def use_private_airflow_home(dags_folder: str | None = None) -> str:
    home = os.environ.get("AIRFLOW_LG_TEST_HOME")
    if not home:
        home = tempfile.mkdtemp(prefix="airflow-lg-home-")
        remove_at_exit(home)
    os.environ["AIRFLOW_LG_TEST_HOME"] = home
    os.environ.setdefault("AIRFLOW_HOME", home)
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    if dags_folder:
        os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = dags_folder
    return home


def migrate_airflow_db() -> None:
    """``airflow db migrate`` on the private home (a subprocess: the CLI sets itself up)."""
    import subprocess
    import sys
    from pathlib import Path

    airflow = Path(sys.executable).with_name("airflow")
    done = subprocess.run(
        [str(airflow), "db", "migrate"], capture_output=True, text=True, env=os.environ.copy()
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
