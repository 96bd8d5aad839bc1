"""The lifecycle rules through the real daemon, code server and run workers."""

from __future__ import annotations

import json
import os
import signal
from typing import Any

import pytest
from sqlalchemy import select

from tests.e2e.harness import Platform
from tests.support.counting import count_rows
from trading_platform.db.models import TradingTrade
from trading_platform.db.status import status_events
from trading_platform.db.trades import bot_trades
from trading_platform.engine.activity import parse_activity

pytestmark = pytest.mark.e2e

START_TIMEOUT = 90


def _running(platform: Platform, bot_id: int) -> bool:
    return platform.bot(bot_id).status == "running"


def test_bot_inserted_with_sql_starts_heartbeats_and_trades(platform: Platform) -> None:
    bot_id = platform.insert_bot("e2e-paper")
    platform.wait_for(lambda: _running(platform, bot_id), START_TIMEOUT, "bot running")
    first = platform.wait_for(lambda: platform.bot(bot_id).last_heartbeat, 30, "a heartbeat")
    platform.wait_for(
        lambda: (hb := platform.bot(bot_id).last_heartbeat) is not None and hb > first,
        30,
        "a second heartbeat",
    )
    platform.wait_for(
        lambda: count_rows(platform.engine, TradingTrade, bot_id) >= 2,
        90,
        "paper trades recorded",
    )
    trades = bot_trades(platform.engine, bot_id)
    assert trades[0].side == "buy" and trades[0].entry_logic == "sma_cross_up"
    (run,) = platform.active_runs(bot_id)
    assert run.tags["trading/mode"] == "paper"
    assert run.tags["trading/strategy"] == "sma_cross"
    snapshot = run.run_config["ops"]["run_bot"]["config"]["snapshot"]
    assert snapshot["params"] == {"fast": 3, "slow": 8}
    events = status_events(platform.engine, bot_id)
    assert [e.to_status for e in events][:2] == ["starting", "running"]
    assert all(e.run_id == run.run_id for e in events[:2])


def test_config_change_with_sql_hot_reloads(platform: Platform) -> None:
    bot_id = platform.insert_bot("e2e-reload")
    platform.wait_for(lambda: _running(platform, bot_id), START_TIMEOUT, "bot running")
    (old,) = platform.active_runs(bot_id)
    config = {
        "params": {"fast": 4, "slow": 9},
        "data": {"pace_seconds": 0.5, "history_bars": 20},
        "heartbeat_interval": 2,
    }
    platform.sql(
        "UPDATE trading_bots SET config = :c WHERE id = :id", c=json.dumps(config), id=bot_id
    )

    def new_run():
        runs = [r for r in platform.active_runs(bot_id) if r.run_id != old.run_id]
        return runs[0] if runs and platform.bot(bot_id).status == "running" else None

    run = platform.wait_for(new_run, START_TIMEOUT, "a run with the new config")
    assert run.tags["trading/config_hash"] != old.tags["trading/config_hash"]
    assert run.run_config["ops"]["run_bot"]["config"]["snapshot"]["params"]["fast"] == 4
    old_run = platform.wait_for(
        lambda: (r := platform.instance().get_run_by_id(old.run_id)).is_finished and r,
        30,
        "old run finished",
    )
    assert old_run.status.value == "CANCELED"
    assert len(platform.active_runs(bot_id)) == 1


@pytest.mark.parametrize("how", ["disable", "delete"])
def test_disable_or_delete_stops_the_run(platform: Platform, how: str) -> None:
    bot_id = platform.insert_bot(f"e2e-stop-{how}")
    platform.wait_for(lambda: _running(platform, bot_id), START_TIMEOUT, "bot running")
    (run,) = platform.active_runs(bot_id)
    if how == "disable":
        platform.sql("UPDATE trading_bots SET enabled = false WHERE id = :id", id=bot_id)
        platform.wait_for(lambda: platform.bot(bot_id).status == "stopped", 60, "status stopped")
    else:
        platform.sql("DELETE FROM trading_bots WHERE id = :id", id=bot_id)
    platform.wait_for(lambda: not platform.active_runs(bot_id), 60, "no active run")
    assert platform.instance().get_run_by_id(run.run_id).status.value == "CANCELED"
    events = platform.wait_for(
        lambda: (e := status_events(platform.engine, bot_id))[-1].to_status == "stopped" and e,
        30,
        "stopped recorded in the audit trail",
    )
    assert [e.to_status for e in events][-2:] == ["stopping", "stopped"]
    assert all(e.run_id == run.run_id for e in events[-2:])


def test_killed_run_worker_is_relaunched(platform: Platform) -> None:
    bot_id = platform.insert_bot("e2e-kill")
    platform.wait_for(lambda: _running(platform, bot_id), START_TIMEOUT, "bot running")
    (run,) = platform.active_runs(bot_id)
    pid = platform.wait_for(lambda: platform.run_worker_pid(run.run_id), 10, "run worker pid")
    os.kill(pid, signal.SIGKILL)

    def relaunched():
        runs = [r for r in platform.active_runs(bot_id) if r.run_id != run.run_id]
        return runs[0] if runs and platform.bot(bot_id).status == "running" else None

    new = platform.wait_for(relaunched, 120, "relaunch after kill -9")
    assert int(new.tags["trading/incarnation"]) == int(run.tags["trading/incarnation"]) + 1
    assert platform.bot(bot_id).restart_count == 1
    # Two watchers race, both right: the code server reports the dead worker's run FAILURE,
    # or the sensor sees the lease's process gone first and cancels the run (CANCELED).
    assert platform.instance().get_run_by_id(run.run_id).status.value in ("FAILURE", "CANCELED")


def test_strategy_that_always_raises_gives_up_after_max_restarts(platform: Platform) -> None:
    config = (
        '{"data": {"pace_seconds": 0.2, "history_bars": 5}, "max_restarts": 2,'
        ' "heartbeat_interval": 2}'
    )
    bot_id = platform.insert_bot("e2e-raises", strategy="always_raises", config=config)
    platform.wait_for(
        lambda: (b := platform.bot(bot_id)).status == "error" and "gave up" in (b.last_error or ""),
        180,
        "status error after max_restarts",
    )
    runs = platform.runs(bot_id)
    assert len(runs) == 3  # first run + 2 restarts
    assert all(r.status.value == "FAILURE" for r in runs)
    assert platform.bot(bot_id).restart_count == 2
    # no further launches while the config is unchanged
    platform.wait_for_sensor_ticks(3)
    assert len(platform.runs(bot_id)) == 3
    # a config change tries again
    platform.sql(
        "UPDATE trading_bots SET strategy = 'sma_cross', config = :c WHERE id = :id",
        c='{"params": {"fast": 3, "slow": 8}, "data": {"pace_seconds": 0.5}}',
        id=bot_id,
    )
    platform.wait_for(
        lambda: _running(platform, bot_id), START_TIMEOUT, "running after config change"
    )
    assert platform.bot(bot_id).restart_count == 0


@pytest.mark.parametrize(
    ("columns", "field"),
    [
        ({"strategy": "no_such_strategy"}, "strategy: unknown strategy 'no_such_strategy'"),
        ({"config": '{"params": {"fast": "three"}}'}, "config.params.fast"),
        ({"timeframe": "7x"}, "timeframe: unknown timeframe '7x'"),
        ({"config": '{"params": {"fast": 3,'}, "config: malformed JSON"),
    ],
    ids=["unknown-strategy", "bad-param", "bad-timeframe", "malformed-json"],
)
def test_invalid_config_marks_error_and_spares_others(
    platform: Platform, columns: dict[str, str], field: str
) -> None:
    if "malformed" in field and platform.engine.dialect.name == "postgresql":
        pytest.skip("PostgreSQL's json column refuses malformed JSON at insert time")
    good = platform.insert_bot(f"e2e-good-{field[:12]}")
    bad = platform.insert_bot(f"e2e-bad-{field[:12]}", **columns)
    platform.wait_for(lambda: platform.bot(bad).status == "error", 60, "invalid bot marked error")
    assert field in platform.bot(bad).last_error
    platform.wait_for(
        lambda: _running(platform, good), START_TIMEOUT, "valid bot running beside it"
    )
    assert platform.runs(bad) == []
    platform.sql("UPDATE trading_bots SET enabled = false WHERE id = :id", id=good)


def test_backtest_bot_runs_once_and_completes(platform: Platform) -> None:
    config = '{"params": {"fast": 5, "slow": 20}, "data": {"bars": 800, "seed": 5}}'
    bot_id = platform.insert_bot("e2e-backtest", mode="backtest", timeframe="1d", config=config)
    platform.wait_for(lambda: platform.bot(bot_id).status == "completed", 120, "backtest completed")
    trades = bot_trades(platform.engine, bot_id)
    assert len(trades) >= 2
    assert {t.side for t in trades} == {"buy", "sell"}
    platform.wait_for_sensor_ticks(3)
    assert len(platform.runs(bot_id)) == 1


# -- a bot's activity in its run's event log ---------------------------------------------------
#: a bar every 0.25 s: a run of half a minute sees far more bars than it may log entries; the
#: harness makes bots write an activity summary every 4 s (TRADING_ACTIVITY_SUMMARY_SECONDS)
ACTIVITY_CONFIG = {
    "params": {"fast": 3, "slow": 8},
    "data": {"pace_seconds": 0.25, "history_bars": 20, "seed": 3},
    "heartbeat_interval": 2,
}


def _activity(platform: Platform, run_id: str) -> list[dict[str, str]]:
    """The activity entries of a run's event log, in order."""
    entries = (parse_activity(e.user_message or "") for e in platform.instance().all_logs(run_id))
    return [entry for entry in entries if entry]


def _run_trades(platform: Platform, bot_id: int, run_id: str) -> list[Any]:
    with platform.engine.connect() as connection:
        return list(
            connection.execute(
                select(TradingTrade.fill_id, TradingTrade.side)
                .where(TradingTrade.bot_id == bot_id, TradingTrade.run_id == run_id)
                .order_by(TradingTrade.id)
            )
        )


def test_a_bots_fills_status_changes_and_summaries_are_in_its_run_log(
    platform: Platform,
) -> None:
    bot_id = platform.insert_bot("e2e-activity", config=json.dumps(ACTIVITY_CONFIG))
    platform.wait_for(
        lambda: platform.bot(bot_id).status == "running", START_TIMEOUT, "bot running"
    )
    (run,) = platform.active_runs(bot_id)
    # while the run is going: fills and summaries arrive, not only when it ends
    platform.wait_for(
        lambda: (
            len(_run_trades(platform, bot_id, run.run_id)) >= 3
            and sum(e["activity"] == "summary" for e in _activity(platform, run.run_id)) >= 3
            and sum(e["activity"] == "fill" for e in _activity(platform, run.run_id)) >= 1
        ),
        120,
        "three trades, a fill entry and three summaries in the run's event log",
    )
    platform.sql("UPDATE trading_bots SET enabled = false WHERE id = :id", id=bot_id)
    platform.wait_for(
        lambda: platform.instance().get_run_by_id(run.run_id).is_finished, 90, "run finished"
    )

    entries = _activity(platform, run.run_id)
    assert all(e["bot"] == str(bot_id) for e in entries)
    trades = _run_trades(platform, bot_id, run.run_id)
    fills = [e for e in entries if e["activity"] == "fill"]
    assert [(f["order"], f["side"]) for f in fills] == [(t.fill_id, t.side) for t in trades]
    statuses = [e["to"] for e in entries if e["activity"] == "status"]
    assert statuses == ["starting", "running", "stopping", "stopped"]
    summaries = [e for e in entries if e["activity"] == "summary"]
    assert summaries[-1]["final"] == "yes"
    assert sum(int(s["fills"]) for s in summaries) == len(trades)
    bars_seen = int(summaries[-1]["bars"])
    everything = platform.instance().all_logs(run.run_id)  # Dagster's own events too
    assert len(everything) < bars_seen, (len(everything), bars_seen)
    # the run worker's own logging went to the bot's rotating log file (engine/output.py)
    log_file = platform.home / "trading_home" / "logs" / f"bot-{bot_id}.log"
    logged = log_file.read_text()
    assert "activity=status" in logged and "to=stopped" in logged, logged[-2000:]
