"""Platform backtest vs plain backtrader: bars per second over the same 100,000 bars.

Both run the shipped ``sma_cross`` strategy class on the same DataFrame with the same broker
settings, in this process, alternately, several rounds; the best round of each is reported
(the least disturbed by the rest of the machine).  Plain backtrader runs with
``stdstats=False`` like the platform, so the ratio measures only what the platform adds:
config validation, the trade recorder (fills, equity curve) and the metrics.

Goal (issue 2): platform / plain >= 0.9.
"""

from __future__ import annotations

import argparse
import time

import backtrader as bt

from trading_platform.config import validate_bot_config
from trading_platform.engine.backtest import run_backtest
from trading_platform.feeds.demo_data import generate_ohlcv
from trading_platform.strategy_handler import load_registry


def plain_backtrader(frame, strategy_cls, params) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame, timeframe=bt.TimeFrame.Minutes))
    cerebro.addstrategy(strategy_cls, **params)
    cerebro.broker.setcash(10_000.0)
    cerebro.broker.setcommission(commission=0.001)
    cerebro.addsizer(bt.sizers.PercentSizer, percents=95)
    cerebro.run()
    return time.perf_counter() - started, cerebro.broker.getvalue()


def platform_backtest(frame, registry) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    config = validate_bot_config(
        name="bench",
        strategy="sma_cross",
        mode="backtest",
        exchange="replay",
        symbol="BTC/USDT",
        timeframe="1m",
        config={
            "params": {"fast": 10, "slow": 30},
            "broker": {"cash": 10_000.0, "commission": 0.001},
        },
        registry=registry,
    )
    result = run_backtest(config, registry, frame=frame)
    return time.perf_counter() - started, result.final_value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    frame = generate_ohlcv(bars=args.bars, timeframe_seconds=60, seed=42)
    registry, _ = load_registry()
    strategy = registry.validate("sma_cross", {"fast": 10, "slow": 30})
    plain_times, platform_times = [], []
    for _ in range(args.rounds):
        seconds, plain_value = plain_backtrader(frame, strategy.cls, strategy.params)
        plain_times.append(seconds)
        seconds, platform_value = platform_backtest(frame, registry)
        platform_times.append(seconds)
        if abs(plain_value - platform_value) > 1e-6 * abs(plain_value):
            raise SystemExit(f"results differ: plain {plain_value} platform {platform_value}")
    plain_rate = args.bars / min(plain_times)
    platform_rate = args.bars / min(platform_times)
    print(f"bars: {args.bars:,}  rounds: {args.rounds}")
    print(f"plain backtrader: {plain_rate:,.0f} bars/s (best {min(plain_times):.2f} s)")
    print(f"platform:         {platform_rate:,.0f} bars/s (best {min(platform_times):.2f} s)")
    print(f"ratio platform/plain: {platform_rate / plain_rate:.3f} (goal >= 0.9)")


if __name__ == "__main__":
    main()
