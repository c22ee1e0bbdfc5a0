#!/usr/bin/env bash
# The benchmarks of airflow-lg against langgraph_sdk (the reference client), on real local
# LangGraph Agent Servers. From a fresh clone:
#
#   bash bench/run.sh            # everything: ~30 minutes on 2 cores
#   bash bench/run.sh --quick    # a smoke run with small n: about 2 minutes
#   bash bench/run.sh --big      # also every reference at 10,000 waits and a batch of 10,000
#                                # (on langgraph-api + PostgreSQL): ~45 minutes more
#   bash bench/run.sh --only triggerer_scale[,watcher_scale,batch,hook_overhead]
#
# It sets the machine up first (scripts/bootstrap.sh: .venv with the provider, Airflow and
# langgraph-sdk; .venv-server with the Agent Server), then runs bench/run_all.py. Every
# benchmark starts its own server(s) on free loopback ports and stops them; figures are
# printed and saved under bench/results/. See docs/performance.md for what is measured.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/bootstrap.sh
exec .venv/bin/python bench/run_all.py "$@"
