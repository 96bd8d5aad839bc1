"""Backtest combinations in a pool: validate each first (an invalid one is skipped with its
reason, at no cost), submit the rest, and collect them as :class:`Trial` records."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, as_completed
from dataclasses import dataclass
from typing import Any

from trading_platform.errors import ConfigError
from trading_platform.research.pool import BacktestPool, Outcome, Task

#: called after each combination with (done, total)
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Trial:
    """One combination: ``varied`` is what the search chose, ``params`` what ran."""

    number: int
    varied: dict[str, Any]
    params: dict[str, Any]
    metrics: dict[str, Any] | None = None
    final_value: float | None = None
    skipped: str | None = None
    worker: int | None = None
    """the process id of the worker that backtested it"""


def evaluate(
    pool: BacktestPool,
    combinations: Iterable[tuple[int, dict[str, Any]]],
    base: dict[str, Any],
    start: int,
    stop: int,
    total: int,
    progress: Progress | None,
) -> Iterator[Trial]:
    """Validate, submit and collect ``(number, varied)`` combinations; yields each trial as
    it is known (skipped ones first), reporting progress against ``total``."""
    pending: dict[Future[Outcome], tuple[int, dict[str, Any]]] = {}
    finished = 0
    for number, varied in combinations:
        try:
            validated = pool.registry.validate(pool.config.strategy_class, {**base, **varied})
        except ConfigError as exc:
            finished += 1
            if progress is not None:
                progress(finished, total)
            yield Trial(number, varied, {**base, **varied}, skipped=str(exc))
            continue
        future = pool.submit(Task(validated.params, start, stop))
        pending[future] = (number, varied)
    for future in as_completed(pending):
        number, varied = pending[future]
        outcome = future.result()
        finished += 1
        if progress is not None:
            progress(finished, total)
        if outcome.error is not None:
            yield Trial(
                number, varied, outcome.task.params, skipped=outcome.error, worker=outcome.worker
            )
        else:
            yield Trial(
                number,
                varied,
                outcome.task.params,
                metrics=outcome.metrics,
                final_value=outcome.final_value,
                worker=outcome.worker,
            )
