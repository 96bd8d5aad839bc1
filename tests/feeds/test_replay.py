"""The replay market and its live feed: deterministic, blocking, stoppable."""

import queue
import threading
import time

import backtrader as bt

from trading_platform.engine.paper import PaperBroker
from trading_platform.feeds.queue_feed import LOAD_WAIT_SECONDS, QueueFeed
from trading_platform.feeds.replay import ReplayMarket, replay_feed


def test_market_is_a_function_of_time_and_wraps_without_a_jump() -> None:
    market = ReplayMarket.generated(bars=100, seed=1, start_price=100.0, pace_seconds=2.0)
    assert market.bar_number_at(10.0) == 4  # bars 0..4 closed by t=10 s
    assert market.close_time(4) == 10.0
    # deterministic: another market from the same seed has the same bars, another seed not
    same = ReplayMarket.generated(bars=100, seed=1, start_price=100.0, pace_seconds=2.0)
    other = ReplayMarket.generated(bars=100, seed=2, start_price=100.0, pace_seconds=2.0)
    assert same.bar(7) == market.bar(7) and other.bar(7) != market.bar(7)
    last_forward, first_backward = market.bar(99), market.bar(100)
    assert first_backward.open == last_forward.close  # played backwards: continuous
    assert market.bar(200).close == market.bar(0).close  # full cycle


class _RecordingQueue(queue.Queue):
    """A queue that remembers how each ``get`` was asked to wait."""

    def __init__(self) -> None:
        super().__init__()
        self.gets: list[tuple[bool, float | None]] = []

    def get(self, block: bool = True, timeout: float | None = None):  # type: ignore[override]
        self.gets.append((block, timeout))
        return super().get(block, timeout)


def test_feed_blocks_on_its_queue_instead_of_spinning() -> None:
    """A live feed whose ``_load`` returns at once without a bar spins a core at 100 %: with
    nothing to deliver, ``_load`` must block on the queue (with a timeout, so a stop is
    noticed) before it says "no data"."""
    feed = QueueFeed(history=[])
    feed.bars = _RecordingQueue()
    feed.start()
    assert feed._load() is None  # nothing yet: "no data"
    assert feed.bars.gets == [(True, LOAD_WAIT_SECONDS)]  # ... after waiting on the queue


def test_a_stop_from_another_thread_ends_a_blocked_feed() -> None:
    feed = QueueFeed(history=[])
    feed.start()
    threading.Timer(0.05, feed.stop_feed).start()
    deadline = time.monotonic() + 10
    result = None
    while result is None and time.monotonic() < deadline:
        result = feed._load()  # None until the stop arrives
    assert result is False


def test_history_first_then_live_bars_and_orders_only_when_live() -> None:
    market = ReplayMarket.generated(bars=500, seed=2, start_price=100.0, pace_seconds=0.05)
    feed, publisher = replay_feed(market, history_bars=10)
    results: dict[str, list] = {"live": [], "statuses": []}

    class Probe(bt.Strategy):
        def next(self) -> None:
            results["live"].append(feed.live)
            if len(results["live"]) in (3, 13) and not self.position:
                self.buy(size=1)
            if len(results["live"]) >= 16:
                self.env.runstop()

        def notify_order(self, order) -> None:
            if not order.alive():
                results["statuses"].append((order.getstatusname(), len(results["live"])))

    cerebro = bt.Cerebro(stdstats=False, live=True)
    cerebro.setbroker(PaperBroker(feed=feed))
    cerebro.adddata(feed)
    cerebro.addstrategy(Probe)
    publisher.start()
    try:
        cerebro.run()
    finally:
        publisher.stop()
    assert results["live"][:10] == [False] * 10 and all(results["live"][10:])
    assert results["statuses"][0] == ("Rejected", 3)  # placed on a history bar
    # placed live on bar 13, filled at the open of bar 14 (notified before its next())
    assert ("Completed", 13) in results["statuses"]


def test_orders_on_stale_catch_up_bars_are_refused() -> None:
    import datetime as dt

    from trading_platform.feeds.bars import Bar

    start = dt.datetime(2026, 1, 1)
    feed = QueueFeed()
    for minute, stale in enumerate([False, True, True, False, False]):
        when = start + dt.timedelta(minutes=minute)
        feed.bars.put(Bar(when, 100.0, 101.0, 99.0, 100.0, 1.0, stale=stale))
    statuses: list[tuple[str, int]] = []
    placed_on: dict[int, int] = {}

    class BuyEveryBar(bt.Strategy):
        def next(self) -> None:
            placed_on[self.buy(size=0.1).ref] = len(self)
            if len(self) == 5:
                self.env.runstop()

        def notify_order(self, order) -> None:
            if order.status in (order.Rejected, order.Accepted):
                statuses.append((order.getstatusname(), placed_on[order.ref]))

    cerebro = bt.Cerebro(stdstats=False, live=True)
    cerebro.setbroker(PaperBroker(feed=feed))
    cerebro.adddata(feed)
    cerebro.addstrategy(BuyEveryBar)
    cerebro.run()
    assert [name for name, bar in statuses if bar in (2, 3)] == ["Rejected", "Rejected"]
    assert ("Accepted", 4) in statuses and ("Accepted", 1) in statuses
