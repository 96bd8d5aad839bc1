"""Performance figures as pure functions of trade P&Ls and an equity curve.

Statistics are floats (a Sharpe ratio is not money); amounts stay ``Decimal`` everywhere else
and are converted with ``float()`` only here.  Undefined figures are ``None`` rather than 0 or
NaN, so a dashboard shows "no data" instead of a misleading number: Sharpe with fewer than
two returns or zero volatility, win rate with no trades, and so on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pandas is imported where it is used: run workers of bots never need it
    import pandas as pd

Number = float | int | Decimal

#: volatility at or below this is treated as zero (ratios are then undefined)
ZERO_VOLATILITY = 1e-15


def _floats(values: Sequence[Number] | pd.Series | np.ndarray) -> np.ndarray:
    return np.asarray([float(v) for v in values], dtype=float)


def total_return(initial_value: Number, final_value: Number) -> float:
    """``final / initial - 1``: 0.25 means +25 %."""
    if float(initial_value) <= 0:
        raise ValueError(f"initial value must be positive, found {initial_value}")
    return float(final_value) / float(initial_value) - 1.0


@dataclass(frozen=True)
class Drawdown:
    """Largest fall from a running peak: ``absolute`` in money, ``relative`` as a fraction of
    that peak (0.1 = 10 %), with where the peak and the trough were."""

    absolute: float = 0.0
    relative: float = 0.0
    peak: Any = None
    trough: Any = None


def max_drawdown(equity: Sequence[Number] | pd.Series | np.ndarray) -> Drawdown:
    """Maximum drawdown of an equity curve; the relative figure is taken at the deepest
    relative fall (which can differ from the deepest absolute one)."""
    values = _floats(equity)
    if len(values) < 2:
        return Drawdown()
    peaks = np.maximum.accumulate(values)
    falls = peaks - values
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(peaks > 0, falls / peaks, 0.0)
    trough = int(np.argmax(falls))
    if falls[trough] <= 0:
        return Drawdown()
    peak = int(np.argmax(values[: trough + 1]))
    # a pandas Series names its peak and trough by its index (pandas is not imported here)
    index = getattr(equity, "index", None) if hasattr(equity, "iloc") else None
    return Drawdown(
        absolute=float(falls[trough]),
        relative=float(relative.max()),
        peak=index[peak] if index is not None else peak,
        trough=index[trough] if index is not None else trough,
    )


def daily_returns(equity: pd.Series) -> pd.Series:
    """Simple returns between the last equity value of consecutive calendar days.

    Ratios are computed on daily returns whatever the bar size, so a 1-minute bot and a daily
    backtest are comparable and annualisation uses days (365 for crypto, 252 for stocks).
    """
    import pandas as pd

    if equity.empty:
        return pd.Series(dtype=float)
    daily = equity.astype(float).resample("1D").last().dropna()
    return daily.pct_change().dropna()


def sharpe_ratio(
    returns: Sequence[float] | pd.Series | np.ndarray,
    periods_per_year: int = 365,
    risk_free_rate: float = 0.0,
) -> float | None:
    """``mean(r - rf) / stdev(r - rf) * sqrt(periods_per_year)`` with the sample standard
    deviation (ddof=1); ``risk_free_rate`` is annual, ``rf = risk_free_rate / periods``."""
    values = _floats(returns)
    if len(values) < 2:
        return None
    excess = values - risk_free_rate / periods_per_year
    std = float(np.std(excess, ddof=1))
    if std <= ZERO_VOLATILITY:
        return None
    return float(np.mean(excess) / std * math.sqrt(periods_per_year))


def sortino_ratio(
    returns: Sequence[float] | pd.Series,
    periods_per_year: int = 365,
    risk_free_rate: float = 0.0,
    target: float = 0.0,
) -> float | None:
    """``mean(r - rf) / DD * sqrt(periods_per_year)`` where the downside deviation
    ``DD = sqrt(mean(min(0, r - target)^2))`` is taken over ALL periods (the standard
    definition); undefined (None) when no period fell below the target."""
    values = _floats(returns)
    if len(values) < 2:
        return None
    downside = np.minimum(values - target, 0.0)
    deviation = math.sqrt(float(np.mean(downside**2)))
    if deviation <= ZERO_VOLATILITY:
        return None
    excess = values - risk_free_rate / periods_per_year
    return float(np.mean(excess) / deviation * math.sqrt(periods_per_year))


def calmar_ratio(returns: Sequence[float] | pd.Series, periods_per_year: int = 365) -> float | None:
    """Annualised return ``prod(1 + r) ** (periods / n) - 1`` divided by the maximum relative
    drawdown of the compounded curve; undefined without returns or drawdown."""
    values = _floats(returns)
    if len(values) == 0:
        return None
    curve = np.concatenate([[1.0], np.cumprod(1.0 + values)])
    drawdown = max_drawdown(curve).relative
    if drawdown <= ZERO_VOLATILITY:
        return None
    annual = curve[-1] ** (periods_per_year / len(values)) - 1.0
    return float(annual / drawdown)


def trade_count(pnls: Sequence[Number]) -> int:
    return len(pnls)


def win_rate(pnls: Sequence[Number]) -> float | None:
    """Winning trades (P&L > 0) over all closed trades; a break-even trade is not a win."""
    if not pnls:
        return None
    return sum(1 for pnl in pnls if float(pnl) > 0) / len(pnls)


def profit_factor(pnls: Sequence[Number]) -> float | None:
    """Gross profit / |gross loss|: ``inf`` with wins and no losses, 0.0 with only losses,
    None with no trades (or only break-even ones)."""
    if not pnls:
        return None
    wins = [float(p) for p in pnls if float(p) > 0]
    losses = [-float(p) for p in pnls if float(p) < 0]
    if not losses:
        return math.inf if wins else None
    return sum(wins) / sum(losses)


def expectancy(pnls: Sequence[Number]) -> float | None:
    """Mean P&L per trade: what the next trade is worth on average."""
    if not pnls:
        return None
    return sum(float(p) for p in pnls) / len(pnls)


def summarize(
    pnls: Sequence[Number],
    equity: pd.Series,
    initial_value: Number,
    periods_per_year: int = 365,
) -> dict[str, float | int | None]:
    """Every figure at once, from closed-trade P&Ls (net of fees) and the equity curve."""
    final = float(equity.iloc[-1]) if len(equity) else float(initial_value)
    returns = daily_returns(equity)
    drawdown = max_drawdown(equity)
    return {
        "total_return": total_return(initial_value, final),
        "max_drawdown": drawdown.absolute,
        "max_drawdown_pct": drawdown.relative,
        "sharpe": sharpe_ratio(returns, periods_per_year),
        "sortino": sortino_ratio(returns, periods_per_year),
        "calmar": calmar_ratio(returns, periods_per_year),
        "win_rate": win_rate(pnls),
        "profit_factor": profit_factor(pnls),
        "expectancy": expectancy(pnls),
        "trade_count": trade_count(pnls),
    }
