"""Parameter search: every combination of a search space (or ``trials`` sampled by Optuna),
backtested in a :class:`~trading_platform.research.pool.BacktestPool` and ranked by a metric.

A combination is first validated by the registry, in this process: one that the strategy's
``Params`` refuse (``fast`` not below ``slow``) is *skipped with its reason* and never costs a
backtest; one whose backtest raises is skipped with the error.  The ranked trials carry the
whole params a backtest ran with, so any line of the table can be re-run with ``--params``
and gives the same figures.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from trading_platform.errors import ConfigError
from trading_platform.research.evaluate import Progress, Trial, evaluate
from trading_platform.research.pool import BacktestPool
from trading_platform.research.ranking import Direction, direction_of, rank
from trading_platform.research.sampling import run_trials
from trading_platform.research.search_space import SearchSpace, check_grid_size
from trading_platform.strategy_handler import StrategyRegistry


@dataclass(frozen=True)
class SearchResult:
    metric: str
    direction: Direction
    combinations: int
    """size of the search space (the grid's size; with trials, what they were drawn from)"""
    ranked: list[Trial]
    """backtested combinations, best first (an undefined metric last)"""
    skipped: list[Trial] = field(default_factory=list)
    start: int = 0
    stop: int = 0
    elapsed_seconds: float = 0.0

    @property
    def best(self) -> Trial | None:
        """The winner: the best trial whose metric is defined."""
        for trial in self.ranked:
            if trial.metrics is not None and trial.metrics.get(self.metric) is not None:
                return trial
        return None


def search(
    pool: BacktestPool,
    space: SearchSpace,
    *,
    metric: str,
    base_params: dict[str, Any] | None = None,
    trials: int | None = None,
    seed: int | None = None,
    start: int = 0,
    stop: int | None = None,
    progress: Progress | None = None,
) -> SearchResult:
    """Every combination of ``space`` (or ``trials`` sampled ones) on bars ``start:stop``."""
    stop = pool.bars if stop is None else stop
    direction = direction_of(metric)
    started = time.perf_counter()
    if trials is None:
        check_grid_size(space)
        grid = enumerate(space.grid())
        done = list(evaluate(pool, grid, base_params or {}, start, stop, space.size, progress))
    else:
        done = run_trials(
            pool,
            space,
            base_params or {},
            start,
            stop,
            metric=metric,
            direction=direction,
            trials=trials,
            seed=seed,
            progress=progress,
        )
    done.sort(key=lambda trial: trial.number)
    ran = [trial for trial in done if trial.skipped is None]
    return SearchResult(
        metric=metric,
        direction=direction,
        combinations=space.size,
        ranked=list(rank(ran, lambda trial: (trial.metrics or {}).get(metric), direction)),
        skipped=[trial for trial in done if trial.skipped is not None],
        start=start,
        stop=stop,
        elapsed_seconds=time.perf_counter() - started,
    )


def first_valid_params(
    registry: StrategyRegistry,
    strategy: str,
    space: SearchSpace,
    base: dict[str, Any],
    limit: int = 10_000,
) -> dict[str, Any]:
    """Base params with the first combination the registry accepts: what the command
    validates its config with (the base alone may be invalid: ``{"fast": 50}`` with the
    default ``slow`` of 30).  The first combination's reason when none of the first
    ``limit`` is valid."""
    first_problem = None
    for count, varied in enumerate(space.grid()):
        if count >= limit:
            break
        params = {**base, **varied}
        try:
            registry.validate(strategy, params)
        except ConfigError as exc:
            first_problem = first_problem or str(exc)
            continue
        return params
    raise ConfigError("optimize", f"no valid combination; the first fails with {first_problem}")
