#!/usr/bin/env bash
# Sets up a fresh machine for airflow-lg, idempotently:
#   .venv         the provider, Apache Airflow and the dev tools, from requirements/dev.txt
#   .venv-server  a LangGraph Agent Server (langgraph dev), from requirements/server.txt; it
#                 cannot share a virtualenv with Airflow 3.3 (conflicting structlog pins)
#   .venv-server-pg, .venv-server-aegra
#                 langgraph-api on PostgreSQL + Redis, and aegra (Python 3.12), from
#                 requirements/server-pg.txt and server-aegra.txt; PostgreSQL and
#                 redis-server from Debian's packages when missing (scripts/server_beds.py)
#   --with-browser  also Debian's chromium and chromium-driver when missing (the e2e tier's
#                 UI tests; scripts/test.sh passes it, the demo does not need a browser)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v uv >/dev/null 2>&1; then
  python3 -m pip install --quiet "uv==0.13.9"
fi
[ -x .venv/bin/python ] || uv venv --quiet --python python3.11 .venv
VIRTUAL_ENV=.venv uv pip sync --quiet requirements/dev.txt
VIRTUAL_ENV=.venv uv pip install --quiet --no-deps --editable .
.venv/bin/python scripts/agent_server.py setup
.venv/bin/python scripts/server_beds.py setup

if [ "${1:-}" = "--with-browser" ] && ! { command -v chromium && command -v chromedriver; } >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "chromium and chromedriver are missing: apt-get install chromium chromium-driver" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq chromium chromium-driver >/dev/null
fi
