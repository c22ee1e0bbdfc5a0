#!/usr/bin/env bash
# The main job, from a fresh clone: set everything up, start the bundled agents on a local
# LangGraph Agent Server, run an example DAG that invokes an agent, and show its answer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python scripts/run_example.py "$@"
