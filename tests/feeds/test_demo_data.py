"""The generated demo series (feeds/demo_data.py): seeded, consistent bars, and a demo CSV that
loads back as written."""

from pathlib import Path

import pandas as pd

from trading_platform.feeds.demo_data import generate_ohlcv, write_demo_csv
from trading_platform.feeds.files import load_ohlcv


def test_same_seed_same_series_other_seed_other_series() -> None:
    pd.testing.assert_frame_equal(generate_ohlcv(500, seed=3), generate_ohlcv(500, seed=3))
    assert not generate_ohlcv(500, seed=3)["close"].equals(generate_ohlcv(500, seed=4)["close"])


def test_bars_are_consistent() -> None:
    frame = generate_ohlcv(5000, timeframe_seconds=60)
    assert (frame["high"] >= frame[["open", "close"]].max(axis=1)).all()
    assert (frame["low"] <= frame[["open", "close"]].min(axis=1)).all()
    assert (frame["low"] > 0).all() and (frame["volume"] > 0).all()
    assert frame.index.to_series().diff().dropna().eq(pd.Timedelta(minutes=1)).all()


def test_demo_csv_loads_back(tmp_path: Path) -> None:
    path = write_demo_csv(tmp_path / "demo" / "btc.csv", bars=300)
    frame = load_ohlcv(path)
    assert len(frame) == 300
    assert frame["close"].tolist() == generate_ohlcv(300)["close"].tolist()
