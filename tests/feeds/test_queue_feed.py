"""The live queue feed (feeds/queue_feed.py): blocking, stoppable from another thread, and
no order on a stale catch-up bar."""

import queue
import threading
import time

import backtrader as bt

from trading_platform.engine.paper import PaperBroker
from trading_platform.feeds.queue_feed import LOAD_WAIT_SECONDS, QueueFeed


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
