"""Bot runs read through one module: the active-runs query the sensor and bot_health share,
and a run's snapshot read through the validated BotConfig."""

from __future__ import annotations

import uuid

import pytest
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus, build_sensor_context, materialize

from tests.support.builders import add_bot
from trading_platform.contract import RunTag
from trading_platform.db.bots import get_bots
from trading_platform.orchestration import runs
from trading_platform.orchestration.assets import bot_health
from trading_platform.orchestration.checks import heartbeats_fresh, no_bot_in_error
from trading_platform.orchestration.reconcile import Launch
from trading_platform.orchestration.resources import BotDatabase, PlatformSettings
from trading_platform.orchestration.sensors import trading_bots_sensor, validate_row


@pytest.fixture
def instance(tmp_path):
    (tmp_path / "dh").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "dh")) as instance:
        yield instance


def _add_run(instance, status, tags, run_config=None) -> DagsterRun:
    return instance.add_run(
        DagsterRun(
            job_name="bot_run",
            run_id=str(uuid.uuid4()),
            run_config=run_config or {},
            tags=tags,
            status=status,
        )
    )


def _bot_tags(bot_id: int, **extra: str) -> dict[str, str]:
    return {RunTag.MANAGED: runs.YES, RunTag.BOT_ID: str(bot_id), **extra}


def test_active_bot_runs_are_the_managed_runs_that_hold_a_bot(instance) -> None:
    _add_run(instance, DagsterRunStatus.STARTED, _bot_tags(1, **{RunTag.INCARNATION: "3"}))
    _add_run(instance, DagsterRunStatus.STARTING, _bot_tags(2))  # QUEUED needs an origin
    _add_run(instance, DagsterRunStatus.CANCELING, _bot_tags(3))
    _add_run(instance, DagsterRunStatus.SUCCESS, _bot_tags(4))
    _add_run(instance, DagsterRunStatus.FAILURE, _bot_tags(5))
    _add_run(instance, DagsterRunStatus.STARTED, {RunTag.BOT_ID: "6"})  # not the platform's
    _add_run(instance, DagsterRunStatus.STARTED, _bot_tags(0) | {RunTag.BOT_ID: "x"})
    active = {run.bot_id: run for run in runs.active_bot_runs(instance)}
    assert set(active) == {1, 2, 3}
    assert active[1].incarnation == 3 and active[1].status == DagsterRunStatus.STARTED
    assert runs.active_bot_ids(instance) == {1, 2, 3}


def test_the_sensor_and_bot_health_share_the_active_runs_query(
    db_engine, database_url, instance, monkeypatch
) -> None:
    """One bot whose run is active: the sensor must not launch a second run, and bot_health
    must call it active; both through runs.active_bot_runs, the checks included."""
    bot_id = add_bot(db_engine, "busy", config={"params": {"fast": 5, "slow": 20}})
    settings = PlatformSettings()
    (row,) = get_bots(db_engine)
    _hash, config = validate_row(row, settings.registry())
    launch = Launch(bot_id, config, 1, "k", False)
    _add_run(instance, DagsterRunStatus.STARTED, runs.run_tags(launch), runs.run_config(launch))

    callers = []
    query = runs.active_bot_runs

    def spy(instance):  # type: ignore[no-untyped-def]
        callers.append(instance)
        return query(instance)

    monkeypatch.setattr(runs, "active_bot_runs", spy)
    database = BotDatabase(url=database_url)
    context = build_sensor_context(
        instance=instance, resources={"bot_database": database, "platform_settings": settings}
    )
    assert trading_bots_sensor(context).run_requests == []
    assert len(callers) == 1
    result = materialize(
        [bot_health, heartbeats_fresh, no_bot_in_error],
        resources={"bot_database": database},
        instance=instance,
    )
    assert result.success
    assert len(callers) == 1 + 3  # the asset and its two checks
    (materialization,) = result.asset_materializations_for_node("bot_health")
    (record,) = materialization.metadata["table"].value.records
    assert record.data["bot_id"] == bot_id and record.data["run_active"] is True


def _run_with_snapshot(instance, snapshot) -> DagsterRun:
    config = {"ops": {runs.RUN_BOT_OP: {"config": {"snapshot": snapshot}}}}
    return _add_run(instance, DagsterRunStatus.FAILURE, _bot_tags(7), config)


def test_error_notifications_follow_the_validated_snapshot(db_engine, instance) -> None:
    add_bot(db_engine, "quiet", config={"notifications": {"error_notifications": False}})
    (row,) = get_bots(db_engine)
    _hash, config = validate_row(row, PlatformSettings().registry())
    quiet = _run_with_snapshot(instance, config.run_config())
    assert runs.bot_config_of(quiet) == config
    assert not runs.wants_error_notifications(quiet)
    # unreadable (an older platform's snapshot, or none): notify all the same
    assert runs.wants_error_notifications(_run_with_snapshot(instance, {"name": "x"}))
    assert runs.wants_error_notifications(_add_run(instance, DagsterRunStatus.FAILURE, {}))


def test_bot_of_run() -> None:
    assert runs.bot_of_run({RunTag.BOT_ID: "7", RunTag.BOT_NAME: "seven"}) == (7, "seven")
    assert runs.bot_of_run({}) == (None, "bot")
