# The LangGraph Agent Server serving the bundled agents (agents/), with `langgraph dev`.
#
# `langgraph dev` is the in-memory server: it needs no license key, no Redis and no Postgres,
# and it works offline, which is why the stack and the tests use it. It keeps threads and runs
# in memory and pickles them to ./.langgraph_api on exit. In production you would build the
# agents into the official langgraph-api image instead (`langgraph build` / `langgraph up`),
# backed by Postgres and Redis: it speaks the same runs API, so nothing changes for Airflow.
#
# Built by docker/compose.yaml with the repository root as the build context (only the files
# that agent-server.Dockerfile.dockerignore lets through are sent).
FROM python:3.11-slim

# The langgraph-cli version pinned in requirements/server.txt (checked after installing).
ARG LANGGRAPH_CLI_VERSION=0.4.40

# No telemetry, no version check, no LangSmith tracing: nothing goes online.
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LANGGRAPH_CLI_NO_ANALYTICS=1 \
    LANGGRAPH_NO_VERSION_CHECK=true \
    LANGSMITH_TRACING=false

# The same locked dependencies as the local test server (.venv-server).
COPY requirements/server.txt /tmp/server.txt
RUN pip install -r /tmp/server.txt \
    && langgraph --version | grep -Fq "version ${LANGGRAPH_CLI_VERSION}"

RUN useradd --create-home --uid 1000 agents
WORKDIR /srv/agents
COPY --chown=agents:agents agents/ ./
# where `langgraph dev` keeps its state: a volume in compose.yaml, so it survives a restart
RUN mkdir -p .langgraph_api && chown agents:agents .langgraph_api
USER agents

EXPOSE 2024
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://localhost:2024/ok', timeout=4)"]
CMD ["langgraph", "dev", "--host", "0.0.0.0", "--port", "2024", "--no-browser", "--no-reload", "--config", "langgraph.json"]
