"""The platform's backtest path against plain backtrader, and what it records."""

from __future__ import annotations

import backtrader as bt
import pandas as pd
import pytest

from tests.support.builders import add_bot, bot_config
from tests.support.counting import count_rows
from trading_platform.db.models import TradingOrder, TradingTrade
from trading_platform.db.trades import bot_trades
from trading_platform.engine.backtest import run_backtest
from trading_platform.feeds.demo_data import generate_ohlcv
from trading_platform.feeds.files import load_ohlcv
from trading_platform.strategy_handler import load_registry


class PlainSmaCross(bt.Strategy):
    """Written from scratch with plain backtrader: the reference the platform must match."""

    params = (("fast", 10), ("slow", 30))

    def __init__(self) -> None:
        self.cross = bt.indicators.CrossOver(
            bt.indicators.SMA(self.data.close, period=self.p.fast),
            bt.indicators.SMA(self.data.close, period=self.p.slow),
        )
        self.order = None
        self.closed: list[tuple] = []

    def notify_order(self, order: bt.Order) -> None:
        if not order.alive():
            self.order = None

    def notify_trade(self, trade: bt.Trade) -> None:
        if trade.isclosed:
            self.closed.append((trade.dtopen, trade.dtclose, trade.price, trade.pnl, trade.pnlcomm))

    def next(self) -> None:
        if self.order:
            return
        if not self.position and self.cross[0] > 0:
            self.order = self.buy()
        elif self.position and self.cross[0] < 0:
            self.order = self.close()


def _plain(frame: pd.DataFrame, cash: float, commission: float, stake: float | None):
    cerebro = bt.Cerebro()
    cerebro.adddata(bt.feeds.PandasData(dataname=frame))
    cerebro.addstrategy(PlainSmaCross, fast=10, slow=30)
    cerebro.broker.setcash(cash)
    cerebro.broker.setcommission(commission=commission)
    if stake is None:
        cerebro.addsizer(bt.sizers.PercentSizer, percents=95)
    else:
        cerebro.addsizer(bt.sizers.FixedSize, stake=stake)
    (strategy,) = cerebro.run()
    return strategy.closed, cerebro.broker.getvalue(), cerebro.broker.getcash()


#: the settings of the plain backtrader reference (``_plain``): the same SMAs, cash and fee
AS_PLAIN = {"params": {"fast": 10, "slow": 30}, "broker": {"cash": 10_000.0, "commission": 0.002}}


def _config(registry, risk=None):
    """The reference's settings as a daily backtest bot, with a sizer (``risk``)."""
    return bot_config(
        registry,
        name="t",
        mode="backtest",
        timeframe="1d",
        config={**AS_PLAIN, "risk": risk or {}},
    )


@pytest.fixture(scope="module")
def registry():
    return load_registry()[0]


@pytest.mark.parametrize("risk", [None, {"stake": 3}], ids=["percent-sizer", "fixed-stake"])
def test_same_trades_and_final_value_as_plain_backtrader(registry, risk) -> None:
    frame = generate_ohlcv(1500, seed=11, start_price=100.0)
    result = run_backtest(_config(registry, risk), registry, frame=frame)
    closed, value, cash = _plain(frame, 10_000.0, 0.002, (risk or {}).get("stake"))
    assert len(result.trades) == len(closed) > 5
    for trade, (dtopen, dtclose, price, pnl, pnlcomm) in zip(result.trades, closed, strict=True):
        assert trade.entry_time == bt.num2date(dtopen)
        assert trade.exit_time == bt.num2date(dtclose)
        assert trade.entry_price == price
        assert trade.pnl == pnl and trade.pnl_net == pnlcomm
    assert result.final_value == value
    assert result.cash == cash


def test_same_result_on_a_real_price_series(registry, shared_data) -> None:
    frame = load_ohlcv(shared_data / "orcl-1995-2014.txt")
    result = run_backtest(_config(registry), registry, frame=frame)
    closed, value, _cash = _plain(frame, 10_000.0, 0.002, None)
    assert [t.pnl_net for t in result.trades] == [c[4] for c in closed]
    assert result.final_value == value


def test_result_carries_trades_fees_logic_names_and_metrics(registry) -> None:
    frame = generate_ohlcv(800, seed=5)
    result = run_backtest(_config(registry), registry, frame=frame)
    trade = result.trades[0]
    assert trade.entry_logic == "sma_cross_up" and trade.exit_logic == "sma_cross_down"
    assert trade.size > 0 and trade.fee > 0
    assert trade.pnl_net == pytest.approx(trade.pnl - trade.fee)
    assert result.metrics["trade_count"] == len(result.trades)
    assert result.metrics["total_return"] == pytest.approx(result.final_value / 10_000 - 1)
    assert len(result.equity) == len(frame)
    data = result.to_json()
    assert data["trades"][0]["entry_logic"] == "sma_cross_up"
    assert set(data["metrics"]) >= {
        "sharpe",
        "sortino",
        "calmar",
        "win_rate",
        "profit_factor",
        "expectancy",
        "max_drawdown",
        "max_drawdown_pct",
    }


def test_custom_strategy_records_its_block_names(registry) -> None:
    config = bot_config(
        registry,
        name="c",
        strategy="my_combo",
        mode="backtest",
        timeframe="1d",
        config={
            "params": {
                "entry_logic": {"name": "rsi_below", "params": {"threshold": 40}},
                "exit_logic": {
                    "name": "take_profit_stop_loss",
                    "params": {"take_profit": 0.04, "stop_loss": 0.02},
                },
            }
        },
    )
    result = run_backtest(config, registry, frame=generate_ohlcv(1000, seed=9))
    assert config.strategy_class == "custom"
    assert result.trades
    assert {t.entry_logic for t in result.trades} == {"rsi_below"}
    assert {t.exit_logic for t in result.trades} == {"take_profit_stop_loss"}


def test_backtest_of_a_bot_is_written_to_the_database_once(registry, db_engine) -> None:
    bot_id = add_bot(db_engine, "bt", mode="backtest", timeframe="1d", config={})
    config = _config(registry).model_copy(update={"bot_id": bot_id})
    frame = generate_ohlcv(800, seed=5)
    result = run_backtest(config, registry, frame=frame, database=db_engine, run_id="run-1")
    run_backtest(config, registry, frame=frame, database=db_engine, run_id="run-1")
    assert count_rows(db_engine, TradingOrder, bot_id) == len(result.fills)
    assert count_rows(db_engine, TradingTrade, bot_id) == len(result.fills)
    trades = bot_trades(db_engine, bot_id)
    assert all(t.order_id is not None for t in trades)
    sells = [t for t in trades if t.side == "sell"]
    assert [float(t.pnl) for t in sells] == pytest.approx([t.pnl for t in result.trades])
    assert sells[0].exit_logic == "sma_cross_down"
