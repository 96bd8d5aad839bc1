"""Timeframe names (``1m``, ``1h``, ``1d`` ...) as backtrader and ccxt understand them."""

from __future__ import annotations

from dataclasses import dataclass

import backtrader as bt


@dataclass(frozen=True)
class Timeframe:
    name: str
    seconds: int
    bt_timeframe: int
    bt_compression: int


def _minutes(name: str, minutes: int) -> Timeframe:
    return Timeframe(name, minutes * 60, bt.TimeFrame.Minutes, minutes)


TIMEFRAMES: dict[str, Timeframe] = {
    tf.name: tf
    for tf in (
        # one-second candles: Binance serves them; the tests use them to run fast
        Timeframe("1s", 1, bt.TimeFrame.Seconds, 1),
        _minutes("1m", 1),
        _minutes("3m", 3),
        _minutes("5m", 5),
        _minutes("15m", 15),
        _minutes("30m", 30),
        _minutes("1h", 60),
        _minutes("2h", 120),
        _minutes("4h", 240),
        _minutes("6h", 360),
        _minutes("12h", 720),
        Timeframe("1d", 86_400, bt.TimeFrame.Days, 1),
        Timeframe("1w", 7 * 86_400, bt.TimeFrame.Weeks, 1),
    )
}


def parse_timeframe(name: str) -> Timeframe:
    try:
        return TIMEFRAMES[name]
    except KeyError:
        known = ", ".join(TIMEFRAMES)
        raise ValueError(f"unknown timeframe {name!r}; expected one of {known}") from None
