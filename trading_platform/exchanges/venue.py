"""A paper or live bot on a real exchange through ccxt: the exchange-facing half of a run.

Two ccxt clients, so the feed's thread and Cerebro's thread never share one: a public one for
candles and a private one (with the credential set's keys) for orders.  A missing or
rejected key is a :class:`FatalBotError` that names the credential set, never a key; it ends
the run once, and the orchestrator does not retry it (no storm of rejected requests).
Network trouble at start is retried with backoff, like the feed's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from trading_platform.db.positions import get_position
from trading_platform.engine.builder import build_cerebro
from trading_platform.engine.paper import PaperBroker
from trading_platform.engine.runner import (
    DatabaseSink,
    FatalBotError,
    RunOutcome,
    order_id_prefix,
)
from trading_platform.exchanges.broker import LiveBroker
from trading_platform.exchanges.candles import ccxt_feed
from trading_platform.exchanges.client import make_client
from trading_platform.exchanges.credentials import (
    Credentials,
    CredentialsError,
    load_credentials,
    scrub,
)
from trading_platform.exchanges.ledger import OrderLedger
from trading_platform.notifications import messages, outbox

if TYPE_CHECKING:
    from trading_platform.engine.runner import BotRunner

log = logging.getLogger(__name__)

T = TypeVar("T")
START_ATTEMPTS = 6
START_BACKOFF_SECONDS = 1.0


def _with_retries(call: Callable[[], T], what: str, stop: threading.Event) -> T:
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


def _credentials(runner: BotRunner) -> Credentials | None:
    config = runner.config
    if config.mode != "live":
        return None
    assert config.credentials is not None  # validation requires a set for live bots
    try:
        return load_credentials(config.credentials)
    except CredentialsError as exc:
        raise FatalBotError(str(exc)) from None


def _rejected(runner: BotRunner, exc: Exception) -> FatalBotError:
    return FatalBotError(
        f"credential set {runner.config.credentials!r} was rejected by "
        f"{runner.config.exchange} ({type(exc).__name__}); check its keys and permissions"
    )


class FeedHealth:
    """Turns the feed's unhealthy/recovered callbacks into audit rows and one notification
    per outage."""

    def __init__(self, runner: BotRunner) -> None:
        self.runner = runner
        self.outages = 0

    def unhealthy(self, why: str) -> None:
        self.outages += 1
        runner = self.runner
        runner.feed_problem = why
        runner.note(f"data feed unhealthy: {why}; retrying with backoff")
        if runner.config.notifications.error_notifications:
            outbox.enqueue(
                runner.database,
                messages.data_feed_failure(
                    runner.config.name, f"{runner.config.exchange} {runner.config.symbol}: {why}"
                ),
                bot_id=runner.bot_id,
                dedupe_key=f"feed-down:{runner.run_id}:{self.outages}",
            )

    def recovered(self) -> None:
        self.runner.feed_problem = None
        self.runner.note("data feed recovered; missed candles backfilled")


def _reconcile_live(runner: BotRunner, broker: LiveBroker) -> None:
    saved = get_position(runner.database, runner.bot_id, runner.config.symbol)
    saved_size = (
        Decimal(saved.size) if saved is not None and saved.closed_at is None else Decimal(0)
    )
    saved_price = Decimal(saved.avg_price) if saved is not None and saved.avg_price else None
    corrections = broker.recover(saved_size, saved_price)
    for correction in corrections:
        log.warning("bot %s reconciled with the exchange: %s", runner.bot_id, correction)
        runner.note(f"reconciled with the exchange: {correction}")
    if corrections and runner.config.notifications.error_notifications:
        outbox.enqueue(
            runner.database,
            messages.bot_error(runner.config.name, "RECONCILED", "; ".join(corrections)),
            bot_id=runner.bot_id,
            dedupe_key=f"reconcile:{runner.run_id}",
        )


def run_on_exchange(runner: BotRunner) -> RunOutcome:
    """Trade until stopped; an exchange error that ends the run is re-raised with every
    secret of the credential set scrubbed from its text (it reaches the database and logs)."""
    import ccxt

    credentials = _credentials(runner)
    try:
        return _trade(runner, credentials)
    except (ccxt.AuthenticationError, ccxt.PermissionDenied) as exc:
        raise _rejected(runner, exc) from None
    except ccxt.BaseError as exc:
        raise ExchangeFailure(scrub(f"{type(exc).__name__}: {exc}", credentials)) from None


class ExchangeFailure(RuntimeError):
    """An exchange error that ended a run, its text free of secrets."""


def _trade(runner: BotRunner, credentials: Credentials | None) -> RunOutcome:

    config = runner.config
    stop = runner.stop_requested
    public = make_client(config.exchange)
    _with_retries(public.load_markets, f"markets of {config.exchange}", stop)
    health = FeedHealth(runner)
    # the backfill retries network errors itself (and reports the feed unhealthy meanwhile)
    feed, poller = ccxt_feed(
        public,
        config.symbol,
        config.timeframe,
        config.data.history_bars,
        on_unhealthy=health.unhealthy,
        on_recovered=health.recovered,
    )
    runner.feed = feed
    strategy = runner.registry.validate(config.strategy_class, config.params)
    broker: Any
    if config.mode == "live":
        private = make_client(config.exchange, credentials)
        _with_retries(private.load_markets, f"markets of {config.exchange}", stop)
        broker = LiveBroker(
            private,
            OrderLedger(runner.database, runner.bot_id, runner.run_id, config.symbol),
            config.symbol,
            order_id_prefix(runner.bot_id, runner.incarnation),
            feed=feed,
            open_orders_on_restart=config.live.open_orders_on_restart,
        )
        _with_retries(lambda: _reconcile_live(runner, broker), "reconciliation", stop)
    else:
        broker = PaperBroker(feed=feed)
    runner.sink = DatabaseSink(
        runner.database,
        config,
        runner.run_id,
        runner.incarnation,
        records_fills=config.mode != "live",
    )
    cerebro = build_cerebro(config, strategy, feed, broker=broker, sink=runner.sink, live=True)
    if config.mode == "paper":
        runner.restore_paper_state(cerebro)
    runner.sink.bind(cerebro.broker, feed)
    if config.mode == "live":
        runner.sink.save_position()
    runner.attach(cerebro)
    if stop.is_set():  # stopped while backfilling or reconciling: Cerebro never starts
        return RunOutcome("stopped", "stop requested before trading began")
    poller.start()
    where = f"{config.exchange} {config.symbol} {config.timeframe}"
    runner.status(
        "running",
        f"{'live trading' if config.mode == 'live' else 'paper trading on live data'}: {where}",
        reset_errors=True,
    )
    try:
        cerebro.run()
    finally:
        poller.stop()
    return RunOutcome("stopped", "stop requested; position saved")
