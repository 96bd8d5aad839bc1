"""The code location loads, the instance config says what long-running bots need, and one
sensor evaluation on a real database launches, tags and snapshots bots without secrets."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance, DefaultSensorStatus, Definitions
from dagster._serdes import serialize_value

from tests.support.builders import add_bot
from tests.support.sensors import evaluate_bots_sensor
from trading_platform.config import BrokerConfig
from trading_platform.contract import BotStatus, RunTag
from trading_platform.db.bots import get_bot
from trading_platform.definitions import defs
from trading_platform.orchestration.sensors import load_cursor

REPO = Path(__file__).resolve().parents[2]


def test_definitions_load() -> None:
    Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    for name in (
        "trading_bots_sensor",
        "notification_dispatcher",
        "bot_run_failure_sensor",
        "bot_run_canceled_sensor",
    ):
        assert repo.get_sensor_def(name).default_status == DefaultSensorStatus.RUNNING
    assert repo.get_job("bot_run").executor_def.name == "in_process"


def test_backtest_job_is_launchable_and_no_bot_run() -> None:
    """The Launchpad shows the backtest's typed fields with their descriptions; the job runs
    in process and carries no bot tag (the bot sensors select runs by those)."""
    job = defs.resolve_job_def("backtest")
    assert job.executor_def.name == "in_process"
    assert not any(key.startswith("trading/") for key in job.tags)
    op_config = job.run_config_schema.config_type.fields["ops"].config_type.fields
    fields = op_config["backtest_result"].config_type.fields["config"].config_type.fields
    assert fields["strategy"].is_required
    for name in ("params", "search_space", "data_path", "start", "end", "cash", "commission"):
        assert not fields[name].is_required and fields[name].description, name
    assert fields["cash"].default_value == BrokerConfig.model_fields["cash"].default
    assert fields["cash"].config_type.inner_type.given_name == "Float"
    assert defs.get_assets_def("backtest_result").group_names_by_key


@pytest.mark.parametrize("name", ["dagster.yaml", "dagster-postgres.yaml"])
def test_instance_config_for_long_running_bots(name: str, tmp_path: Path, monkeypatch) -> None:
    shutil.copy(REPO / "dagster_home" / name, tmp_path / "dagster.yaml")
    for key, value in {
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": "5432",
        "DAGSTER_PG_USER": "postgres",
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_DB": "unused",
    }.items():
        monkeypatch.setenv(key, value)
    raw = yaml.safe_load((tmp_path / "dagster.yaml").read_text())
    queue = raw["run_coordinator"]["config"]
    assert queue["max_concurrent_runs"] == -1
    assert queue["tag_concurrency_limits"] == [
        {"key": "trading/bot_id", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
    ]
    assert raw["run_monitoring"]["enabled"] is True
    if name == "dagster.yaml":
        with DagsterInstance.from_config(str(tmp_path)) as instance:
            limits = instance.run_coordinator.get_run_queue_config()
            assert limits.max_concurrent_runs == -1
            assert limits.tag_concurrency_limits[0]["key"] == "trading/bot_id"
    else:
        assert set(raw["storage"]["postgres"]["postgres_db"]["password"]) == {"env"}


def test_one_sensor_tick_launches_valid_bots_and_marks_invalid_ones(
    db_engine, database_url, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("TRADING_CREDENTIALS_MAIN_SECRET", "s3cr3t-value")
    good = add_bot(
        db_engine,
        "good",
        user="owner",  # granted MAIN by the builder
        config={"params": {"fast": 5, "slow": 20}, "credentials": "MAIN"},
    )
    bad = add_bot(db_engine, "bad", config={"params": {"fast": "5"}})
    (tmp_path / "dh").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "dh")) as instance:
        result = evaluate_bots_sensor(instance, database_url)
    (request,) = result.run_requests
    assert request.tags[RunTag.BOT_ID] == str(good)
    assert request.run_key.startswith(f"bot-{good}-")
    assert request.tags[RunTag.INCARNATION] == "1"
    assert request.tags[RunTag.MODE] == "paper"
    snapshot = request.run_config["ops"]["run_bot"]["config"]["snapshot"]
    assert snapshot["credentials"] == "MAIN"
    # what the code server sends the daemon: Dagster serializes no enum
    sent = serialize_value(request)
    assert "s3cr3t-value" not in sent
    row = get_bot(db_engine, bad)
    assert row.status == BotStatus.ERROR
    assert row.last_error.startswith("invalid config: config.params.fast:")
    assert load_cursor(result.cursor)[0][good].incarnation == 1


def test_bot_run_workers_do_not_import_pandas() -> None:
    """pandas with pyarrow costs ~60 MB per run worker; paper and live bots never need it."""
    import subprocess
    import sys

    code = (
        "import sys, trading_platform.definitions, trading_platform.engine.runner;"
        "print(sorted(m for m in ('pandas', 'pyarrow', 'ccxt') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


#: what the README ("Running for weeks") says the instance keeps of sensor and schedule ticks
TICK_RETENTION_DAYS = {
    "sensor": {"skipped": 1, "success": 7, "failure": 14, "started": 7},
    "schedule": {"skipped": 1, "success": 7, "failure": 30, "started": 7},
}


def test_instance_loads_the_tick_retention_the_readme_documents(tmp_path: Path) -> None:
    from dagster._core.definitions.run_request import InstigatorType

    shutil.copy(REPO / "dagster_home" / "dagster.yaml", tmp_path / "dagster.yaml")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        for kind, instigator in (
            ("sensor", InstigatorType.SENSOR),
            ("schedule", InstigatorType.SCHEDULE),
        ):
            loaded = instance.get_tick_retention_settings(instigator)
            assert {status.value.lower(): days for status, days in loaded.items()} == (
                TICK_RETENTION_DAYS[kind]
            )
    readme = (REPO / "README.md").read_text()
    for kind, days in TICK_RETENTION_DAYS.items():
        row = (
            f"| {kind} ticks | skipped {days['skipped']} d, success {days['success']} d, "
            f"failure {days['failure']} d, started {days['started']} d |"
        )
        assert row in readme, row


def test_the_postgres_instance_has_the_same_retention(tmp_path: Path, monkeypatch) -> None:
    """Validated against Dagster's instance schema without connecting to a database."""
    from dagster._core.instance.config import dagster_instance_config

    sqlite = yaml.safe_load((REPO / "dagster_home" / "dagster.yaml").read_text())
    postgres = yaml.safe_load((REPO / "dagster_home" / "dagster-postgres.yaml").read_text())
    assert postgres["retention"] == sqlite["retention"]
    shutil.copy(REPO / "dagster_home" / "dagster-postgres.yaml", tmp_path / "dagster.yaml")
    for key in ("HOST", "PORT", "USER", "PASSWORD", "DB"):
        monkeypatch.setenv(f"DAGSTER_PG_{key}", "5432" if key == "PORT" else "unused")
    config, _custom_class = dagster_instance_config(str(tmp_path))
    assert config["retention"]["sensor"]["purge_after_days"]["skipped"] == 1
