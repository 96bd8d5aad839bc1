"""Bot health (monitoring/health.py) on hand-built rows: stale, stopped and error bots are
named, a heartbeat that reports a failing feed makes a bot unhealthy, and so does a drift from
the exchange waiting for the operator."""

from __future__ import annotations

import datetime as dt

from tests.support.builders import add_bot
from trading_platform.db.drift import clear_drift, record_drift
from trading_platform.db.status import heartbeat, update_bot_status
from trading_platform.monitoring import health

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
#: a heartbeat is stale after three intervals, 90 s
BEATS_EVERY_30_S = {"heartbeat_interval": 30}


def test_health_names_stale_stopped_and_error_bots(db_engine) -> None:
    fresh = add_bot(db_engine, "fresh", config=BEATS_EVERY_30_S)
    stale = add_bot(db_engine, "stale", config=BEATS_EVERY_30_S)
    never = add_bot(db_engine, "never", config=BEATS_EVERY_30_S)
    broken = add_bot(db_engine, "broken", config=BEATS_EVERY_30_S)
    off = add_bot(db_engine, "off", enabled=False, config=BEATS_EVERY_30_S)
    for bot_id in (fresh, stale, broken):
        update_bot_status(db_engine, bot_id, "running", "t")
    heartbeat(db_engine, fresh, at=NOW - dt.timedelta(seconds=89))
    heartbeat(db_engine, stale, at=NOW - dt.timedelta(seconds=91))
    heartbeat(db_engine, broken, at=NOW)
    update_bot_status(db_engine, broken, "error", "x", error="RuntimeError: boom")
    rows = health.bot_health(db_engine, {fresh, stale}, now=NOW)
    by_name = {row.name: row for row in rows}
    assert by_name["fresh"].healthy and by_name["fresh"].run_active
    assert [r.name for r in health.stale_heartbeats(rows)] == ["stale", "never"]
    assert by_name["stale"].problem == "heartbeat 91 s old (limit 90 s)"
    assert [r.name for r in health.bots_in_error(rows)] == ["broken"]
    assert by_name["off"].healthy and not by_name["off"].enabled
    assert health.counts(rows) == {"healthy": 1, "unhealthy": 3, "error": 1, "stopped": 2}
    assert off and never


def test_a_heartbeat_reporting_a_failing_feed_makes_the_bot_unhealthy(db_engine) -> None:
    bot_id = add_bot(db_engine, "feedless", config=BEATS_EVERY_30_S)
    update_bot_status(db_engine, bot_id, "running", "t")
    heartbeat(db_engine, bot_id, feed_problem="RequestTimeout 3 times in a row", at=NOW)
    (row,) = health.bot_health(db_engine, {bot_id}, now=NOW)
    assert not row.healthy and row.problem == "data feed failing: RequestTimeout 3 times in a row"
    heartbeat(db_engine, bot_id, at=NOW)  # the next beat after recovery clears it
    (row,) = health.bot_health(db_engine, {bot_id}, now=NOW)
    assert row.healthy


def test_a_drift_waiting_for_the_operator_makes_the_bot_unhealthy(db_engine) -> None:
    bot_id = add_bot(db_engine, "drifted", config=BEATS_EVERY_30_S)
    update_bot_status(db_engine, bot_id, "running", "t")
    heartbeat(db_engine, bot_id, at=NOW)
    record_drift(db_engine, bot_id, "the exchange holds 0.5 BTC but the bot's position is 0 BTC")
    (row,) = health.bot_health(db_engine, {bot_id}, now=NOW)
    assert not row.healthy
    assert row.problem is not None and row.problem.startswith("drift from the exchange, no new")
    assert "the exchange holds 0.5 BTC" in row.problem
    clear_drift(db_engine, bot_id)  # acknowledged
    (row,) = health.bot_health(db_engine, {bot_id}, now=NOW)
    assert row.healthy


def test_a_short_heartbeat_interval_is_judged_by_the_sensors_floor(db_engine) -> None:
    """``heartbeat_interval: 2`` (3 x 2 = 6 s) is stale only after 60 s, as the sensor judges
    it: bot_health never calls unhealthy a bot the sensor still gives time."""
    bot_id = add_bot(db_engine, "quick", config={"heartbeat_interval": 2})
    update_bot_status(db_engine, bot_id, "running", "t")
    heartbeat(db_engine, bot_id, at=NOW - dt.timedelta(seconds=59))
    (row,) = health.bot_health(db_engine, {bot_id}, now=NOW)
    assert row.healthy
    heartbeat(db_engine, bot_id, at=NOW - dt.timedelta(seconds=61))
    (row,) = health.bot_health(db_engine, {bot_id}, now=NOW)
    assert row.problem == "heartbeat 61 s old (limit 60 s)"
