"""Each figure of the backtest report against a hand computation (the comments show it)."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from trading_platform.engine.recorder import ClosedTrade
from trading_platform.metrics.report_figures import (
    FIGURES,
    average_drawdown,
    average_drawdown_duration,
    average_loss,
    average_trade_duration,
    average_win,
    backtest_figures,
    buy_and_hold_return,
    cagr,
    drawdown_periods,
    drawdown_series,
    exposure_time,
    format_duration,
    format_figure,
    holding_intervals,
    kelly,
    max_consecutive,
    max_drawdown_duration,
    monthly_returns,
    periods_per_year_for,
    sqn,
    total_fees,
    trade_returns,
    volatility,
)

DAY = dt.timedelta(days=1)
T0 = dt.datetime(2024, 1, 1)
README = Path(__file__).resolve().parents[2] / "README.md"


def days(n: int) -> dt.datetime:
    return T0 + n * DAY


def daily(values: list[float]) -> pd.Series:
    return pd.Series(values, index=pd.date_range(T0, periods=len(values), freq="D"), dtype=float)


@dataclass(frozen=True)
class F:  # a fill: what the figures read of one
    side: str
    amount: float
    executed_at: dt.datetime
    fee: float = 0.0


def trade(entry: float, size: float, pnl: float, opened: int, closed: int) -> ClosedTrade:
    return ClosedTrade(
        entry_time=days(opened),
        exit_time=days(closed),
        entry_price=entry,
        exit_price=entry + pnl / size,
        size=size,
        fee=0.0,
        pnl=pnl,
        pnl_net=pnl,
        entry_logic="in",
        exit_logic="out",
    )


# five trades:  entry x size = cost   net P&L   return   held
#   T1            100 x 2  = 200       +20      +0.10    2 days
#   T2             50 x 1  =  50        -5      -0.10    1 day
#   T3            200 x 1  = 200       +40      +0.20    3 days
#   T4            100 x 1  = 100       +10      +0.10    2 days
#   T5            100 x 1  = 100       -15      -0.15    4 days
TRADES = [
    trade(100, 2, 20, 0, 2),
    trade(50, 1, -5, 2, 3),
    trade(200, 1, 40, 3, 6),
    trade(100, 1, 10, 6, 8),
    trade(100, 1, -15, 8, 12),
]
PNLS = [20.0, -5.0, 40.0, 10.0, -15.0]


def test_annualisation_follows_the_timeframe() -> None:
    # bars of a day or less give daily returns: the market's days a year; weekly bars: 52
    assert periods_per_year_for("1m", 365) == 365
    assert periods_per_year_for("1d", 252) == 252
    assert periods_per_year_for("1w", 252) == 52


def test_cagr_over_calendar_years() -> None:
    # 100 -> 121 in exactly two years (730.5 days): 1.21 ** (1/2) - 1 = 0.10
    assert cagr(100, 121, T0, T0 + dt.timedelta(days=730.5)) == pytest.approx(0.10)
    assert cagr(100, 121, T0, T0) is None
    assert cagr(100, 0, T0, days(10)) == -1.0


def test_buy_and_hold_return() -> None:
    assert buy_and_hold_return([50.0, 40.0, 60.0]) == pytest.approx(0.2)  # 60 / 50 - 1
    assert buy_and_hold_return([]) is None


def test_volatility_is_annualised_sample_stdev() -> None:
    # mean 0.01; deviations 0, -0.02, +0.02; variance (0.0004 + 0.0004) / 2 = 0.0004; sd 0.02
    assert volatility([0.01, -0.01, 0.03], 365) == pytest.approx(0.02 * math.sqrt(365))
    assert volatility([0.01], 365) is None


# equity by day: 100 110 99 104 110 120 102 114
# peaks:         100 110 110 110 110 120 120 120
# drawdown 1: peak day 1 (110), under on days 2-3, back at 110 on day 4: 3 days, 11/110 = 10 %
# drawdown 2: peak day 5 (120), under on days 6-7 to the end (day 7): 2 days, 18/120 = 15 %
EQUITY = daily([100, 110, 99, 104, 110, 120, 102, 114])


def test_drawdown_periods_by_hand() -> None:
    first, second = drawdown_periods(EQUITY)
    assert (first.peak, first.end, first.recovered) == (days(1), days(4), True)
    assert first.depth == pytest.approx(0.10)
    assert (second.peak, second.end, second.recovered) == (days(5), days(7), False)
    assert second.depth == pytest.approx(0.15)
    periods = [first, second]
    assert average_drawdown(periods) == pytest.approx(0.125)
    assert max_drawdown_duration(periods) == 3 * 86_400
    assert average_drawdown_duration(periods) == 2.5 * 86_400


def test_no_drawdown() -> None:
    assert drawdown_periods(daily([100, 100, 101])) == []
    assert max_drawdown_duration([]) == 0.0
    assert average_drawdown([]) is None and average_drawdown_duration([]) is None


def test_drawdown_series_is_the_fall_from_the_peak() -> None:
    series = drawdown_series(EQUITY)
    assert series.iloc[2] == pytest.approx(99 / 110 - 1)
    assert series.iloc[6] == pytest.approx(102 / 120 - 1)
    assert series.iloc[4] == 0.0 and series.max() == 0.0


def test_exposure_counts_bars_that_end_in_a_position() -> None:
    # bought on day 1, sold on day 3, bought on day 5 and still held: of the 7 bars (days 0-6)
    # days 1, 2, 5 and 6 end holding (day 3 sells at its open): 4 / 7
    fills = [F("buy", 1, days(1)), F("sell", 1, days(3)), F("buy", 2, days(5))]
    intervals = holding_intervals(fills)
    assert intervals == [(days(1), days(3)), (days(5), None)]
    assert exposure_time([days(i) for i in range(7)], intervals) == pytest.approx(4 / 7)
    assert exposure_time([], intervals) is None


def test_adding_to_a_position_is_one_holding() -> None:
    fills = [F("buy", 1, days(1)), F("buy", 0.5, days(2)), F("sell", 1.5, days(3))]
    assert holding_intervals(fills) == [(days(1), days(3))]


def test_trade_figures_by_hand() -> None:
    assert trade_returns(TRADES) == pytest.approx([0.10, -0.10, 0.20, 0.10, -0.15])
    assert average_win(PNLS) == pytest.approx(70 / 3)  # (20 + 40 + 10) / 3
    assert average_loss(PNLS) == pytest.approx(-10)  # (-5 - 15) / 2
    assert average_trade_duration(TRADES) == pytest.approx(2.4 * 86_400)  # 12 days / 5
    assert max_consecutive(PNLS, wins=True) == 2  # +40, +10
    assert max_consecutive(PNLS, wins=False) == 1
    # a break-even trade ends a run
    assert max_consecutive([1.0, 0.0, 1.0], wins=True) == 1
    assert average_win([]) is None and average_loss([1.0]) is None
    assert average_trade_duration([]) is None


def test_sqn_by_hand() -> None:
    # mean 10; deviations 10 -15 30 0 -25; squares sum 1850; sample variance 1850/4 = 462.5
    assert sqn(PNLS) == pytest.approx(math.sqrt(5) * 10 / math.sqrt(462.5))
    assert sqn([5.0]) is None and sqn([5.0, 5.0]) is None


def test_kelly_by_hand() -> None:
    # win rate 0.6, average win 70/3, average loss 10: 0.6 - 0.4 / (7/3) = 3/7
    assert kelly(PNLS) == pytest.approx(3 / 7)
    assert kelly([1.0, 2.0]) is None  # no loss: undefined


def test_total_fees() -> None:
    fills = [F("buy", 1, days(1), 0.25), F("sell", 1, days(2), 0.5)]
    assert total_fees(fills) == pytest.approx(0.75)


def test_monthly_returns_chain_from_the_initial_cash() -> None:
    # initial 100; January ends at 110 (+10 %), February has no bar (0 %), March ends at 121:
    # 121 / 110 - 1 = +10 %
    equity = pd.Series(
        [105.0, 110.0, 121.0],
        index=pd.DatetimeIndex(["2024-01-15", "2024-01-31", "2024-03-20"]),
    )
    returns = monthly_returns(equity, 100.0)
    assert list(returns.index.month) == [1, 2, 3]
    assert list(returns.round(10)) == [0.1, 0.0, 0.1]


def test_backtest_figures_on_a_hand_made_run() -> None:
    # EQUITY above from cash 100, closes 10 -> 12 (buy & hold +20 %), TRADES, and fills:
    # a buy on day 1 and a sell on day 4 (fees 1 + 1): held at the end of days 1-3 of 8
    fills = [F("buy", 1, days(1), 1.0), F("sell", 1, days(4), 1.0)]
    figures = backtest_figures(
        equity=EQUITY,
        trades=TRADES,
        fills=fills,
        closes=daily([10, 11, 9, 10, 11, 12, 11, 12]),
        initial_value=100.0,
        timeframe="1d",
        periods_per_year=365,
    )
    assert list(figures) == [figure.key for figure in FIGURES]
    assert figures["total_return"] == pytest.approx(0.14)
    # 7 days: 1.14 ** (365.25 / 7) - 1
    assert figures["cagr"] == pytest.approx(1.14 ** (365.25 / 7) - 1)
    assert figures["buy_and_hold_return"] == pytest.approx(0.2)
    assert figures["exposure_time"] == pytest.approx(3 / 8)
    assert figures["max_drawdown"] == pytest.approx(18)
    assert figures["max_drawdown_pct"] == pytest.approx(0.15)
    assert figures["average_drawdown_pct"] == pytest.approx(0.125)
    assert figures["max_drawdown_duration_seconds"] == 3 * 86_400
    assert figures["trade_count"] == 5 and figures["win_rate"] == pytest.approx(0.6)
    assert figures["best_trade_pct"] == pytest.approx(0.2)
    assert figures["worst_trade_pct"] == pytest.approx(-0.15)
    assert figures["average_trade_pct"] == pytest.approx(0.03)  # 0.15 / 5
    assert figures["profit_factor"] == pytest.approx(3.5)  # 70 / 20
    assert figures["expectancy"] == pytest.approx(10)
    assert figures["kelly"] == pytest.approx(3 / 7)
    assert figures["total_fees"] == pytest.approx(2.0)
    returns = EQUITY.pct_change().dropna()
    assert figures["volatility"] == pytest.approx(returns.std(ddof=1) * math.sqrt(365))
    assert figures["sharpe"] == pytest.approx(returns.mean() / returns.std(ddof=1) * math.sqrt(365))


def test_figures_as_a_person_reads_them() -> None:
    by_key = {figure.key: figure for figure in FIGURES}
    assert format_figure(by_key["win_rate"], 0.6) == "60.00 %"
    assert format_figure(by_key["total_fees"], 1234.5) == "1,234.50"
    assert format_figure(by_key["profit_factor"], math.inf) == "inf"
    assert format_figure(by_key["trade_count"], 3) == "3"
    assert format_figure(by_key["sqn"], None) == "-"
    assert format_figure(by_key["max_drawdown_duration_seconds"], 273_600) == "3d 4h"
    assert format_duration(42) == "42s" and format_duration(0) == "0s"
    assert format_duration(3_720) == "1h 2m"
    assert format_duration(37 * 86_400 + 57 * 60) == "37d"  # minutes are below a day's hours


def test_the_readme_defines_every_figure() -> None:
    rows = re.findall(r"^\| (.+?) \| (.+?) \|$", README.read_text(), flags=re.MULTILINE)
    labels = {label.strip("` ") for label, _ in rows}
    missing = [figure.label for figure in FIGURES if figure.label not in labels]
    assert not missing, f"README's table of figures lacks {missing}"
