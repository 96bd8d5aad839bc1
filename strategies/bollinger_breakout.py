"""Bollinger breakout: volatility expansion on trending crypto pairs and momentum stocks."""

from __future__ import annotations

import backtrader as bt
from pydantic import Field

from trading_platform.strategy_handler import PlatformStrategy, StrategyParams


class BollingerParams(StrategyParams):
    period: int = Field(20, ge=2, le=1000, description="moving average period (bars)")
    devfactor: float = Field(2.0, gt=0, le=10, description="band width in standard deviations")


class BollingerBreakout(PlatformStrategy):
    """Buys when the close breaks above the upper Bollinger band; sells when it falls back
    below the middle band.

    Catches the start of strong moves after quiet periods; false breakouts cost the distance
    from the upper to the middle band.  Long-only.
    """

    name = "bollinger_breakout"
    Params = BollingerParams

    def __init__(self) -> None:
        super().__init__()
        self.bands = bt.indicators.BollingerBands(
            self.data.close, period=self.p.period, devfactor=self.p.devfactor
        )

    def next(self) -> None:
        if self.pending_order is not None:
            return
        if not self.position:
            if self.data.close[0] > self.bands.top[0]:
                self.enter_long("bollinger_upper_breakout")
        elif self.data.close[0] < self.bands.mid[0]:
            self.exit_long("bollinger_mid_cross_down")
