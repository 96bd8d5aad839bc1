"""Generated demo market data: the product ships no prices and downloads none.

A geometric random walk whose drift switches between up, down and sideways regimes every
few dozen bars, so trend, mean-reversion and breakout strategies all find something to do.
The same seed always gives the same series.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

DEMO_SYMBOL = "BTC/USDT"


COLUMNS = ("open", "high", "low", "close", "volume")


def generate_ohlcv_array(
    bars: int = 1000,
    start_price: float = 30_000.0,
    seed: int = 7,
    volatility: float = 0.02,
) -> np.ndarray:
    """The demo bars as a ``(bars, 5)`` array of open, high, low, close, volume.

    NumPy only: paper bots replay this in run workers that never import pandas (which, with
    pyarrow, would cost them some 60 MB each).
    """
    if bars < 1:
        raise ValueError(f"bars must be positive, found {bars}")
    rng = np.random.default_rng(seed)
    regime_lengths = rng.integers(30, 120, size=bars // 30 + 2)
    drifts = rng.choice([-1.0, 0.0, 1.0], size=len(regime_lengths)) * volatility * 0.25
    drift = np.repeat(drifts, regime_lengths)[:bars]
    log_returns = drift + rng.normal(0.0, volatility, size=bars)
    close = start_price * np.exp(np.cumsum(log_returns))
    open_ = np.concatenate([[start_price], close[:-1]])
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0.0, volatility * 0.5, size=bars)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0.0, volatility * 0.5, size=bars)))
    volume = rng.lognormal(mean=3.0, sigma=0.5, size=bars)
    values = np.column_stack(
        [
            np.round(open_, 2),
            np.round(high, 2),
            np.round(low, 2),
            np.round(close, 2),
            np.round(volume, 4),
        ]
    )
    # rounding may put open/close a cent outside the range: keep the bars consistent
    values[:, 1] = values[:, [0, 1, 3]].max(axis=1)
    values[:, 2] = values[:, [0, 2, 3]].min(axis=1)
    return values


def generate_ohlcv(
    bars: int = 1000,
    start: dt.datetime = dt.datetime(2023, 1, 1),
    timeframe_seconds: int = 86_400,
    start_price: float = 30_000.0,
    seed: int = 7,
    volatility: float = 0.02,
) -> pd.DataFrame:
    """``bars`` OHLCV bars in the shape :func:`~trading_platform.feeds.files.load_ohlcv`
    returns (naive UTC DatetimeIndex ``datetime``; open, high, low, close, volume,
    openinterest)."""
    import pandas as pd

    values = generate_ohlcv_array(bars, start_price, seed, volatility)
    index = pd.date_range(start=start, periods=bars, freq=pd.Timedelta(seconds=timeframe_seconds))
    frame = pd.DataFrame(
        values, columns=list(COLUMNS), index=pd.DatetimeIndex(index, name="datetime")
    )
    frame["openinterest"] = 0.0
    return frame


def write_demo_csv(path: Path, **kwargs: object) -> Path:
    """The generated series as ``timestamp,open,high,low,close,volume`` (ISO timestamps)."""
    import pandas as pd

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = generate_ohlcv(**kwargs)  # type: ignore[arg-type]
    out = frame[["open", "high", "low", "close", "volume"]].copy()
    out.index = pd.DatetimeIndex(out.index).strftime("%Y-%m-%dT%H:%M:%S")
    out.index.name = "timestamp"
    out.to_csv(path)
    return path
