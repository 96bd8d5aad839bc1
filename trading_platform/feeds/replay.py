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
import threading
import time

import numpy as np

from trading_platform.feeds.bars import Bar
from trading_platform.feeds.demo_data import generate_ohlcv_array
from trading_platform.feeds.queue_feed import QueueFeed


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
