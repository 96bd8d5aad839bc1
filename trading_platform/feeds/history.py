"""Bars for a bot: the historical frame of a backtest, and the backtrader feed around it."""

from __future__ import annotations

import array
import datetime as dt
from collections.abc import MutableMapping, Sequence
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


class ReusablePandasData(bt.feeds.PandasData):
    """A pandas feed that loads its bars once per ``cache`` and ``key``: a later feed with
    the same key copies the loaded lines (a C-level array copy) instead of converting every
    row again.

    Converting 100,000 rows takes as long as backtesting them, and a parameter search
    backtests the same bars many times; backtrader's ``optstrategy`` avoids it the same way
    (its ``optdatas`` loads the bars once before forking).  Only whole preloads are cached:
    the lines hold exactly what :meth:`preload` left, and each run gets its own copy.
    """

    params = (("cache", None), ("key", None))

    def preload(self) -> None:
        cache: MutableMapping[object, list[array.array[float]]] | None = self.p.cache
        loaded = cache.get(self.p.key) if cache is not None else None
        if loaded is None:
            super().preload()
            if cache is not None:
                cache[self.p.key] = [array.array("d", line.array) for line in self.lines]
            return
        for line, values in zip(self.lines, loaded, strict=True):
            line.array = array.array("d", values)
        self.home()


def reusable_pandas_feed(
    frame: pd.DataFrame,
    timeframe_name: str,
    cache: MutableMapping[object, list[array.array[float]]],
    key: object,
) -> bt.feeds.PandasData:
    """:func:`pandas_feed` whose loaded bars are kept in ``cache`` under ``key`` (the caller
    promises the same key means the same bars)."""
    timeframe = parse_timeframe(timeframe_name)
    return ReusablePandasData(
        dataname=frame,
        timeframe=timeframe.bt_timeframe,
        compression=timeframe.bt_compression,
        cache=cache,
        key=key,
    )
