"""RSI mean reversion: buys dips in range-bound markets (major crypto pairs, large caps)."""

from __future__ import annotations

import backtrader as bt
from pydantic import Field

from trading_platform.strategy_handler import PlatformStrategy, StrategyParams


class RsiParams(StrategyParams):
    period: int = Field(14, ge=2, le=500, description="RSI period (bars)")
    oversold: float = Field(30.0, gt=0, lt=100, description="buy below this RSI")
    overbought: float = Field(70.0, gt=0, lt=100, description="sell above this RSI")


class RsiMeanReversion(PlatformStrategy):
    """Buys when the RSI falls below ``oversold``; sells when it rises above ``overbought``.

    Bets that a stretched move snaps back; suffers in strong trends, where the RSI stays
    oversold while the price keeps falling.  Long-only.
    """

    name = "rsi_mean_reversion"
    Params = RsiParams

    @classmethod
    def check_params(cls, params: RsiParams) -> None:
        if params.oversold >= params.overbought:
            raise ValueError(
                f"oversold ({params.oversold}) must be below overbought ({params.overbought})"
            )

    def __init__(self) -> None:
        super().__init__()
        self.rsi = bt.indicators.RSI(self.data.close, period=self.p.period, safediv=True)

    def next(self) -> None:
        if self.pending_order is not None:
            return
        if not self.position:
            if self.rsi[0] < self.p.oversold:
                self.enter_long("rsi_below")
        elif self.rsi[0] > self.p.overbought:
            self.exit_long("rsi_above")
