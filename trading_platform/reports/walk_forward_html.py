"""The walk-forward's report: the stitched out-of-sample curve through the backtest report,
with a table of the windows.

Only out-of-sample bars are shown: the equity and buy & hold charts, the drawdown and the
monthly returns cover the tested part of the data (the last windows' test parts, end to end),
so what the page shows is what the optimisation could not have seen.  Trades are not marked:
each window's test is its own backtest, and the stitched curve is what they add up to.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from trading_platform.reports.backtest_html import Section, write_report
from trading_platform.research.serialize import window_json
from trading_platform.research.walk_forward import WalkForwardResult

if TYPE_CHECKING:
    from trading_platform.engine.recorder import ClosedTrade


@dataclass(frozen=True)
class WalkForwardSource:
    """A :class:`~trading_platform.reports.backtest_html.ReportSource` of the stitched curve."""

    strategy: str
    symbol: str
    timeframe: str
    initial_value: float
    final_value: float
    equity: pd.Series
    prices: pd.DataFrame | None
    metrics: Mapping[str, Any]
    trades: Sequence[ClosedTrade] = field(default_factory=tuple)


def _percent(value: Any) -> str:
    return "-" if value is None else f"{value * 100:,.2f} %"


def windows_section(result: WalkForwardResult) -> Section:
    """One row per window: its test period, winner, returns in and out of sample."""
    rows = []
    for window in result.windows:
        data = window_json(result, window)
        params = ", ".join(f"{k}={v}" for k, v in (data["params"] or {}).items())
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{html.escape(str(cell))}</td>"
                for cell in (
                    data["window"],
                    f"{data['test']['start']} .. {data['test']['end']}",
                    params or data["problem"] or "-",
                    _percent((window.in_sample or {}).get("total_return")),
                    _percent((window.out_of_sample or {}).get("total_return")),
                    "-" if window.efficiency is None else f"{window.efficiency:,.3f}",
                )
            )
            + "</tr>"
        )
    head = "".join(
        f"<th>{name}</th>"
        for name in ("#", "test period", "winner", "IS return", "OOS return", "efficiency")
    )
    overall = "-" if result.efficiency is None else f"{result.efficiency:,.3f}"
    return Section(
        "Walk-forward windows",
        f"<p>Optimised by {html.escape(result.metric)} on each training part "
        f"({result.train_fraction:g} of a window); walk-forward efficiency over all windows: "
        f"{overall}.</p><table class='windows'><tr>{head}</tr>{''.join(rows)}</table>",
    )


def write_walk_forward_report(
    path: Path,
    result: WalkForwardResult,
    frame: pd.DataFrame,
    *,
    strategy: str,
    symbol: str,
    timeframe: str,
) -> Path:
    """The report of ``result``; ``frame`` is the bars searched (its tested part is shown)."""
    equity = result.equity
    prices = frame.loc[equity.index[0] : equity.index[-1]] if len(equity) else None
    source = WalkForwardSource(
        strategy=strategy,
        symbol=symbol,
        timeframe=timeframe,
        initial_value=result.initial_value,
        final_value=float(equity.iloc[-1]) if len(equity) else result.initial_value,
        equity=equity,
        prices=prices,
        metrics=result.out_of_sample,
    )
    return write_report(
        path,
        source,
        title=f"Walk-forward of {strategy} on {symbol} {timeframe} (out of sample)",
        extra_sections=[windows_section(result)],
    )
