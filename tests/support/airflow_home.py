"""A private, throwaway AIRFLOW_HOME for test processes, set before Airflow is imported.

Airflow reads its configuration once, at import: each tier's conftest calls
:func:`use_private_airflow_home` at import time, before any test module imports airflow_lg.
"""

from __future__ import annotations

import os
import tempfile


def use_private_airflow_home(dags_folder: str | None = None) -> str:
    home = os.environ.get("AIRFLOW_LG_TEST_HOME") or tempfile.mkdtemp(prefix="airflow-lg-home-")
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
