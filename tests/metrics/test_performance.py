"""Each figure on cases small enough to compute by hand."""

import math
import statistics
from decimal import Decimal

import pandas as pd
import pytest

from trading_platform.metrics import (
    calmar_ratio,
    daily_returns,
    expectancy,
    max_drawdown,
    profit_factor,
    sharpe_ratio,
    sortino_ratio,
    summarize,
    total_return,
    trade_count,
    win_rate,
)


def test_total_return() -> None:
    assert total_return(100, 125) == pytest.approx(0.25)
    assert total_return(Decimal("200"), Decimal("150")) == pytest.approx(-0.25)
    with pytest.raises(ValueError, match="positive"):
        total_return(0, 10)


def test_max_drawdown_absolute_and_relative() -> None:
    drawdown = max_drawdown([100, 110, 99, 120])
    assert drawdown.absolute == pytest.approx(11)
    assert drawdown.relative == pytest.approx(0.1)
    assert (drawdown.peak, drawdown.trough) == (1, 2)


def test_max_drawdown_relative_can_come_from_another_fall() -> None:
    # fall 1: 100 -> 50 (50, 50 %); fall 2: 1000 -> 600 (400, 40 %)
    drawdown = max_drawdown([100, 50, 1000, 600])
    assert drawdown.absolute == pytest.approx(400)
    assert drawdown.relative == pytest.approx(0.5)


def test_max_drawdown_of_rising_or_short_curves_is_zero() -> None:
    assert max_drawdown([1, 2, 3]).absolute == 0
    assert max_drawdown([5]).relative == 0
    assert max_drawdown([]).absolute == 0


def test_max_drawdown_keeps_timestamps() -> None:
    index = pd.date_range("2024-01-01", periods=3, freq="D")
    drawdown = max_drawdown(pd.Series([10.0, 8.0, 9.0], index=index))
    assert drawdown.peak == index[0] and drawdown.trough == index[1]


def test_daily_returns_take_the_last_value_of_each_day() -> None:
    index = pd.date_range("2024-01-01 00:00", periods=72, freq="h")
    values = [100.0] * 24 + [110.0] * 24 + [99.0] * 24
    values[23] = 105.0  # the last value of day 1 counts, not the first
    returns = daily_returns(pd.Series(values, index=index))
    assert list(returns.round(10)) == [round(110 / 105 - 1, 10), round(99 / 110 - 1, 10)]


def test_sharpe_by_hand() -> None:
    returns = [0.01, -0.02, 0.03]
    mean = sum(returns) / 3
    stdev = statistics.stdev(returns)
    assert sharpe_ratio(returns, periods_per_year=252) == pytest.approx(
        mean / stdev * math.sqrt(252)
    )
    assert sharpe_ratio(returns, 365) == pytest.approx(mean / stdev * math.sqrt(365))


def test_sharpe_with_risk_free_rate() -> None:
    returns = [0.01, 0.02, 0.0]
    rf = 0.0365 / 365
    excess = [r - rf for r in returns]
    expected = statistics.mean(excess) / statistics.stdev(excess) * math.sqrt(365)
    assert sharpe_ratio(returns, 365, risk_free_rate=0.0365) == pytest.approx(expected)


def test_sharpe_undefined_cases() -> None:
    assert sharpe_ratio([0.01]) is None
    assert sharpe_ratio([0.01, 0.01, 0.01]) is None


def test_sortino_by_hand() -> None:
    returns = [0.02, -0.01, 0.03, -0.02]
    downside = math.sqrt((0.01**2 + 0.02**2) / 4)
    expected = statistics.mean(returns) / downside * math.sqrt(365)
    assert sortino_ratio(returns) == pytest.approx(expected)


def test_sortino_without_losing_periods_is_undefined() -> None:
    assert sortino_ratio([0.01, 0.02]) is None


def test_calmar_by_hand() -> None:
    returns = [0.1, -0.2, 0.1]
    curve = [1.0, 1.1, 0.88, 0.968]
    annual = curve[-1] ** (365 / 3) - 1
    assert calmar_ratio(returns) == pytest.approx(annual / 0.2)
    assert calmar_ratio([0.1, 0.1]) is None
    assert calmar_ratio([]) is None


def test_trade_figures() -> None:
    pnls = [10, -5, 20]
    assert trade_count(pnls) == 3
    assert win_rate(pnls) == pytest.approx(2 / 3)
    assert profit_factor(pnls) == pytest.approx(30 / 5)
    assert expectancy(pnls) == pytest.approx(25 / 3)


def test_no_trades() -> None:
    assert trade_count([]) == 0
    assert win_rate([]) is None
    assert profit_factor([]) is None
    assert expectancy([]) is None


def test_no_losing_trades() -> None:
    assert profit_factor([Decimal("5"), Decimal("7.5")]) == math.inf
    assert win_rate([5, 7.5]) == 1.0


def test_only_losses_and_break_even() -> None:
    assert profit_factor([-1, -2]) == 0.0
    assert profit_factor([0, 0]) is None
    assert win_rate([0, 1]) == 0.5


def test_single_trade() -> None:
    assert win_rate([-3]) == 0.0
    assert expectancy([-3]) == -3
    assert profit_factor([-3]) == 0.0


def test_summarize_has_every_figure() -> None:
    index = pd.date_range("2024-01-01", periods=4, freq="D")
    equity = pd.Series([100.0, 110.0, 99.0, 120.0], index=index)
    summary = summarize([10, -5, 20], equity, 100.0, periods_per_year=252)
    assert summary["total_return"] == pytest.approx(0.2)
    assert summary["max_drawdown"] == pytest.approx(11)
    assert summary["max_drawdown_pct"] == pytest.approx(0.1)
    assert summary["trade_count"] == 3
    returns = [0.1, 99 / 110 - 1, 120 / 99 - 1]
    assert summary["sharpe"] == pytest.approx(
        statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(252)
    )
    empty = summarize([], pd.Series(dtype=float), 100.0)
    assert empty["total_return"] == 0.0 and empty["sharpe"] is None
