# The code location image: the trading platform with its pinned dependencies. One image serves
# every process of a deployment (code server, run workers and, in docker-compose.yaml, the
# webserver and daemon too), because a run worker loads the same definitions as the code
# server that launched it. Build from the checkout: `docker build -t trading-platform:0.1.0 .`
FROM python:3.11-slim-bookworm

# EXTRAS: the run launchers' libraries. A run worker builds the Dagster instance from its
# dagster.yaml, which names the launcher class, so the image that runs the bots must be able
# to import dagster_docker (Docker) or dagster_k8s (Kubernetes); both by default.
ARG EXTRAS=docker,k8s

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    TRADING_HOME=/var/lib/trading-platform \
    TRADING_STRATEGY_PATHS=/opt/trading-platform/strategies

WORKDIR /opt/trading-platform

# The package and its metadata first (pyproject.toml pins every direct dependency with ==),
# then the strategy plugins: editing a plugin does not reinstall the dependencies.
COPY pyproject.toml README.md ./
COPY trading_platform ./trading_platform
# The sources are removed once installed, so every process imports the one installed copy
# (and a definitions module that cannot load fails the build, not the first run).
RUN pip install ".[${EXTRAS}]" \
    && rm -rf trading_platform build \
    && cd / && python -c "import trading_platform.definitions"
# A non-editable install lives in site-packages, where the registry's "repository's
# strategies/" does not exist: TRADING_STRATEGY_PATHS (above) points at the plugins instead.
COPY strategies ./strategies

RUN useradd --system --uid 10001 --home-dir /var/lib/trading-platform trader \
    && mkdir -p "$DAGSTER_HOME" "$TRADING_HOME/data" \
    && chown -R trader "$DAGSTER_HOME" "$TRADING_HOME"
USER trader

EXPOSE 4000
# The code server: it serves the definitions over gRPC and starts a run worker per run with
# the default launcher; with DockerRunLauncher/K8sRunLauncher each run gets its own container
# or pod of this same image instead. Compose and the Helm chart override the command.
CMD ["dagster", "code-server", "start", "--host", "0.0.0.0", "--port", "4000", \
     "--module-name", "trading_platform.definitions"]
