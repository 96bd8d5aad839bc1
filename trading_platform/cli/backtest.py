"""``trading-platform backtest``: a strategy on historical bars from the command line.

It builds a bot config from options and goes through the same validation and the same
engine (:func:`~trading_platform.engine.backtest.run_backtest`) as a backtest bot under
Dagster, so a result here is the result the platform would give.

One difference, on purpose: ``--data`` is not fenced in by ``TRADING_DATA_DIRS``.  The
operator runs this on their own machine, with their own rights, on a file they name on the
command line, and any error goes to their own terminal; the fence exists because a bot's
config is written by its owner but the file is read by the platform and the error reported
to that owner.  So the directory of the named file is added to the data directories for
this one command (a relative ``--data`` is relative to the working directory, as a shell
user expects, not to the first data directory).  Errors quote no file contents anyway.

The symbol of a backtest on a file is a label: it names the market in the output and in
the rows ``--bot`` records, and nothing is asked of an exchange by it.  So it defaults to the
file's name (``^GSPC.csv`` is ``^GSPC``; a stock index printed as BTC/USDT misled), or to the
bot's symbol with ``--bot``, and need not be ``BASE/QUOTE``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import Engine

from trading_platform.cli.common import (
    PlatformError,
    err_console,
    find_row,
    json_option,
    open_engine,
    warn_unloaded,
)
from trading_platform.cli.render import print_backtest_summary
from trading_platform.cli.research import ResearchRequest, research_options, run_research
from trading_platform.config import BotConfig, BrokerConfig
from trading_platform.engine.backtest import BacktestResult, run_backtest
from trading_platform.feeds.data_dirs import data_dirs
from trading_platform.feeds.history import historical_frame
from trading_platform.research.backtest_spec import BacktestSpec, backtest_config
from trading_platform.strategy_handler import StrategyRegistry, load_registry

if TYPE_CHECKING:
    import pandas as pd

PROGRESS_AFTER_SECONDS = 2.0

# Option defaults are the config models' own, so `--help` shows what a bot row would get.
_BROKER = BrokerConfig.model_fields
_PERIODS_PER_YEAR = BotConfig.model_fields["periods_per_year"].default


@click.command()
@click.option("--strategy", required=True, help="registered strategy name")
@click.option(
    "--data",
    "data_path",
    type=click.Path(path_type=Path),
    help="CSV or Parquet file (default: the generated demo series)",
)
@click.option("--params", "params_json", help="strategy params as JSON")
@click.option("--cash", type=float, default=_BROKER["cash"].default, show_default=True)
@click.option(
    "--commission",
    type=float,
    default=_BROKER["commission"].default,
    show_default=True,
    help="fraction of traded value, 0.001 = 0.1 %",
)
@click.option("--slippage", type=float, default=_BROKER["slippage"].default, show_default=True)
@click.option("--stake", type=float, help="fixed size per order (default: 95 % of equity)")
@click.option("--from", "start", help="first day (YYYY-MM-DD)")
@click.option("--to", "end", help="last day (YYYY-MM-DD, inclusive)")
@click.option(
    "--symbol",
    help="the market's name in the output (default: the data file's name without its "
    "suffix; the bot's symbol with --bot; BTC/USDT for the demo series)",
)
@click.option("--timeframe", default="1d", show_default=True)
@click.option(
    "--periods-per-year",
    type=int,
    default=_PERIODS_PER_YEAR,
    show_default=True,
    help="365 for crypto, 252 for stocks",
)
@click.option("--strategy-path", multiple=True, type=click.Path(path_type=Path))
@click.option("--bot", "bot_ref", help="record orders and trades for this bot (id or name)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.option(
    "--report",
    "report_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="also write an HTML report (charts and every figure; one file that opens offline)",
)
@click.pass_context
@research_options
def backtest(
    ctx: click.Context,
    strategy: str,
    data_path: Path | None,
    params_json: str | None,
    cash: float,
    commission: float,
    slippage: float,
    stake: float | None,
    start: str | None,
    end: str | None,
    symbol: str | None,
    timeframe: str,
    periods_per_year: int,
    strategy_path: tuple[Path, ...],
    bot_ref: str | None,
    as_json: bool,
    report_path: Path | None,
    research: ResearchRequest | None,
) -> None:
    """Backtest a strategy on a file of bars and print the results; with --optimize, search
    its params (and with --walk-forward, test the winners out of sample)."""
    registry, report = load_registry(strategy_path)
    warn_unloaded(report)
    params = json_option(params_json, "params") or {}
    base_params = params
    if research is not None:
        if bot_ref is not None:
            raise PlatformError("bot: --bot records one backtest; it does not go with --optimize")
        if report_path is not None and research.windows is None:
            raise PlatformError(
                "report: --report shows one backtest, or with --walk-forward the stitched "
                "out-of-sample curve; a plain --optimize has no single curve to show"
            )
        params = research.config_params(registry, strategy, params)
    allowed = data_dirs()
    if data_path is not None:
        data_path = data_path.expanduser().resolve()
        allowed = (*allowed, data_path.parent)
    engine = None
    bot_id = None
    if bot_ref is not None:
        engine = open_engine(ctx)
        row = find_row(ctx, bot_ref)
        bot_id = row.id
        symbol = symbol or row.symbol
    spec = BacktestSpec(
        strategy=strategy,
        params=params,
        data_path=data_path,
        start=start,
        end=end,
        cash=cash,
        commission=commission,
        slippage=slippage,
        stake=stake,
        symbol=symbol,
        timeframe=timeframe,
        periods_per_year=periods_per_year,
    )
    config = backtest_config(spec, registry, data_dirs=allowed, bot_id=bot_id)
    frame = historical_frame(config, allowed)
    if research is not None:
        run_research(
            research,
            config,
            registry,
            frame,
            base_params=base_params,
            as_json=as_json,
            report_path=report_path,
        )
        return
    if as_json:
        result = run_backtest(config, registry, frame=frame, database=engine)
        click.echo(json.dumps(result.to_json(), default=str))
    else:
        result = _run_with_progress(config, registry, frame, engine)
        print_backtest_summary(result)
    if report_path is not None:
        _write_report(report_path, result)


def _write_report(path: Path, result: BacktestResult) -> None:
    """The HTML report; its module (and plotly) is imported only when one is asked for."""
    from trading_platform.reports.backtest_html import write_report

    try:
        written = write_report(path.expanduser(), result)
    except OSError as error:
        raise click.ClickException(
            f"--report: cannot write {path}: {error.strerror or error}"
        ) from None
    # a path is printed whole on one line (to copy) and as written (no markup)
    err_console.print(f"report written to {written}", soft_wrap=True, markup=False)


def _run_with_progress(
    config: BotConfig, registry: StrategyRegistry, frame: pd.DataFrame, engine: Engine | None
) -> BacktestResult:
    """Show a progress bar only once a backtest has taken more than a couple of seconds."""
    started = time.monotonic()
    progress = Progress(
        TextColumn("backtest"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} bars"),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    )
    task = progress.add_task("backtest", total=len(frame))
    shown = False

    def on_progress(bars: int) -> None:
        nonlocal shown
        if not shown and time.monotonic() - started > PROGRESS_AFTER_SECONDS:
            progress.start()
            shown = True
        if shown:
            progress.update(task, completed=bars)

    try:
        return run_backtest(config, registry, frame=frame, progress=on_progress, database=engine)
    finally:
        if shown:
            progress.stop()
