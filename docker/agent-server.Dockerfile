# The LangGraph Agent Server serving the bundled agents (agents/): langgraph-api on its
# PostgreSQL + Redis runtime (langgraph-runtime-pg, MIT), served by `langhost serve` — the
# production shape (queue workers, runs that survive a restart), the same server the
# compatibility tier tests as `pg` (scripts/server_beds.py).
#
# Built by docker/compose.yaml with the repository root as the build context (only the files
# that agent-server.Dockerfile.dockerignore lets through are sent). compose.yaml gives it
# DATABASE_URI (the agent-postgres service) and REDIS_URI (the agent-redis service).
FROM python:3.11-slim

# The langgraph-runtime-pg version pinned in requirements/server-pg.txt (checked after installing).
ARG LANGGRAPH_RUNTIME_PG_VERSION=0.11.1.post1

# No telemetry, no version check, no LangSmith tracing: nothing goes online.
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LANGGRAPH_CLI_NO_ANALYTICS=1 \
    LANGGRAPH_NO_VERSION_CHECK=true \
    LANGSMITH_TRACING=false

# The same locked dependencies as the compatibility tier's server (.venv-server-pg).
COPY requirements/server-pg.txt /tmp/server-pg.txt
RUN pip install -r /tmp/server-pg.txt \
    && pip show langgraph-runtime-pg | grep -Fxq "Version: ${LANGGRAPH_RUNTIME_PG_VERSION}"

RUN useradd --create-home --uid 1000 agents
WORKDIR /srv/agents
COPY --chown=agents:agents agents/ ./
USER agents

EXPOSE 2024
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://localhost:2024/ok', timeout=4)"]
CMD ["langhost", "serve", "--host", "0.0.0.0", "--port", "2024", "--config", "langgraph.json", "--n-jobs-per-worker", "10"]
