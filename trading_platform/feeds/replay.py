"""The offline ``replay`` exchange: a generated price series served as a LIVE feed.

Paper bots must trade in real time on a machine with no internet, so ``replay`` plays the
role of an exchange whose market is a deterministic function of wall-clock time: bar ``n``
closes at ``n * pace_seconds`` since the epoch.  Two bots on the same series see the same
market, and a restarted bot continues where the market is *now* instead of replaying the
past.  Time is compressed: a ``1m`` bar may close every second; each bar is stamped with the
wall-clock time at which it closed.

The generated series is played forwards then backwards (a random walk reversed is still a
random walk, with open and close swapped), so the market never jumps when it wraps.
"""

from __future__ import annotations

import datetime as dt
import math
import queue
import threading
import time
from dataclasses import dataclass

import backtrader as bt
import numpy as np

from trading_platform.feeds.demo_data import generate_ohlcv_array

#: how long ``_load`` blocks waiting for a bar: bounds the reaction time to a stop request
#: without spinning a core (a live feed whose ``_load`` returns at once burns 100 % CPU).
LOAD_WAIT_SECONDS = 0.25


@dataclass(frozen=True)
class Bar:
    time: dt.datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    #: a candle delivered late, while catching up after an outage: indicators see it, but no
    #: order may be placed on it (its price is history by the time it arrives)
    stale: bool = False


class ReplayMarket:
    """Bars of the generated series as a function of the bar number."""

    def __init__(self, values: np.ndarray, pace_seconds: float) -> None:
        """``values``: rows of open, high, low, close, volume."""
        self._values = np.asarray(values, dtype=float)
        self.pace = max(pace_seconds, 0.001)

    @classmethod
    def generated(
        cls, *, bars: int, seed: int, start_price: float, pace_seconds: float
    ) -> ReplayMarket:
        """The demo market: a generated series (1 % volatility per bar, so bots trade)."""
        values = generate_ohlcv_array(
            bars=bars, seed=seed, start_price=start_price, volatility=0.01
        )
        return cls(values, pace_seconds)

    def bar_number_at(self, at: float) -> int:
        """Number of the last bar closed at wall-clock time ``at`` (epoch seconds)."""
        return math.floor(at / self.pace) - 1

    def close_time(self, number: int) -> float:
        return (number + 1) * self.pace

    def bar(self, number: int) -> Bar:
        length = len(self._values)
        position = number % (2 * length)
        if position < length:
            o, h, low, c, v = self._values[position]
        else:
            c, h, low, o, v = self._values[2 * length - 1 - position]
        when = dt.datetime.fromtimestamp(self.close_time(number), dt.UTC).replace(tzinfo=None)
        return Bar(when, float(o), float(h), float(low), float(c), float(v))

    def history(self, last: int, count: int) -> list[Bar]:
        """The ``count`` bars up to and including bar ``last``, oldest first."""
        return [self.bar(number) for number in range(last - count + 1, last + 1)]


class QueueFeed(bt.feed.DataBase):
    """A live backtrader feed fed by another thread through a queue.

    ``_load`` blocks on the queue (with a short timeout so a stop request is noticed) and
    returns ``False`` once :meth:`stop_feed` was called, which ends ``cerebro.run()``.
    ``live`` is true while the current bar is fresh: false on history bars and on the stale
    bars of a catch-up after an outage.  Brokers refuse orders while it is false, so a
    strategy warming up on old bars never trades at a stale price.  A producer that
    hits an error it cannot recover from calls :meth:`fail`: the exception is raised in the
    thread running Cerebro, so the bot ends in ``error`` instead of waiting forever.
    """

    params = (("history", None),)

    def __init__(self) -> None:
        super().__init__()
        self.bars: queue.Queue[Bar | BaseException | None] = queue.Queue()
        self._stopped = threading.Event()
        self._history: list[Bar] = []
        self.live = False

    def start(self) -> None:
        super().start()
        self._history = list(reversed(self.p.history or []))

    def islive(self) -> bool:
        return True

    def haslivedata(self) -> bool:
        return bool(self._history) or not self.bars.empty()

    def stop_feed(self) -> None:
        self._stopped.set()
        self.bars.put(None)

    def fail(self, error: BaseException) -> None:
        self.bars.put(error)

    def _load(self) -> bool | None:
        if self._history:
            return self._fill(self._history.pop())
        if self._stopped.is_set():
            return False
        try:
            bar = self.bars.get(timeout=LOAD_WAIT_SECONDS)
        except queue.Empty:
            return None
        if bar is None:
            return False
        if isinstance(bar, BaseException):
            raise bar
        self.live = not bar.stale
        return self._fill(bar)

    def _fill(self, bar: Bar) -> bool:
        self.lines.datetime[0] = bt.date2num(bar.time)
        self.lines.open[0] = bar.open
        self.lines.high[0] = bar.high
        self.lines.low[0] = bar.low
        self.lines.close[0] = bar.close
        self.lines.volume[0] = bar.volume
        self.lines.openinterest[0] = 0.0
        return True


class ReplayPublisher(threading.Thread):
    """Puts each replay bar into the feed's queue when it closes (wall clock)."""

    def __init__(self, market: ReplayMarket, feed: QueueFeed, first_number: int) -> None:
        super().__init__(name="replay-publisher", daemon=True)
        self.market = market
        self.feed = feed
        self.next_number = first_number
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            wait = self.market.close_time(self.next_number) - time.time()
            if wait > 0 and self._stop_event.wait(wait):
                break
            self.feed.bars.put(self.market.bar(self.next_number))
            self.next_number += 1

    def stop(self) -> None:
        self._stop_event.set()


def replay_feed(market: ReplayMarket, history_bars: int) -> tuple[QueueFeed, ReplayPublisher]:
    """A live feed preloaded with ``history_bars`` closed bars, and its publisher thread."""
    last_closed = market.bar_number_at(time.time())
    history = market.history(last_closed, history_bars) if history_bars else None
    feed = QueueFeed(history=history)
    return feed, ReplayPublisher(market, feed, last_closed + 1)
