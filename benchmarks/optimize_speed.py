"""Parameter search: the platform's pool vs plain backtrader's ``optstrategy`` on the same bars.

Both run the shipped ``sma_cross`` strategy class over the same DataFrame, with the same
broker settings and the same combinations (a grid of ``fast`` x ``slow``, all valid), with the
same number of processes, in this run: first plain backtrader (``optstrategy``,
``maxcpus=workers``, ``stdstats=False`` like the platform, data preloaded once before the
fork: backtrader's defaults ``optdatas``/``optreturn``), then the platform
(:func:`~trading_platform.research.optimize.search` over a
:class:`~trading_platform.research.pool.BacktestPool`).  The final values of every
combination must agree.  Then the platform alone, on the first ``--speedup-combos``
combinations, with one process and with two: the speed-up from one core to two.

Goal (issue 14): platform / optstrategy wall time ratio >= 0.9 (speed, so optstrategy's time
over ours).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
import types

import backtrader as bt

from trading_platform.config import validate_bot_config
from trading_platform.feeds.demo_data import generate_ohlcv
from trading_platform.research.optimize import search
from trading_platform.research.pool import BacktestPool, default_workers
from trading_platform.research.search_space import parse_search_space
from trading_platform.strategy_handler import load_registry
from trading_platform.strategy_handler.registry import PLUGIN_PACKAGE


class FinalValue(bt.Analyzer):
    """The broker's value at the end: what the comparison checks (no per-bar work)."""

    def stop(self) -> None:
        self.value = self.strategy.broker.getvalue()

    def get_analysis(self) -> dict[str, float]:
        return {"value": self.value}


def grid(combos: int) -> tuple[list[int], list[int]]:
    """``fast`` and ``slow`` values giving about ``combos`` combinations, all valid."""
    side = max(1, round(combos**0.5))
    other = max(1, combos // side)
    return [5 + 5 * i for i in range(side)], [60 + 10 * i for i in range(other)]


def plain_optstrategy(frame, strategy_cls, fast, slow, workers):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    cerebro = bt.Cerebro(stdstats=False, maxcpus=workers)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame, timeframe=bt.TimeFrame.Minutes))
    cerebro.optstrategy(strategy_cls, fast=fast, slow=slow)
    cerebro.broker.setcash(10_000.0)
    cerebro.broker.setcommission(commission=0.001)
    cerebro.addsizer(bt.sizers.PercentSizer, percents=95)
    cerebro.addanalyzer(FinalValue, _name="final")
    runs = cerebro.run()
    values = {
        (run[0].params.fast, run[0].params.slow): run[0].analyzers.final.get_analysis()["value"]
        for run in runs
    }
    return time.perf_counter() - started, values


def platform_search(frame, registry, fast, slow, workers):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    config = validate_bot_config(
        name="bench",
        strategy="sma_cross",
        mode="backtest",
        exchange="replay",
        symbol="BTC/USDT",
        timeframe="1m",
        config={
            "params": {"fast": fast[0], "slow": slow[0]},
            "broker": {"cash": 10_000.0, "commission": 0.001},
        },
        registry=registry,
    )
    space = parse_search_space({"fast": fast, "slow": slow}, registry.get("sma_cross").Params)
    with BacktestPool(config, registry, frame, workers=workers) as pool:
        result = search(pool, space, metric="sharpe")
    assert not result.skipped, result.skipped
    values = {(t.params["fast"], t.params["slow"]): t.final_value for t in result.ranked}
    return time.perf_counter() - started, values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=100_000)
    parser.add_argument("--combos", type=int, default=64)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument(
        "--speedup-combos",
        type=int,
        default=None,
        help="combinations of the 1-core vs 2-core run (default: --combos)",
    )
    args = parser.parse_args()

    # 0.2 % a minute: the default 2 % (a daily figure) drives 100,000 minute bars to zero,
    # where a percent-of-equity sizer divides by zero
    frame = generate_ohlcv(bars=args.bars, timeframe_seconds=60, seed=42, volatility=0.002)
    # optstrategy pickles the strategy class to its workers, by module name: make the
    # plugins' parent package importable (the platform's pool forks and pickles no class)
    sys.modules.setdefault(PLUGIN_PACKAGE, types.ModuleType(PLUGIN_PACKAGE))
    registry, _ = load_registry()
    strategy_cls = registry.get("sma_cross")
    fast, slow = grid(args.combos)
    combos = len(fast) * len(slow)
    print(f"bars: {args.bars:,}  combinations: {combos}  processes: {args.workers}")

    plain_seconds, plain_values = plain_optstrategy(frame, strategy_cls, fast, slow, args.workers)
    print(f"plain backtrader optstrategy: {plain_seconds:.1f} s")
    ours_seconds, our_values = platform_search(frame, registry, fast, slow, args.workers)
    print(f"platform search:              {ours_seconds:.1f} s")
    for key, value in plain_values.items():
        if abs(value - our_values[key]) > 1e-6 * abs(value):
            raise SystemExit(f"results differ for {key}: plain {value} platform {our_values[key]}")
    print(f"speed ratio platform/plain: {plain_seconds / ours_seconds:.3f} (goal >= 0.9)")

    subset = args.speedup_combos or combos
    pairs = list(itertools.islice(itertools.product(fast, slow), subset))
    small_fast = sorted({f for f, _ in pairs})
    small_slow = sorted({s for _, s in pairs})
    seconds = {}
    for workers in (1, 2):
        seconds[workers], _ = platform_search(frame, registry, small_fast, small_slow, workers)
    print(
        f"platform, {len(small_fast) * len(small_slow)} combinations: 1 process "
        f"{seconds[1]:.1f} s, 2 processes {seconds[2]:.1f} s, "
        f"speed-up {seconds[1] / seconds[2]:.2f}"
    )


if __name__ == "__main__":
    main()
