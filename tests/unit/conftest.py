"""Fast unit tier: pure logic of airflow-lg, no network and no Agent Server.

Airflow reads its configuration once, when it is first imported: point it at a throwaway home
(and keep the example DAGs out) before any test module imports airflow or airflow_lg.
"""

import atexit
import os
import shutil
import tempfile

_home = tempfile.mkdtemp(prefix="airflow-lg-unit-")
if os.environ.setdefault("AIRFLOW_HOME", _home) == _home:
    atexit.register(shutil.rmtree, _home, ignore_errors=True)
else:
    os.rmdir(_home)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
