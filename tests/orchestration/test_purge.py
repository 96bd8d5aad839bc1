"""``purge_old_runs`` on a real Dagster instance (temporary DAGSTER_HOME, SQLite storage) and
a real bot database: old finished runs go with their events and captured logs; runs in
flight, recent runs and each bot's newest run stay."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus, job, op
from dagster._core.storage.compute_log_manager import ComputeIOType
from dagster._core.storage.runs.schema import RunsTable
from sqlalchemy import Engine, select

from tests.e2e.harness import postgres_databases
from trading_platform.contract import RunTag
from trading_platform.db.engine import session_scope
from trading_platform.db.models import Notification
from trading_platform.db.types import utcnow
from trading_platform.definitions import defs
from trading_platform.orchestration.purge import purge_finished_runs
from trading_platform.orchestration.runs import YES

POSTGRES_URL = os.environ.get("TRADING_TEST_POSTGRES_URL")
REPO = Path(__file__).resolve().parents[2]


@op
def noop() -> None:
    pass


@job
def tiny() -> None:
    noop()


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[DagsterInstance]:
    (tmp_path / "dagster_home").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "dagster_home")) as instance:
        yield instance


@pytest.fixture(params=["sqlite"] + (["postgresql"] if POSTGRES_URL else []))
def any_instance(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DagsterInstance]:
    """The instance the shipped config files make: ``dagster.yaml`` (SQLite storage) or
    ``dagster-postgres.yaml`` on a fresh PostgreSQL database."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    if request.param == "sqlite":
        shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
        with DagsterInstance.from_config(str(home)) as instance:
            yield instance
        return
    assert POSTGRES_URL is not None
    _bots_db, dagster_env, cleanup = postgres_databases(POSTGRES_URL)
    try:
        for key, value in dagster_env.items():
            monkeypatch.setenv(key, value)
        shutil.copy(REPO / "dagster_home" / "dagster-postgres.yaml", home / "dagster.yaml")
        with DagsterInstance.from_config(str(home)) as instance:
            yield instance
    finally:
        cleanup()


def bot_tags(bot_id: int) -> dict[str, str]:
    return {RunTag.MANAGED: YES, RunTag.BOT_ID: str(bot_id)}


def run_with(
    instance: DagsterInstance, status: DagsterRunStatus, tags: dict[str, str] | None = None
) -> str:
    """A run in ``status``: a real execution for SUCCESS (events in the event log), a created
    run that Dagster is told failed or was cancelled, or one created in flight."""
    if status == DagsterRunStatus.SUCCESS:
        result = tiny.execute_in_process(instance=instance, tags=tags or {})
        return result.run_id
    if status in (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED):
        run = instance.create_run_for_job(tiny, tags=tags or {})
        if status == DagsterRunStatus.FAILURE:
            instance.report_run_failed(run)
        else:
            instance.report_run_canceled(run)
        return run.run_id
    return instance.create_run_for_job(tiny, tags=tags or {}, status=status).run_id


def age(instance: DagsterInstance, run_id: str, days: float) -> None:
    """Make the run's last update ``days`` old (Dagster's storage has no clock to inject;
    the run table's ``update_timestamp`` is what ``RunsFilter.updated_before`` reads)."""
    when = (utcnow() - dt.timedelta(days=days)).replace(tzinfo=None)
    storage = instance._run_storage  # aging a run has no public API
    with storage.connect() as conn:  # type: ignore[attr-defined]
        conn.execute(
            RunsTable.update().where(RunsTable.c.run_id == run_id).values(update_timestamp=when)
        )


def captured_log(instance: DagsterInstance, run_id: str) -> Path:
    """Captured stdout of the run, written through the instance's compute log manager."""
    manager = instance.compute_log_manager
    key = [run_id, "compute_logs", "noop"]
    with manager.open_log_stream(key, ComputeIOType.STDOUT) as stream:
        assert stream is not None
        stream.write("a week of output\n")
    path = Path(manager.get_captured_local_path(key, "out"))  # type: ignore[attr-defined]
    assert path.exists()
    return path


CUTOFF_DAYS = 30


def cutoff() -> dt.datetime:
    return utcnow() - dt.timedelta(days=CUTOFF_DAYS)


def test_old_finished_runs_go_with_their_events_and_logs(any_instance: DagsterInstance) -> None:
    instance = any_instance
    old_success = run_with(instance, DagsterRunStatus.SUCCESS)
    old_failure = run_with(instance, DagsterRunStatus.FAILURE)
    old_canceled = run_with(instance, DagsterRunStatus.CANCELED)
    recent = run_with(instance, DagsterRunStatus.SUCCESS)
    for run_id in (old_success, old_failure, old_canceled):
        age(instance, run_id, CUTOFF_DAYS + 1)
    log = captured_log(instance, old_success)
    assert instance.all_logs(old_success)  # the execution wrote its events
    path_for_shard = getattr(instance.event_log_storage, "path_for_shard", None)
    shard = Path(path_for_shard(old_success)) if path_for_shard else None
    assert shard is None or shard.exists()  # the SQLite event log's file of the run

    result = purge_finished_runs(instance, cutoff())

    assert result.deleted == 3 and not result.more_left
    assert not log.exists()
    assert shard is None or not shard.exists()  # (reading the events below makes a new one)
    for run_id in (old_success, old_failure, old_canceled):
        assert instance.get_run_by_id(run_id) is None
        assert instance.all_logs(run_id) == []
    assert instance.get_run_by_id(recent) is not None
    assert instance.all_logs(recent)


def test_runs_in_flight_stay_whatever_their_age(instance: DagsterInstance) -> None:
    """A bot's run is long-running: a STARTED run of two months is a healthy bot."""
    in_flight = {
        status: run_with(instance, status, bot_tags(bot_id))
        for bot_id, status in enumerate(
            [
                DagsterRunStatus.STARTED,
                DagsterRunStatus.STARTING,
                DagsterRunStatus.CANCELING,
                DagsterRunStatus.NOT_STARTED,
            ],
            start=1,
        )
    }
    for run_id in in_flight.values():
        age(instance, run_id, 60)

    assert purge_finished_runs(instance, cutoff()).deleted == 0
    for status, run_id in in_flight.items():
        run = instance.get_run_by_id(run_id)
        assert run is not None and run.status == status


def test_the_newest_run_of_a_bot_stays(instance: DagsterInstance) -> None:
    """A bot that failed long ago still shows its last run and why it ended."""
    first = run_with(instance, DagsterRunStatus.FAILURE, bot_tags(7))
    last = run_with(instance, DagsterRunStatus.FAILURE, bot_tags(7))
    other_bot_old = run_with(instance, DagsterRunStatus.CANCELED, bot_tags(8))
    other_bot_running = run_with(instance, DagsterRunStatus.STARTED, bot_tags(8))
    for run_id in (first, last, other_bot_old, other_bot_running):
        age(instance, run_id, 90)

    result = purge_finished_runs(instance, cutoff())

    assert (result.deleted, result.kept_newest_of_bot) == (2, 1)
    assert instance.get_run_by_id(first) is None
    assert instance.get_run_by_id(last) is not None
    # bot 8's newest run is the one in flight: its old finished run goes
    assert instance.get_run_by_id(other_bot_old) is None
    assert instance.get_run_by_id(other_bot_running) is not None


def test_one_purge_deletes_at_most_its_limit(instance: DagsterInstance) -> None:
    runs = [run_with(instance, DagsterRunStatus.FAILURE) for _ in range(3)]
    for run_id in runs:
        age(instance, run_id, 40)
    first = purge_finished_runs(instance, cutoff(), max_runs=2)
    assert (first.deleted, first.more_left) == (2, True)
    second = purge_finished_runs(instance, cutoff(), max_runs=2)
    assert (second.deleted, second.more_left) == (1, False)
    assert all(instance.get_run_by_id(run_id) is None for run_id in runs)


def test_the_job_purges_runs_and_the_bot_database(
    instance: DagsterInstance, db_engine: Engine, database_url: str, monkeypatch
) -> None:
    """The registered job, executed with the platform's resources: the retention comes from
    TRADING_RUN_RETENTION_DAYS, the bot database from TRADING_DATABASE_URL."""
    monkeypatch.setenv("TRADING_DATABASE_URL", database_url)
    monkeypatch.setenv("TRADING_RUN_RETENTION_DAYS", "10")
    old = run_with(instance, DagsterRunStatus.FAILURE)
    age(instance, old, 11)
    kept = run_with(instance, DagsterRunStatus.FAILURE)
    age(instance, kept, 9)
    with session_scope(db_engine) as session:
        for key, days in (("sent-11-days-ago", 11), ("sent-9-days-ago", 9)):
            session.add(
                Notification(
                    channel="telegram",
                    type="ERROR",
                    text=key,
                    status="sent",
                    dedupe_key=key,
                    created_at=utcnow() - dt.timedelta(days=days),
                )
            )
    from trading_platform.definitions import platform_definitions

    purge_job = platform_definitions().resolve_job_def("purge_old_runs")
    result = purge_job.execute_in_process(instance=instance)

    assert result.success
    assert instance.get_run_by_id(old) is None
    assert instance.get_run_by_id(kept) is not None
    with session_scope(db_engine) as session:
        assert set(session.scalars(select(Notification.dedupe_key))) == {"sent-9-days-ago"}
    messages = [event.message for event in instance.all_logs(result.run_id) if event.message]
    assert any("deleted=1" in message for message in messages)


def test_the_purge_schedule_is_registered_and_running() -> None:
    from dagster import DefaultScheduleStatus

    repo = defs.get_repository_def()
    schedule = repo.get_schedule_def("purge_schedule")
    assert schedule.job_name == "purge_old_runs"
    assert schedule.default_status == DefaultScheduleStatus.RUNNING
    assert schedule.cron_schedule == "17 3 * * *"


def test_retention_and_log_settings_come_from_their_variables(monkeypatch) -> None:
    from dagster import build_resources

    from trading_platform.definitions import platform_resources

    with build_resources(platform_resources()) as resources:
        retention = resources.platform_settings.retention()
        assert (retention.days, retention.audit_days) == (30, 365)  # the README's defaults
        assert resources.platform_settings.output_limits().file_bytes == 10 * 2**20
    monkeypatch.setenv("TRADING_RUN_RETENTION_DAYS", "0")
    monkeypatch.setenv("TRADING_AUDIT_RETENTION_DAYS", "90")
    monkeypatch.setenv("TRADING_BOT_LOG_BYTES", "2048")
    with build_resources(platform_resources()) as resources:
        retention = resources.platform_settings.retention()
        assert (retention.days, retention.audit_days) == (0, 90)
        assert retention.cutoff(utcnow()) is None  # 0 keeps everything
        assert resources.platform_settings.output_limits().file_bytes == 2048
    monkeypatch.setenv("TRADING_RUN_RETENTION_DAYS", "a month")
    with (
        build_resources(platform_resources()) as resources,
        pytest.raises(ValueError, match="TRADING_RUN_RETENTION_DAYS: expected a whole number"),
    ):
        resources.platform_settings.retention()
