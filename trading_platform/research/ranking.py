"""Which metric a search ranks by, which way is better, and the order of results.

The metrics are the ones :func:`~trading_platform.metrics.summarize` reports (so a metric
added there can be ranked by at once); drawdowns are better smaller, every other figure
larger.  A figure that is undefined (``None``: Sharpe without volatility, win rate without
trades) ranks after every defined one, whatever the direction: "no data" is never best.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, TypeVar

from trading_platform.errors import ConfigError

Direction = Literal["maximize", "minimize"]
T = TypeVar("T")

_LOWER_IS_BETTER = ("drawdown",)


def metric_names() -> list[str]:
    """Every figure a backtest reports, in the order it reports them."""
    import pandas as pd

    from trading_platform.metrics import summarize

    return list(summarize([], pd.Series(dtype=float), 1.0))


def direction_of(metric: str) -> Direction:
    return "minimize" if any(word in metric for word in _LOWER_IS_BETTER) else "maximize"


def check_metric(metric: str, field: str = "metric") -> Direction:
    """The metric's direction, or a :class:`ConfigError` listing the metrics there are."""
    names = metric_names()
    if metric not in names:
        raise ConfigError(field, f"unknown metric {metric!r}; one of {', '.join(names)}")
    return direction_of(metric)


def sort_key(value: Any, direction: Direction) -> tuple[int, float]:
    """Ascending key: defined values best first, then undefined (None or NaN) ones."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return (1, 0.0)
    number = float(value)
    return (0, -number if direction == "maximize" else number)


def rank(items: Iterable[T], value_of: Callable[[T], Any], direction: Direction) -> Sequence[T]:
    """``items`` best first; ties keep their order (the order combinations were tried)."""
    return sorted(items, key=lambda item: sort_key(value_of(item), direction))
