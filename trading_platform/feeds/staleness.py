"""When a bar is too old to trade on: judged when an order is about to be sent.

A candle's price is news when it closes.  The candle stamped ``open`` closes at
``open + timeframe``; the poller asks for it just after, and a strategy decides on it within
milliseconds.  An order decided on a bar is refused once the exchange's clock passes
``close + grace``: the bar has then grown older than one timeframe plus the grace, counted
from its open.  (Counting from its close would let a ``1d`` bot trade for almost a day on a
price hours old.)

The check is made at send time, not when the candle was fetched: the time a bar waited in the
feed's queue while Cerebro was blocked (order retries, a busy database) counts, and so does the
age of the last closed candle a bot starts on (``history_bars: 0``).  "Now" is the exchange's
clock (the candle poller measures its offset from the local one), because candle times are the
exchange's.

Feeds without a :class:`Freshness` (replay markets, CSV files, whose time is compressed or
historical) are not judged by age.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import backtrader as bt

log = logging.getLogger(__name__)

#: the default grace is this fraction of the timeframe, clamped to the bounds below: long enough
#: for the exchange to publish the next candle and for the request to come back, short enough
#: that a superseded daily candle is not traded on for hours
DEFAULT_GRACE_FRACTION = 0.1
MIN_DEFAULT_GRACE_SECONDS = 2.0
MAX_DEFAULT_GRACE_SECONDS = 60.0


def default_grace_seconds(timeframe_seconds: float) -> float:
    """10 % of the timeframe, at least 2 s and at most 60 s (``1m``: 6 s, ``1h``: 60 s)."""
    fraction = DEFAULT_GRACE_FRACTION * timeframe_seconds
    return min(max(fraction, MIN_DEFAULT_GRACE_SECONDS), MAX_DEFAULT_GRACE_SECONDS)


def tradable_until(open_time_s: float, timeframe_s: float, grace_s: float) -> float:
    """The last instant (epoch seconds) at which an order decided on the bar that opened at
    ``open_time_s`` may be sent: its close plus the grace."""
    return open_time_s + timeframe_s + grace_s


def is_stale(open_time_s: float, timeframe_s: float, grace_s: float, now_s: float) -> bool:
    """True when, at ``now_s`` (exchange time), the bar is too old to trade on."""
    return now_s > tradable_until(open_time_s, timeframe_s, grace_s)


@dataclass(frozen=True)
class Freshness:
    """The age rule of one live feed: its timeframe, its grace and the exchange's clock.

    ``on_stale`` (optional) is told why each order was refused, e.g. to write an audit row;
    its failures are logged, never raised into the broker.
    """

    timeframe_seconds: float
    grace_seconds: float
    #: the exchange's time now, epoch seconds
    clock: Callable[[], float]
    on_stale: Callable[[str], None] | None = None

    def why_stale(self, open_time: dt.datetime) -> str | None:
        """Why an order on the bar stamped ``open_time`` (naive UTC) must be refused now."""
        open_s = open_time.replace(tzinfo=dt.UTC).timestamp()
        now_s = self.clock()
        if not is_stale(open_s, self.timeframe_seconds, self.grace_seconds, now_s):
            return None
        close_s = open_s + self.timeframe_seconds
        return (
            f"the bar of {open_time:%Y-%m-%d %H:%M:%S} UTC closed {now_s - close_s:.1f} s ago "
            f"at send time; bars are tradable until {self.grace_seconds:g} s after their close "
            f"(one timeframe of {self.timeframe_seconds:g} s plus the grace after their open)"
        )

    def report(self, why: str) -> None:
        log.warning("order refused, stale price: %s", why)
        if self.on_stale is None:
            return
        try:
            self.on_stale(f"order refused, stale price: {why}")
        except Exception:
            log.exception("could not record a stale-price refusal")


def stale_bar_reason(feed: Any) -> str | None:
    """Why an order on ``feed``'s current bar must be refused for its age, or None.

    Brokers call it just before sending; a feed without a :class:`Freshness` (``freshness``
    attribute) or without a bar yet is never judged by age.
    """
    rule: Freshness | None = getattr(feed, "freshness", None)
    if rule is None or not len(feed):
        return None
    why = rule.why_stale(bt.num2date(feed.datetime[0]))
    if why is not None:
        rule.report(why)
    return why
