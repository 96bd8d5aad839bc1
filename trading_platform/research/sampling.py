"""``--trials N``: sample a large search space with Optuna's TPE sampler instead of trying
every combination.

Optuna's ask-and-tell interface keeps the backtests in the platform's own
:class:`~trading_platform.research.pool.BacktestPool`: trials are asked in batches of as many
as there are workers, backtested at once, and told back in the order they were asked, so a
search is reproducible for a given ``seed`` and number of workers (the sampler sees the same
history whichever backtest finishes first).  A combination the sampler draws again is not
backtested again: the study is told the known value and the combination is listed once.  An
invalid or failed combination, and one whose metric is undefined, is told as failed.

A range is sampled in its order (``suggest_int``; a float range by the index of its grid
values, so every sampled value is on the grid); a list is categorical.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from trading_platform.errors import ConfigError
from trading_platform.research.evaluate import Progress, Trial, evaluate
from trading_platform.research.pool import BacktestPool
from trading_platform.research.ranking import Direction
from trading_platform.research.search_space import Dimension, SearchSpace

if TYPE_CHECKING:
    import optuna

#: what the study is told for an infinite figure (a profit factor with no losing trade)
LARGEST = 1e300


def run_trials(
    pool: BacktestPool,
    space: SearchSpace,
    base: dict[str, Any],
    start: int,
    stop: int,
    *,
    metric: str,
    direction: Direction,
    trials: int,
    seed: int | None,
    progress: Progress | None,
) -> list[Trial]:
    """``trials`` samples of ``space``; the distinct combinations, each with its result."""
    if trials < 1:
        raise ConfigError("trials", f"expected at least 1, found {trials}")
    try:
        import optuna
    except ImportError:  # pragma: no cover - optuna is a dependency
        raise ConfigError("trials", "sampling needs optuna (pip install optuna)") from None
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=seed))
    known: dict[str, Trial] = {}
    drawn = 0
    while drawn < trials:
        offset = drawn
        asked: list[tuple[optuna.trial.Trial, str, dict[str, Any]]] = []
        fresh: list[tuple[int, dict[str, Any]]] = []
        for _ in range(min(pool.workers, trials - drawn)):
            trial = study.ask()
            varied = {dimension.name: _suggest(trial, dimension) for dimension in space.dimensions}
            key = json.dumps(varied, sort_keys=True)
            if key not in known and all(key != other for _, other, _ in asked):
                fresh.append((drawn, varied))
            asked.append((trial, key, varied))
            drawn += 1

        def batch_progress(done: int, _: int, offset: int = offset) -> None:
            if progress is not None:
                progress(offset + done, trials)

        for result in evaluate(pool, fresh, base, start, stop, trials, batch_progress):
            known[json.dumps(result.varied, sort_keys=True)] = result
        for trial, key, _ in asked:
            value = _value(known[key], metric)
            if value is None:
                study.tell(trial, state=TrialState.FAIL)
            else:
                study.tell(trial, value)
        if progress is not None:
            progress(min(drawn, trials), trials)
    return list(known.values())


def _suggest(trial: optuna.Trial, dimension: Dimension) -> Any:
    if dimension.kind == "int":
        assert isinstance(dimension.step, int)
        return trial.suggest_int(dimension.name, dimension.low, dimension.high, step=dimension.step)
    if dimension.kind == "float":
        index = trial.suggest_int(dimension.name, 0, len(dimension.values) - 1)
        return dimension.values[index]
    return trial.suggest_categorical(dimension.name, list(dimension.values))


def _value(trial: Trial, metric: str) -> float | None:
    if trial.skipped is not None or trial.metrics is None:
        return None
    value = trial.metrics.get(metric)
    if value is None or math.isnan(float(value)):
        return None
    return max(min(float(value), LARGEST), -LARGEST)
