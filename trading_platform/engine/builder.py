"""The one place that builds a Cerebro from a validated bot configuration.

Backtests, paper bots and live bots all come through here, so a strategy behaves the same in
each mode; only the feed and the broker differ.  Nothing here is added per bar except the
:class:`~trading_platform.engine.recorder.TradeRecorder`, which keeps the platform within a
few percent of plain backtrader's speed (see ``benchmarks/backtest_overhead.py``), and, for
paper and live runs only, :class:`~trading_platform.engine.memory.BoundedMemory`'s length
checks.
"""

from __future__ import annotations

import backtrader as bt

from trading_platform.config import BotConfig
from trading_platform.engine.memory import BoundedMemory
from trading_platform.engine.recorder import ProgressCallback, RecordSink, TradeRecorder
from trading_platform.strategy_handler import ValidatedStrategy

RECORDER_NAME = "platform_recorder"


def configure_broker(broker: bt.BrokerBase, config: BotConfig) -> None:
    """Cash, percentage commission and slippage of the simulated broker."""
    broker.setcash(config.broker.cash)
    broker.setcommission(commission=config.broker.commission)
    if config.broker.slippage > 0:
        broker.set_slippage_perc(config.broker.slippage)


def add_sizer(cerebro: bt.Cerebro, config: BotConfig) -> None:
    """Fixed stake, or a percent of equity (the default: 95 %, leaving room for fees)."""
    if config.risk.stake is not None:
        cerebro.addsizer(bt.sizers.FixedSize, stake=config.risk.stake)
    else:
        percent = config.risk.percent_of_equity or 95.0
        cerebro.addsizer(bt.sizers.PercentSizer, percents=percent)


def build_cerebro(
    config: BotConfig,
    strategy: ValidatedStrategy,
    feed: bt.feed.DataBase,
    *,
    broker: bt.BrokerBase | None = None,
    sink: RecordSink | None = None,
    progress: ProgressCallback | None = None,
    live: bool = False,
) -> bt.Cerebro:
    """A Cerebro ready to ``run()``: one feed, one strategy, the broker, sizer and recorder;
    a ``live`` one (paper and live bots) also keeps its memory bounded
    (:mod:`~trading_platform.engine.memory`), its equity curve included."""
    cerebro = bt.Cerebro(stdstats=False, live=live, quicknotify=live)
    if broker is not None:
        cerebro.setbroker(broker)
    configure_broker(cerebro.broker, config)
    cerebro.adddata(feed, name=config.symbol)
    cerebro.addstrategy(strategy.cls, **strategy.params)
    add_sizer(cerebro, config)
    window = config.live.lookback_bars if live else None
    cerebro.addanalyzer(
        TradeRecorder, _name=RECORDER_NAME, sink=sink, progress=progress, equity_window=window
    )
    if window is not None:
        cerebro.addanalyzer(BoundedMemory, lookback_bars=window)
    return cerebro
