#!/usr/bin/env bash
# The one command that sets up a fresh machine and runs every test, tier by tier, so that a
# failure points at its layer:
#   unit    pure logic, no server                         tests/unit
#   server  the hook against a real LangGraph Agent Server tests/server
#   dags    real DAGs through dag.test(), real server      tests/dags
#   compatibility  the hook, the example DAGs and outages against every server of the
#           runs API: langgraph dev, langgraph-api on PostgreSQL + Redis, aegra
#                                                          tests/compatibility
#   e2e     a real Airflow deployment (api-server, scheduler, dag-processor, triggerer),
#           and its UI in headless chromium                tests/e2e
#   bench   the benchmarks' quick smoke run (no timing)  tests/bench
# Each tier is its own pytest run (each needs its own Airflow settings). A tier that collects
# no test fails (pytest exits 5), as does any lint or type error.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/bootstrap.sh --with-browser

echo "== lint and types"
.venv/bin/ruff check airflow_lg tests example_dags scripts agents bench
.venv/bin/mypy

for tier in unit server dags compatibility e2e bench; do
  echo "== tier: $tier"
  .venv/bin/python -m pytest -p no:cacheprovider "tests/$tier"
done
