"""Walk-forward analysis: optimise on a window's training part, test the winner on the bars
that follow, roll the window on, and judge the strategy by the out-of-sample parts only.

**How windows are cut (rolling).**  ``windows`` windows of equal length ``L`` each start
with a training part of ``round(train * L)`` bars followed by a test part of the rest; the
next window starts one test part later, so the test parts follow each other without gap or
overlap and the last one ends at the last bar.  With ``T`` bars, ``N`` windows and fraction
``f`` the training part is ``f * T / (f + N * (1 - f))`` bars and each test part
``(T - train) // N``; the few bars that do not divide evenly are left out at the *start* of
the data.  A window's test part never overlaps its own training part (it may overlap the
training parts of later windows: they are in its past).  ``--walk-forward 6 --train 0.7``
on 1,000 bars: training parts of 280 bars, test parts of 120, the test parts covering the
last 720 bars.

**The test.**  The winner (the best combination by the metric, among those where it is
defined) is backtested on the test part alone, starting with the configured cash, as a
fresh backtest: its indicators warm up on the first bars of the test part (it does not look
back into the training part).

**The stitched out-of-sample curve** chains the windows' equity curves as if the capital
rolled from one window into the next: window ``k``'s curve is scaled by (value at the end
of the windows before it / initial cash), so each part starts where the previous one ended.
Its metrics (``out_of_sample``) are those of one backtest over that curve, with the trades'
P&Ls scaled the same way.

**Walk-forward efficiency** compares the return per bar out of sample with the return per bar
in sample, so a short test part is compared fairly with its longer training part:
``(R_oos / bars_oos) / (R_is / bars_is)``, per window and over all windows (the sums of the
windows' returns and bars).  1.0 means the strategy kept its in-sample pace out of sample;
undefined (``None``) when the in-sample return is zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from trading_platform.errors import ConfigError
from trading_platform.metrics import summarize
from trading_platform.research.evaluate import Progress
from trading_platform.research.optimize import SearchResult, search
from trading_platform.research.pool import BacktestPool, Task
from trading_platform.research.search_space import SearchSpace

if TYPE_CHECKING:
    import pandas as pd

#: a return at or below this (in size) is zero: efficiency is then undefined
ZERO_RETURN = 1e-12


@dataclass(frozen=True)
class Window:
    """Bar positions, ``stop`` exclusive: train ``[train_start, test_start)``, test
    ``[test_start, test_stop)``."""

    index: int
    train_start: int
    test_start: int
    test_stop: int

    @property
    def train_bars(self) -> int:
        return self.test_start - self.train_start

    @property
    def test_bars(self) -> int:
        return self.test_stop - self.test_start


@dataclass(frozen=True)
class WindowResult:
    window: Window
    search: SearchResult
    params: dict[str, Any] | None = None
    """the winner's params (None: no combination had a defined metric)"""
    in_sample: dict[str, Any] | None = None
    """the winner's metrics on the training part"""
    out_of_sample: dict[str, Any] | None = None
    """the winner's metrics on the test part"""
    equity: pd.Series | None = field(default=None, repr=False)
    """the test part's equity curve"""
    pnls: tuple[float, ...] = ()
    efficiency: float | None = None
    problem: str | None = None

    def returns(self) -> tuple[float, int, float, int] | None:
        """``(R_is, bars_is, R_oos, bars_oos)`` for the efficiency, when both are known."""
        if self.in_sample is None or self.out_of_sample is None:
            return None
        return (
            self.in_sample["total_return"],
            self.window.train_bars,
            self.out_of_sample["total_return"],
            self.window.test_bars,
        )


@dataclass(frozen=True)
class WalkForwardResult:
    metric: str
    train_fraction: float
    windows: list[WindowResult]
    equity: pd.Series
    """the stitched out-of-sample equity curve"""
    out_of_sample: dict[str, Any]
    efficiency: float | None
    initial_value: float
    bar_times: pd.Index = field(repr=False)
    """the times of the bars the windows' positions count"""

    def period(self, start: int, stop: int) -> tuple[Any, Any]:
        """The first and last bar time of positions ``start:stop``."""
        return self.bar_times[start], self.bar_times[stop - 1]


def cut_windows(bars: int, windows: int, train: float) -> list[Window]:
    """The rolling windows over ``bars`` bars (see the module docstring)."""
    if windows < 1:
        raise ConfigError("walk_forward", f"expected at least 1 window, found {windows}")
    if not 0 < train < 1:
        raise ConfigError("train", f"expected a fraction between 0 and 1, found {train}")
    train_bars = round(train * bars / (train + windows * (1 - train)))
    test_bars = (bars - train_bars) // windows if bars > train_bars else 0
    if train_bars < 2 or test_bars < 2:
        raise ConfigError(
            "walk_forward",
            f"{bars:,} bars are too few for {windows} windows with train {train}: a training "
            f"part of {train_bars} and test parts of {test_bars} bars",
        )
    offset = bars - train_bars - windows * test_bars
    return [
        Window(
            index=index,
            train_start=offset + index * test_bars,
            test_start=offset + index * test_bars + train_bars,
            test_stop=offset + (index + 1) * test_bars + train_bars,
        )
        for index in range(windows)
    ]


def walk_forward(
    pool: BacktestPool,
    space: SearchSpace,
    *,
    windows: int,
    train: float,
    metric: str,
    base_params: dict[str, Any] | None = None,
    trials: int | None = None,
    seed: int | None = None,
    progress: Progress | None = None,
) -> WalkForwardResult:
    """Optimise and test every window in turn; the stitched curve and the efficiency."""
    cut = cut_windows(pool.bars, windows, train)
    per_window = space.size if trials is None else trials
    total = len(cut) * (per_window + 1)
    results = []
    for window in cut:
        done = window.index * (per_window + 1)

        def window_progress(count: int, _: int, done: int = done) -> None:
            if progress is not None:
                progress(done + count, total)

        found = search(
            pool,
            space,
            metric=metric,
            base_params=base_params,
            trials=trials,
            seed=seed,
            start=window.train_start,
            stop=window.test_start,
            progress=window_progress,
        )
        results.append(_test(pool, window, found))
        window_progress(per_window + 1, total)
    initial = pool.config.broker.cash
    equity, pnls = stitch(results, initial)
    return WalkForwardResult(
        metric=metric,
        train_fraction=train,
        windows=results,
        equity=equity,
        out_of_sample=summarize(
            pnls, equity, initial, periods_per_year=pool.config.periods_per_year
        ),
        efficiency=efficiency([parts for r in results if (parts := r.returns()) is not None]),
        initial_value=initial,
        bar_times=pool.frame.index,
    )


def _test(pool: BacktestPool, window: Window, found: SearchResult) -> WindowResult:
    best = found.best
    if best is None:
        return WindowResult(window, found, problem=f"no combination had a defined {found.metric}")
    task = Task(best.params, window.test_start, window.test_stop, keep_equity=True)
    outcome = pool.submit(task).result()
    if outcome.error is not None or outcome.metrics is None:
        return WindowResult(window, found, best.params, best.metrics, problem=outcome.error)
    result = WindowResult(
        window,
        found,
        best.params,
        best.metrics,
        outcome.metrics,
        equity=outcome.equity,
        pnls=outcome.pnls,
    )
    parts = result.returns()
    return replace(result, efficiency=efficiency([parts] if parts else []))


def efficiency(parts: list[tuple[float, int, float, int]]) -> float | None:
    """``(sum R_oos / sum bars_oos) / (sum R_is / sum bars_is)`` over ``(R_is, bars_is,
    R_oos, bars_oos)`` parts; None without parts or with a zero in-sample return."""
    if not parts:
        return None
    in_sample = sum(part[0] for part in parts) / sum(part[1] for part in parts)
    out_of_sample = sum(part[2] for part in parts) / sum(part[3] for part in parts)
    if abs(in_sample) <= ZERO_RETURN:
        return None
    return out_of_sample / in_sample


def stitch(results: list[WindowResult], initial: float) -> tuple[pd.Series, list[float]]:
    """The out-of-sample curves chained by compounding, and the trades' P&Ls scaled alike."""
    import pandas as pd

    value = initial
    curves = []
    pnls: list[float] = []
    for result in results:
        curve = result.equity
        if curve is None:
            continue
        scale = value / initial
        if len(curve):
            curves.append(curve * scale)
            value = float(curve.iloc[-1]) * scale
        pnls.extend(pnl * scale for pnl in result.pnls)
    if not curves:
        return pd.Series(dtype="float64"), pnls
    return pd.concat(curves), pnls
