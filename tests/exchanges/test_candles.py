"""The live candle feed (exchanges/candles.py) against the emulator through the real ccxt client."""

from __future__ import annotations

import datetime as dt
import queue
import threading
from collections.abc import Iterator

import backtrader as bt
import pytest

from tests.support.exchange_emulator import Emulator
from tests.support.waiting import wait_for
from trading_platform.engine.paper import PaperBroker
from trading_platform.exchanges.candles import ccxt_feed
from trading_platform.exchanges.client import make_client


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    emulator = Emulator(candle_seconds=60, history=200)
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def client(emulator):
    return make_client("binance", base_url=emulator.url, timeout_ms=1500)


def _drain(feed) -> list:
    bars = []
    while True:
        try:
            bars.append(feed.bars.get_nowait())
        except queue.Empty:
            return bars


def test_backfill_gives_closed_candles_only(client, emulator) -> None:
    feed, poller = ccxt_feed(client, "BTC/USDT", "1m", history_bars=50)
    history = feed.p.history
    assert len(history) == 50
    assert history[-1].close == float(emulator.candles[-1].close)  # not the forming one
    assert poller.last_open_ms == emulator.candles[-1].open_time


def test_each_closed_candle_once_and_gaps_filled(client, emulator, monkeypatch) -> None:
    clock = {"now": emulator.forming.open_time, "reads": 0}

    def exchange_clock() -> float:
        clock["reads"] += 1  # the poller reads the clock once per turn of its loop
        return clock["now"] / 1000

    monkeypatch.setattr("trading_platform.exchanges.candles.MAX_SLEEP_SECONDS", 0.05)
    feed, poller = ccxt_feed(
        client,
        "BTC/USDT",
        "1m",
        history_bars=10,
        min_poll_seconds=0.05,
        clock=exchange_clock,
        clock_sync_seconds=None,  # the test's clock is the exchange's
    )
    poller.start()
    try:
        for price in ("30100", "30200", "30300"):  # three candles close during an "outage"
            emulator.close_candle(price)
        clock["now"] = emulator.forming.open_time + 1
        bars = wait_for(lambda: (b := _drain(feed)) and b, 10, "the missed candles")
        while len(bars) < 3:
            bars += wait_for(lambda: _drain(feed), 10, "more candles")
        assert [b.close for b in bars] == [30100.0, 30200.0, 30300.0]
        assert [b.stale for b in bars] == [True, True, False]  # only the newest is tradable
        emulator.move_price("30400")  # the forming candle is never delivered
        turns = clock["reads"]
        wait_for(lambda: clock["reads"] >= turns + 3, 10, "three more turns of the poller")
        assert _drain(feed) == []
    finally:
        poller.stop()
        poller.join(timeout=5)
    assert not poller.is_alive()


def test_network_errors_back_off_notify_once_and_recover(client, emulator, monkeypatch) -> None:
    monkeypatch.setattr("trading_platform.exchanges.candles.BACKOFF_START_SECONDS", 0.01)
    monkeypatch.setattr("trading_platform.exchanges.candles.MAX_SLEEP_SECONDS", 0.05)
    events: list[str] = []
    feed, poller = ccxt_feed(
        client,
        "BTC/USDT",
        "1m",
        history_bars=5,
        min_poll_seconds=0.05,
        on_unhealthy=lambda why: events.append(f"down: {why}"),
        on_recovered=lambda: events.append("up"),
        clock=lambda: emulator.forming.open_time / 1000 + 0.1,
        clock_sync_seconds=None,  # the test's clock is the exchange's
    )
    emulator.faults.extend([500, 429, 500, 500, 429])
    emulator.close_candle("31000")
    poller.start()
    try:
        bars = wait_for(lambda: _drain(feed), 20, "candles after the errors")
    finally:
        poller.stop()
        poller.join(timeout=5)
    assert [b.close for b in bars] == [31000.0]
    assert len(events) == 2 and events[0].startswith("down: ") and events[1] == "up"


def test_an_error_that_is_not_the_network_fails_the_feed(client, emulator) -> None:
    import ccxt

    feed, poller = ccxt_feed(client, "BTC/USDT", "1m", history_bars=1)
    poller.client = None  # any call now raises AttributeError, a bug rather than an outage
    poller.last_open_ms = None
    poller.start()
    poller.join(timeout=5)
    item = feed.bars.get(timeout=5)
    assert isinstance(item, AttributeError)
    assert not isinstance(item, ccxt.NetworkError)


FIVE_MINUTES_MS = 5 * 60_000


@pytest.mark.parametrize("offset_ms", [FIVE_MINUTES_MS, -FIVE_MINUTES_MS], ids=["ahead", "behind"])
def test_candles_close_on_the_exchange_clock(offset_ms: int) -> None:
    """An exchange clock five candles ahead of the local one: by the local clock its last
    five closed candles are still forming.  Behind: its forming candle has closed already.
    Judged on the exchange's clock (measured through ``/time``), the newest closed candle
    is the exchange's own."""
    emulator = Emulator(candle_seconds=60, history=50, live=True, clock_offset_ms=offset_ms)
    emulator.start()
    try:
        client = make_client("binance", base_url=emulator.url, timeout_ms=1500)
        feed, poller = ccxt_feed(client, "BTC/USDT", "1m", history_bars=5)
    finally:
        emulator.stop()
    # the klines request came last: the emulator's candles are as the feed saw them
    assert poller.last_open_ms == emulator.candles[-1].open_time
    assert [b.close for b in feed.p.history] == [float(c.close) for c in emulator.candles[-5:]]
    assert poller.clock_offset_s == pytest.approx(offset_ms / 1000, abs=1.0)


class _BuyEveryBar(bt.Strategy):
    """Buys on every bar; records the status of each order (submitted, accepted, rejected)
    with the time of the bar it was placed on (notifications arrive on a later bar)."""

    params = (("seen", None),)

    def __init__(self) -> None:
        self.placed_on: dict[int, dt.datetime] = {}

    def next(self) -> None:
        self.placed_on[self.buy(size=0.01).ref] = bt.num2date(self.data.datetime[0])

    def notify_order(self, order: bt.Order) -> None:
        if order.status in (order.Submitted, order.Accepted, order.Rejected):
            self.p.seen.append((self.placed_on[order.ref], order.getstatusname()))


def test_history_bars_0_refuses_an_order_on_an_old_last_candle(client, emulator) -> None:
    """``history_bars: 0``: the bot starts on the exchange's last closed candle.  Here it
    closed five minutes ago (a quiet market: no newer candle): trading on it is refused."""
    del emulator.candles[-5:]
    last = emulator.candles[-1]
    last_time = dt.datetime.fromtimestamp(last.open_time / 1000, dt.UTC).replace(tzinfo=None)
    feed, poller = ccxt_feed(client, "BTC/USDT", "1m", history_bars=0, min_poll_seconds=0.05)
    seen: list[tuple[dt.datetime, str]] = []
    cerebro = bt.Cerebro(stdstats=False, live=True, quicknotify=True)
    cerebro.setbroker(PaperBroker(feed=feed))
    cerebro.adddata(feed)
    cerebro.addstrategy(_BuyEveryBar, seen=seen)
    thread = threading.Thread(target=cerebro.run, daemon=True)
    poller.start()
    thread.start()
    try:
        on_last = wait_for(
            lambda: [status for when, status in seen if when == last_time],
            20,
            "the order on the last closed candle",
        )
    finally:
        poller.stop()
        feed.stop_feed()
        thread.join(timeout=10)
    assert on_last == ["Rejected"]


def test_the_grace_is_the_configured_one_or_follows_the_timeframe(client) -> None:
    feed, poller = ccxt_feed(client, "BTC/USDT", "1m", history_bars=0)
    assert feed.freshness is not None and feed.freshness.timeframe_seconds == 60
    assert feed.freshness.grace_seconds == 6  # 10 % of the timeframe
    assert feed.freshness.clock() == pytest.approx(poller.exchange_time(), abs=1.0)
    feed, _ = ccxt_feed(client, "BTC/USDT", "1m", history_bars=0, stale_grace_seconds=1.5)
    assert feed.freshness is not None and feed.freshness.grace_seconds == 1.5
