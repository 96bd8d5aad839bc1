"""Bars for a bot: the historical frame of a backtest, and the backtrader feed around it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import backtrader as bt
import pandas as pd

from trading_platform.config import BotConfig
from trading_platform.feeds.demo_data import generate_ohlcv
from trading_platform.feeds.files import load_ohlcv
from trading_platform.feeds.timeframes import parse_timeframe

DEMO_START = dt.datetime(2023, 1, 1)


def historical_frame(config: BotConfig, data_dirs: Sequence[Path] | None = None) -> pd.DataFrame:
    """The bars a backtest runs on: the configured file, or the generated demo series.

    Offline exchanges without a file (``replay``) get the deterministic demo series, so a
    fresh machine can backtest and paper trade with no download.  ``data_dirs`` fence the
    file in (default: the configured data directories).
    """
    if config.data.path:
        return load_ohlcv(
            config.data.path, start=config.data.start, end=config.data.end, data_dirs=data_dirs
        )
    timeframe = parse_timeframe(config.timeframe)
    frame = generate_ohlcv(
        bars=config.data.bars,
        start=DEMO_START,
        timeframe_seconds=timeframe.seconds,
        start_price=config.data.start_price,
        seed=config.data.seed,
    )
    if config.data.start or config.data.end:
        start = pd.Timestamp(config.data.start) if config.data.start else frame.index[0]
        end = (
            pd.Timestamp(config.data.end) + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
            if config.data.end
            else frame.index[-1]
        )
        frame = frame.loc[start:end]
    return frame


def pandas_feed(frame: pd.DataFrame, timeframe_name: str) -> bt.feeds.PandasData:
    timeframe = parse_timeframe(timeframe_name)
    return bt.feeds.PandasData(
        dataname=frame,
        timeframe=timeframe.bt_timeframe,
        compression=timeframe.bt_compression,
    )
