"""Each lifecycle rule of the reconciler on its own, without Dagster."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import pytest
from dagster import DagsterRunStatus

from tests.support.builders import bot_config, desired
from trading_platform.config import BotConfig
from trading_platform.contract import BotStatus, NotificationType
from trading_platform.db.bots import BotRow
from trading_platform.db.engine import SQLITE_BUSY_TIMEOUT_MS
from trading_platform.errors import ConfigError
from trading_platform.orchestration.reconcile import (
    MIN_STALE_SECONDS,
    ActiveRun,
    BotMemory,
    EndedRun,
    PlatformMemory,
    Policy,
    reconcile,
)
from trading_platform.strategy_handler import load_registry

REGISTRY = load_registry()[0]
NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
POLICY = Policy(backoff_seconds=10, backoff_max_seconds=40)
FAILED = EndedRun(DagsterRunStatus.FAILURE)
SUCCEEDED = EndedRun(DagsterRunStatus.SUCCESS)
CANCELED = EndedRun(DagsterRunStatus.CANCELED)
FATAL = EndedRun(DagsterRunStatus.FAILURE, fatal=True)
CANCELING_RUN = DagsterRunStatus.CANCELING


def _row(bot_id: int = 1, enabled: bool = True, status: str = "stopped", **kw) -> BotRow:
    columns = desired(enabled=enabled, config={})
    values = dict(
        id=bot_id,
        user_id=None,
        name=f"bot{bot_id}",
        config_text=json.dumps(columns.pop("config")),
        **columns,
        status=status,
        last_heartbeat=NOW,
        error_count=0,
        restart_count=0,
        last_error=None,
    )
    values.update(kw)
    return BotRow(**values)


def _config(
    bot_id: int = 1, config_hash: str = "h1" * 32, settings: dict | None = None, **kw
) -> BotConfig:
    """Bot ``bot_id`` validated, with a hash that names its config version; ``settings``
    replace keys of its ``config`` column."""
    return bot_config(
        REGISTRY,
        bot_id=bot_id,
        name=f"bot{bot_id}",
        config_hash=config_hash,
        config={"max_restarts": 2, "heartbeat_interval": 10, **(settings or {})},
        **kw,
    )


def _run(
    bot_id: int = 1,
    config_hash: str = "h1" * 32,
    status: DagsterRunStatus = DagsterRunStatus.STARTED,
    inc: int = 1,
    run_id: str = "r1",
    started_ago: float = 600,
) -> ActiveRun:
    return ActiveRun(
        run_id, bot_id, config_hash, status, inc, NOW - dt.timedelta(seconds=started_ago)
    )


def _ticking(now: dt.datetime = NOW) -> PlatformMemory:
    """The platform memory of a sensor that completed its previous tick 15 s ago."""
    return PlatformMemory(last_tick=now.timestamp() - 15)


def _plan(rows, configs, runs=(), memory=None, ended=None, now=NOW, platform=None):
    validated = {
        c.bot_id if isinstance(c, BotConfig) else c.bot_id: (
            c.config_hash if isinstance(c, BotConfig) else "bad",
            c,
        )
        for c in configs
    }
    return reconcile(
        rows,
        validated,
        list(runs),
        memory or {},
        now=now,
        policy=POLICY,
        last_run_status=lambda bot_id: (ended or {}).get(bot_id),
        platform=platform or _ticking(now),
    )


def test_enabled_valid_without_run_is_launched_with_a_fresh_run_key() -> None:
    plan = _plan([_row()], [_config()])
    (launch,) = plan.launches
    assert launch.run_key == f"bot-1-{'h1' * 6}-1"
    assert launch.incarnation == 1 and not launch.restart
    assert plan.counts["launched"] == 1 and plan.cancels == []


def test_unchanged_running_bot_needs_nothing() -> None:
    memory = {1: BotMemory(config_hash="h1" * 32, incarnation=1, launched_key="k")}
    plan = _plan([_row(status="running")], [_config()], [_run()], memory)
    assert plan.launches == [] and plan.cancels == [] and plan.status_changes == []


def test_config_change_cancels_and_relaunches_with_next_incarnation() -> None:
    memory = {1: BotMemory(config_hash="h1" * 32, incarnation=3, launched_key="k")}
    plan = _plan([_row(status="running")], [_config(config_hash="h2" * 32)], [_run(inc=3)], memory)
    assert [c.reason for c in plan.cancels] == ["config changed (hot reload)"]
    (launch,) = plan.launches
    assert launch.incarnation == 4 and plan.counts["reloaded"] == 1


def test_disable_cancels_and_delete_cancels() -> None:
    plan = _plan([_row(enabled=False, status="running")], [_config()], [_run()])
    assert [c.reason for c in plan.cancels] == ["bot disabled"] and plan.launches == []
    plan = _plan([], [], [_run(bot_id=7)])
    assert [(c.bot_id, c.reason) for c in plan.cancels] == [(7, "bot deleted")]


def test_canceling_run_is_not_cancelled_twice() -> None:
    plan = _plan(
        [_row(enabled=False, status="stopping")],
        [_config()],
        [_run(status=DagsterRunStatus.CANCELING)],
    )
    assert plan.cancels == []


def test_failure_relaunches_with_backoff_then_gives_up() -> None:
    memory = {1: BotMemory(config_hash="h1" * 32, incarnation=1, launched_key="k")}
    plan = _plan([_row(status="running")], [_config()], [], memory, ended={1: FAILED})
    assert plan.launches == []  # backoff: 10 s
    (change,) = plan.status_changes
    assert change.restart_count == 1 and change.notify == NotificationType.BOT_RESTARTED
    later = NOW + dt.timedelta(seconds=11)
    plan = _plan([_row(status="starting")], [_config()], [], plan.memory, now=later)
    (launch,) = plan.launches
    assert launch.restart and launch.incarnation == 2
    # second failure: backoff doubles to 20 s
    plan = _plan([_row()], [_config()], [], plan.memory, ended={1: FAILED}, now=later)
    assert plan.memory[1].retry_at == later.timestamp() + 20
    later2 = later + dt.timedelta(seconds=21)
    plan = _plan([_row()], [_config()], [], plan.memory, now=later2)
    assert len(plan.launches) == 1
    # third failure > max_restarts=2: give up, exactly one error status, no launch
    plan = _plan([_row()], [_config()], [], plan.memory, ended={1: FAILED}, now=later2)
    (change,) = plan.status_changes
    assert change.status == BotStatus.ERROR and "gave up" in change.error
    assert change.notify == NotificationType.RESTARTS_EXHAUSTED and plan.launches == []
    assert change.dedupe_key == f"exhausted:1:{'h1' * 8}:3" and change.bot_name == "bot1"
    plan = _plan(
        [_row(status="error")], [_config()], [], plan.memory, now=later2 + dt.timedelta(hours=1)
    )
    assert plan.launches == [] and plan.status_changes == []


def _failing_again(launched_ago: float) -> BotMemory:
    """The memory after two failures in a row 10 and 5 minutes ago, when the run launched
    ``launched_ago`` seconds ago has just failed too."""
    memory = {
        1: BotMemory(
            config_hash="h1" * 32,
            incarnation=3,
            launched_key="k",
            launched_at=NOW.timestamp() - launched_ago,
            streak=2,
            failures=[NOW.timestamp() - 600, NOW.timestamp() - 300],
        )
    }
    config = _config(settings={"max_restarts": 5})
    plan = _plan([_row(status="running")], [config], [], memory, ended={1: FAILED})
    return plan.memory[1]


def test_a_run_that_stayed_up_resets_the_backoff_but_still_counts() -> None:
    """A crash loop doubles the backoff; a failure after a run that stayed up five minutes
    (a worker killed once in a while) waits the first step again, and still counts."""
    after_a_stable_run = _failing_again(launched_ago=301)
    assert after_a_stable_run.retry_at == NOW.timestamp() + 10
    assert after_a_stable_run.streak == 1 and len(after_a_stable_run.failures) == 3
    in_a_crash_loop = _failing_again(launched_ago=299)
    assert in_a_crash_loop.retry_at == NOW.timestamp() + 40  # the third in a row: 10 x 2 x 2
    assert in_a_crash_loop.streak == 3 and len(in_a_crash_loop.failures) == 3


def test_failures_older_than_the_restart_window_no_longer_count() -> None:
    """Two crashes a day apart are two incidents, not a crash loop: with max_restarts=2 and a
    one-hour window the bot restarts after each, first backoff every time."""
    config = _config(settings={"restart_window": 3600})
    day = dt.timedelta(days=1)
    memory = {1: BotMemory(config_hash="h1" * 32, incarnation=1, launched_key="k")}
    notified = set()
    for incident in range(5):
        now = NOW + incident * day
        plan = _plan([_row(status="running")], [config], [], memory, ended={1: FAILED}, now=now)
        (change,) = plan.status_changes
        assert change.status == BotStatus.STARTING and change.restart_count == 1
        assert plan.memory[1].retry_at == now.timestamp() + 10  # first backoff again
        notified.add(change.dedupe_key)
        plan = _plan([_row()], [config], [], plan.memory, now=now + dt.timedelta(seconds=11))
        assert len(plan.launches) == 1
        memory = plan.memory
    assert not memory[1].gave_up and len(memory[1].failures) == 1
    assert len(notified) == 5  # every incident is notified, not only the first
    # three failures inside the window still exhaust max_restarts=2
    for minute in range(3):
        now = NOW + 5 * day + dt.timedelta(minutes=minute)
        plan = _plan([_row()], [config], [], memory, ended={1: FAILED}, now=now)
        memory = plan.memory
        memory[1].retry_at = None
        memory[1].launched_key = "k"
    assert memory[1].gave_up and plan.status_changes[0].status == BotStatus.ERROR


def test_config_change_after_giving_up_tries_again_and_resets_restart_count() -> None:
    memory = {
        1: BotMemory(config_hash="h1" * 32, incarnation=5, gave_up=True, failures=[1.0, 2.0, 3.0])
    }
    plan = _plan(
        [_row(status="error", restart_count=2)], [_config(config_hash="h3" * 32)], [], memory
    )
    assert len(plan.launches) == 1 and plan.launches[0].incarnation == 6
    assert [c.restart_count for c in plan.status_changes] == [0]


def test_cancelled_run_is_relaunched_without_counting_a_failure() -> None:
    memory = {1: BotMemory(config_hash="h1" * 32, incarnation=1, launched_key="k")}
    plan = _plan([_row(status="stopped")], [_config()], [], memory, ended={1: CANCELED})
    assert len(plan.launches) == 1 and not plan.launches[0].restart
    assert plan.memory[1].failures == []


def test_backtest_runs_once_per_config() -> None:
    memory = {1: BotMemory(config_hash="h1" * 32, incarnation=1, launched_key="k")}
    config = _config(mode="backtest")
    plan = _plan(
        [_row(status="completed", mode="backtest")], [config], [], memory, ended={1: SUCCEEDED}
    )
    assert plan.launches == [] and plan.memory[1].completed
    plan = _plan([_row(status="completed", mode="backtest")], [config], [], plan.memory)
    assert plan.launches == []


def test_invalid_config_marks_error_once_and_leaves_others_alone() -> None:
    error = ConfigError("config.params.fast", "Input should be a valid integer")
    error.bot_id = 2  # type: ignore[attr-defined]
    rows = [_row(1), _row(2)]
    plan = _plan(rows, [_config(1), error])
    assert [launch.bot_id for launch in plan.launches] == [1]
    (change,) = plan.status_changes
    assert change.bot_id == 2 and change.status == BotStatus.ERROR
    assert "config.params.fast" in change.error
    assert change.notify == NotificationType.INVALID_CONFIG
    assert change.dedupe_key == "invalid:2:bad" and change.bot_name == "bot2"
    rows = [_row(1), _row(2, status="error")]  # the write took
    plan = _plan(rows, [_config(1), error], [_run(1)], plan.memory)
    assert plan.status_changes == []  # reported once


def test_every_status_the_sensor_writes_is_conditional_on_the_status_it_read() -> None:
    """A run writes its status while the sensor works; the sensor's write is a
    compare-and-set on what it read, and a restart-count reset never writes a status."""
    memory = {1: BotMemory(config_hash="h1" * 32, incarnation=2, launched_key="k")}
    disabled = _row(enabled=False, status="running", restart_count=1)
    plan = _plan([disabled], [_config(config_hash="h2" * 32)], [_run(inc=2)], memory)
    (reset,) = plan.status_changes
    assert reset.status is None and reset.restart_count == 0
    plan = _plan([_row(status="running")], [_config()], [], memory, ended={1: FAILED})
    assert [c.only_from for c in plan.status_changes] == [(BotStatus.RUNNING,)]
    plan = _plan([_row(enabled=False, status="stopping")], [_config()], [])
    assert [c.only_from for c in plan.status_changes] == [(BotStatus.STOPPING,)]


def test_a_lost_race_is_written_again_once_no_run_holds_the_bot() -> None:
    """The run recorded ``stopped`` after the sensor read the row, so the sensor's ``error``
    did not take: it is written again (not notified again) on a later tick."""
    error = ConfigError("config.params.fast", "Input should be a valid integer")
    error.bot_id = 1  # type: ignore[attr-defined]
    plan = _plan([_row(status="running")], [error], [_run()])
    assert [c.notify for c in plan.status_changes] == [NotificationType.INVALID_CONFIG]
    plan = _plan([_row(status="stopping")], [error], [_run(status=CANCELING_RUN)], plan.memory)
    assert plan.status_changes == []  # a run still holds the bot
    plan = _plan([_row(status="stopped")], [error], [], plan.memory)
    assert [(c.status, c.notify) for c in plan.status_changes] == [(BotStatus.ERROR, None)]

    memory = {1: BotMemory(config_hash="h1" * 32, incarnation=3, launched_key="k")}
    memory[1].failures = [NOW.timestamp() - 30, NOW.timestamp() - 20]
    plan = _plan([_row(status="running")], [_config()], [], memory, ended={1: FAILED})
    (gave_up,) = plan.status_changes
    later = NOW + dt.timedelta(seconds=15)
    plan = _plan([_row(status="stopped")], [_config()], [], plan.memory, now=later)
    (again,) = plan.status_changes
    assert again.status == BotStatus.ERROR and again.error == gave_up.error
    assert again.notify is None and again.only_from == (BotStatus.STOPPED,)
    plan = _plan([_row(status="error")], [_config()], [], plan.memory, now=later)
    assert plan.status_changes == [] and plan.launches == []


def test_stale_heartbeat_cancels_a_hung_run_and_counts_a_failure() -> None:
    """3 x a heartbeat interval of 30 s: stale after 90 s."""
    config = _config(settings={"heartbeat_interval": 30})
    memory = {1: BotMemory(config_hash="h1" * 32, incarnation=1, launched_key="k")}
    stale = _row(status="running", last_heartbeat=NOW - dt.timedelta(seconds=91))
    plan = _plan([stale], [config], [_run()], memory)
    assert [c.reason for c in plan.cancels] == ["heartbeat stale: run presumed hung, restarting"]
    assert plan.memory[1].failures
    fresh = _row(status="running", last_heartbeat=NOW - dt.timedelta(seconds=89))
    memory = {1: BotMemory(config_hash="h1" * 32, incarnation=1, launched_key="k")}
    assert _plan([fresh], [config], [_run()], memory).cancels == []


def test_a_run_whose_worker_is_gone_is_restarted_at_once_and_counted() -> None:
    """kill -9 of a worker: its heartbeat is still fresh, but the process is gone."""
    memory = {1: BotMemory(config_hash="h1" * 32, incarnation=1, launched_key="k")}
    fresh = _row(status="running", last_heartbeat=NOW - dt.timedelta(seconds=2))
    gone = replace(_run(), worker_gone=True)
    plan = _plan([fresh], [_config()], [gone], memory)
    assert [c.reason for c in plan.cancels] == ["run worker gone (killed or crashed), restarting"]
    assert plan.memory[1].failures
    assert _plan([fresh], [_config()], [_run()], memory).cancels == []


@pytest.mark.parametrize("ended", [DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED])
def test_a_killed_worker_is_counted_once_however_dagster_records_its_run(ended) -> None:
    """After kill -9 the sensor cancels the run while the code server may report it FAILURE:
    the next tick must not count the same death again (CI saw restart_count 2)."""
    memory = {1: BotMemory(config_hash="h1" * 32, incarnation=1, launched_key="k")}
    fresh = _row(status="running", last_heartbeat=NOW - dt.timedelta(seconds=2))
    gone = replace(_run(), worker_gone=True)
    first = _plan([fresh], [_config()], [gone], memory)
    assert len(first.memory[1].failures) == 1
    later = NOW + dt.timedelta(seconds=60)  # past the backoff
    second = _plan([fresh], [_config()], [], first.memory, ended={1: EndedRun(ended)}, now=later)
    assert len(second.memory[1].failures) == 1
    (launch,) = second.launches
    assert launch.incarnation == 2 and launch.restart


@pytest.mark.parametrize("interval", [1, 2, 10, 20])
def test_a_short_heartbeat_interval_never_makes_the_stale_limit_shorter_than_the_floor(
    interval: int,
) -> None:
    """``heartbeat_interval: 1`` gave a 3 s limit, below SQLite's 30 s busy timeout: a
    heartbeat waiting for the write lock made a healthy run look hung."""
    assert MIN_STALE_SECONDS > SQLITE_BUSY_TIMEOUT_MS / 1000
    config = _config(settings={"heartbeat_interval": interval})
    memory = {1: BotMemory(config_hash="h1" * 32, incarnation=1, launched_key="k")}
    waited = _row(
        status="running", last_heartbeat=NOW - dt.timedelta(seconds=MIN_STALE_SECONDS - 1)
    )
    assert _plan([waited], [config], [_run()], memory).cancels == []
    hung = _row(status="running", last_heartbeat=NOW - dt.timedelta(seconds=MIN_STALE_SECONDS + 1))
    assert len(_plan([hung], [config], [_run()], memory).cancels) == 1


def test_two_active_runs_of_one_bot_keep_only_the_newest() -> None:
    memory = {1: BotMemory(config_hash="h1" * 32, incarnation=2, launched_key="k")}
    runs = [_run(inc=1, run_id="old"), _run(inc=2, run_id="new")]
    plan = _plan([_row(status="running")], [_config()], runs, memory)
    assert [c.run_id for c in plan.cancels] == ["old"] and plan.launches == []


def test_fatal_failure_is_not_retried_until_the_config_changes() -> None:
    memory = {1: BotMemory(config_hash="h1" * 32, incarnation=1, launched_key="k")}
    plan = _plan([_row(status="error")], [_config()], [], memory, ended={1: FATAL})
    assert plan.launches == [] and plan.status_changes == []  # the run recorded its error
    later = NOW + dt.timedelta(hours=1)
    plan = _plan([_row(status="error")], [_config()], [], plan.memory, now=later)
    assert plan.launches == []
    plan = _plan([_row(status="error")], [_config(config_hash="h4" * 32)], [], plan.memory)
    assert len(plan.launches) == 1


def _two_running_bots(ago: float) -> tuple[list[BotRow], list[BotConfig], list[ActiveRun]]:
    """Bots 1 and 2 with a run started 10 min ago, bot 1 last heartbeating ``ago`` s ago
    and bot 2 two minutes ago (both stale at the 60 s limit of a 10 s heartbeat)."""
    rows = [
        _row(1, status="running", last_heartbeat=NOW - dt.timedelta(seconds=ago)),
        _row(2, status="running", last_heartbeat=NOW - dt.timedelta(seconds=120)),
    ]
    runs = [_run(1, run_id="r1"), _run(2, run_id="r2")]
    return rows, [_config(1), _config(2)], runs


def _memory_of_running_bots(*bot_ids: int) -> dict[int, BotMemory]:
    return {
        bot_id: BotMemory(config_hash="h1" * 32, incarnation=1, launched_key="k")
        for bot_id in bot_ids
    }


def test_every_running_bot_stale_at_once_is_an_outage_not_a_hang() -> None:
    """The database was unreachable for two minutes (the bots could not write heartbeats,
    the sensor could read): no run is cancelled as hung nor counted as a failure at once;
    the runs get one more stale limit, and are then relaunched without counting."""
    rows, configs, runs = _two_running_bots(ago=120)
    plan = _plan(rows, configs, runs, _memory_of_running_bots(1, 2))
    assert plan.cancels == [] and plan.status_changes == []
    assert plan.platform.outage_since == NOW.timestamp()
    assert any("outage" in warning for warning in plan.warnings)
    later = NOW + dt.timedelta(seconds=59)
    plan = _plan(rows, configs, runs, plan.memory, now=later, platform=plan.platform)
    assert plan.cancels == [] and plan.warnings == []  # noticed once
    later = NOW + dt.timedelta(seconds=61)
    plan = _plan(rows, configs, runs, plan.memory, now=later, platform=plan.platform)
    assert sorted(c.run_id for c in plan.cancels) == ["r1", "r2"]
    assert all("outage" in c.reason for c in plan.cancels)
    assert plan.status_changes == [] and not any(m.failures for m in plan.memory.values())


def test_heartbeats_resuming_end_the_outage_and_the_late_run_keeps_its_grace() -> None:
    rows, configs, runs = _two_running_bots(ago=120)
    plan = _plan(rows, configs, runs, _memory_of_running_bots(1, 2))
    later = NOW + dt.timedelta(seconds=30)
    rows, _, _ = _two_running_bots(ago=-25)  # bot 1 heartbeats again, bot 2 not yet
    plan = _plan(rows, configs, runs, plan.memory, now=later, platform=plan.platform)
    assert plan.cancels == [] and plan.platform.outage_since is None
    assert any("resumed" in warning for warning in plan.warnings)
    later = NOW + dt.timedelta(seconds=61)  # bot 2 is silent a stale limit after the outage
    rows, _, _ = _two_running_bots(ago=-55)
    plan = _plan(rows, configs, runs, plan.memory, now=later, platform=plan.platform)
    assert [c.run_id for c in plan.cancels] == ["r2"] and plan.memory[2].failures


def test_one_stale_bot_among_fresh_ones_is_hung() -> None:
    rows, configs, runs = _two_running_bots(ago=5)
    plan = _plan(rows, configs, runs, _memory_of_running_bots(1, 2))
    assert [c.run_id for c in plan.cancels] == ["r2"] and plan.memory[2].failures
    assert plan.platform.outage_since is None


def test_a_sensor_that_could_not_tick_gives_the_runs_one_more_stale_limit() -> None:
    """No completed tick for five minutes (database down, daemon down): the sensor has not
    seen the heartbeats of that time, even of a single bot."""
    stale = _row(status="running", last_heartbeat=NOW - dt.timedelta(seconds=300))
    memory = _memory_of_running_bots(1)
    gap = PlatformMemory(last_tick=NOW.timestamp() - 300)
    plan = _plan([stale], [_config()], [_run()], memory, platform=gap)
    assert plan.cancels == [] and not plan.memory[1].failures
    assert plan.platform.watching_since == NOW.timestamp() and plan.warnings
    for seconds in (30, 61):  # ticking again every 30 s
        later = NOW + dt.timedelta(seconds=seconds)
        plan = _plan([stale], [_config()], [_run()], plan.memory, now=later, platform=plan.platform)
    assert len(plan.cancels) == 1 and plan.memory[1].failures and plan.warnings == []


def test_a_sensor_that_ticks_slowly_is_not_always_in_a_gap() -> None:
    """TRADING_SENSOR_INTERVAL_SECONDS=120: ticks 130 s apart are the sensor's pace, not a gap
    (three intervals are), so a hung run is still judged."""
    stale = _row(status="running", last_heartbeat=NOW - dt.timedelta(seconds=300))
    slow = PlatformMemory(last_tick=NOW.timestamp() - 130)
    validated = {1: ("h1" * 32, _config())}
    plan = reconcile(
        [stale],
        validated,
        [_run()],
        _memory_of_running_bots(1),
        now=NOW,
        policy=Policy(sensor_interval_seconds=120),
        last_run_status=lambda bot_id: None,
        platform=slow,
    )
    assert len(plan.cancels) == 1 and plan.warnings == []
