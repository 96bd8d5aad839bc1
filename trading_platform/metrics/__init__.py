"""Performance figures as pure functions (no I/O): see ``performance``."""

from trading_platform.metrics.performance import (
    Drawdown,
    calmar_ratio,
    daily_returns,
    expectancy,
    max_drawdown,
    profit_factor,
    sharpe_ratio,
    sortino_ratio,
    summarize,
    total_return,
    trade_count,
    win_rate,
)

__all__ = [
    "Drawdown",
    "calmar_ratio",
    "daily_returns",
    "expectancy",
    "max_drawdown",
    "profit_factor",
    "sharpe_ratio",
    "sortino_ratio",
    "summarize",
    "total_return",
    "trade_count",
    "win_rate",
]
