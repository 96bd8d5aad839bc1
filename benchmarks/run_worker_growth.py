"""How much a paper bot's memory grows per bar, with and without the platform's bounds.

Runs a shipped strategy bar by bar as a paper run does (the platform's Cerebro for live
runs: no preload, the simulated broker, the trade recorder), in this process, on generated
bars, twice per setting: ``--bars`` and twice as many.  What the run still holds at its end
(``tracemalloc``, Cerebro alive, the DataFrame the bars come from left out) grows by
``growth / bar`` between the two; the bars per
second show what the bounded buffers cost.  ``unbounded`` is backtrader as it is (every
line, order and trade kept); ``bounded`` is what paper and live bots run
(:mod:`trading_platform.engine.memory`, ``live.lookback_bars``).

Goal (issue 13): a bot's growth per bar bounded: ~0 bytes per bar once its window is full.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from trading_platform.config import validate_bot_config
from trading_platform.engine.builder import build_cerebro
from trading_platform.engine.memory import BoundedMemory
from trading_platform.engine.recorder import MemorySink
from trading_platform.feeds.demo_data import generate_ohlcv
from trading_platform.feeds.history import pandas_feed
from trading_platform.strategy_handler import load_registry

#: the source of the bars here, a DataFrame pandas converts when the run starts; a real run's
#: bars come from a queue and are not kept
_DATA_SOURCE = ("*/pandas/*", "*/numpy/*", "*/pyarrow/*")


def _held_by_the_run() -> int:
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, pattern) for pattern in _DATA_SOURCE]
    )
    return sum(stat.size for stat in snapshot.statistics("filename"))


def run(strategy: str, bars: int, lookback: int, bounded: bool, traced: bool) -> tuple[int, float]:
    """Bytes still held at the end of the run (0 when not traced), and bars per second."""
    registry, _ = load_registry()
    config = validate_bot_config(
        name="growth",
        strategy=strategy,
        mode="paper",
        exchange="replay",
        symbol="BTC/USDT",
        timeframe="1m",
        config={"live": {"lookback_bars": lookback}, "broker": {"cash": 1e9}},
        registry=registry,
    )
    validated = registry.validate(config.strategy_class, config.params)
    frame = generate_ohlcv(bars=bars, seed=11, volatility=0.02)
    gc.collect()
    if traced:
        tracemalloc.start()
    cerebro = build_cerebro(
        config, validated, pandas_feed(frame, "1m"), sink=MemorySink(), live=True
    )
    if not bounded:  # backtrader as it is: the recorder keeps all, no BoundedMemory
        cerebro.analyzers = [
            (cls, args, {**kwargs, "equity_window": None} if "equity_window" in kwargs else kwargs)
            for cls, args, kwargs in cerebro.analyzers
            if cls is not BoundedMemory
        ]
    started = time.perf_counter()
    (strat,) = cerebro.run()
    elapsed = time.perf_counter() - started
    sink: MemorySink = strat.analyzers[0].sink
    sink.fills.clear()  # the database keeps these in a real run: not the run's memory
    sink.trades.clear()
    gc.collect()
    held = _held_by_the_run() if traced else 0
    if traced:
        tracemalloc.stop()
    return held, bars / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategy", default="sma_cross")
    parser.add_argument("--bars", type=int, default=20_000)
    parser.add_argument("--lookback-bars", type=int, default=10_000)
    args = parser.parse_args()
    n1, n2 = args.bars, 2 * args.bars
    print(f"{args.strategy}, lookback {args.lookback_bars:,} bars; runs of {n1:,} and {n2:,} bars")
    print(
        f"{'setting':<10} {'held at ' + format(n1, ','):>16} {'held at ' + format(n2, ','):>16}"
        f" {'growth/bar':>11} {'bars/s':>9}"
    )
    run(args.strategy, 1_000, args.lookback_bars, True, traced=False)  # imports, caches
    for bounded in (False, True):
        held1, _ = run(args.strategy, n1, args.lookback_bars, bounded, traced=True)
        held2, _ = run(args.strategy, n2, args.lookback_bars, bounded, traced=True)
        _, speed = run(args.strategy, n2, args.lookback_bars, bounded, traced=False)
        per_bar = (held2 - held1) / (n2 - n1)
        name = "bounded" if bounded else "unbounded"
        print(
            f"{name:<10} {held1 / 1e6:>13.2f} MB {held2 / 1e6:>13.2f} MB "
            f"{per_bar:>9.0f} B {speed:>9,.0f}"
        )


if __name__ == "__main__":
    main()
