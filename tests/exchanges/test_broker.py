"""The live broker (exchanges/broker.py) order type by order type: partial fills, limit orders,
cancels, refusals, and at a restart (exchanges/recovery.py) the orders a crashed incarnation
left open, cancelled or adopted.

A Cerebro runs the broker in a thread on a live :class:`QueueFeed` that the test feeds bar by
bar, so each step is explicit; the exchange is the emulator behind the real ccxt client.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from decimal import Decimal

import backtrader as bt
import pytest

from tests.support.builders import add_bot
from tests.support.exchange_emulator import Emulator
from tests.support.waiting import wait_for
from trading_platform.db.orders import bot_orders
from trading_platform.db.trades import bot_trades
from trading_platform.exchanges.broker import LiveBroker
from trading_platform.exchanges.candles import ccxt_feed
from trading_platform.exchanges.client import make_client
from trading_platform.exchanges.credentials import Credentials
from trading_platform.exchanges.ledger import OrderLedger
from trading_platform.exchanges.recovery import recover
from trading_platform.feeds.bars import Bar
from trading_platform.feeds.queue_feed import QueueFeed

KEY, SECRET = "broker-key", "broker-secret"


class Scripted(bt.Strategy):
    """Runs the test's instruction for each bar and keeps every notification it gets."""

    params = (("steps", None), ("seen", None))

    def next(self) -> None:
        step = self.p.steps.get(len(self))
        if step is not None:
            step(self)

    def notify_order(self, order: bt.Order) -> None:
        self.p.seen.append((order.ref, order.getstatusname(), order.executed.size))


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    emulator = Emulator(candle_seconds=60, history=10)
    emulator.add_account(KEY, SECRET, USDT="10000")
    emulator.start()
    yield emulator
    emulator.stop()


def _client(emulator):
    client = make_client("binance", Credentials("T", KEY, SECRET), base_url=emulator.url)
    client.load_markets()
    return client


def _broker(emulator, db_engine, bot_id: int, run_id: str, prefix: str, **params) -> LiveBroker:
    """A live broker on a fresh live feed, as an incarnation of ``bot_id`` starts it."""
    ledger = OrderLedger(db_engine, bot_id, run_id, "BTC/USDT")
    return LiveBroker(_client(emulator), ledger, "BTC/USDT", prefix, feed=QueueFeed(), **params)


def _run(emulator, db_engine, steps):
    bot_id = add_bot(db_engine, "broker", enabled=False)
    broker = _broker(emulator, db_engine, bot_id, "run-b", "tp-9-1-")
    feed = broker.p.feed
    recover(broker, Decimal(0), None)
    seen: list = []
    cerebro = bt.Cerebro(stdstats=False, live=True, quicknotify=True)
    cerebro.setbroker(broker)
    cerebro.adddata(feed)
    cerebro.addstrategy(Scripted, steps=steps, seen=seen)
    thread = threading.Thread(target=cerebro.run, daemon=True)
    thread.start()
    state = {"bars": 0}

    def bar() -> None:
        state["bars"] += 1
        price = float(emulator.last_price)
        when = dt.datetime(2026, 1, 1) + dt.timedelta(minutes=state["bars"])
        feed.bars.put(Bar(when, price, price, price, price, 1.0))

    def stop() -> None:
        feed.stop_feed()
        thread.join(timeout=10)

    return bot_id, broker, seen, bar, stop


def test_market_order_filled_in_two_parts_is_one_order_and_two_fills(emulator, db_engine) -> None:
    emulator.partial_fill_fraction = Decimal("0.4")
    orders = {}
    bot_id, broker, seen, bar, stop = _run(
        emulator, db_engine, {1: lambda s: orders.setdefault("buy", s.buy(size=0.01, logic="in"))}
    )
    try:
        bar()
        wait_for(lambda: any(status == "Completed" for _, status, _ in seen), 10, "completed")
    finally:
        stop()
    assert [status for _, status, _ in seen] == ["Submitted", "Accepted", "Completed"]
    fills = bot_trades(db_engine, bot_id)
    assert sorted(f.amount for f in fills) == [Decimal("0.004"), Decimal("0.006")]
    (order,) = bot_orders(db_engine, bot_id)
    assert order.status == "closed" and order.filled == Decimal("0.01") and order.logic == "in"
    assert broker.getposition(broker.p.feed).size == pytest.approx(0.01 - 0.00001)  # base fee


def test_limit_order_rests_then_fills_when_the_price_crosses(emulator, db_engine) -> None:
    below = float(emulator.last_price) - 100
    bot_id, broker, seen, bar, stop = _run(
        emulator, db_engine, {1: lambda s: s.buy(size=0.01, price=below, exectype=bt.Order.Limit)}
    )
    try:
        bar()
        wait_for(lambda: [s for _, s, _ in seen] == ["Submitted", "Accepted"], 10, "accepted")
        (order,) = bot_orders(db_engine, bot_id)
        assert order.status == "open" and order.price == Decimal(str(below))
        emulator.move_price(str(below - 1))  # the market trades through the limit
        bar()  # the broker follows open orders once per bar
        wait_for(lambda: seen[-1][1] == "Completed", 10, "filled")
    finally:
        stop()
    (fill,) = bot_trades(db_engine, bot_id)
    assert fill.price == Decimal(str(below)) and fill.amount == Decimal("0.01")


def test_cancel_reaches_the_exchange_and_the_strategy(emulator, db_engine) -> None:
    above = float(emulator.last_price) + 5000
    placed = {}
    emulator.accounts[KEY].balances["BTC"] = Decimal("1")
    steps = {
        1: lambda s: placed.setdefault("o", s.sell(size=0.5, price=above, exectype=bt.Order.Limit)),
        2: lambda s: s.cancel(placed["o"]),
    }
    bot_id, broker, seen, bar, stop = _run(emulator, db_engine, steps)
    try:
        bar()
        wait_for(lambda: len(seen) >= 2, 10, "accepted")
        bar()
        wait_for(lambda: seen[-1][1] == "Canceled", 10, "cancelled")
    finally:
        stop()
    (order,) = bot_orders(db_engine, bot_id)
    assert order.status == "canceled"
    (at_exchange,) = emulator.accounts[KEY].orders.values()
    assert at_exchange.status == "CANCELED"
    assert bot_trades(db_engine, bot_id) == []


def test_an_order_the_exchange_refuses_is_rejected_to_the_strategy(emulator, db_engine) -> None:
    bot_id, broker, seen, bar, stop = _run(
        emulator,
        db_engine,
        {1: lambda s: s.buy(size=100.0)},  # far more than the cash
    )
    try:
        bar()
        wait_for(lambda: seen and seen[-1][1] == "Rejected", 10, "rejected")
    finally:
        stop()
    (order,) = bot_orders(db_engine, bot_id)
    assert order.status == "rejected" and emulator.accounts[KEY].orders == {}


def test_an_order_that_never_arrived_is_rejected_only_after_the_arrival_window(
    emulator, db_engine, monkeypatch
) -> None:
    monkeypatch.setattr("trading_platform.exchanges.broker.RETRY_START_SECONDS", 0.01)
    emulator.timeout_seconds = 0.2
    emulator.order_faults.extend(["timeout"] * 4)  # every attempt dies before the exchange
    bot_id, broker, seen, bar, stop = _run(emulator, db_engine, {1: lambda s: s.buy(size=0.01)})
    try:
        bar()
        wait_for(
            lambda: [o.status for o in bot_orders(db_engine, bot_id)] == ["unknown"],
            20,
            "the order left unknown",
        )
        bar()  # looked up again: not found, but it could still arrive, so it stays pending
        wait_for(lambda: broker.bars_followed >= 2, 10, "the second bar followed")
        assert [s for _, s, _ in seen] == ["Submitted"]
        monkeypatch.setattr("trading_platform.exchanges.broker.ARRIVAL_WINDOW_MS", 0)
        bar()
        wait_for(lambda: seen[-1][1] == "Rejected", 10, "rejected to the strategy")
    finally:
        stop()
    (order,) = bot_orders(db_engine, bot_id)
    assert order.status == "rejected" and emulator.order_posts == 0


def _left_open_by_a_crashed_incarnation(emulator, db_engine, bot_id: int) -> tuple[str, float]:
    """A resting limit buy that the previous incarnation placed, then died."""
    client = _client(emulator)
    below = float(emulator.last_price) - 200
    ledger = OrderLedger(db_engine, bot_id, "run-old", "BTC/USDT")
    ledger.write_ahead(
        "tp-9-1-1",
        side="buy",
        order_type="limit",
        amount=Decimal("0.01"),
        price=Decimal(str(below)),
        logic="dip",
    )
    answer = client.create_order(
        "BTC/USDT", "limit", "buy", 0.01, below, {"newClientOrderId": "tp-9-1-1"}
    )
    ledger.update("tp-9-1-1", answer, "open")
    return "tp-9-1-1", below


@pytest.mark.parametrize("policy", ["cancel", "adopt"])
def test_an_order_left_open_by_a_crash_is_cancelled_or_adopted(
    emulator, db_engine, policy: str
) -> None:
    bot_id = add_bot(db_engine, f"crashed-{policy}", enabled=False)
    client_id, below = _left_open_by_a_crashed_incarnation(emulator, db_engine, bot_id)
    broker = _broker(
        emulator, db_engine, bot_id, "run-new", "tp-9-2-", open_orders_on_restart=policy
    )
    feed = broker.p.feed
    corrections = recover(broker, Decimal(0), None)
    (at_exchange,) = emulator.accounts[KEY].orders.values()
    (row,) = bot_orders(db_engine, bot_id)
    if policy == "cancel":
        assert corrections == [f"open order {client_id} cancelled"]
        assert at_exchange.status == "CANCELED" and row.status == "canceled"
        return
    assert corrections == [f"open order {client_id} adopted"]
    assert at_exchange.status == "NEW" and row.status == "open"
    emulator.move_price(str(below - 1))  # it fills after the restart
    broker.next()
    (row,) = bot_orders(db_engine, bot_id)
    (fill,) = bot_trades(db_engine, bot_id)
    assert row.status == "closed" and fill.amount == Decimal("0.01")
    assert broker.getposition(feed).size == pytest.approx(0.01 - 0.00001)


def test_a_bar_that_waited_in_the_queue_too_long_is_refused_at_send_time(
    emulator, db_engine
) -> None:
    """Cerebro was blocked (order retries, a busy database) while the poller queued candles:
    each was fresh when fetched.  An order decided on one that closed more than a timeframe
    plus the grace ago when the broker is about to send is refused before anything is written
    or sent; an order on the newest candle goes out."""
    public = make_client("binance", base_url=emulator.url)
    feed, _poller = ccxt_feed(public, "BTC/USDT", "1m", history_bars=0)
    bot_id = add_bot(db_engine, "queued", enabled=False)
    ledger = OrderLedger(db_engine, bot_id, "run-q", "BTC/USDT")
    broker = LiveBroker(_client(emulator), ledger, "BTC/USDT", "tp-9-3-", feed=feed)
    recover(broker, Decimal(0), None)
    seen: list = []
    steps = {1: lambda s: s.buy(size=0.01), 2: lambda s: s.buy(size=0.01)}
    cerebro = bt.Cerebro(stdstats=False, live=True, quicknotify=True)
    cerebro.setbroker(broker)
    cerebro.adddata(feed)
    cerebro.addstrategy(Scripted, steps=steps, seen=seen)
    newest = emulator.candles[-1].open_time  # closed at the start of this minute
    price = float(emulator.last_price)
    for open_ms in (newest - 3 * 60_000, newest):  # queued three minutes ago, and now
        when = dt.datetime.fromtimestamp(open_ms / 1000, dt.UTC).replace(tzinfo=None)
        feed.bars.put(Bar(when, price, price, price, price, 1.0))
    thread = threading.Thread(target=cerebro.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: any(s == "Completed" for _, s, _ in seen), 10, "the fresh order filled")
    finally:
        feed.stop_feed()
        thread.join(timeout=10)
    assert [s for _, s, _ in seen] == ["Rejected", "Submitted", "Accepted", "Completed"]
    (order,) = bot_orders(db_engine, bot_id)  # the refused one was never written
    assert order.status == "closed"
    assert len(emulator.accounts[KEY].orders) == 1
