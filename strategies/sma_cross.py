"""SMA crossover: trend following on any liquid market (crypto pairs, index futures, stocks)."""

from __future__ import annotations

import backtrader as bt
from pydantic import Field

from trading_platform.strategy_handler import PlatformStrategy, StrategyParams


class SmaCrossParams(StrategyParams):
    fast: int = Field(10, ge=2, le=500, description="fast SMA period (bars)")
    slow: int = Field(30, ge=2, le=1000, description="slow SMA period (bars)")


class SmaCross(PlatformStrategy):
    """Buys when the fast SMA crosses above the slow SMA; sells when it crosses back below.

    Rides trends and stays out of downtrends; loses a little in sideways markets, where
    crossings come often and reverse.  Long-only.
    """

    name = "sma_cross"
    Params = SmaCrossParams

    @classmethod
    def check_params(cls, params: SmaCrossParams) -> None:
        if params.fast >= params.slow:
            raise ValueError(f"fast ({params.fast}) must be smaller than slow ({params.slow})")

    def __init__(self) -> None:
        super().__init__()
        fast = bt.indicators.SMA(self.data.close, period=self.p.fast)
        slow = bt.indicators.SMA(self.data.close, period=self.p.slow)
        self.cross = bt.indicators.CrossOver(fast, slow)

    def next(self) -> None:
        if self.pending_order is not None:
            return
        if not self.position:
            if self.cross[0] > 0:
                self.enter_long("sma_cross_up")
        elif self.cross[0] < 0:
            self.exit_long("sma_cross_down")
