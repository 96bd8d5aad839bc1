"""The bot runner on an exchange venue (exchanges/venue.py): paper and live bots on the
exchange emulator through the real ccxt client (no Dagster).

The runner runs in a thread as a ``bot_run`` op would; ``TRADING_EXCHANGE_URL_BINANCE`` points
ccxt at the emulator, the bots trade one-second candles.  The same scenarios run under the
real Dagster processes in ``tests/e2e/test_exchange_e2e.py``, with faults at a fifth of the
requests over more than 100 bars.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.support.books import assert_books_agree
from tests.support.builders import PLUGINS, add_emulator_bot
from tests.support.exchange_emulator import Emulator, serve_emulator_account
from tests.support.running import RunnerThread
from tests.support.waiting import wait_for
from trading_platform.config import BotConfig
from trading_platform.db.bots import get_bot
from trading_platform.db.drift import clear_drift
from trading_platform.db.engine import session_scope
from trading_platform.db.models import Notification
from trading_platform.db.orders import bot_orders
from trading_platform.db.positions import get_position
from trading_platform.db.status import status_events
from trading_platform.db.trades import bot_trades
from trading_platform.db.users import ensure_user
from trading_platform.engine.errors import FatalBotError
from trading_platform.engine.runner import BotRunner
from trading_platform.monitoring import health
from trading_platform.strategy_handler import load_registry

API_KEY, SECRET = "test-api-key-AAAA1111", "test-secret-BBBB2222"


@pytest.fixture
def emulator(monkeypatch) -> Iterator[Emulator]:
    yield from serve_emulator_account(monkeypatch, API_KEY, SECRET)


@pytest.fixture
def registry():
    return load_registry([PLUGINS])[0]


def _config(db_engine, registry, *, mode: str = "live", name: str = "emu", **config) -> BotConfig:
    """A ``flip_flop`` bot of the trader on the emulator, beating every second; a live one
    trades with the EMU credential set."""
    owner = ensure_user(db_engine, "trader", email="trader@example.test")
    return add_emulator_bot(db_engine, registry, name, user_id=owner, mode=mode, **config)


def _running(config, registry, db_engine, incarnation: int) -> RunnerThread:
    """A runner in a thread, like a ``bot_run`` op."""
    return RunnerThread(
        BotRunner(config, registry, db_engine, run_id=f"run-{incarnation}", incarnation=incarnation)
    )


def _exchange_trades(emulator: Emulator) -> list[dict]:
    return emulator.accounts[API_KEY].trades


def test_live_bot_buys_and_sells_and_the_books_agree(emulator, registry, db_engine) -> None:
    config = _config(db_engine, registry)
    bot = _running(config, registry, db_engine, incarnation=1)
    try:
        wait_for(lambda: len(_exchange_trades(emulator)) >= 4, 30, "two round trips")
    finally:
        bot.stop()
    assert bot.error is None
    assert_books_agree(emulator, API_KEY, db_engine, config.bot_id)
    orders = bot_orders(db_engine, config.bot_id)
    prefix = f"tp-{config.bot_id}-1-"
    assert [o.client_order_id for o in orders] == [
        f"{prefix}{n}" for n in range(1, len(orders) + 1)
    ]
    assert {o.logic for o in orders} == {"flip", "flop"}
    sells = [t for t in bot_trades(db_engine, config.bot_id) if t.side == "sell"]
    assert sells and all(t.pnl is not None and t.exit_logic == "flop" for t in sells)
    assert get_bot(db_engine, config.bot_id).status == "stopped"


def test_lost_answer_then_crash_restart_recovers_without_a_second_order(
    emulator, registry, db_engine
) -> None:
    config = _config(db_engine, registry, params={"hold": 1000})  # buys once, then holds
    emulator.order_faults.append("lost")
    # the exchange goes dark right after executing the order: the bot cannot look it up
    emulator.on_lost_answer = lambda: setattr(emulator, "reachable", False)
    first = _running(config, registry, db_engine, incarnation=1)
    try:
        wait_for(
            lambda: [o.status for o in bot_orders(db_engine, config.bot_id)] == ["unknown"],
            30,
            "the order left unknown",
        )
    finally:
        first.runner.request_stop()  # the "crash": this incarnation never learns the answer
        first.thread.join(timeout=60)
        # only now: a first run still retrying its lookup would otherwise find the answer
        # itself (it did on a loaded machine), and the restart had nothing to recover
        emulator.reachable = True
    assert not first.thread.is_alive()
    assert emulator.order_posts == 1
    second = _running(config, registry, db_engine, incarnation=2)
    try:
        wait_for(lambda: get_bot(db_engine, config.bot_id).status == "running", 30, "restart")
    finally:
        second.stop()
    assert emulator.order_posts == 1, "a second order was sent for the same signal"
    (order,) = bot_orders(db_engine, config.bot_id)
    assert order.status == "closed" and order.client_order_id == f"tp-{config.bot_id}-1-1"
    assert_books_agree(emulator, API_KEY, db_engine, config.bot_id)
    reasons = [e.reason for e in status_events(db_engine, config.bot_id)]
    assert any("recorded after the restart" in r for r in reasons)


def test_wrong_credentials_fail_once_naming_the_set(emulator, registry, db_engine) -> None:
    emulator.accounts.clear()
    emulator.add_account(API_KEY, "another-secret", USDT="10000")
    config = _config(db_engine, registry)
    bot = _running(config, registry, db_engine, incarnation=1)
    bot.thread.join(timeout=30)
    assert isinstance(bot.error, FatalBotError)
    row = get_bot(db_engine, config.bot_id)
    assert row.status == "error" and "credential set 'EMU'" in row.last_error
    assert SECRET not in row.last_error and API_KEY not in row.last_error
    signed = [r for r in emulator.requests if r[1] in ("/account", "/order", "/myTrades")]
    assert len(signed) == 1


def test_paper_bot_on_live_candles_continues_with_its_cash_and_position(
    emulator, registry, db_engine
) -> None:
    config = _config(db_engine, registry, mode="paper", params={"hold": 1000})
    first = _running(config, registry, db_engine, incarnation=1)
    try:
        wait_for(lambda: bot_trades(db_engine, config.bot_id), 30, "the paper buy")
    finally:
        first.stop()
    saved = get_position(db_engine, config.bot_id, "BTC/USDT")
    assert saved.size == Decimal("0.01") and saved.cash < Decimal(10_000)
    assert emulator.order_posts == 0  # paper: nothing reaches the exchange
    second = _running(config, registry, db_engine, incarnation=2)
    try:
        wait_for(lambda: second.runner.bars_seen() >= 3, 30, "live bars after the restart")
        position = second.runner.position_size()
    finally:
        second.stop()
    assert position == pytest.approx(0.01)
    assert len(bot_trades(db_engine, config.bot_id)) == 1  # no new buy: it held
    again = get_position(db_engine, config.bot_id, "BTC/USDT")
    assert again.cash == saved.cash


def test_exchange_outage_notifies_once_and_backfills_missed_candles(
    emulator, registry, db_engine, monkeypatch
) -> None:
    monkeypatch.setattr("trading_platform.exchanges.candles.BACKOFF_START_SECONDS", 0.2)
    config = _config(db_engine, registry, mode="paper", params={"hold": 1000})
    bot = _running(config, registry, db_engine, incarnation=1)
    try:
        wait_for(lambda: bot.runner.bars_seen() >= 2, 30, "live bars")
        emulator.reachable = False
        wait_for(lambda: not bot.runner.feed_healthy, 30, "the feed to notice the outage")
        wait_for(
            lambda: get_bot(db_engine, config.bot_id).feed_problem,
            10,
            "the heartbeat to report the failing feed",
        )
        before = bot.runner.bars_seen()
        emulator.reachable = True
        wait_for(lambda: bot.runner.feed_healthy, 30, "recovery")
        wait_for(
            lambda: get_bot(db_engine, config.bot_id).feed_problem is None,
            10,
            "the heartbeat to report the feed healthy again",
        )
        wait_for(lambda: bot.runner.bars_seen() >= before + 3, 30, "backfilled candles")
    finally:
        bot.stop()
    assert bot.error is None
    times = bot.runner.bar_times()
    assert all(b - a == pytest.approx(1 / 86400, abs=1e-9) for a, b in itertools.pairwise(times))
    with session_scope(db_engine) as session:
        kinds = [n.type for n in session.scalars(select(Notification))]
    assert kinds.count("DATA_FEED_FAILURE") == 1


def test_an_exchange_error_that_ends_a_run_quotes_no_secret(
    emulator, registry, db_engine, monkeypatch
) -> None:
    from trading_platform.exchanges import venue as exchange_venue

    config = _config(db_engine, registry)
    runner = BotRunner(config, registry, db_engine, run_id="run-x", incarnation=1)

    def leaky(*args, **kwargs):
        import ccxt

        raise ccxt.ExchangeError(f"binance GET /api/v3/account?apiKey={API_KEY}&s={SECRET}")

    # the reconciliation at start fails with an error whose text quotes the keys
    monkeypatch.setattr(exchange_venue, "recover", leaky)
    with pytest.raises(exchange_venue.ExchangeFailure) as failure:
        runner.run()
    assert API_KEY not in str(failure.value) and SECRET not in str(failure.value)
    assert "<EMU>" in str(failure.value)
    row = get_bot(db_engine, config.bot_id)
    assert row.status == "error" and API_KEY not in row.last_error and SECRET not in row.last_error


def test_a_live_bot_records_notifies_and_clears_a_drift_from_the_exchange(
    emulator, registry, db_engine, monkeypatch
) -> None:
    """``live.reconcile_interval`` reaches the broker (10 s, shrunk here to keep the test
    short); a manual trade becomes an audit row, a ``DRIFT`` notification and the marker
    ``bot_health`` reports; the operator's ack is noticed by the running bot."""
    from trading_platform.exchanges.drift import DriftWatch

    intervals: list[float] = []
    build = DriftWatch.__init__

    def quick(self, interval, *args, **kwargs):
        intervals.append(interval)
        build(self, 0.2, *args, **kwargs)

    monkeypatch.setattr(DriftWatch, "__init__", quick)
    config = _config(db_engine, registry, live={"reconcile_interval": 10})

    def reasons() -> list[str]:
        return [e.reason or "" for e in status_events(db_engine, config.bot_id)]

    bot = _running(config, registry, db_engine, incarnation=1)
    try:
        wait_for(lambda: len(_exchange_trades(emulator)) >= 3, 30, "the bot trading")
        assert get_bot(db_engine, config.bot_id).drift is None, "its own trades are no drift"
        with emulator.lock:
            emulator.accounts[API_KEY].balances["BTC"] += Decimal("0.5")  # by hand
        wait_for(lambda: get_bot(db_engine, config.bot_id).drift, 20, "the drift recorded")
        (row,) = health.bot_health(db_engine, {config.bot_id})
        assert not row.healthy and "drift from the exchange" in (row.problem or "")
        assert clear_drift(db_engine, config.bot_id, reason="drift acknowledged by the operator")
        wait_for(lambda: any("new positions allowed again" in r for r in reasons()), 20, "the ack")
    finally:
        bot.stop()
    assert bot.error is None and intervals == [10]
    assert any("differ from the exchange" in r and "+0.5" in r for r in reasons())
    with session_scope(db_engine) as session:
        texts = [n.text for n in session.scalars(select(Notification)) if n.type == "ERROR"]
    assert any(" DRIFT: position or open orders differ" in t for t in texts)
    assert get_bot(db_engine, config.bot_id).drift is None
