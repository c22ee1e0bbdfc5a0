"""An auth manager for the UI tests: Airflow's simple auth manager, but user ``outsider`` may
read only the DAGs listed in ``$AIRFLOW_LG_OUTSIDER_DAGS`` (comma-separated).

The simple auth manager alone cannot restrict a user to some DAGs (outside multi-team mode);
this is the smallest real auth manager that can, so the plugin's checks meet a "no" from
Airflow's own interface (``is_authorized_dag``, ``get_authorized_dag_ids``).
"""

from __future__ import annotations

import os
from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

OUTSIDER = "outsider"


def _allowed() -> set[str]:
    return {d for d in os.environ.get("AIRFLOW_LG_OUTSIDER_DAGS", "").split(",") if d}


class OutsiderAuthManager(SimpleAuthManager):
    def is_authorized_dag(self, *, method: Any, user: Any, access_entity: Any = None,
                          details: Any = None) -> bool:  # fmt: skip
        if user.get_name() == OUTSIDER and (details is None or details.id not in _allowed()):
            return False
        return bool(super().is_authorized_dag(
            method=method, user=user, access_entity=access_entity, details=details
        ))  # fmt: skip

    def filter_authorized_dag_ids(self, *, dag_ids: set[str], user: Any, method: Any = "GET",
                                  team_name: str | None = None) -> set[str]:  # fmt: skip
        allowed = super().filter_authorized_dag_ids(
            dag_ids=dag_ids, user=user, method=method, team_name=team_name
        )
        return allowed & _allowed() if user.get_name() == OUTSIDER else allowed
