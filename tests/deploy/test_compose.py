"""docker-compose.yaml and its instance config: the services find each other, every run
container gets the image, network, volume and variables it needs, and the Dagster instance
loads with DockerRunLauncher (on SQLite, and on PostgreSQL as in the compose file itself).

No Docker daemon runs on the development or CI machines: the launcher's Docker client is
the only stand-in (``_get_client``, which the launcher calls only when it launches a run).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster import DagsterInstance
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster_docker import DockerRunLauncher

from tests.deploy.build_context import environment
from tests.deploy.launching import (
    CREDENTIAL_SET,
    SECRET_KEY_VALUE,
    SECRET_VALUE,
    bot_run,
    launch,
    stored_text,
)
from tests.e2e.harness import postgres_databases
from trading_platform.contract import RunTag
from trading_platform.exchanges.credentials import variable

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
DEPLOY = ROOT / "deploy" / "docker"
INSTANCE = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
POSTGRES_URL = os.environ.get("TRADING_TEST_POSTGRES_URL")
IMAGE = "trading-platform:0.1.0"


def _service(name: str) -> dict[str, Any]:
    return COMPOSE["services"][name]


def _mounts(service: str) -> dict[str, str]:
    """Container path -> host path (or volume) of a service's volumes."""
    mounts = {}
    for entry in _service(service).get("volumes", []):
        source, target, *_ = entry.split(":")
        mounts[target] = source
    return mounts


def _secrets_example() -> set[str]:
    names = set()
    for line in (DEPLOY / "secrets.env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            names.add(line.split("=", 1)[0])
    return names


def test_the_services_run_the_one_image_built_from_the_dockerfile() -> None:
    platform = ["migrate", "code_server", "webserver", "daemon"]
    assert set(COMPOSE["services"]) == {"postgres", *platform}
    for name in platform:
        service = _service(name)
        assert service["image"] == IMAGE, name
        assert service["build"] == {"context": ".", "dockerfile": "Dockerfile"}, name
    # DockerRunLauncher starts each run in the image the code server announces
    assert _service("code_server")["environment"]["DAGSTER_CURRENT_IMAGE"] == IMAGE


def test_webserver_and_daemon_reach_the_code_server_over_grpc() -> None:
    (location,) = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())["load_from"]
    command = _service("code_server")["command"]
    assert command[:3] == ["dagster", "code-server", "start"]
    assert location["grpc_server"]["host"] == "code_server"
    assert str(location["grpc_server"]["port"]) == command[command.index("--port") + 1]
    assert command[command.index("--module-name") + 1] == "trading_platform.definitions"
    for name in ("webserver", "daemon"):
        command = _service(name)["command"]
        workspace = command[command.index("--workspace") + 1]
        assert _mounts(name)[workspace] == "./deploy/docker/workspace.yaml"


def test_every_dagster_process_reads_this_instance_config() -> None:
    """Each talks to Docker through the run launcher: the daemon launches and monitors runs,
    the webserver and the code server stop them (trading_bots_sensor cancels a run on a
    reload or a disabled bot: QueuedRunCoordinator.cancel_run calls the launcher's
    terminate, which is `docker stop`)."""
    dagster_home = environment(ROOT / "Dockerfile")["DAGSTER_HOME"]
    for name in ("code_server", "webserver", "daemon"):
        assert _mounts(name)[f"{dagster_home}/dagster.yaml"] == "./deploy/docker/dagster.yaml"
        assert _mounts(name)["/var/run/docker.sock"] == "/var/run/docker.sock"
        assert _service(name)["group_add"] == ["${DOCKER_GID:-999}"]


def test_run_containers_join_the_compose_network_and_data_volume() -> None:
    config = INSTANCE["run_launcher"]["config"]
    assert COMPOSE["networks"]["trading_platform"]["name"] == config["network"]
    (volume,) = config["container_kwargs"]["volumes"]
    name, target = volume.split(":")
    assert COMPOSE["volumes"][name]["name"] == name
    assert _mounts("code_server")[target] == name


def test_every_variable_a_run_container_gets_is_set_in_the_launching_processes() -> None:
    """DockerRunLauncher copies each listed variable from the daemon's (or webserver's)
    environment and fails the launch when one is missing; none is written with a value."""
    provided = _secrets_example()
    for name in ("webserver", "daemon"):
        service = _service(name)
        available = set(service["environment"]) | provided
        assert [e["path"] for e in service["env_file"]] == ["deploy/docker/secrets.env"]
        for entry in INSTANCE["run_launcher"]["config"]["env_vars"]:
            assert "=" not in entry, f"{entry}: a value in the instance config"
            assert entry in available, f"{entry} is not set in the {name}'s environment"
    assert "deploy/docker/secrets.env" in (ROOT / ".gitignore").read_text().splitlines()


@pytest.fixture(params=["sqlite"] + (["postgresql"] if POSTGRES_URL else []))
def instance(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DagsterInstance]:
    """The compose instance: its own file on PostgreSQL (a fresh database, the DAGSTER_PG_*
    variables as the services get them); on SQLite the same file with SQLite storage."""
    monkeypatch.setenv("TRADING_DATABASE_URL", "postgresql+psycopg2://trader:pw@postgres/trading")
    if request.param == "sqlite":
        # as the compose services have them (the run launcher passes them on)
        for name in ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_DB"):
            monkeypatch.setenv(name, "5432" if name.endswith("PORT") else "dagster")
        monkeypatch.setenv("DAGSTER_PG_PASSWORD", "pw")
        config = {**INSTANCE, "storage": {"sqlite": {"base_dir": str(tmp_path / "storage")}}}
        (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
        with DagsterInstance.from_config(str(tmp_path)) as loaded:
            yield loaded
        return
    assert POSTGRES_URL is not None
    _bots_url, env, cleanup = postgres_databases(POSTGRES_URL)
    try:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        with DagsterInstance.from_config(str(DEPLOY)) as loaded:
            yield loaded
    finally:
        cleanup()


def test_the_instance_loads_with_the_docker_run_launcher(instance: DagsterInstance) -> None:
    launcher = instance.run_launcher
    assert isinstance(launcher, DockerRunLauncher)
    assert launcher.networks == ["trading_platform"]
    assert launcher.supports_check_run_worker_health
    coordinator = instance.run_coordinator
    assert isinstance(coordinator, QueuedRunCoordinator)
    (limit,) = coordinator.get_run_queue_config().tag_concurrency_limits
    assert limit == {
        "key": RunTag.BOT_ID,
        "value": {"applyLimitPerUniqueValue": True},
        "limit": 1,
    }
    assert coordinator.get_run_queue_config().max_concurrent_runs == -1
    assert instance.run_monitoring_enabled
    assert instance.run_monitoring_max_resume_run_attempts == 0
    assert instance.run_monitoring_start_timeout_seconds == 300
    assert instance.run_monitoring_cancel_timeout_seconds == 120
    assert list(instance.get_runs()) == []  # the storage answers (PostgreSQL: created)


class _Recorder:
    """Docker's API as DockerRunLauncher uses it to start a run, recorded."""

    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []
        self.started = 0
        self.containers = self

    def create(self, **kwargs: Any) -> _Recorder:
        self.created.append(kwargs)
        self.id = f"container-{len(self.created)}"
        return self

    def start(self) -> None:
        self.started += 1


def test_a_bot_run_container_gets_its_credentials_from_the_environment_only(
    instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator lists the credential set's variables in env_vars (README): the run's
    container gets their values from the launching process; run config, tags, events and the
    container's command hold none of them."""
    key, secret = variable(CREDENTIAL_SET, "API_KEY"), variable(CREDENTIAL_SET, "SECRET")
    monkeypatch.setenv(key, SECRET_KEY_VALUE)
    monkeypatch.setenv(secret, SECRET_VALUE)
    launcher = instance.run_launcher
    assert isinstance(launcher, DockerRunLauncher)
    launcher.env_vars = [*launcher.env_vars, key, secret]
    docker = _Recorder()
    monkeypatch.setattr(launcher, "_get_client", lambda _context: docker)

    run = bot_run(instance, IMAGE)
    launch(launcher, run)

    (created,) = docker.created
    assert docker.started == 1
    assert created["image"] == IMAGE
    assert created["network"] == "trading_platform"
    assert created["mem_limit"] == "512m"
    assert created["volumes"] == ["trading_platform_data:/var/lib/trading-platform/data"]
    assert "stop_timeout" not in created  # the launcher keeps it for `docker stop`
    env = created["environment"]
    assert env[key] == SECRET_KEY_VALUE and env[secret] == SECRET_VALUE
    assert env["TRADING_DATABASE_URL"] == os.environ["TRADING_DATABASE_URL"]
    assert {"DAGSTER_PG_HOST", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"} <= set(env)
    assert created["command"][-4:-1] == ["dagster", "api", "execute_run"]
    visible = " ".join(created["command"]) + stored_text(instance, run)
    assert SECRET_KEY_VALUE not in visible and SECRET_VALUE not in visible
    assert CREDENTIAL_SET in visible  # the set's name is in the run config, as it should be


def test_a_listed_variable_missing_from_the_daemon_fails_the_launch_naming_it(
    instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why deploy/docker/dagster.yaml lists only what every deployment sets."""
    launcher = instance.run_launcher
    assert isinstance(launcher, DockerRunLauncher)
    missing = variable("NOT_SET_ANYWHERE", "API_KEY")
    monkeypatch.delenv(missing, raising=False)
    launcher.env_vars = [*launcher.env_vars, missing]
    monkeypatch.setattr(launcher, "_get_client", lambda _context: _Recorder())
    with pytest.raises(Exception, match=missing):
        launch(launcher, bot_run(instance, IMAGE))
