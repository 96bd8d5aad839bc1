"""Run one bot's strategy over historical bars and report what happened.

This is the code path of ``trading-platform backtest`` and of ``backtest`` bots under Dagster
alike; it imports no Dagster.  When the backtest belongs to a bot in the database, its
orders and fills are written to ``trading_orders``/``trading_trades`` in one transaction at
the end, keyed by the run id, so running the same backtest twice never doubles a row.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import backtrader as bt
import pandas as pd
from sqlalchemy import Engine

from trading_platform.config import BotConfig
from trading_platform.db.orders import record_orders
from trading_platform.db.trades import link_fills_to_orders, record_trades
from trading_platform.engine.builder import RECORDER_NAME, build_cerebro
from trading_platform.engine.recorder import ClosedTrade, Fill, MemorySink
from trading_platform.feeds.history import historical_frame, pandas_feed
from trading_platform.metrics.report_figures import backtest_figures
from trading_platform.strategy_handler import StrategyRegistry


@dataclass
class BacktestResult:
    strategy: str
    symbol: str
    timeframe: str
    bars: int
    start: dt.datetime | None
    end: dt.datetime | None
    initial_value: float
    final_value: float
    cash: float
    position_size: float
    fills: list[Fill]
    trades: list[ClosedTrade]
    metrics: dict[str, Any]
    elapsed_seconds: float
    equity: pd.Series = field(repr=False)
    #: the bars it ran on (open, high, low, close, volume): the report's candles
    prices: pd.DataFrame | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        """One JSON-ready object: what ``backtest --json`` prints."""

        def encode(value: Any) -> Any:
            if isinstance(value, dt.datetime):
                return value.isoformat()
            if isinstance(value, float) and value in (float("inf"), float("-inf")):
                return "inf" if value > 0 else "-inf"
            return value

        def record(item: Any) -> dict[str, Any]:
            return {key: encode(value) for key, value in asdict(item).items()}

        return {
            "strategy": self.strategy,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "bars": self.bars,
            "start": encode(self.start),
            "end": encode(self.end),
            "initial_value": self.initial_value,
            "final_value": self.final_value,
            "cash": self.cash,
            "position_size": self.position_size,
            "metrics": {key: encode(value) for key, value in self.metrics.items()},
            "trades": [record(trade) for trade in self.trades],
            "fills": [record(fill) for fill in self.fills],
            "elapsed_seconds": round(self.elapsed_seconds, 3),
        }


def run_backtest(
    config: BotConfig,
    registry: StrategyRegistry,
    *,
    frame: pd.DataFrame | None = None,
    progress: Callable[[int], None] | None = None,
    database: Engine | None = None,
    run_id: str | None = None,
    on_cerebro: Callable[[bt.Cerebro], None] | None = None,
    feed: bt.feed.DataBase | None = None,
) -> BacktestResult:
    """Backtest ``config``; with ``database`` and ``config.bot_id``, persist orders and fills.

    ``on_cerebro`` receives the Cerebro before it runs, so a caller on another thread can
    ``runstop()`` it (a cancelled Dagster run).  ``feed`` is ``frame``'s bars as a feed when
    the caller has one (a parameter search reuses its loaded bars: feeds/history.py).
    """
    frame = historical_frame(config) if frame is None else frame
    strategy = registry.validate(config.strategy_class, config.params)
    sink = MemorySink()
    cerebro = build_cerebro(
        config,
        strategy,
        feed if feed is not None else pandas_feed(frame, config.timeframe),
        sink=sink,
        progress=progress,
    )
    if on_cerebro is not None:
        on_cerebro(cerebro)
    started = time.perf_counter()
    (result,) = cerebro.run()
    elapsed = time.perf_counter() - started
    recorder = result.analyzers.getbyname(RECORDER_NAME)
    equity = pd.Series(
        list(recorder.equity_values),
        index=pd.DatetimeIndex([bt.num2date(t) for t in recorder.equity_times]),
        dtype="float64",
    )
    initial = config.broker.cash
    position = cerebro.broker.getposition(result.datas[0])
    outcome = BacktestResult(
        strategy=config.strategy_class,
        symbol=config.symbol,
        timeframe=config.timeframe,
        bars=len(frame),
        start=frame.index[0].to_pydatetime() if len(frame) else None,
        end=frame.index[-1].to_pydatetime() if len(frame) else None,
        initial_value=initial,
        final_value=cerebro.broker.getvalue(),
        cash=cerebro.broker.getcash(),
        position_size=position.size,
        fills=sink.fills,
        trades=sink.trades,
        metrics=backtest_figures(
            equity=equity,
            trades=sink.trades,
            fills=sink.fills,
            closes=frame["close"],
            initial_value=initial,
            timeframe=config.timeframe,
            periods_per_year=config.periods_per_year,
        ),
        elapsed_seconds=elapsed,
        equity=equity,
        prices=frame,
    )
    if database is not None and config.bot_id is not None:
        persist_backtest(database, config, outcome, run_id or f"cli-{uuid.uuid4().hex[:12]}")
    return outcome


def persist_backtest(
    database: Engine, config: BotConfig, outcome: BacktestResult, run_id: str
) -> None:
    """Write the backtest's orders and fills for its bot (idempotent per run id)."""
    assert config.bot_id is not None
    rows = [
        fill.rows(
            config.bot_id, run_id, config.symbol, f"bt-{config.bot_id}-{run_id}-{fill.sequence}"
        )
        for fill in outcome.fills
    ]
    orders = [order for order, _ in rows]
    fills = [trade for _, trade in rows]
    record_orders(database, orders)
    record_trades(database, fills)
    link_fills_to_orders(database, config.bot_id, run_id)
