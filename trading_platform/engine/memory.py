"""Keep a paper or live bot's memory bounded however long it runs.

backtrader was written for backtests, which end.  Left as it is, a bot that runs for weeks
keeps every bar of every line (prices, indicators), every order its strategy was notified
of (``Strategy._orders``), every closed trade (``Strategy._trades``) and, in the simulated
broker, every order it accepted (``BackBroker.orders``, "will only be appending").  A paper
bot at a bar a second grew about 1 KB a bar that way: 3.4 MB an hour, 80 MB a day (README,
"Running for weeks").

:class:`BoundedMemory`, an analyzer every paper and live Cerebro gets, bounds all of it:

- **Lines** keep the newest ``lookback_bars`` values (``live.lookback_bars``), or more when
  an indicator's period is longer.  It uses backtrader's own memory-saving buffers (the
  ``exactbars`` deques), but with one window for every line instead of ``exactbars=1``'s
  bare minimum period, which breaks any strategy that indexes a bar its indicators did not
  declare (``self.data.close[-50]``).  Like nautilus_trader's ``bar_capacity`` (10,000 by
  default): a strategy may look back that far, not further.  Backtests keep every bar (they
  end, and their reports plot them).
- **Orders and trades**: the simulated broker keeps every alive order and the newest
  :data:`KEEP_FINISHED` finished ones; the strategy keeps the newest :data:`KEEP_FINISHED`
  notifications and closed trades (its open trade is the newest).  Nothing of the platform's
  reads them: fills
  and trades are in the database the moment they happen (:mod:`~trading_platform.engine.sink`),
  and the live broker follows its orders in its own table, dropping each once it has ended.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Iterator, MutableMapping, MutableSequence
from typing import Any

import backtrader as bt
from backtrader.linebuffer import LineBuffer

from trading_platform.config import DEFAULT_LOOKBACK_BARS

log = logging.getLogger(__name__)

#: finished orders and closed trades kept per list, the newest ones (a list is cut once it
#: holds twice as many: at most ~40 orders of ~6 KB each)
KEEP_FINISHED = 20


class BoundedMemory(bt.Analyzer):
    """See the module docstring."""

    #: ``keep_finished`` None: :data:`KEEP_FINISHED` as it is when the run starts
    params = (("lookback_bars", DEFAULT_LOOKBACK_BARS), ("keep_finished", None))

    def start(self) -> None:
        # analyzers start after the strategy built its indicators and before the first bar is
        # loaded (live runs never preload): the buffers are empty and can be swapped
        self.window = bound_lines(self.strategy, self.p.lookback_bars)
        self.keep: int = self.p.keep_finished if self.p.keep_finished is not None else KEEP_FINISHED
        if self.window is None:
            log.warning("the feed was preloaded: its lines keep every bar (no lookback window)")

    def next(self) -> None:
        forget_finished(self.strategy, self.keep)


def bound_lines(strategy: bt.Strategy, lookback_bars: int) -> int | None:
    """Turn every line the strategy reads or computes into a window of ``lookback_bars``
    values (more when an indicator needs more); the window, or None when a line already
    holds values (a preloaded feed: left whole rather than cut)."""
    buffers = list(_line_buffers(strategy))
    if any(len(buffer) for buffer in buffers):
        return None
    longest_period = max(
        (getattr(owner, "_minperiod", 1) for owner in _line_owners(strategy)), default=1
    )
    window = max(lookback_bars, longest_period + 1)
    for buffer in buffers:
        buffer.qbuffer()
        buffer.minbuffer(window)
        buffer.array = Window(maxlen=buffer.array.maxlen)
    return window


class BeyondTheWindow(IndexError):
    """A strategy read a bar older than its window."""


class Window(collections.deque[float]):
    """A line's values: backtrader's memory-saving deque, except that reading a bar older
    than the window fails instead of answering with another bar.

    backtrader reads ``array[idx + ago]``; once the oldest bars were dropped, ``idx + ago``
    below 0 is a negative deque index, which counts from the newest value: ``close[-150]`` in
    a 101-bar window would quietly be the bar 49 back.  Before the window is full nothing was
    dropped and the index means what it means in backtrader's own (unbounded) buffers.
    """

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, int) and index < 0 and len(self) == self.maxlen:
            raise BeyondTheWindow(
                f"the strategy read a bar older than its window of {self.maxlen} bars (paper "
                "and live bots keep live.lookback_bars bars of every line; raise it in the "
                "bot's config)"
            )
        return super().__getitem__(index)


def forget_finished(strategy: bt.Strategy, keep: int) -> None:
    """Drop the finished orders and closed trades beyond the newest ``keep`` (amortised: a
    list is cut only once it holds twice as many)."""
    # the strategy's log of notifications: a snapshot (clone) of an order per notification,
    # whose status is that of the moment; nothing reads it
    _keep_newest(strategy._orders, keep)
    broker_orders = getattr(strategy.broker, "orders", None)
    if isinstance(broker_orders, list):  # the simulated broker's: the orders themselves
        dropped = _keep_newest_finished(broker_orders, keep)
        _forget_broker_notes(strategy.broker, dropped)
    for by_tradeid in strategy._trades.values():
        for trades in by_tradeid.values():
            # the last trade is the one backtrader updates: it is always kept
            _keep_newest(trades, keep)


def _keep_newest(items: MutableSequence[Any], keep: int) -> None:
    if len(items) > 2 * keep:
        del items[: len(items) - keep]


def _keep_newest_finished(orders: MutableSequence[bt.Order], keep: int) -> list[bt.Order]:
    """Cut ``orders`` in place to its alive orders and its newest ``keep`` finished ones;
    the orders dropped."""
    if len(orders) <= 2 * keep:
        return []
    finished = [order for order in orders if not order.alive()]
    if len(finished) <= keep:
        return []
    dropped = finished[: len(finished) - keep]
    gone = {id(order) for order in dropped}
    orders[:] = [order for order in orders if id(order) not in gone]
    return dropped


def _forget_broker_notes(broker: Any, dropped: list[bt.Order]) -> None:
    """The simulated broker notes every order's one-cancels-other group (``_ocos``,
    ``_ocol``) and its bracket children (``_pchildren``, left as an empty queue once the
    order executed) and never forgets them; a dropped order ended, and with it its group
    (any member's end cancels the whole group) and its children's queue, once empty."""
    ocos: MutableMapping[int, int] = getattr(broker, "_ocos", {})
    ocol: MutableMapping[int, list[int]] = getattr(broker, "_ocol", {})
    children: MutableMapping[int, Any] = getattr(broker, "_pchildren", {})
    for order in dropped:
        ocos.pop(order.ref, None)
        ocol.pop(order.ref, None)
        if order.ref in children and not children[order.ref]:
            del children[order.ref]


def _line_owners(strategy: bt.Strategy) -> Iterator[Any]:
    """The strategy, its datas, and every indicator, operation and observer under them."""
    seen: set[int] = set()
    pending: list[Any] = [strategy, *strategy.datas]
    while pending:
        owner = pending.pop()
        if id(owner) in seen:
            continue
        seen.add(id(owner))
        yield owner
        for group in getattr(owner, "_lineiterators", {}).values():
            pending.extend(group)
        pending.extend(getattr(owner, "datas", ()))
        pending.extend(getattr(owner, "_datas", ()))  # an operation's inputs (a + b, a(-5))


def _line_buffers(strategy: bt.Strategy) -> Iterator[LineBuffer]:
    seen: set[int] = set()
    for owner in _line_owners(strategy):
        lines = [owner] if isinstance(owner, LineBuffer) else getattr(owner, "lines", ())
        for line in lines:
            if isinstance(line, LineBuffer) and id(line) not in seen:
                seen.add(id(line))
                yield line
