"""A backtest as one self-contained HTML file: charts a person explores, and every figure.

``write_report`` writes the equity curve beside buy-and-hold, the underwater (drawdown)
chart, the trades on the price candles (entry and exit logic on hover), the monthly returns
as a heat map and the table of :data:`~trading_platform.metrics.report_figures.FIGURES`.
plotly.js is embedded once in the page, so the file opens offline and asks no CDN for
anything; the charts are interactive (zoom, pan, hover).

It takes anything shaped like a :class:`~trading_platform.engine.backtest.BacktestResult`
(:class:`ReportSource`), so a walk-forward's stitched out-of-sample curve goes through the
same code, and ``extra_sections`` let such a caller add its own tables or charts.

plotly is imported inside the functions: run workers import the engine, never this.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from trading_platform.metrics.report_figures import (
    FIGURES,
    buy_and_hold_return,
    drawdown_series,
    format_figure,
    monthly_returns,
)

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from trading_platform.engine.recorder import ClosedTrade

#: more candles than this are merged into coarser ones (the browser stays responsive)
MAX_CANDLES = 2_000
#: more points than this on a line chart are thinned to every n-th (and the last)
MAX_POINTS = 5_000
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
PLOT_CONFIG = {"displaylogo": False, "responsive": True}


class ReportSource(Protocol):
    """What a report is made of: a backtest's result, or any curve with its trades."""

    @property
    def strategy(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def timeframe(self) -> str: ...
    @property
    def initial_value(self) -> float: ...
    @property
    def final_value(self) -> float: ...
    @property
    def equity(self) -> pd.Series: ...
    @property
    def trades(self) -> Sequence[ClosedTrade]: ...
    @property
    def prices(self) -> pd.DataFrame | None: ...
    @property
    def metrics(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Section:
    """A part of the page: a heading and HTML (for a chart, :func:`figure_section`)."""

    title: str
    html: str


def figure_section(title: str, figure: go.Figure) -> Section:
    """A plotly figure as a section (the page embeds plotly.js once, not per figure)."""
    return Section(
        title,
        figure.to_html(full_html=False, include_plotlyjs=False, config=PLOT_CONFIG),
    )


def write_report(
    path: Path | str,
    source: ReportSource,
    *,
    title: str | None = None,
    extra_sections: Sequence[Section] = (),
) -> Path:
    """Write the report of ``source`` to ``path`` (parents created) and return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_report(source, title=title, extra_sections=extra_sections))
    return target


def render_report(
    source: ReportSource, *, title: str | None = None, extra_sections: Sequence[Section] = ()
) -> str:
    """The whole page as a string."""
    from plotly.offline import get_plotlyjs

    heading = title or f"{source.strategy} on {source.symbol} {source.timeframe}"
    sections = [
        Section("Figures", _figures_table(source)),
        figure_section("Equity and buy & hold", equity_chart(source)),
        figure_section("Drawdown (underwater)", underwater_chart(source.equity)),
    ]
    if source.prices is not None and len(source.prices):
        sections.append(
            figure_section("Trades on the price", trades_chart(source.prices, source.trades))
        )
    sections.append(
        figure_section(
            "Monthly returns", monthly_heatmap(monthly_returns(source.equity, source.initial_value))
        )
    )
    sections.extend(extra_sections)
    body = "\n".join(
        f"<section><h2>{html.escape(section.title)}</h2>\n{section.html}\n</section>"
        for section in sections
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(heading)}</title>
<style>{_STYLE}</style>
<script type="text/javascript">{get_plotlyjs()}</script>
</head>
<body>
<h1>{html.escape(heading)}</h1>
<p class="sub">{html.escape(_period(source))}</p>
{body}
<footer>Written by trading-platform on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.
Definitions of the figures: hover a row, or see the README.</footer>
</body>
</html>
"""


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 1200px;
       color: #222; padding: 0 1rem; }
h1 { margin-bottom: 0.2rem; } .sub { color: #666; margin-top: 0; }
section { margin: 1.5rem 0; } h2 { font-size: 1.15rem; border-bottom: 1px solid #ddd; }
table.figures { border-collapse: collapse; font-size: 0.9rem; }
table.figures td { padding: 0.15rem 0.8rem; border-bottom: 1px solid #eee; }
table.figures td.value { text-align: right; font-variant-numeric: tabular-nums; }
table.figures td.definition { color: #777; }
footer { color: #888; font-size: 0.8rem; margin-top: 2rem; }
"""


def _period(source: ReportSource) -> str:
    equity = source.equity
    if not len(equity):
        return "no bars"
    return (
        f"{equity.index[0]:%Y-%m-%d %H:%M} .. {equity.index[-1]:%Y-%m-%d %H:%M}, "
        f"{len(equity):,} bars; initial {source.initial_value:,.2f}, "
        f"final {source.final_value:,.2f}"
    )


def _figures_table(source: ReportSource) -> str:
    rows = "\n".join(
        f'<tr title="{html.escape(figure.definition)}"><td>{html.escape(figure.label)}</td>'
        f'<td class="value" data-key="{figure.key}">'
        f"{html.escape(format_figure(figure, source.metrics.get(figure.key)))}</td>"
        f'<td class="definition">{html.escape(figure.definition)}</td></tr>'
        for figure in FIGURES
        if figure.key in source.metrics
    )
    return f'<table class="figures">\n{rows}\n</table>'


def _thin(series: pd.Series) -> pd.Series:
    """Every n-th point and the last, so a line has at most ``MAX_POINTS``."""
    if len(series) <= MAX_POINTS:
        return series
    step = math.ceil(len(series) / MAX_POINTS)
    positions = list(range(0, len(series), step))
    if positions[-1] != len(series) - 1:
        positions.append(len(series) - 1)
    return series.iloc[positions]


def buy_and_hold_curve(closes: pd.Series, initial_value: float, index: pd.Index) -> pd.Series:
    """The initial cash put into the asset at the first close, valued at each bar of
    ``index`` (no fees): the line the strategy has to beat."""
    aligned = closes.astype(float).reindex(index, method="ffill")
    return aligned / float(aligned.iloc[0]) * float(initial_value)


def equity_chart(source: ReportSource) -> go.Figure:
    import plotly.graph_objects as go

    figure = go.Figure()
    equity = _thin(source.equity)
    figure.add_trace(go.Scatter(x=equity.index, y=equity.values, name="strategy", mode="lines"))
    if source.prices is not None and len(source.prices) and len(source.equity):
        hold = _thin(
            buy_and_hold_curve(source.prices["close"], source.initial_value, source.equity.index)
        )
        change = buy_and_hold_return(source.prices["close"])
        label = "buy & hold" + (f" ({change * 100:+.1f} %)" if change is not None else "")
        figure.add_trace(
            go.Scatter(x=hold.index, y=hold.values, name=label, mode="lines", line={"dash": "dot"})
        )
    return _layout(figure, yaxis_title="equity")


def underwater_chart(equity: pd.Series) -> go.Figure:
    import plotly.graph_objects as go

    drawdown = _thin(drawdown_series(equity) * 100.0)
    figure = go.Figure(
        go.Scatter(
            x=drawdown.index,
            y=drawdown.values,
            name="drawdown",
            mode="lines",
            fill="tozeroy",
            line={"color": "#c0392b"},
            hovertemplate="%{x}<br>%{y:.2f} %<extra></extra>",
        )
    )
    return _layout(figure, yaxis_title="drawdown %", height=280)


def candles(prices: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The bars, merged ``n`` at a time (first open, highest high, lowest low, last close)
    when there are more than ``MAX_CANDLES``; returns the candles and ``n``."""
    if len(prices) <= MAX_CANDLES:
        return prices, 1
    import numpy as np

    size = math.ceil(len(prices) / MAX_CANDLES)
    groups = np.arange(len(prices)) // size
    merged = prices.groupby(groups).agg(
        {"open": "first", "high": "max", "low": "min", "close": "last"}
    )
    merged.index = prices.index[::size]
    return merged, size


def trades_chart(prices: pd.DataFrame, trades: Sequence[ClosedTrade]) -> go.Figure:
    import plotly.graph_objects as go

    bars, merged = candles(prices)
    figure = go.Figure(
        go.Candlestick(
            x=bars.index,
            open=bars["open"],
            high=bars["high"],
            low=bars["low"],
            close=bars["close"],
            name="price" if merged == 1 else f"price ({merged} bars a candle)",
        )
    )
    if trades:
        figure.add_trace(
            go.Scatter(
                x=[t.entry_time for t in trades],
                y=[t.entry_price for t in trades],
                mode="markers",
                name="entry",
                marker={"symbol": "triangle-up", "size": 11, "color": "#2471a3"},
                hovertext=[
                    f"entry: {html.escape(t.entry_logic or '-')}<br>"
                    f"price {t.entry_price:,.2f}, size {t.size:.6g}"
                    for t in trades
                ],
                hoverinfo="text+x",
            )
        )
        figure.add_trace(
            go.Scatter(
                x=[t.exit_time for t in trades],
                y=[t.exit_price for t in trades],
                mode="markers",
                name="exit",
                marker={
                    "symbol": "triangle-down",
                    "size": 11,
                    "color": ["#1e8449" if t.pnl_net > 0 else "#c0392b" for t in trades],
                },
                hovertext=[
                    f"exit: {html.escape(t.exit_logic or '-')}<br>"
                    f"price {t.exit_price:,.2f}, net P&L {t.pnl_net:,.2f}<br>"
                    f"entry: {html.escape(t.entry_logic or '-')}"
                    for t in trades
                ],
                hoverinfo="text+x",
            )
        )
    figure.update_layout(xaxis_rangeslider_visible=False)
    return _layout(figure, yaxis_title="price", height=520)


def monthly_heatmap(returns: pd.Series) -> go.Figure:
    """Years down, months across, each cell the month's return in %."""
    import plotly.graph_objects as go

    years = sorted({stamp.year for stamp in returns.index})
    cells: list[list[float | None]] = [[None] * 12 for _ in years]
    for stamp, value in returns.items():
        cells[years.index(stamp.year)][stamp.month - 1] = float(value) * 100.0  # type: ignore[attr-defined]
    text = [["" if v is None else f"{v:+.1f}" for v in row] for row in cells]
    figure = go.Figure(
        go.Heatmap(
            z=cells,
            x=list(MONTHS),
            y=[str(year) for year in years],
            text=text,
            texttemplate="%{text}",
            colorscale="RdYlGn",
            zmid=0,
            hovertemplate="%{y} %{x}: %{z:.2f} %<extra></extra>",
            colorbar={"title": {"text": "%"}},
        )
    )
    figure.update_yaxes(autorange="reversed", type="category")
    return _layout(figure, height=max(220, 60 + 32 * len(years)))


def _layout(figure: go.Figure, *, yaxis_title: str | None = None, height: int = 380) -> go.Figure:
    figure.update_layout(
        template="plotly_white",
        height=height,
        margin={"l": 60, "r": 20, "t": 20, "b": 40},
        legend={"orientation": "h", "y": 1.08},
        yaxis_title=yaxis_title,
        hovermode="closest",
    )
    return figure
