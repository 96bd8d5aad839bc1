"""BotRunner without Dagster: statuses, heartbeats, paper fills, stop and failure."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from tests.support.builders import add_bot_config
from tests.support.running import RunnerThread
from tests.support.waiting import wait_for
from trading_platform.db.bots import get_bot
from trading_platform.db.grants import revoke
from trading_platform.db.leases import LeaseHeld, LeaseLost, revoke_lease
from trading_platform.db.orders import bot_orders
from trading_platform.db.positions import get_position
from trading_platform.db.status import status_events
from trading_platform.db.trades import bot_trades
from trading_platform.engine.runner import BotRunner
from trading_platform.errors import ConfigError
from trading_platform.strategy_handler import PlatformStrategy, StrategyRegistry, load_registry

#: a replay market that moves fast: a bar every 0.05 s, a heartbeat every second
FAST_REPLAY = {
    "data": {"pace_seconds": 0.05, "history_bars": 20, "seed": 4},
    "heartbeat_interval": 1,
}


def _sma_bot(db_engine, name: str, **columns):
    """An ``sma_cross`` bot on the fast replay market (a paper bot unless ``columns`` say)."""
    registry, _ = load_registry()
    config = add_bot_config(
        db_engine,
        registry,
        name,
        config={"params": {"fast": 3, "slow": 8}, **FAST_REPLAY},
        **columns,
    )
    return registry, config


def test_paper_bot_trades_heartbeats_and_stops_cleanly(db_engine) -> None:
    registry, config = _sma_bot(db_engine, "runner-sma_cross-paper")
    runner = BotRunner(config, registry, db_engine, run_id="run-a", incarnation=1)
    thread = threading.Thread(target=runner.run)
    thread.start()
    try:
        wait_for(lambda: len(bot_trades(db_engine, config.bot_id)) >= 2, 60, "trades")
        wait_for(lambda: get_bot(db_engine, config.bot_id).last_heartbeat, 10, "beat")
    finally:
        runner.request_stop()
        thread.join(timeout=10)
    assert not thread.is_alive()
    row = get_bot(db_engine, config.bot_id)
    assert row.status == "stopped"
    events = [(e.from_status, e.to_status) for e in status_events(db_engine, config.bot_id)]
    assert events == [("stopped", "starting"), ("starting", "running"), ("running", "stopped")]
    trades = bot_trades(db_engine, config.bot_id)
    assert trades[0].side == "buy" and trades[0].entry_logic == "sma_cross_up"
    assert all(t.run_id == "run-a" for t in trades)
    orders = bot_orders(db_engine, config.bot_id)
    assert orders[0].client_order_id == f"tp-{config.bot_id}-1-1"
    position = get_position(db_engine, config.bot_id, "BTC/USDT")
    assert position is not None and position.cash is not None


def test_backtest_bot_completes(db_engine) -> None:
    registry, config = _sma_bot(db_engine, "runner-sma_cross-backtest", mode="backtest")
    outcome = BotRunner(config, registry, db_engine, run_id="bt-1").run()
    assert outcome.status == "completed"
    assert get_bot(db_engine, config.bot_id).status == "completed"
    assert bot_trades(db_engine, config.bot_id)


class Exploding(PlatformStrategy):
    name = "exploding"

    def next(self) -> None:
        raise RuntimeError("boom on every bar")


def test_failing_strategy_records_error_and_raises(db_engine) -> None:
    registry = StrategyRegistry()
    registry.register(Exploding)
    config = add_bot_config(
        db_engine,
        registry,
        "runner-exploding-paper",
        strategy="exploding",
        config={"params": {}, **FAST_REPLAY},
    )
    with pytest.raises(RuntimeError, match="boom"):
        BotRunner(config, registry, db_engine, run_id="x").run()
    row = get_bot(db_engine, config.bot_id)
    assert row.status == "error"
    assert row.last_error == "RuntimeError: boom on every bar" and row.error_count == 1


def test_a_cancel_during_a_database_write_lets_the_write_finish(db_engine, monkeypatch) -> None:
    """An orchestrator cancels a run by raising an exception in the thread it ran the bot in
    (Dagster's DagsterExecutionInterruptedError; KeyboardInterrupt here).  Raised between a
    fill's write and its commit, it lost the fill, and on SQLite left the write lock with the
    connection the exception kept alive: the bot then could record neither its stop nor its
    position.  The exception must land in a thread that only waits, and the bot stop cleanly."""
    from trading_platform.engine import sink

    registry, config = _sma_bot(db_engine, "runner-cancelled-mid-write")
    writing = threading.Event()
    record_trades = sink.record_trades

    def slow_record_trades(engine, rows, fence=None):
        writing.set()
        time.sleep(1.0)  # the cancel arrives while the fill is being written
        return record_trades(engine, rows, fence=fence)

    monkeypatch.setattr(sink, "record_trades", slow_record_trades)

    runner = BotRunner(config, registry, db_engine, run_id="run-c", incarnation=1)

    def cancel_during_the_write() -> None:
        if writing.wait(60):
            os.kill(os.getpid(), signal.SIGINT)
        time.sleep(60)
        runner.request_stop()  # the interrupt never came: end the bot, fail the test

    # the cancel is SIGINT's KeyboardInterrupt, but a process a non-interactive shell started
    # in the background inherits SIGINT ignored (and Python then installs no handler)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    threading.Thread(target=cancel_during_the_write, daemon=True).start()
    try:
        with pytest.raises(KeyboardInterrupt):
            runner.run_until_interrupted()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert writing.is_set()
    assert len(bot_trades(db_engine, config.bot_id)) >= 1  # the fill being written was kept
    events = [(e.to_status, e.reason) for e in status_events(db_engine, config.bot_id)]
    assert events[-2:] == [
        ("stopping", "run cancelled"),
        ("stopped", "run cancelled; position saved"),
    ]
    position = get_position(db_engine, config.bot_id, "BTC/USDT")
    assert position is not None and position.size > 0  # the fill's position was saved


# -- one trader per bot: the lease ---------------------------------------------------------------
def test_a_second_run_of_a_bot_does_not_trade_while_the_first_holds_it(
    db_engine, monkeypatch
) -> None:
    monkeypatch.setattr("trading_platform.engine.runner.LEASE_TTL_FLOOR_SECONDS", 3.0)
    registry, config = _sma_bot(db_engine, "lease-two-runs")
    first = RunnerThread(BotRunner(config, registry, db_engine, run_id="run-1"))
    try:
        wait_for(lambda: bot_trades(db_engine, config.bot_id), 60, "the first run trading")
        second = RunnerThread(BotRunner(config, registry, db_engine, run_id="run-2"))
        second.thread.join(timeout=30)
        assert isinstance(second.error, LeaseHeld) and "run-1" in str(second.error)
        assert get_bot(db_engine, config.bot_id).status == "running"
    finally:
        first.runner.request_stop()
        first.thread.join(timeout=20)
    assert first.error is None
    events = status_events(db_engine, config.bot_id)
    assert {e.run_id for e in events} == {"run-1"}, "the refused run wrote the bot's status"
    assert all(
        o.client_order_id.startswith(f"tp-{config.bot_id}-1-")
        for o in bot_orders(db_engine, config.bot_id)
    )


def test_a_run_whose_lease_is_revoked_stops_at_once_and_writes_nothing_more(db_engine) -> None:
    registry, config = _sma_bot(db_engine, "lease-revoked")
    bot = RunnerThread(BotRunner(config, registry, db_engine, run_id="run-r"))
    try:
        wait_for(lambda: bot_trades(db_engine, config.bot_id), 60, "trading")
        assert revoke_lease(db_engine, config.bot_id, "run-r")  # what the sensor does on cancel
        orders_at_revocation = len(bot_orders(db_engine, config.bot_id))
        bot.thread.join(timeout=10)  # the next heartbeat or write finds the lease gone
        assert not bot.thread.is_alive(), "a fenced-off run kept running"
    finally:
        bot.runner.request_stop()
        bot.thread.join(timeout=10)
    assert isinstance(bot.error, LeaseLost)
    assert len(bot_orders(db_engine, config.bot_id)) == orders_at_revocation
    last = status_events(db_engine, config.bot_id)[-1]
    assert last.to_status == "running", "a fenced-off run still wrote the bot's status"


def test_a_run_whose_owner_lost_the_grant_refuses_before_its_venue_reads_a_key(
    db_engine,
) -> None:
    """The sensor validated the bot while its owner held the grant; it was revoked before
    the run started: the run must not load the keys, trade, nor report the balance."""
    registry, _ = load_registry()
    config = add_bot_config(
        db_engine,
        registry,
        "runner-revoked",
        user="trader",  # granted MAIN by the builder
        mode="live",
        exchange="binance",
        config={"params": {"fast": 3, "slow": 8}, "credentials": "MAIN", "heartbeat_interval": 1},
    )
    owner = get_bot(db_engine, config.bot_id).user_id
    assert revoke(db_engine, owner, "MAIN")
    venues = []

    def venue_factory(run):
        venues.append(run)
        raise AssertionError("the venue was built: it would read the keys")

    runner = BotRunner(config, registry, db_engine, run_id="x", venue_factory=venue_factory)
    with pytest.raises(ConfigError, match="not granted"):
        runner.run()
    assert venues == []
    row = get_bot(db_engine, config.bot_id)
    assert row.status == "error" and row.current_balance is None
    assert row.last_error == (
        f"config.credentials: credential set 'MAIN' is not granted to user {owner}; an "
        f"operator grants it with `trading-platform credentials grant {owner} MAIN`"
    )
