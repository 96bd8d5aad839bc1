"""Run one bot until it is told to stop: the code path of every ``bot_run``.

The runner owns a bot's observed state while it runs: status transitions (each with an
audit row), the heartbeat thread, the fills and the position it writes, and a clean stop.
It is the one place that assembles a live bot: a venue (:mod:`trading_platform.engine.venue`)
hands it a feed and a broker and puts back the previous run's state; the runner alone builds
and runs Cerebro.

Before anything else the run takes its bot's lease (:mod:`trading_platform.db.leases`): a
run that cannot (another live process trades the bot) ends without writing anything of the
bot's; the lease's epoch is the run's incarnation in client order ids; every heartbeat
renews it, and every order, fill and position write checks it.  A run whose lease was taken
or revoked stops at once and writes nothing more: the bot belongs to another run now.

A bot whose config names a credential set runs only while its owner holds a grant for the
set (:mod:`trading_platform.db.grants`): the sensor checks that before launching, and the
run checks it again, before its venue reads any key, so a grant revoked in between (or a
run launched from a stale tick) never trades the account, nor reports its balance.

It knows nothing of Dagster: an orchestrator cancels it by raising a ``BaseException`` that
is not an ``Exception`` (Dagster's ``DagsterExecutionInterruptedError``, or
``KeyboardInterrupt``) in the thread waiting in :meth:`BotRunner.run_until_interrupted`, or by
calling :meth:`BotRunner.request_stop` from another thread.  What the bot does (status
changes, incidents, fills, a periodic summary) it reports on the activity logger
(:mod:`~trading_platform.engine.activity`); the waiting thread's ``on_wait`` lets the
orchestrator forward those entries from its own thread.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import backtrader as bt
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from trading_platform.config import BotConfig
from trading_platform.contract import OFFLINE_EXCHANGES, BotStatus, ErrorKind, Mode
from trading_platform.db.bots import get_bot
from trading_platform.db.grants import is_granted, not_granted
from trading_platform.db.leases import (
    Lease,
    LeaseHeld,
    LeaseLost,
    acquire_lease,
    release_lease,
    renew_lease,
)
from trading_platform.db.outage import until_reachable
from trading_platform.db.status import update_bot_status
from trading_platform.engine.activity import DEFAULT_SUMMARY_SECONDS, Activity, ActivityLog
from trading_platform.engine.builder import RECORDER_NAME, build_cerebro
from trading_platform.engine.control import RunControl
from trading_platform.engine.errors import FatalBotError
from trading_platform.engine.heartbeat import Heartbeat
from trading_platform.engine.recorder import TradeRecorder
from trading_platform.engine.replay_venue import ReplayVenue
from trading_platform.engine.sink import DatabaseSink
from trading_platform.engine.venue import RunServices, Venue
from trading_platform.errors import ConfigError
from trading_platform.feeds.queue_feed import QueueFeed
from trading_platform.notifications import messages, outbox
from trading_platform.notifications.messages import Message
from trading_platform.processes import this_process
from trading_platform.strategy_handler import StrategyRegistry

log = logging.getLogger(__name__)

VenueFactory = Callable[[RunServices], Venue]

#: a lease not renewed for this many heartbeat intervals belongs to a dead process
LEASE_TTL_HEARTBEATS = 3
#: never below this: a busy database may delay a renewal by its busy timeout
LEASE_TTL_FLOOR_SECONDS = 15.0
#: how long a stopping run waits for an unreachable database to save its position: a run
#: must end; the next one takes its position from the saved row, or the exchange (live)
STOP_WRITE_PATIENCE_SECONDS = 30.0


def lease_ttl_seconds(config: BotConfig) -> float:
    return max(LEASE_TTL_HEARTBEATS * config.heartbeat_interval, LEASE_TTL_FLOOR_SECONDS)


def venue_for(run: RunServices) -> Venue:
    """``replay``/``csv`` are served by the platform; any other exchange through ccxt."""
    if run.config.exchange in OFFLINE_EXCHANGES:
        return ReplayVenue(run)
    # imported here: ccxt costs run workers of offline bots memory and start-up time
    from trading_platform.exchanges.venue import ExchangeVenue

    return ExchangeVenue(run)


@dataclass
class RunOutcome:
    status: BotStatus
    reason: str


class BotRunner:
    """One bot, one run: see the module docstring."""

    def __init__(
        self,
        config: BotConfig,
        registry: StrategyRegistry,
        database: Engine,
        *,
        run_id: str,
        incarnation: int = 0,
        venue_factory: VenueFactory = venue_for,
        summary_seconds: float = DEFAULT_SUMMARY_SECONDS,
    ) -> None:
        if config.bot_id is None:
            raise ValueError("a bot run needs a bot id")
        self.config = config
        self.bot_id = config.bot_id
        self.registry = registry
        self.database = database
        self.run_id = run_id
        self.incarnation = incarnation
        self.venue_factory = venue_factory
        self._cerebro: bt.Cerebro | None = None
        self.feed: QueueFeed | None = None
        self.stop_requested = threading.Event()
        self.current_status = BotStatus.STOPPED
        #: why the live data feed is failing, None while it works (reported by the venue,
        #: written by every heartbeat)
        self.feed_problem: str | None = None
        self.sink: DatabaseSink | None = None
        #: why the run was cancelled (:meth:`cancel`), None while it was not
        self.cancelled: str | None = None
        self.lease: Lease | None = None
        #: why this run lost its lease; it writes nothing of the bot's any more
        self.fenced: str | None = None
        #: what the run reports of itself (status changes, incidents, fills, summaries)
        self.activity = ActivityLog(self.bot_id, summary_seconds=summary_seconds)
        #: the operator's pause and commands (paper and live runs; backtests ignore them)
        self.control: RunControl | None = None

    # -- control from other threads -------------------------------------------------------
    def request_stop(self) -> None:
        self.stop_requested.set()
        if self.feed is not None:
            self.feed.stop_feed()
        if self._cerebro is not None:
            self._cerebro.runstop()

    def cancel(self, reason: str) -> None:
        """Stop the run because its orchestrator said so; it ends ``stopped`` with
        ``reason``."""
        self.cancelled = reason
        self.status(BotStatus.STOPPING, reason)
        self.request_stop()

    def latest_value(self) -> float | None:
        cerebro = self._cerebro
        if cerebro is None:
            return None
        return cerebro.broker.getvalue()

    # -- observing a running bot (tests, benchmarks) ----------------------------------------
    @property
    def feed_healthy(self) -> bool:
        return self.feed_problem is None

    def _recorder(self) -> TradeRecorder | None:
        cerebro = self._cerebro
        strategies = getattr(cerebro, "runningstrats", None) if cerebro is not None else None
        if not strategies:
            return None
        return strategies[0].analyzers.getbyname(RECORDER_NAME)

    def bar_times(self) -> list[float]:
        """backtrader date numbers of the newest bars the strategy has seen (at most
        ``live.lookback_bars`` of them), history included."""
        recorder = self._recorder()
        return list(recorder.equity_times) if recorder is not None else []

    def bars_seen(self) -> int:
        """Every bar the strategy has seen, history included."""
        recorder = self._recorder()
        return recorder.bars if recorder is not None else 0

    def unrealized_pnl(self) -> float:
        cerebro = self._cerebro
        if cerebro is None or self.feed is None or not len(self.feed):
            return 0.0
        position = cerebro.broker.getposition(self.feed)
        return position.size * (self.feed.close[0] - position.price) if position.size else 0.0

    def position_size(self) -> float:
        cerebro = self._cerebro
        if cerebro is None or self.feed is None:
            return 0.0
        return cerebro.broker.getposition(self.feed).size

    # -- what a venue may ask (RunServices) ---------------------------------------------------
    def fence(self, session: Session) -> None:
        """The lease check every order, fill and position write runs in its transaction."""
        if self.lease is None:
            raise LeaseLost(f"bot {self.bot_id}: run {self.run_id} holds no lease")
        self.lease.check(session)

    def status(self, status: BotStatus, reason: str, **kwargs: object) -> bool:
        """Record a transition, only while this run holds the bot: a run cancelled while it
        waits for the lease, or fenced off, leaves the bot's row to its holder."""
        if self.fenced or self.lease is None:
            why = self.fenced or "no lease held"
            log.info("bot %s: not recording %s (%s): %s", self.bot_id, status, reason, why)
            return False
        before, self.current_status = self.current_status, status
        written = update_bot_status(
            self.database,
            self.bot_id,
            status,
            reason,
            run_id=self.run_id,
            **kwargs,  # type: ignore[arg-type]
        )
        if written and before != status:
            self.activity.status(str(before), str(status), reason)
        return written

    def note(self, reason: str, kind: Activity = Activity.INCIDENT) -> None:
        """An audit row that keeps the current status (e.g. the data feed failing), and an
        activity entry of ``kind``.  An incident happens in a bot's own thread (Cerebro's,
        the feed's): while the database cannot be reached that thread waits to record it
        (:mod:`~trading_platform.db.outage`) instead of dying of the outage."""
        noted = until_reachable(
            lambda: self.status(self.current_status, reason), f"bot {self.bot_id}: audit row"
        )
        if noted:
            self.activity.incident(kind, reason, status=str(self.current_status))

    def report_activity(self, final: bool = False) -> None:
        """The periodic summary, when due (every heartbeat asks), or the run's last one."""
        if final or self.activity.summary_due():
            self.activity.summary(
                bars=self.bars_seen(),
                position=self.position_size(),
                equity=self.latest_value(),
                final=final,
            )

    def poll_control(self) -> None:
        """The heartbeat thread's read of the operator's control (pause, commands)."""
        if self.control is None or self.fenced or self.lease is None:
            return
        try:
            self.control.poll()
        except LeaseLost as exc:
            self.lease_lost(str(exc))

    def report_feed_problem(self, problem: str | None) -> None:
        self.feed_problem = problem

    def notify_error(self, message: Message, dedupe_key: str) -> None:
        """Queue an error notification; while the database cannot be reached, wait for it
        (at most :data:`STOP_WRITE_PATIENCE_SECONDS`: a failing run reports here on its way
        out, and must end)."""
        if self.config.notifications.error_notifications:
            until_reachable(
                lambda: outbox.enqueue(
                    self.database, message, bot_id=self.bot_id, dedupe_key=dedupe_key
                ),
                f"bot {self.bot_id}: error notification",
                patience=STOP_WRITE_PATIENCE_SECONDS,
            )

    # -- the run ----------------------------------------------------------------------------
    def run_until_interrupted(
        self, grace_seconds: float = 60.0, on_wait: Callable[[], object] | None = None
    ) -> RunOutcome:
        """:meth:`run` on a thread of its own while this thread waits: how an orchestrator
        runs a bot.

        A cancel arrives as an exception raised in the orchestrator's thread wherever it
        happens to be.  In the bot's own code it could land between a fill's write and its
        commit: the fill was lost, and on SQLite the write lock stayed with the connection the
        exception kept alive, so the bot could record neither its stop nor its position.
        Here it lands in a thread that only waits; the bot is cancelled cleanly (its writes
        finish, its position is saved, it ends ``stopped``), then the exception propagates.

        ``on_wait`` is called in the waiting thread twice a second: the orchestrator's own
        work for a running bot, in the orchestrator's thread (the Dagster op writes the bot's
        activity entries to the run's event log there).  Its failures are logged, never
        raised: a bot does not stop because its orchestrator's log is unavailable.
        """
        result: dict[str, Any] = {}
        # an Event, not Thread.join: a join interrupted by an exception can leave the thread
        # marked as ended while it still runs, and the second join then returns at once
        done = threading.Event()

        def run() -> None:
            try:
                result["outcome"] = self.run()
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                result["error"] = exc
            finally:
                done.set()

        threading.Thread(target=run, name=f"bot-{self.bot_id}", daemon=True).start()
        try:
            while not done.wait(0.5):
                if on_wait is not None:
                    try:
                        on_wait()
                    except Exception:
                        log.exception("bot %s: the orchestrator's on_wait failed", self.bot_id)
        except BaseException:
            self.cancel("run cancelled")
            done.wait(grace_seconds)
            raise
        if "error" in result:
            raise result["error"]
        return result["outcome"]

    # -- the lease --------------------------------------------------------------------------
    def _acquire_lease(self) -> Lease:
        """The bot's lease, waiting while a holder that stopped renewing may still be alive;
        :class:`LeaseHeld` when another process keeps it."""
        holder = this_process()
        ttl = lease_ttl_seconds(self.config)
        deadline = time.monotonic() + ttl + 1.0
        while True:
            try:
                return acquire_lease(self.database, self.bot_id, self.run_id, holder, ttl)
            except LeaseHeld:
                if time.monotonic() > deadline or self.stop_requested.wait(1.0):
                    raise

    def renew_lease(self) -> None:
        """Every heartbeat: a run whose lease was taken stops at once."""
        if self.lease is None or self.fenced:
            return
        try:
            renew_lease(self.database, self.lease)
        except LeaseLost as exc:
            self.lease_lost(str(exc))

    def lease_lost(self, why: str) -> None:
        if self.fenced:
            return
        log.error("bot %s: %s", self.bot_id, why)
        self.fenced = why
        self.activity.incident(Activity.LEASE_LOST, why)
        self.request_stop()

    def run(self) -> RunOutcome:
        """Run until the feed ends, a stop is requested, or the run is interrupted."""
        self.lease = self._acquire_lease()
        self.incarnation = self.lease.epoch
        try:
            return self._run_leased()
        finally:
            if not self.fenced:
                release_lease(self.database, self.lease)

    def _run_leased(self) -> RunOutcome:
        self.status(
            BotStatus.STARTING,
            f"run started (incarnation {self.incarnation}, pid {os.getpid()})",
        )
        heartbeat = Heartbeat(self.database, self.config, self)
        heartbeat.start()
        try:
            self._check_grant()
            outcome = (
                self._run_backtest() if self.config.mode == Mode.BACKTEST else self._run_live()
            )
        except LeaseLost as exc:
            self.lease_lost(str(exc))
            raise
        except Exception as exc:
            if self.fenced:  # the bot belongs to another run: its error is not the bot's
                raise LeaseLost(self.fenced) from exc
            # refused to start (a config error stays one: the sensor re-checks the row)
            refused = isinstance(exc, FatalBotError | ConfigError)
            error = str(exc) if refused else f"{type(exc).__name__}: {exc}"
            kind = ErrorKind.START_ERROR if refused else ErrorKind.RUN_ERROR
            self._persist_position()
            self.status(BotStatus.ERROR, f"run failed: {error}", error=error)
            self.notify_error(
                messages.bot_error(self.config.name, kind, error),
                outbox.run_error_key(self.run_id),
            )
            raise
        except BaseException:
            # cancelled (Dagster interrupt, Ctrl-C): stop cleanly, then let it propagate
            self.status(BotStatus.STOPPING, "run cancelled")
            self._shutdown()
            self.status(BotStatus.STOPPED, "run cancelled; position saved")
            raise
        finally:
            heartbeat.stop()
            self._shutdown()
            self._final_summary()
        if self.fenced:
            raise LeaseLost(self.fenced)
        self.status(outcome.status, outcome.reason)
        return outcome

    def _check_grant(self) -> None:
        """Defence in depth: the bot's owner, as the table says now, must hold a grant for
        the credential set its config names, before any key is read.  Not a
        :class:`FatalBotError`: once the grant is back the sensor launches the bot again
        (it marks the bot ``error`` meanwhile, seeing the same missing grant)."""
        name = self.config.credentials
        if name is None:
            return
        row = get_bot(self.database, self.bot_id)
        owner = row.user_id if row is not None else None
        if not is_granted(self.database, owner, name):
            raise not_granted(owner, name)

    def _run_backtest(self) -> RunOutcome:
        # imported here: pandas (with pyarrow) costs ~60 MB, which paper run workers never need
        from trading_platform.engine.backtest import run_backtest

        self.status(BotStatus.RUNNING, "backtest running", reset_errors=True)
        result = run_backtest(
            self.config,
            self.registry,
            database=self.database,
            run_id=self.run_id,
            on_cerebro=self.attach,
        )
        if self.cancelled:
            return RunOutcome(BotStatus.STOPPED, f"{self.cancelled}; backtest stopped")
        if self.stop_requested.is_set():
            return RunOutcome(BotStatus.STOPPED, "backtest stopped before the end")
        return RunOutcome(
            BotStatus.COMPLETED,
            f"backtest completed: {len(result.trades)} trades, final value "
            f"{result.final_value:,.2f}",
        )

    def attach(self, cerebro: bt.Cerebro) -> None:
        self._cerebro = cerebro
        if self.stop_requested.is_set():
            cerebro.runstop()

    def _run_live(self) -> RunOutcome:
        """Paper and live bots, whatever their venue: see the module docstring."""
        strategy = self.registry.validate(self.config.strategy_class, self.config.params)
        venue = self.venue_factory(self)
        with venue.failures():
            feed, broker = venue.connect()
            self.feed = feed
            control = RunControl(self)
            # both brokers ask it before every order and hand it Cerebro's thread (gate.py)
            broker.control = control
            self.sink = DatabaseSink(
                self.database,
                self.config,
                self.run_id,
                self.incarnation,
                records_fills=venue.records_fills,
                fence=self.fence,
                activity=self.activity,
            )
            cerebro = build_cerebro(
                self.config, strategy, feed, broker=broker, sink=self.sink, live=True
            )
            restored_now = venue.restore(cerebro)
            self.sink.bind(cerebro.broker, feed)
            if restored_now:
                self.sink.save_position()
            self.attach(cerebro)
            if self.stop_requested.is_set():  # stopped while connecting: Cerebro never starts
                reason = self.cancelled or "stop requested"
                return RunOutcome(BotStatus.STOPPED, f"{reason} before trading began")
            control.bind(cerebro)
            # what a dead predecessor took and never finished, from its orders' fate
            control.adopt_orphans()
            self.control = control
            # ``paused`` is desired state: a run that starts paused holds it from its first
            # bar, not from the heartbeat thread's first poll (up to 5 s later)
            self.poll_control()
            venue.start()
            self.status(BotStatus.RUNNING, venue.description, reset_errors=True)
            try:
                cerebro.run()
            finally:
                venue.stop()
                self._shut_control(control)
        reason = self.cancelled or "stop requested"
        return RunOutcome(BotStatus.STOPPED, f"{reason}; position saved")

    def _final_summary(self) -> None:
        try:
            self.report_activity(final=True)
        except Exception:  # a figure unreadable at the very end must not hide the outcome
            log.exception("bot %s: no final activity summary", self.bot_id)

    def _shut_control(self, control: RunControl) -> None:
        """Fail the commands this run took and will not finish (never masks the run's own
        error: it is logged)."""
        if self.fenced:
            return
        try:
            control.shutdown()
        except LeaseLost as exc:
            self.lease_lost(str(exc))
        except Exception:
            log.exception("could not fail the pending commands of bot %s", self.bot_id)

    def _persist_position(self) -> None:
        if self.sink is not None and not self.fenced:
            try:
                self.sink.save_position(patience=STOP_WRITE_PATIENCE_SECONDS)
            except LeaseLost as exc:
                self.lease_lost(str(exc))
            except Exception:
                log.exception("could not save the position of bot %s", self.bot_id)

    def _shutdown(self) -> None:
        if self.feed is not None:
            self.feed.stop_feed()
        if self._cerebro is not None:
            self._cerebro.runstop()
        self._persist_position()
