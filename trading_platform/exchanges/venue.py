"""A paper or live bot on a real exchange through ccxt: the exchange as a venue.

Two ccxt clients, so the feed's thread and Cerebro's thread never share one: a public one for
candles and a private one (with the credential set's keys) for orders.  A missing or
rejected key is a :class:`~trading_platform.engine.errors.FatalBotError` that names the
credential set, never a key; it ends the run once, and the orchestrator does not retry it
(no storm of rejected requests).  Network trouble while connecting is retried with backoff,
like the feed's.  Any other exchange error that ends the run is re-raised with every secret
of the credential set scrubbed from its text (it reaches the database and logs).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import TypeVar

import backtrader as bt

from trading_platform.config import BotConfig
from trading_platform.contract import ErrorKind, Mode
from trading_platform.db.positions import get_position
from trading_platform.engine.activity import Activity
from trading_platform.engine.errors import FatalBotError
from trading_platform.engine.order_ids import order_id_prefix
from trading_platform.engine.paper import PaperBroker, restore_paper_state
from trading_platform.engine.venue import RunServices
from trading_platform.exchanges.broker import LiveBroker
from trading_platform.exchanges.candles import CandlePoller, ccxt_feed
from trading_platform.exchanges.client import make_client
from trading_platform.exchanges.credentials import (
    Credentials,
    CredentialsError,
    load_credentials,
    scrub,
)
from trading_platform.exchanges.ledger import OrderLedger
from trading_platform.exchanges.recovery import recover
from trading_platform.feeds.queue_feed import QueueFeed
from trading_platform.notifications import messages

log = logging.getLogger(__name__)

T = TypeVar("T")
START_ATTEMPTS = 6
START_BACKOFF_SECONDS = 1.0


class ExchangeFailure(RuntimeError):
    """An exchange error that ended a run, its text free of secrets."""


def with_retries(call: Callable[[], T], what: str, stop: threading.Event) -> T:
    """``call()``, retried on network errors with backoff (1 s doubling, 6 attempts)."""
    import ccxt

    for attempt in range(START_ATTEMPTS):
        try:
            return call()
        except ccxt.NetworkError as exc:
            if attempt == START_ATTEMPTS - 1:
                raise
            delay = START_BACKOFF_SECONDS * 2**attempt
            log.warning("%s: %s; retrying in %.0f s", what, type(exc).__name__, delay)
            if stop.wait(delay):
                raise
    raise AssertionError("unreachable")


class FeedHealth:
    """Turns the feed's unhealthy/recovered callbacks into audit rows and one notification
    per outage."""

    def __init__(self, run: RunServices) -> None:
        self.run = run
        self.outages = 0

    def unhealthy(self, why: str) -> None:
        self.outages += 1
        run, config = self.run, self.run.config
        run.report_feed_problem(why)
        run.note(f"data feed unhealthy: {why}; retrying with backoff", Activity.FEED_DOWN)
        run.notify_error(
            messages.data_feed_failure(config.name, f"{config.exchange} {config.symbol}: {why}"),
            f"feed-down:{run.run_id}:{self.outages}",
        )

    def recovered(self) -> None:
        self.run.report_feed_problem(None)
        self.run.note("data feed recovered; missed candles backfilled", Activity.FEED_UP)


class ExchangeVenue:
    """A :class:`~trading_platform.engine.venue.Venue` for any ccxt exchange: live candles,
    and a simulated broker (``paper``) or real orders (``live``)."""

    def __init__(self, run: RunServices) -> None:
        self.run = run
        config: BotConfig = run.config
        self.live = config.mode == Mode.LIVE
        self.records_fills = not self.live
        where = f"{config.exchange} {config.symbol} {config.timeframe}"
        self.description = (
            f"live trading: {where}" if self.live else f"paper trading on live data: {where}"
        )
        self.credentials: Credentials | None = None
        self._poller: CandlePoller | None = None
        self._broker: LiveBroker | None = None
        self._drifts = 0

    @contextlib.contextmanager
    def failures(self) -> Iterator[None]:
        import ccxt

        try:
            yield
        except (ccxt.AuthenticationError, ccxt.PermissionDenied) as exc:
            config = self.run.config
            raise FatalBotError(
                f"credential set {config.credentials!r} was rejected by "
                f"{config.exchange} ({type(exc).__name__}); check its keys and permissions"
            ) from None
        except ccxt.NetworkError as exc:
            # its text quotes the signed request URL: the type says enough
            raise ExchangeFailure(
                f"{type(exc).__name__} (the exchange could not be reached)"
            ) from None
        except ccxt.BaseError as exc:
            text = scrub(f"{type(exc).__name__}: {exc}", self.credentials)
            raise ExchangeFailure(text) from None

    def connect(self) -> tuple[QueueFeed, bt.BrokerBase]:
        config, stop = self.run.config, self.run.stop_requested
        if self.live:
            self.credentials = self._load_credentials()
        public = make_client(config.exchange)
        with_retries(public.load_markets, f"markets of {config.exchange}", stop)
        health = FeedHealth(self.run)
        # the backfill retries network errors itself (and reports the feed unhealthy meanwhile)
        feed, self._poller = ccxt_feed(
            public,
            config.symbol,
            config.timeframe,
            config.data.history_bars,
            on_unhealthy=health.unhealthy,
            on_recovered=health.recovered,
            stale_grace_seconds=config.live.stale_grace_seconds,
            on_stale_order=lambda why: self.run.note(why, Activity.REFUSAL),
        )
        if not self.live:
            return feed, PaperBroker(feed=feed, activity=self.run.activity)
        private = make_client(config.exchange, self.credentials)
        with_retries(private.load_markets, f"markets of {config.exchange}", stop)
        self._broker = LiveBroker(
            private,
            OrderLedger(
                self.run.database,
                self.run.bot_id,
                self.run.run_id,
                config.symbol,
                fence=self.run.fence,
                activity=self.run.activity,
            ),
            config.symbol,
            order_id_prefix(self.run.bot_id, self.run.incarnation),
            on_incident=self._incident,
            on_drift=self._drift,
            feed=feed,
            open_orders_on_restart=config.live.open_orders_on_restart,
            fill_gap_bars=config.live.fill_gap_bars,
            reconcile_interval=config.live.reconcile_interval,
        )
        return feed, self._broker

    def _incident(self, text: str) -> None:
        """Fills that do not add up (or add up again): audit row and notification."""
        self._report(ErrorKind.FILLS_MISSING, f"fills:{self.run.run_id}", text, Activity.FILLS)

    def _drift(self, text: str) -> None:
        """The running bot's books differ from the exchange (or the operator acknowledged
        it): audit row and notification; the broker keeps the marker in the database.
        Each is notified, even one worded as an earlier one of the run."""
        self._drifts += 1
        self._report(
            ErrorKind.DRIFT, f"drift:{self.run.run_id}:{self._drifts}", text, Activity.DRIFT
        )

    def _report(self, kind: ErrorKind, key: str, text: str, activity: Activity) -> None:
        run = self.run
        log.error("bot %s: %s", run.bot_id, text)
        run.note(text, activity)
        run.notify_error(
            messages.bot_error(run.config.name, kind, text),
            f"{key}:{hashlib.sha1(text.encode()).hexdigest()[:16]}",
        )

    def _load_credentials(self) -> Credentials:
        name = self.run.config.credentials
        assert name is not None  # validation requires a set for live bots
        try:
            return load_credentials(name)
        except CredentialsError as exc:
            raise FatalBotError(str(exc)) from None

    def restore(self, cerebro: bt.Cerebro) -> bool:
        run = self.run
        if self._broker is None:
            restore_paper_state(cerebro, run.database, run.bot_id, run.config.symbol)
            return False
        with_retries(self._reconcile, "reconciliation", run.stop_requested)
        return True

    def _reconcile(self) -> None:
        """The exchange is the truth: every difference from the database is logged, audited
        and notified."""
        assert self._broker is not None
        run = self.run
        saved = get_position(run.database, run.bot_id, run.config.symbol)
        saved_size = (
            Decimal(saved.size) if saved is not None and saved.closed_at is None else Decimal(0)
        )
        saved_price = Decimal(saved.avg_price) if saved is not None and saved.avg_price else None
        corrections = recover(self._broker, saved_size, saved_price)
        for correction in corrections:
            log.warning("bot %s reconciled with the exchange: %s", run.bot_id, correction)
            run.note(f"reconciled with the exchange: {correction}", Activity.RECONCILED)
        if corrections:
            run.notify_error(
                messages.bot_error(run.config.name, ErrorKind.RECONCILED, "; ".join(corrections)),
                f"reconcile:{run.run_id}",
            )

    def start(self) -> None:
        assert self._poller is not None, "connect first"
        self._poller.start()

    def stop(self) -> None:
        if self._poller is not None:
            self._poller.stop()
