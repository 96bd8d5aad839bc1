"""Every figure of a backtest report, defined once: the catalogue and the functions.

``FIGURES`` names each figure with its label, unit and definition; the terminal table, the
HTML report, ``--json`` (``metrics``) and the README's table all show these and only these.
:func:`backtest_figures` computes them all from what any backtest leaves behind (an equity
curve, closed trades, fills and the close prices), so a walk-forward's stitched
out-of-sample curve gets the same figures as one backtest.

The ratio primitives that monitoring shares (Sharpe, Sortino, Calmar, maximum drawdown) stay
in :mod:`~trading_platform.metrics.performance`; this module adds the rest and is the one
place a report's figure is defined.  As there: statistics are floats, undefined figures are
``None`` (never 0 or NaN), and durations are seconds (a float) so ``--json`` needs no
encoding.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

from trading_platform.feeds.timeframes import parse_timeframe
from trading_platform.metrics.performance import (
    ZERO_VOLATILITY,
    calmar_ratio,
    daily_returns,
    expectancy,
    max_drawdown,
    profit_factor,
    sharpe_ratio,
    sortino_ratio,
    total_return,
    win_rate,
)

if TYPE_CHECKING:  # pandas is imported where it is used: run workers of bots never need it
    import pandas as pd

Unit = Literal["pct", "money", "ratio", "count", "duration"]
Figures = dict[str, float | int | None]

#: a year in days, for CAGR (calendar time: a backtest's bars may skip weekends)
DAYS_PER_YEAR = 365.25
#: weekly bars give weekly returns: 52 a year whatever the market's trading days
WEEKS_PER_YEAR = 52
#: positions smaller than this (in units of the asset) are flat: floats of fills add up
FLAT = 1e-12


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    unit: Unit
    definition: str


FIGURES: tuple[Figure, ...] = (
    Figure("total_return", "total return", "pct", "final equity / initial cash - 1"),
    Figure(
        "cagr",
        "CAGR",
        "pct",
        "(final / initial) ^ (1 / years) - 1, years = (last bar - first bar) / 365.25 days",
    ),
    Figure("buy_and_hold_return", "buy & hold return", "pct", "last close / first close - 1"),
    Figure(
        "exposure_time",
        "exposure time",
        "pct",
        "share of bars that end holding a position",
    ),
    Figure(
        "volatility",
        "volatility (annual)",
        "pct",
        "sample stdev of period returns * sqrt(periods a year); a period is a day "
        "(a week for weekly bars)",
    ),
    Figure("sharpe", "Sharpe", "ratio", "mean / stdev of period returns * sqrt(periods a year)"),
    Figure(
        "sortino",
        "Sortino",
        "ratio",
        "mean period return / sqrt(mean(min(0, r)^2)) * sqrt(periods a year)",
    ),
    Figure("calmar", "Calmar", "ratio", "annualised return / max drawdown of period returns"),
    Figure("max_drawdown", "max drawdown", "money", "largest fall of equity from a peak"),
    Figure(
        "max_drawdown_pct",
        "max drawdown %",
        "pct",
        "largest fall of equity from a peak, as a share of that peak",
    ),
    Figure(
        "average_drawdown_pct",
        "average drawdown %",
        "pct",
        "mean depth of the drawdowns (each from a peak until equity is back at it)",
    ),
    Figure(
        "max_drawdown_duration_seconds",
        "max drawdown duration",
        "duration",
        "longest time from a peak until equity is back at it (or the end)",
    ),
    Figure(
        "average_drawdown_duration_seconds",
        "average drawdown duration",
        "duration",
        "mean time from a peak until equity is back at it (or the end)",
    ),
    Figure("trade_count", "trades", "count", "closed round trips"),
    Figure("win_rate", "win rate", "pct", "trades with net P&L > 0 / trades"),
    Figure(
        "best_trade_pct",
        "best trade",
        "pct",
        "highest trade return; trade return = net P&L / (entry price * size)",
    ),
    Figure("worst_trade_pct", "worst trade", "pct", "lowest trade return"),
    Figure("average_trade_pct", "average trade", "pct", "mean trade return"),
    Figure("average_win", "average winning trade", "money", "mean net P&L of trades > 0"),
    Figure("average_loss", "average losing trade", "money", "mean net P&L of trades < 0"),
    Figure(
        "average_trade_duration_seconds",
        "average trade duration",
        "duration",
        "mean of exit time - entry time",
    ),
    Figure("max_consecutive_wins", "max consecutive wins", "count", "longest run of trades > 0"),
    Figure(
        "max_consecutive_losses",
        "max consecutive losses",
        "count",
        "longest run of trades < 0 (a break-even trade ends a run)",
    ),
    Figure("profit_factor", "profit factor", "ratio", "gross profit / gross loss"),
    Figure("expectancy", "expectancy", "money", "mean net P&L per trade"),
    Figure("sqn", "SQN", "ratio", "sqrt(trades) * mean / sample stdev of net trade P&L"),
    Figure(
        "kelly",
        "Kelly criterion",
        "ratio",
        "win rate - (1 - win rate) / (average win / |average loss|)",
    ),
    Figure("total_fees", "total fees", "money", "sum of the fees of every fill"),
)


class TradeLike(Protocol):
    """What a figure needs of a closed trade (a
    :class:`~trading_platform.engine.recorder.ClosedTrade`)."""

    @property
    def entry_time(self) -> dt.datetime: ...
    @property
    def exit_time(self) -> dt.datetime: ...
    @property
    def entry_price(self) -> float: ...
    @property
    def size(self) -> float: ...
    @property
    def pnl_net(self) -> float: ...


class FillLike(Protocol):
    """What a figure needs of a fill (a :class:`~trading_platform.engine.recorder.Fill`)."""

    @property
    def side(self) -> str: ...
    @property
    def amount(self) -> float: ...
    @property
    def fee(self) -> float: ...
    @property
    def executed_at(self) -> dt.datetime: ...


# -- period returns and annualisation ------------------------------------------------------


def periods_per_year_for(timeframe: str, periods_per_year: int) -> int:
    """How many return periods make a year: returns are daily (a day's last equity) for bars
    of a day or less, so ``periods_per_year`` (365 crypto, 252 stocks); weekly bars give one
    return a week, 52 a year."""
    if parse_timeframe(timeframe).seconds >= 7 * 86_400:
        return WEEKS_PER_YEAR
    return periods_per_year


def cagr(
    initial_value: float, final_value: float, start: dt.datetime, end: dt.datetime
) -> float | None:
    """Compound annual growth rate over calendar time; None over an empty span, -100 % when
    everything was lost."""
    years = (end - start).total_seconds() / (DAYS_PER_YEAR * 86_400)
    if years <= 0:
        return None
    growth = total_return(initial_value, final_value) + 1.0
    if growth <= 0:
        return -1.0
    return float(growth ** (1.0 / years) - 1.0)


def buy_and_hold_return(closes: Sequence[float] | pd.Series) -> float | None:
    """What buying at the first close and selling at the last would have returned (no fees)."""
    values = np.asarray(closes, dtype=float)
    if len(values) < 1 or values[0] <= 0:
        return None
    return float(values[-1] / values[0] - 1.0)


def volatility(returns: Sequence[float] | pd.Series, periods_per_year: int) -> float | None:
    """Annualised volatility: sample standard deviation (ddof=1) of the period returns times
    ``sqrt(periods_per_year)``; None with fewer than two returns."""
    values = np.asarray(returns, dtype=float)
    if len(values) < 2:
        return None
    return float(np.std(values, ddof=1) * math.sqrt(periods_per_year))


# -- drawdowns -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DrawdownPeriod:
    """From a peak (the last bar at it) until equity is back at the peak (``recovered``) or
    the curve ends; ``depth`` is the deepest fall within, as a share of the peak."""

    peak: dt.datetime
    end: dt.datetime
    depth: float
    recovered: bool

    @property
    def seconds(self) -> float:
        return (self.end - self.peak).total_seconds()


def drawdown_series(equity: pd.Series) -> pd.Series:
    """Equity's fall from its running peak as a share of the peak (0 or negative): the
    underwater curve."""
    values = equity.astype(float)
    peaks = values.cummax()
    return (values / peaks.where(peaks > 0) - 1.0).fillna(0.0)


def drawdown_periods(equity: pd.Series) -> list[DrawdownPeriod]:
    """Every drawdown of an equity curve with a time index, in order."""
    values = equity.to_numpy(dtype=float)
    if not len(values):
        return []
    peaks = np.maximum.accumulate(values)
    under = np.concatenate([[False], values < peaks, [False]])
    # runs of bars under water: [first, stop) from where ``under`` switches on and off
    edges = np.flatnonzero(np.diff(under.astype(np.int8)))
    periods: list[DrawdownPeriod] = []
    for first, stop in zip(edges[::2], edges[1::2], strict=True):
        peak = peaks[first]
        recovered = bool(stop < len(values))
        periods.append(
            DrawdownPeriod(
                peak=equity.index[first - 1],
                end=equity.index[stop] if recovered else equity.index[stop - 1],
                depth=float(np.max(peak - values[first:stop]) / peak) if peak > 0 else 0.0,
                recovered=recovered,
            )
        )
    return periods


def average_drawdown(periods: Sequence[DrawdownPeriod]) -> float | None:
    if not periods:
        return None
    return float(np.mean([period.depth for period in periods]))


def max_drawdown_duration(periods: Sequence[DrawdownPeriod]) -> float:
    """Seconds; 0 for a curve that never fell."""
    return max((period.seconds for period in periods), default=0.0)


def average_drawdown_duration(periods: Sequence[DrawdownPeriod]) -> float | None:
    if not periods:
        return None
    return float(np.mean([period.seconds for period in periods]))


# -- exposure ------------------------------------------------------------------------------


def holding_intervals(
    fills: Sequence[FillLike],
) -> list[tuple[dt.datetime, dt.datetime | None]]:
    """When a (long) position was held, from the fills: from the fill that opened it to the
    one that closed it; ``None`` as the end of a position still open."""
    intervals: list[tuple[dt.datetime, dt.datetime | None]] = []
    position = 0.0
    opened: dt.datetime | None = None
    for fill in sorted(fills, key=lambda f: f.executed_at):
        was_flat = abs(position) <= FLAT
        position += fill.amount if fill.side == "buy" else -fill.amount
        if was_flat and abs(position) > FLAT:
            opened = fill.executed_at
        elif not was_flat and abs(position) <= FLAT and opened is not None:
            intervals.append((opened, fill.executed_at))
            opened = None
    if opened is not None:
        intervals.append((opened, None))
    return intervals


def exposure_time(
    bar_times: Sequence[dt.datetime] | pd.Index,
    intervals: Sequence[tuple[dt.datetime, dt.datetime | None]],
) -> float | None:
    """Share of bars that end holding a position: a bar counts when an interval opened at or
    before it and closed after it (a fill happens at a bar's open, so the bar that closes a
    position ends flat)."""
    to_numpy = getattr(bar_times, "to_numpy", None)  # a DatetimeIndex converts at once
    times = (
        to_numpy(dtype="datetime64[us]")
        if to_numpy is not None
        else np.asarray(list(bar_times), dtype="datetime64[us]")
    )
    if not len(times):
        return None
    held = np.zeros(len(times), dtype=bool)
    for start, end in intervals:  # bars are in time order: two binary searches an interval
        first = int(np.searchsorted(times, np.datetime64(start, "us"), side="left"))
        stop = (
            len(times)
            if end is None
            else int(np.searchsorted(times, np.datetime64(end, "us"), side="left"))
        )
        held[first:stop] = True
    return float(held.sum()) / len(times)


# -- trades --------------------------------------------------------------------------------


def trade_returns(trades: Sequence[TradeLike]) -> list[float]:
    """Each trade's net P&L as a share of what its entry cost."""
    return [
        trade.pnl_net / (trade.entry_price * trade.size)
        for trade in trades
        if trade.entry_price * trade.size > 0
    ]


def average_win(pnls: Sequence[float]) -> float | None:
    wins = [p for p in pnls if p > 0]
    return sum(wins) / len(wins) if wins else None


def average_loss(pnls: Sequence[float]) -> float | None:
    losses = [p for p in pnls if p < 0]
    return sum(losses) / len(losses) if losses else None


def average_trade_duration(trades: Sequence[TradeLike]) -> float | None:
    """Seconds."""
    if not trades:
        return None
    return sum((t.exit_time - t.entry_time).total_seconds() for t in trades) / len(trades)


def max_consecutive(pnls: Sequence[float], *, wins: bool) -> int:
    """Longest run of winning (``wins``) or losing trades; a break-even trade ends both."""
    longest = current = 0
    for pnl in pnls:
        counts = pnl > 0 if wins else pnl < 0
        current = current + 1 if counts else 0
        longest = max(longest, current)
    return longest


def sqn(pnls: Sequence[float]) -> float | None:
    """Van Tharp's System Quality Number on net trade P&L (backtesting.py's formula)."""
    if len(pnls) < 2:
        return None
    std = float(np.std(np.asarray(pnls, dtype=float), ddof=1))
    if std <= ZERO_VOLATILITY:
        return None
    return math.sqrt(len(pnls)) * float(np.mean(pnls)) / std


def kelly(pnls: Sequence[float]) -> float | None:
    """The Kelly fraction from the win rate and the win/loss ratio; None without both a win
    and a loss."""
    won, lost = average_win(pnls), average_loss(pnls)
    rate = win_rate(pnls)
    if won is None or lost is None or rate is None:
        return None
    return rate - (1.0 - rate) / (won / abs(lost))


def total_fees(fills: Sequence[FillLike]) -> float:
    return float(sum(fill.fee for fill in fills))


# -- calendar ------------------------------------------------------------------------------


def monthly_returns(equity: pd.Series, initial_value: float) -> pd.Series:
    """Each calendar month's return (index: the month's last day): its last equity over the
    previous month's, the first month's over the initial cash."""
    import pandas as pd

    if equity.empty:
        return pd.Series(dtype=float)
    month_ends = equity.astype(float).resample("ME").last().ffill()
    previous = month_ends.shift(1).fillna(float(initial_value))
    return month_ends / previous - 1.0


# -- all at once ---------------------------------------------------------------------------


def backtest_figures(
    *,
    equity: pd.Series,
    trades: Sequence[TradeLike],
    fills: Sequence[FillLike],
    closes: pd.Series,
    initial_value: float,
    timeframe: str,
    periods_per_year: int,
) -> Figures:
    """Every figure of ``FIGURES``, keyed as there."""
    per_year = periods_per_year_for(timeframe, periods_per_year)
    final = float(equity.iloc[-1]) if len(equity) else float(initial_value)
    returns = daily_returns(equity)
    drawdown = max_drawdown(equity)
    periods = drawdown_periods(equity)
    pnls = [float(trade.pnl_net) for trade in trades]
    per_trade = trade_returns(trades)
    figures: Figures = {
        "total_return": total_return(initial_value, final),
        "cagr": cagr(initial_value, final, equity.index[0], equity.index[-1])
        if len(equity)
        else None,
        "buy_and_hold_return": buy_and_hold_return(closes),
        "exposure_time": exposure_time(equity.index, holding_intervals(fills)),
        "volatility": volatility(returns, per_year),
        "sharpe": sharpe_ratio(returns, per_year),
        "sortino": sortino_ratio(returns, per_year),
        "calmar": calmar_ratio(returns, per_year),
        "max_drawdown": drawdown.absolute,
        "max_drawdown_pct": drawdown.relative,
        "average_drawdown_pct": average_drawdown(periods),
        "max_drawdown_duration_seconds": max_drawdown_duration(periods),
        "average_drawdown_duration_seconds": average_drawdown_duration(periods),
        "trade_count": len(trades),
        "win_rate": win_rate(pnls),
        "best_trade_pct": max(per_trade) if per_trade else None,
        "worst_trade_pct": min(per_trade) if per_trade else None,
        "average_trade_pct": sum(per_trade) / len(per_trade) if per_trade else None,
        "average_win": average_win(pnls),
        "average_loss": average_loss(pnls),
        "average_trade_duration_seconds": average_trade_duration(trades),
        "max_consecutive_wins": max_consecutive(pnls, wins=True),
        "max_consecutive_losses": max_consecutive(pnls, wins=False),
        "profit_factor": profit_factor(pnls),
        "expectancy": expectancy(pnls),
        "sqn": sqn(pnls),
        "kelly": kelly(pnls),
        "total_fees": total_fees(fills),
    }
    return figures


def format_figure(figure: Figure, value: float | int | None) -> str:
    """A figure as a person reads it: ``12.34 %``, ``1,234.56``, ``3d 4h``; ``-`` if undefined."""
    if value is None:
        return "-"
    if figure.unit == "pct":
        return f"{value * 100:,.2f} %"
    if figure.unit == "count":
        return f"{int(value):,}"
    if figure.unit == "duration":
        return format_duration(float(value))
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:,.2f}"


def format_duration(seconds: float) -> str:
    """The largest unit and the next one, if not zero: ``3d 4h``, ``5h 12m``, ``37d``
    (37 days 57 minutes), ``42s``."""
    remaining = round(seconds)
    counts = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        count, remaining = divmod(remaining, size)
        counts.append((count, unit))
    first = next((i for i, (count, _) in enumerate(counts) if count), len(counts) - 1)
    shown = [f"{count}{unit}" for count, unit in counts[first : first + 2] if count]
    return " ".join(shown) or "0s"
