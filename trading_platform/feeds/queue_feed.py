r"""The live backtrader feed every paper and live bot runs on: bars arrive through a queue.

A producer thread (the replay publisher, the exchange's candle poller) puts :class:`Bar`\ s in;
Cerebro's thread takes them out.  See :class:`QueueFeed`.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import backtrader as bt

from trading_platform.feeds.bars import Bar
from trading_platform.feeds.staleness import Freshness

#: how long ``_load`` blocks waiting for a bar: bounds the reaction time to a stop request
#: without spinning a core (a live feed whose ``_load`` returns at once burns 100 % CPU).
LOAD_WAIT_SECONDS = 0.25


class QueueFeed(bt.feed.DataBase):
    """A live backtrader feed fed by another thread through a queue.

    ``_load`` blocks on the queue (with a short timeout so a stop request is noticed) and
    returns ``False`` once :meth:`stop_feed` was called, which ends ``cerebro.run()``.
    ``live`` is true while the current bar is fresh: false on history bars and on the stale
    bars of a catch-up after an outage.  Brokers refuse orders while it is false, so a
    strategy warming up on old bars never trades at a stale price.  ``freshness`` (a
    :class:`~trading_platform.feeds.staleness.Freshness`, exchange feeds only) lets brokers
    also refuse an order on a bar that has grown too old by the time it is sent.  A producer
    that hits an error it cannot recover from calls :meth:`fail`: the exception is raised in the
    thread running Cerebro, so the bot ends in ``error`` instead of waiting forever.
    """

    params = (("history", None), ("freshness", None))

    def __init__(self, **_params: Any) -> None:
        """``history`` (a list of bars delivered first) and ``freshness`` are backtrader
        params: the metaclass takes them out of the keywords before ``__init__`` runs."""
        super().__init__()
        self.freshness: Freshness | None = self.p.freshness
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
