# syntax=docker/dockerfile:1

# ---------------------------------------------------------------------------
# Stage 1: build a self-contained virtualenv with the pinned runtime deps and
# the energy-api package itself.
# ---------------------------------------------------------------------------
FROM python:3.11-slim AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src

# Dependencies first so this layer is cached until the lock file changes.
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock

COPY pyproject.toml README.md ./
COPY src/ ./src/
# The runtime needs neither pip nor setuptools (about 25 MB): they leave the venv here, so the
# copy below does not carry them.
RUN pip install --no-cache-dir --no-deps . \
    && python -m pip uninstall --yes --quiet pip setuptools wheel

# ---------------------------------------------------------------------------
# Stage 2: slim runtime image, non-root.
# ---------------------------------------------------------------------------
FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    ENVIRONMENT=production \
    LOG_FORMAT=json \
    METRICS_HOST=0.0.0.0 \
    METRICS_PORT=9100

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin app

WORKDIR /app

COPY --from=build /opt/venv /opt/venv
# Migrations stay owned by root: the app user only needs to read them.
COPY alembic.ini ./alembic.ini
COPY migrations/ ./migrations/

# Numeric uid:gid so Kubernetes runAsNonRoot can verify it.
USER 10001:10001

# 8000: the API. 9100: Prometheus metrics, for the scraper only (publish it to no one else).
EXPOSE 8000 9100

# Liveness: the process answers. An engine that replaces unhealthy containers must not replace
# every one of them when the database is down; readiness is /health/ready (see README).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=4).status == 200 else 1)"]

# Shell wrapper so ${WEB_CONCURRENCY} expands; exec keeps the server as PID 1.
CMD ["sh", "-c", "exec energy-api serve --host 0.0.0.0 --port 8000 --workers ${WEB_CONCURRENCY:-2}"]
