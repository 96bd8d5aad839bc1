"""Live candles from a ccxt exchange, delivered once each, when closed.

A :class:`CandlePoller` thread backfills ``history_bars`` closed candles (so indicators are
warm before the first live bar), then waits until the next candle should have closed and asks
for every candle since the last one delivered: a candle is delivered when a newer one exists or
its close time has passed on the exchange's clock, never while it is forming; after an outage
the same request returns the missed candles, so gaps fill themselves.  Those late candles are
marked stale: the strategy's indicators see them, but brokers refuse orders placed on them.
The feed also carries the age rule of :mod:`~trading_platform.feeds.staleness`: brokers refuse
an order on a bar that closed more than a grace before the order is sent (a bar that waited
in the queue while Cerebro was blocked, the old last candle a ``history_bars: 0`` bot starts
on).

"Closed" and "fresh" are judged on the exchange's clock, because candle times are the
exchange's: the poller measures the offset of the exchange's clock from the local one
(``fetch_time``, the midpoint of the request's round trip) before the backfill and every
``CLOCK_SYNC_SECONDS``, and uses local time + offset.  An exchange without a time endpoint is
trusted to agree with the local clock.

Network trouble (``NetworkError``: timeouts, 429/DDoS protection, exchange not available) is
retried with exponential backoff and never kills the bot; after ``UNHEALTHY_AFTER`` failures in
a row ``on_unhealthy`` is called once, and ``on_recovered`` when candles flow again.  Waiting is
``Event.wait``: no core spins, and a stop is noticed at once.  ccxt's rate limiter stays on.

Bars are stamped with the candle's open time, as exchanges and ccxt do.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from trading_platform.feeds.bars import Bar
from trading_platform.feeds.queue_feed import QueueFeed
from trading_platform.feeds.staleness import Freshness, default_grace_seconds

log = logging.getLogger(__name__)

UNHEALTHY_AFTER = 3
BACKOFF_START_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 60.0
#: how long after a candle's close the poller asks for it (the exchange needs a moment)
CLOSE_GRACE_SECONDS = 0.05
PAGE = 500
MAX_SLEEP_SECONDS = 1.0
#: how often the exchange clock's offset is measured again (local seconds)
CLOCK_SYNC_SECONDS = 600.0
#: a change of the measured offset larger than this is logged as a warning
CLOCK_JUMP_SECONDS = 1.0


def _bar(candle: list[Any], stale: bool = False) -> Bar:
    when = dt.datetime.fromtimestamp(candle[0] / 1000, dt.UTC).replace(tzinfo=None)
    o, h, low, c, v = (float(value) for value in candle[1:6])
    return Bar(when, o, h, low, c, v, stale=stale)


class CandlePoller(threading.Thread):
    def __init__(
        self,
        client: Any,
        symbol: str,
        timeframe: str,
        feed: QueueFeed | None = None,
        *,
        on_unhealthy: Callable[[str], None] | None = None,
        on_recovered: Callable[[], None] | None = None,
        min_poll_seconds: float = 1.0,
        clock: Callable[[], float] = time.time,
        clock_sync_seconds: float | None = CLOCK_SYNC_SECONDS,
    ) -> None:
        """``clock`` is the local clock; ``clock_sync_seconds`` None trusts it to be the
        exchange's (no offset is measured: tests that drive the clock themselves)."""
        super().__init__(name=f"candles-{symbol}", daemon=True)
        self.client = client
        self.symbol = symbol
        self.timeframe = timeframe
        self.timeframe_ms = client.parse_timeframe(timeframe) * 1000
        self.feed = feed
        self.on_unhealthy = on_unhealthy
        self.on_recovered = on_recovered
        self.min_poll_seconds = min_poll_seconds
        self.clock = clock
        self.clock_sync_seconds = clock_sync_seconds
        #: exchange time minus local time, seconds (measured by :meth:`sync_clock`)
        self.clock_offset_s = 0.0
        self._synced_at: float | None = None
        self.last_open_ms: int | None = None
        self.failures = 0
        self.healthy = True
        self._stop_event = threading.Event()

    # -- the exchange's clock ---------------------------------------------------------------
    def exchange_time(self) -> float:
        """Now on the exchange's clock (epoch seconds): the local clock plus the offset."""
        return self.clock() + self.clock_offset_s

    def sync_clock(self) -> None:
        """Measure the exchange clock's offset from the local one.

        The server's time is taken to be that of the middle of the round trip, so the error is
        at most half of it (milliseconds), far below any grace.  Network errors propagate (the
        caller retries them like any poll).
        """
        import ccxt

        if not self.client.has.get("fetchTime"):
            self.clock_sync_seconds = None
            log.info("%s has no time endpoint: candles judged by the local clock", self.client.id)
            return
        sent = self.clock()
        try:
            server_ms = self.client.fetch_time()
        except ccxt.NotSupported:
            self.clock_sync_seconds = None
            return
        received = self._synced_at = self.clock()
        offset = server_ms / 1000 - (sent + received) / 2
        if abs(offset - self.clock_offset_s) > CLOCK_JUMP_SECONDS:
            log.warning("exchange clock is %+.3f s off the local clock", offset)
        self.clock_offset_s = offset

    def _sync_clock_if_due(self) -> None:
        due = self.clock_sync_seconds
        if due is None:
            return
        if self._synced_at is None or self.clock() - self._synced_at >= due:
            self.sync_clock()

    # -- fetching ---------------------------------------------------------------------------
    def closed_candles(self, since_ms: int | None, limit: int = PAGE) -> list[list[Any]]:
        """Closed candles from ``since_ms`` (all pages), or the last ``limit`` closed ones."""
        now_ms = int(self.exchange_time() * 1000)
        if since_ms is None:
            candles = self.client.fetch_ohlcv(self.symbol, self.timeframe, limit=limit + 1)
        else:
            candles = []
            cursor = since_ms
            while True:
                page = self.client.fetch_ohlcv(
                    self.symbol, self.timeframe, since=cursor, limit=PAGE
                )
                candles.extend(page)
                if len(page) < PAGE or self._stop_event.is_set():
                    break
                cursor = page[-1][0] + self.timeframe_ms
        closed = [c for c in candles if c[0] + self.timeframe_ms <= now_ms]
        return closed[-limit:] if since_ms is None else closed

    def backfill(self, bars: int) -> list[Bar]:
        """The last ``bars`` closed candles, retried like any poll (called before trading)."""
        while not self._stop_event.is_set():
            try:
                self._sync_clock_if_due()
                candles = self.closed_candles(None, limit=max(bars, 1)) if bars else []
                self._succeeded()
                self.last_open_ms = candles[-1][0] if candles else None
                return [_bar(c) for c in candles]
            except Exception as exc:  # noqa: BLE001 - classified in _failed
                self._failed(exc)
        return []

    # -- the loop -----------------------------------------------------------------------------
    def _next_close_s(self) -> float:
        if self.last_open_ms is None:
            return self.exchange_time()
        return (self.last_open_ms + 2 * self.timeframe_ms) / 1000 + CLOSE_GRACE_SECONDS

    def run(self) -> None:
        try:
            self._poll_forever()
        except Exception as exc:
            log.exception("candles of %s: giving up", self.symbol)
            if self.feed is not None:
                self.feed.fail(exc)

    def _poll_forever(self) -> None:
        while not self._stop_event.is_set():
            wait = self._next_close_s() - self.exchange_time()
            if wait > 0:
                # re-read the clock at least every MAX_SLEEP_SECONDS (no request is made)
                if self._stop_event.wait(min(wait, MAX_SLEEP_SECONDS)):
                    return
                continue
            try:
                self._sync_clock_if_due()
                since = None if self.last_open_ms is None else self.last_open_ms + 1
                fresh = [
                    c
                    for c in self.closed_candles(since)
                    if self.last_open_ms is None or c[0] > self.last_open_ms
                ]
            except Exception as exc:  # noqa: BLE001 - classified in _failed
                self._failed(exc)
                continue
            self._succeeded()
            assert self.feed is not None, "attach a feed before starting the poller"
            for number, candle in enumerate(fresh, start=1):
                # all but the newest closed candle arrive late: trading on them is refused
                self.feed.bars.put(_bar(candle, stale=number < len(fresh)))
                self.last_open_ms = candle[0]
            if not fresh and self._stop_event.wait(self.min_poll_seconds):
                return

    def _failed(self, exc: Exception) -> None:
        import ccxt

        if not isinstance(exc, ccxt.NetworkError):
            raise exc
        self.failures += 1
        delay = min(BACKOFF_START_SECONDS * 2 ** (self.failures - 1), BACKOFF_MAX_SECONDS)
        log.warning(
            "candles of %s: %s (attempt %d, retry in %.0f s)",
            self.symbol,
            type(exc).__name__,
            self.failures,
            delay,
        )
        if self.failures == UNHEALTHY_AFTER and self.healthy:
            self.healthy = False
            if self.on_unhealthy is not None:
                self.on_unhealthy(f"{type(exc).__name__} {self.failures} times in a row")
        self._stop_event.wait(delay)

    def _succeeded(self) -> None:
        if not self.healthy and self.on_recovered is not None:
            self.on_recovered()
        self.healthy = True
        self.failures = 0

    def stop(self) -> None:
        self._stop_event.set()


def ccxt_feed(
    client: Any,
    symbol: str,
    timeframe: str,
    history_bars: int,
    *,
    stale_grace_seconds: float | None = None,
    on_stale_order: Callable[[str], None] | None = None,
    **callbacks: Any,
) -> tuple[QueueFeed, CandlePoller]:
    """A live feed warmed up with ``history_bars`` closed candles, and its poller thread.

    Its bars are judged by age on the exchange's clock when an order is sent, with
    ``stale_grace_seconds`` (default: :func:`~trading_platform.feeds.staleness.
    default_grace_seconds`); ``on_stale_order`` is told of each order refused for it.
    """
    poller = CandlePoller(client, symbol, timeframe, **callbacks)
    history = poller.backfill(history_bars)
    timeframe_s = poller.timeframe_ms / 1000
    freshness = Freshness(
        timeframe_seconds=timeframe_s,
        grace_seconds=(
            default_grace_seconds(timeframe_s)
            if stale_grace_seconds is None
            else stale_grace_seconds
        ),
        clock=poller.exchange_time,
        on_stale=on_stale_order,
    )
    feed = QueueFeed(history=history, freshness=freshness)
    poller.feed = feed
    return feed, poller
