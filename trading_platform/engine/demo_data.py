"""Generated demo market data: the product ships no prices and downloads none.

A geometric random walk whose drift switches between up, down and sideways regimes every
few dozen bars, so trend, mean-reversion and breakout strategies all find something to do.
The same seed always gives the same series.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

DEMO_SYMBOL = "BTC/USDT"


def generate_ohlcv(
    bars: int = 1000,
    start: dt.datetime = dt.datetime(2023, 1, 1),
    timeframe_seconds: int = 86_400,
    start_price: float = 30_000.0,
    seed: int = 7,
    volatility: float = 0.02,
) -> pd.DataFrame:
    """``bars`` OHLCV bars in the shape :func:`~trading_platform.engine.data.load_ohlcv`
    returns (naive UTC DatetimeIndex ``datetime``; open, high, low, close, volume,
    openinterest)."""
    if bars < 1:
        raise ValueError(f"bars must be positive, found {bars}")
    rng = np.random.default_rng(seed)
    regime_lengths = rng.integers(30, 120, size=bars // 30 + 2)
    drifts = rng.choice([-1.0, 0.0, 1.0], size=len(regime_lengths)) * volatility * 0.25
    drift = np.repeat(drifts, regime_lengths)[:bars]
    log_returns = drift + rng.normal(0.0, volatility, size=bars)
    close = start_price * np.exp(np.cumsum(log_returns))
    open_ = np.concatenate([[start_price], close[:-1]])
    spread = np.abs(rng.normal(0.0, volatility * 0.5, size=bars))
    high = np.maximum(open_, close) * (1 + spread)
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0.0, volatility * 0.5, size=bars)))
    volume = rng.lognormal(mean=3.0, sigma=0.5, size=bars)
    index = pd.date_range(start=start, periods=bars, freq=pd.Timedelta(seconds=timeframe_seconds))
    frame = pd.DataFrame(
        {
            "open": np.round(open_, 2),
            "high": np.round(high, 2),
            "low": np.round(low, 2),
            "close": np.round(close, 2),
            "volume": np.round(volume, 4),
            "openinterest": 0.0,
        },
        index=pd.DatetimeIndex(index, name="datetime"),
    )
    # rounding may put open/close a cent outside the range: keep the bars consistent
    frame["high"] = frame[["open", "high", "close"]].max(axis=1)
    frame["low"] = frame[["open", "low", "close"]].min(axis=1)
    return frame


def write_demo_csv(path: Path, **kwargs: object) -> Path:
    """The generated series as ``timestamp,open,high,low,close,volume`` (ISO timestamps)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = generate_ohlcv(**kwargs)  # type: ignore[arg-type]
    out = frame[["open", "high", "low", "close", "volume"]].copy()
    out.index = out.index.strftime("%Y-%m-%dT%H:%M:%S")
    out.index.name = "timestamp"
    out.to_csv(path)
    return path
