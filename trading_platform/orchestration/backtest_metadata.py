"""The metadata of a ``backtest_result`` materialization: what ran, every figure, the report.

Every defined figure of :data:`~trading_platform.metrics.report_figures.FIGURES` is a number
under its own key (``sharpe``, ``max_drawdown_pct``), so the asset's page plots it across
runs; an undefined figure (no trades: no win rate) is left out rather than given a text value
that would break that plot, and ``undefined_figures`` names it.  The HTML report is a path:
it is several MB of plotly, which the UI cannot embed, and the webserver serves no files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dagster import MetadataValue

from trading_platform.metrics.report_figures import FIGURES, format_figure
from trading_platform.research.backtest_spec import BacktestOutcome
from trading_platform.research.optimize import SearchResult

#: the figures of the Markdown summary
HEADLINE = ("total_return", "buy_and_hold_return", "sharpe", "max_drawdown_pct", "trade_count")
#: rows of the search's table in the summary
SEARCH_ROWS = 10


def backtest_metadata(outcome: BacktestOutcome, report: Path) -> dict[str, Any]:
    config, result = outcome.config, outcome.result
    metadata: dict[str, Any] = {
        "strategy": MetadataValue.text(config.strategy_class),
        "params": MetadataValue.json(config.params),
        "data": MetadataValue.text(config.data.path or "generated demo series"),
        "symbol": MetadataValue.text(config.symbol),
        "timeframe": MetadataValue.text(config.timeframe),
        "period": MetadataValue.text(f"{result.start} .. {result.end}"),
        "bars": MetadataValue.int(result.bars),
        "cash": MetadataValue.float(config.broker.cash),
        "commission": MetadataValue.float(config.broker.commission),
        "final_value": MetadataValue.float(result.final_value),
    }
    undefined = []
    for figure in FIGURES:
        value = result.metrics.get(figure.key)
        if value is None:
            undefined.append(figure.key)
        elif figure.unit == "count":
            metadata[figure.key] = MetadataValue.int(int(value))
        else:
            metadata[figure.key] = MetadataValue.float(float(value))
    if undefined:
        metadata["undefined_figures"] = MetadataValue.text(", ".join(undefined))
    if outcome.search is not None:
        metadata.update(_search_metadata(outcome.search))
    metadata["report"] = MetadataValue.path(str(report))
    metadata["summary"] = MetadataValue.md(_summary(outcome, report))
    return metadata


def _search_metadata(found: SearchResult) -> dict[str, Any]:
    return {
        "search_metric": MetadataValue.text(found.metric),
        "search_combinations": MetadataValue.int(found.combinations),
        "search_backtested": MetadataValue.int(len(found.ranked)),
        "search_skipped": MetadataValue.int(len(found.skipped)),
    }


def _summary(outcome: BacktestOutcome, report: Path) -> str:
    """A few headline figures, and with a search its best combinations."""
    result = outcome.result
    figures = {figure.key: figure for figure in FIGURES}
    lines = [
        f"**{result.strategy}** on {result.symbol} {result.timeframe}, {result.bars:,} bars",
        "",
        "| figure | value |",
        "| --- | --- |",
    ]
    for key in HEADLINE:
        figure = figures[key]
        lines.append(f"| {figure.label} | {format_figure(figure, result.metrics.get(key))} |")
    found = outcome.search
    if found is not None:
        metric = figures.get(found.metric)
        lines += [
            "",
            f"Search: {len(found.ranked)} of {found.combinations} combinations by "
            f"{found.metric} ({len(found.skipped)} skipped); the first is reported.",
            "",
            f"| # | params | {found.metric} |",
            "| --- | --- | --- |",
        ]
        for rank, trial in enumerate(found.ranked[:SEARCH_ROWS], 1):
            value = (trial.metrics or {}).get(found.metric)
            shown = format_figure(metric, value) if metric else str(value)
            varied = " ".join(f"{name}={value}" for name, value in trial.varied.items())
            lines.append(f"| {rank} | {varied} | {shown} |")
    lines += ["", f"Report (open the file): `{report}`"]
    return "\n".join(lines)
