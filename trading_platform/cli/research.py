"""``backtest --optimize`` and ``backtest --walk-forward``: the options, the progress bar and
the tables; the work is in :mod:`trading_platform.research`.

The options live here and are added to ``backtest`` by :func:`research_options`, so the
command itself gains one argument (``research``) and two calls.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from trading_platform.cli.common import PlatformError, console, err_console, json_option
from trading_platform.cli.layout import Column, fitted_table, short_time
from trading_platform.config import BotConfig
from trading_platform.research.optimize import SearchResult, first_valid_params, search
from trading_platform.research.pool import BacktestPool
from trading_platform.research.ranking import check_metric
from trading_platform.research.search_space import SearchSpace, parse_search_space
from trading_platform.research.serialize import search_json, walk_forward_json
from trading_platform.research.walk_forward import WalkForwardResult, walk_forward
from trading_platform.strategy_handler import StrategyRegistry

if TYPE_CHECKING:
    import pandas as pd

#: rows of the ranked table (``--json`` has every combination)
DEFAULT_TOP = 20
#: skipped combinations listed by reason below the table
SKIPPED_SHOWN = 10

_OPTIONS = (
    click.option(
        "--optimize",
        "optimize_json",
        help='params to vary, as JSON: {"fast": [5, 10, 20], "slow": "20:100:10"} '
        "(lists, or start:stop:step ranges with stop included)",
    ),
    click.option(
        "--metric",
        default="sharpe",
        show_default=True,
        help="rank by this figure (drawdowns: smaller is better)",
    ),
    click.option(
        "--trials", type=int, help="sample this many combinations with Optuna instead of all"
    ),
    click.option("--seed", type=int, help="the sampler's seed (--trials), for repeatable runs"),
    click.option("--workers", type=click.IntRange(min=1), help="processes (default: every core)"),
    click.option(
        "--walk-forward",
        "walk_forward_windows",
        type=click.IntRange(min=1),
        help="optimise on rolling windows and test each winner on the bars that follow",
    ),
    click.option(
        "--train",
        type=float,
        default=0.7,
        show_default=True,
        help="the training part of each walk-forward window",
    ),
    click.option(
        "--top",
        type=click.IntRange(min=1),
        default=DEFAULT_TOP,
        show_default=True,
        help="rows of the ranked table",
    ),
)
_NAMES = (
    "optimize_json",
    "metric",
    "trials",
    "seed",
    "workers",
    "walk_forward_windows",
    "train",
    "top",
)


@dataclass(frozen=True)
class ResearchRequest:
    optimize: dict[str, Any]
    metric: str
    trials: int | None
    seed: int | None
    workers: int | None
    windows: int | None
    train: float
    top: int

    def space(self, registry: StrategyRegistry, strategy: str) -> SearchSpace:
        return parse_search_space(self.optimize, registry.get(strategy).Params)

    def config_params(
        self, registry: StrategyRegistry, strategy: str, base: dict[str, Any]
    ) -> dict[str, Any]:
        """The params the command's config is validated with (see first_valid_params)."""
        return first_valid_params(registry, strategy, self.space(registry, strategy), base)


def research_options(command: Callable[..., None]) -> Callable[..., None]:
    """Add the options to ``command`` and hand it one ``research`` argument: a
    :class:`ResearchRequest`, or None without ``--optimize``."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        values = {name: kwargs.pop(name) for name in _NAMES}
        kwargs["research"] = _request(**values)
        command(*args, **kwargs)

    for option in reversed(_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


def _request(
    optimize_json: str | None,
    metric: str,
    trials: int | None,
    seed: int | None,
    workers: int | None,
    walk_forward_windows: int | None,
    train: float,
    top: int,
) -> ResearchRequest | None:
    if optimize_json is None:
        given = [
            name
            for name, value in (
                ("--trials", trials),
                ("--seed", seed),
                ("--walk-forward", walk_forward_windows),
            )
            if value is not None
        ]
        if given:
            raise PlatformError(f"{given[0]}: needs --optimize (the params to search)")
        return None
    optimize = json_option(optimize_json, "optimize")
    assert optimize is not None
    check_metric(metric)
    if trials is not None and trials < 1:
        raise PlatformError(f"trials: expected at least 1, found {trials}")
    return ResearchRequest(
        optimize, metric, trials, seed, workers, walk_forward_windows, train, top
    )


def run_research(
    request: ResearchRequest,
    config: BotConfig,
    registry: StrategyRegistry,
    frame: pd.DataFrame,
    *,
    base_params: dict[str, Any],
    as_json: bool,
    report_path: Path | None = None,
) -> None:
    """Search (or walk forward), with a progress bar on stderr, and print the outcome; a
    walk-forward also writes its report to ``report_path`` when given."""
    space = request.space(registry, config.strategy_class)
    options: dict[str, Any] = {
        "metric": request.metric,
        "base_params": base_params,
        "trials": request.trials,
        "seed": request.seed,
    }
    with (
        BacktestPool(config, registry, frame, workers=request.workers) as pool,
        _ProgressBar(not as_json) as progress,
    ):
        if request.windows is None:
            found = search(pool, space, progress=progress, **options)
        else:
            walked = walk_forward(
                pool,
                space,
                windows=request.windows,
                train=request.train,
                progress=progress,
                **options,
            )
    if request.windows is None:
        if as_json:
            click.echo(json.dumps(search_json(found), default=str))
        else:
            print_search(found, config, request.top)
        return
    if as_json:
        click.echo(json.dumps(walk_forward_json(walked), default=str))
    else:
        print_walk_forward(walked, config)
    if report_path is not None:
        _write_walk_forward_report(report_path, walked, frame, config)


def _write_walk_forward_report(
    path: Path, walked: WalkForwardResult, frame: pd.DataFrame, config: BotConfig
) -> None:
    """plotly is imported only when a report is asked for."""
    from trading_platform.reports.walk_forward_html import write_walk_forward_report

    try:
        written = write_walk_forward_report(
            path.expanduser(),
            walked,
            frame,
            strategy=config.strategy_class,
            symbol=config.symbol,
            timeframe=config.timeframe,
        )
    except OSError as error:
        raise click.ClickException(
            f"--report: cannot write {path}: {error.strerror or error}"
        ) from None
    err_console.print(f"report written to {written}", soft_wrap=True, markup=False)


class _ProgressBar:
    """A rich progress bar of combinations (a no-op callback with ``--json``)."""

    def __init__(self, shown: bool) -> None:
        self.bar = (
            Progress(
                TextColumn("backtests"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err_console,
                transient=True,
            )
            if shown
            else None
        )
        self.task = self.bar.add_task("backtests", total=None) if self.bar else None

    def __enter__(self) -> Callable[[int, int], None]:
        if self.bar is not None:
            self.bar.start()
        return self.update

    def update(self, done: int, total: int) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:,.3f}"


def _pct(value: Any) -> str:
    return "-" if value is None else f"{value * 100:,.2f} %"


def _params(varied: dict[str, Any]) -> str:
    return " ".join(f"{name}={value}" for name, value in varied.items())


def print_search(result: SearchResult, config: BotConfig, top: int) -> None:
    """The best ``top`` combinations, then the skipped ones with their reasons."""
    metric = result.metric
    columns = [
        Column("#", justify="right"),
        Column("params", fold=True),
        Column(metric, justify="right"),
        Column("return", justify="right"),
        Column("max dd", justify="right", drop=2),
        Column("trades", justify="right", drop=1),
    ]
    rows = [
        (
            str(rank),
            _params(trial.varied),
            _num((trial.metrics or {}).get(metric)),
            _pct((trial.metrics or {}).get("total_return")),
            _pct((trial.metrics or {}).get("max_drawdown_pct")),
            str((trial.metrics or {}).get("trade_count", "-")),
        )
        for rank, trial in enumerate(result.ranked[:top], 1)
    ]
    better = "smaller" if result.direction == "minimize" else "larger"
    console.print(
        f"{config.strategy_class} on {config.symbol}: {len(result.ranked)} of "
        f"{result.combinations} combinations by {metric} ({better} is better)",
        soft_wrap=True,
    )
    console.print(fitted_table(console, columns, rows))
    if len(result.ranked) > top:
        console.print(f"... {len(result.ranked) - top} more (--top N, or --json for all)")
    if result.skipped:
        console.print(f"skipped {len(result.skipped)}:")
        for trial in result.skipped[:SKIPPED_SHOWN]:
            console.print(f"  {_params(trial.varied)}: {trial.skipped}", soft_wrap=True)
        if len(result.skipped) > SKIPPED_SHOWN:
            console.print(f"  ... {len(result.skipped) - SKIPPED_SHOWN} more (--json lists all)")
    console.print(f"{len(result.ranked)} backtests in {result.elapsed_seconds:.1f} s")


def print_walk_forward(result: WalkForwardResult, config: BotConfig) -> None:
    """One row per window (its test period, winner, returns in and out of sample), then the
    stitched out-of-sample figures and the efficiency."""
    columns = [
        Column("#", justify="right"),
        Column("test period"),
        Column("params", fold=True),
        Column("IS return", justify="right"),
        Column("OOS return", justify="right"),
        Column("efficiency", justify="right", drop=1),
    ]
    rows = []
    for window in result.windows:
        bounds = window.window
        first, last = result.period(bounds.test_start, bounds.test_stop)
        rows.append(
            (
                str(bounds.index + 1),
                f"{short_time(first)} .. {short_time(last)}",
                _params(best.varied) if (best := window.search.best) else (window.problem or "-"),
                _pct((window.in_sample or {}).get("total_return")),
                _pct((window.out_of_sample or {}).get("total_return")),
                _num(window.efficiency),
            )
        )
    console.print(
        f"walk-forward of {config.strategy_class} on {config.symbol}: {len(result.windows)} "
        f"windows, train {result.train_fraction:g}, by {result.metric}",
        soft_wrap=True,
    )
    console.print(fitted_table(console, columns, rows))
    oos = result.out_of_sample
    console.print(
        f"out of sample (stitched): return {_pct(oos['total_return'])}, "
        f"sharpe {_num(oos['sharpe'])}, max drawdown {_pct(oos['max_drawdown_pct'])}, "
        f"trades {oos['trade_count']}"
    )
    console.print(f"walk-forward efficiency: {_num(result.efficiency)}")
