"""Backtests of one config over one frame, many params, on every core.

A :class:`BacktestPool` is a ``ProcessPoolExecutor`` whose workers receive the base config,
the registry and the whole frame once, through the initializer; a task is then only the
params and a range of bar positions, so 64 combinations over 100,000 bars send 64 small
dicts, not 64 copies of the bars.  Each task runs
:func:`~trading_platform.engine.backtest.run_backtest` on ``frame.iloc[start:stop]``, so a
result is exactly what a single backtest with those params on those bars gives.

Workers are forked where the platform can fork (Linux): they inherit the loaded strategy
plugins and the frame without pickling them, as backtrader's own ``optstrategy`` does, and
start in milliseconds.  Elsewhere the platform's default start method is used and the
initializer's arguments are pickled.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import OrderedDict
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from trading_platform.config import BotConfig
from trading_platform.engine.backtest import run_backtest
from trading_platform.feeds.history import reusable_pandas_feed
from trading_platform.strategy_handler import StrategyRegistry

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Task:
    """Backtest ``params`` (the strategy's whole params) on bars ``start`` to ``stop``."""

    params: dict[str, Any]
    start: int
    stop: int
    keep_equity: bool = False


@dataclass(frozen=True)
class Outcome:
    """What a search needs of a backtest: its metrics, and for an out-of-sample test the
    equity curve and closed-trade P&Ls; ``error`` when the backtest raised."""

    task: Task
    metrics: dict[str, Any] | None = None
    final_value: float | None = None
    bars: int = 0
    equity: pd.Series | None = None
    pnls: tuple[float, ...] = ()
    error: str | None = None
    worker: int = 0
    """the process id of the worker that ran it"""


def default_workers() -> int:
    """Every core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


#: bar ranges whose loaded bars a worker keeps (a walk-forward window uses two)
LOADED_RANGES = 8


class _Ranges(OrderedDict[object, Any]):
    """A worker's loaded bars per bar range (see ReusablePandasData), the last
    :data:`LOADED_RANGES` ranges."""

    def __setitem__(self, key: object, value: Any) -> None:
        super().__setitem__(key, value)
        while len(self) > LOADED_RANGES:
            self.popitem(last=False)


_state: tuple[BotConfig, StrategyRegistry, pd.DataFrame] | None = None
_loaded = _Ranges()


def _initialize(config: BotConfig, registry: StrategyRegistry, frame: pd.DataFrame) -> None:
    global _state
    _state = (config, registry, frame)
    _loaded.clear()


def run_task(task: Task) -> Outcome:
    """In a worker: one backtest (also callable in-process after :func:`_initialize`)."""
    assert _state is not None, "run_task outside a BacktestPool worker"
    config, registry, frame = _state
    bars = frame.iloc[task.start : task.stop]
    try:
        result = run_backtest(
            config.model_copy(update={"params": task.params}),
            registry,
            frame=bars,
            feed=reusable_pandas_feed(bars, config.timeframe, _loaded, (task.start, task.stop)),
        )
    except Exception as exc:  # noqa: BLE001 - a strategy's bug fails its combination only
        return Outcome(task, error=f"{type(exc).__name__}: {exc}", worker=os.getpid())
    return Outcome(
        task,
        metrics=result.metrics,
        final_value=result.final_value,
        bars=result.bars,
        equity=result.equity if task.keep_equity else None,
        pnls=tuple(trade.pnl_net for trade in result.trades) if task.keep_equity else (),
        worker=os.getpid(),
    )


class BacktestPool:
    """``with BacktestPool(config, registry, frame, workers=2) as pool: pool.submit(task)``."""

    def __init__(
        self,
        config: BotConfig,
        registry: StrategyRegistry,
        frame: pd.DataFrame,
        *,
        workers: int | None = None,
    ) -> None:
        self.config = config
        self.registry = registry
        self.frame = frame
        self.workers = workers or default_workers()
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else None)
        self._executor = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=context,
            initializer=_initialize,
            initargs=(config, registry, frame),
        )
        # Start the workers now, before the caller starts threads of its own (a progress
        # bar's refresh thread): a fork copies only the forking thread.
        self._executor.submit(os.getpid).result()

    @property
    def bars(self) -> int:
        return len(self.frame)

    def submit(self, task: Task) -> Future[Outcome]:
        return self._executor.submit(run_task, task)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> BacktestPool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
