"""Run one bot until it is told to stop: the code path of every ``bot_run``.

The runner owns a bot's observed state while it runs: status transitions (each with an
audit row), the heartbeat thread, the fills and the position it writes, and a clean stop.
It knows nothing of Dagster: an orchestrator cancels it by raising a ``BaseException`` that
is not an ``Exception`` in the thread running :meth:`BotRunner.run` (Dagster's
``DagsterExecutionInterruptedError``, or ``KeyboardInterrupt``), or by calling
:meth:`BotRunner.request_stop` from another thread.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass

import backtrader as bt
from sqlalchemy import Engine

from trading_platform.config import OFFLINE_EXCHANGES, BotConfig
from trading_platform.db.orders import record_orders
from trading_platform.db.positions import get_position, save_position
from trading_platform.db.status import heartbeat, update_bot_status
from trading_platform.db.trades import link_fills_to_orders, realized_pnl, record_trades
from trading_platform.engine.builder import RECORDER_NAME, build_cerebro
from trading_platform.engine.paper import PaperBroker, RestoreState
from trading_platform.engine.recorder import ClosedTrade, Fill, TradeRecorder
from trading_platform.feeds.replay import QueueFeed, ReplayMarket, replay_feed
from trading_platform.notifications import messages, outbox
from trading_platform.strategy_handler import StrategyRegistry

log = logging.getLogger(__name__)

#: every how many heartbeats the balance and P&L are written too
BALANCE_EVERY_HEARTBEATS = 5


def order_id_prefix(bot_id: int, incarnation: int) -> str:
    return f"tp-{bot_id}-{incarnation}-"


def client_order_id(bot_id: int, incarnation: int, sequence: int) -> str:
    """Deterministic id of a bot's order (bot, incarnation, sequence): the same signal gets the
    same id on every retry, and two incarnations never share one."""
    return f"{order_id_prefix(bot_id, incarnation)}{sequence}"


class FatalBotError(RuntimeError):
    """A failure a restart cannot fix (missing or rejected credentials): the orchestrator
    must not relaunch the bot until its config changes."""


class DatabaseSink:
    """Writes each fill (order, trade, position) of a running bot as it happens."""

    def __init__(
        self,
        database: Engine,
        config: BotConfig,
        run_id: str,
        incarnation: int,
        *,
        records_fills: bool = True,
    ) -> None:
        """``records_fills`` is False for live bots: their broker records each exchange fill."""
        assert config.bot_id is not None
        self.records_fills = records_fills
        self.database = database
        self.config = config
        self.bot_id = config.bot_id
        self.run_id = run_id
        self.incarnation = incarnation
        self.broker: bt.BrokerBase | None = None
        self.data: bt.feed.DataBase | None = None
        self._entry_price: float | None = None

    def bind(self, broker: bt.BrokerBase, data: bt.feed.DataBase) -> None:
        self.broker = broker
        self.data = data
        position = broker.getposition(data)
        self._entry_price = position.price if position.size else None

    def on_fill(self, fill: Fill) -> None:
        order_id = client_order_id(self.bot_id, self.incarnation, fill.sequence)
        if self.records_fills:
            order, trade = fill.rows(self.bot_id, self.run_id, self.config.symbol, order_id)
            record_orders(self.database, [order])
            record_trades(self.database, [trade])
            link_fills_to_orders(self.database, self.bot_id, self.run_id)
        self.save_position()
        self._notify_fill(fill, order_id)

    def _notify_fill(self, fill: Fill, order_id: str) -> None:
        flags = self.config.notifications
        if fill.side == "buy" and flags.position_opened:
            self._entry_price = fill.price
            message = messages.trade_entry(
                self.config.name,
                fill.side,
                fill.amount,
                self.config.symbol,
                fill.price,
                self.config.mode,
            )
        elif fill.side == "sell" and flags.position_closed:
            message = messages.trade_exit(
                self.config.name,
                fill.side,
                fill.amount,
                self.config.symbol,
                fill.price,
                fill.pnl or 0.0,
                self._entry_price or fill.price,
                self.config.mode,
            )
        else:
            return
        outbox.enqueue(self.database, message, bot_id=self.bot_id, dedupe_key=f"fill:{order_id}")

    def on_trade_closed(self, trade: ClosedTrade) -> None:
        """Round trips are derived from the fills; nothing more to store."""

    def save_position(self) -> None:
        if self.broker is None or self.data is None:
            return
        position = self.broker.getposition(self.data)
        save_position(
            self.database,
            self.bot_id,
            self.config.symbol,
            size=position.size,
            avg_price=position.price if position.size else None,
            cash=self.broker.getcash(),
        )


class Heartbeat(threading.Thread):
    """Writes ``last_heartbeat`` every interval; balance and P&L every fifth beat."""

    def __init__(self, database: Engine, config: BotConfig, runner: BotRunner) -> None:
        super().__init__(name=f"heartbeat-{config.bot_id}", daemon=True)
        self.database = database
        self.config = config
        self.runner = runner
        self._stop_event = threading.Event()

    def beat(self, count: int) -> None:
        assert self.config.bot_id is not None
        value = self.runner.latest_value()
        with_balance = count % BALANCE_EVERY_HEARTBEATS == 0 and value is not None
        heartbeat(
            self.database,
            self.config.bot_id,
            balance=value if with_balance else None,
            total_pnl=self.total_pnl(value) if with_balance and value else None,
            feed_problem=self.runner.feed_problem,
        )

    def total_pnl(self, value: float) -> float:
        """Simulated bots: equity minus the configured starting cash (their cash survives
        restarts).  Live bots start from whatever the account holds, so theirs is realized
        P&L net of fees from ``trading_trades`` plus the open position's unrealized P&L."""
        if self.config.mode != "live":
            return value - self.config.broker.cash
        assert self.config.bot_id is not None
        realized = realized_pnl(self.database, self.config.bot_id)
        return float(realized) + self.runner.unrealized_pnl()

    def run(self) -> None:
        count = 0
        while True:
            try:
                self.beat(count)
            except Exception:  # a database hiccup must not kill the bot
                log.exception("heartbeat of bot %s failed", self.config.bot_id)
            count += 1
            if self._stop_event.wait(self.config.heartbeat_interval):
                return

    def stop(self) -> None:
        self._stop_event.set()


@dataclass
class RunOutcome:
    status: str
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
    ) -> None:
        if config.bot_id is None:
            raise ValueError("a bot run needs a bot id")
        self.config = config
        self.bot_id = config.bot_id
        self.registry = registry
        self.database = database
        self.run_id = run_id
        self.incarnation = incarnation
        self._cerebro: bt.Cerebro | None = None
        self.feed: QueueFeed | None = None
        self.stop_requested = threading.Event()
        self.current_status = "stopped"
        #: why the live data feed is failing, None while it works (set by the exchange
        #: session, reported by every heartbeat)
        self.feed_problem: str | None = None
        self.sink: DatabaseSink | None = None

    # -- control from other threads -------------------------------------------------------
    def request_stop(self) -> None:
        self.stop_requested.set()
        if self.feed is not None:
            self.feed.stop_feed()
        if self._cerebro is not None:
            self._cerebro.runstop()

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
        """backtrader date numbers of the bars the strategy has seen, history included."""
        recorder = self._recorder()
        return list(recorder.equity_times) if recorder is not None else []

    def bars_seen(self) -> int:
        return len(self.bar_times())

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

    # -- the run ----------------------------------------------------------------------------
    def status(self, status: str, reason: str, **kwargs: object) -> bool:
        self.current_status = status
        return update_bot_status(
            self.database, self.bot_id, status, reason, run_id=self.run_id, **kwargs
        )

    def note(self, reason: str) -> None:
        """An audit row that keeps the current status (e.g. the data feed failing)."""
        self.status(self.current_status, reason)

    def run(self) -> RunOutcome:
        """Run until the feed ends, a stop is requested, or the run is interrupted."""
        self.status("starting", f"run started (incarnation {self.incarnation}, pid {os.getpid()})")
        heartbeat = Heartbeat(self.database, self.config, self)
        heartbeat.start()
        try:
            outcome = self._run_backtest() if self.config.mode == "backtest" else self._run_live()
        except Exception as exc:
            error = str(exc) if isinstance(exc, FatalBotError) else f"{type(exc).__name__}: {exc}"
            kind = "START_ERROR" if isinstance(exc, FatalBotError) else "RUN_ERROR"
            self._persist_position()
            self.status("error", f"run failed: {error}", error=error)
            if self.config.notifications.error_notifications:
                outbox.enqueue(
                    self.database,
                    messages.bot_error(self.config.name, kind, error),
                    bot_id=self.bot_id,
                    dedupe_key=f"run-error:{self.run_id}",
                )
            raise
        except BaseException:
            # cancelled (Dagster interrupt, Ctrl-C): stop cleanly, then let it propagate
            self.status("stopping", "run cancelled")
            self._shutdown()
            self.status("stopped", "run cancelled; position saved")
            raise
        finally:
            heartbeat.stop()
            self._shutdown()
        self.status(outcome.status, outcome.reason)
        return outcome

    def _run_backtest(self) -> RunOutcome:
        # imported here: pandas (with pyarrow) costs ~60 MB, which paper run workers never need
        from trading_platform.engine.backtest import run_backtest

        self.status("running", "backtest running", reset_errors=True)
        result = run_backtest(
            self.config,
            self.registry,
            database=self.database,
            run_id=self.run_id,
            on_cerebro=self.attach,
        )
        if self.stop_requested.is_set():
            return RunOutcome("stopped", "backtest stopped before the end")
        return RunOutcome(
            "completed",
            f"backtest completed: {len(result.trades)} trades, final value "
            f"{result.final_value:,.2f}",
        )

    def attach(self, cerebro: bt.Cerebro) -> None:
        self._cerebro = cerebro
        if self.stop_requested.is_set():
            cerebro.runstop()

    def _market(self) -> ReplayMarket:
        data = self.config.data
        if self.config.exchange == "csv":
            from trading_platform.feeds.files import load_ohlcv

            assert data.path is not None
            frame = load_ohlcv(data.path, data.start, data.end)
            return ReplayMarket(
                frame[["open", "high", "low", "close", "volume"]].to_numpy(), data.pace_seconds
            )
        return ReplayMarket.generated(
            bars=data.bars,
            seed=data.seed,
            start_price=data.start_price,
            pace_seconds=data.pace_seconds,
        )

    def _run_live(self) -> RunOutcome:
        if self.config.exchange not in OFFLINE_EXCHANGES:
            from trading_platform.exchanges.venue import run_on_exchange

            return run_on_exchange(self)
        feed, publisher = replay_feed(self._market(), self.config.data.history_bars)
        self.feed = feed
        strategy = self.registry.validate(self.config.strategy_class, self.config.params)
        self.sink = DatabaseSink(self.database, self.config, self.run_id, self.incarnation)
        cerebro = build_cerebro(
            self.config,
            strategy,
            feed,
            broker=PaperBroker(feed=feed),
            sink=self.sink,
            live=True,
        )
        self.restore_paper_state(cerebro)
        self.sink.bind(cerebro.broker, feed)
        self.attach(cerebro)
        publisher.start()
        self.status("running", "paper trading on replay data", reset_errors=True)
        try:
            cerebro.run()
        finally:
            publisher.stop()
        return RunOutcome("stopped", "stop requested; position saved")

    def restore_paper_state(self, cerebro: bt.Cerebro) -> None:
        """A paper bot continues with the cash and position its last run left."""
        saved = get_position(self.database, self.bot_id, self.config.symbol)
        if saved is not None:
            cerebro.addanalyzer(
                RestoreState,
                cash=float(saved.cash) if saved.cash is not None else None,
                size=float(saved.size),
                price=float(saved.avg_price or 0),
            )

    def _persist_position(self) -> None:
        if self.sink is not None:
            try:
                self.sink.save_position()
            except Exception:
                log.exception("could not save the position of bot %s", self.bot_id)

    def _shutdown(self) -> None:
        if self.feed is not None:
            self.feed.stop_feed()
        if self._cerebro is not None:
            self._cerebro.runstop()
        self._persist_position()
