"""Entry and exit building blocks that ``CustomStrategy`` composes.

A block declares its parameters (pydantic, with bounds), builds its indicators on the
strategy's data when the strategy is built, and answers one question each bar: enter now?
(entry blocks) or exit now? (exit blocks).  Exit blocks are told when a position opens, so
stops can measure from the entry price.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import backtrader as bt
from pydantic import Field, model_validator

from trading_platform.strategy_handler.base import StrategyParams

BlockKind = Literal["entry", "exit"]


class LogicBlock:
    name: ClassVar[str]
    kind: ClassVar[BlockKind]
    Params: ClassVar[type[StrategyParams]] = StrategyParams

    def __init__(self, strategy: bt.Strategy, params: StrategyParams) -> None:
        self.strategy = strategy
        self.data = strategy.data
        #: the block's validated ``Params`` (each block reads its own fields)
        self.p: Any = params

    def on_entry(self) -> None:
        """A position was opened (exit blocks reset their state here)."""

    def signal(self) -> bool:
        raise NotImplementedError


class _CrossParams(StrategyParams):
    fast: int = Field(10, ge=2, le=500, description="fast SMA period (bars)")
    slow: int = Field(30, ge=2, le=1000, description="slow SMA period (bars)")

    @model_validator(mode="after")
    def _fast_below_slow(self) -> _CrossParams:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be smaller than slow ({self.slow})")
        return self


class _RsiParams(StrategyParams):
    period: int = Field(14, ge=2, le=500, description="RSI period (bars)")
    threshold: float = Field(30.0, gt=0, lt=100, description="RSI level")


class SmaCrossUp(LogicBlock):
    """Enter when the fast SMA crosses above the slow SMA."""

    name = "sma_cross_up"
    kind: ClassVar[BlockKind] = "entry"
    Params = _CrossParams

    def __init__(self, strategy: bt.Strategy, params: Any) -> None:
        super().__init__(strategy, params)
        self.cross = bt.indicators.CrossOver(
            bt.indicators.SMA(self.data.close, period=params.fast),
            bt.indicators.SMA(self.data.close, period=params.slow),
        )

    def signal(self) -> bool:
        return self.cross[0] > 0


class SmaCrossDown(SmaCrossUp):
    """Exit when the fast SMA crosses below the slow SMA."""

    name = "sma_cross_down"
    kind = "exit"

    def signal(self) -> bool:
        return self.cross[0] < 0


class RsiBelow(LogicBlock):
    """Enter when the RSI is below ``threshold`` (oversold)."""

    name = "rsi_below"
    kind: ClassVar[BlockKind] = "entry"
    Params = _RsiParams

    def __init__(self, strategy: bt.Strategy, params: Any) -> None:
        super().__init__(strategy, params)
        self.rsi = bt.indicators.RSI(self.data.close, period=params.period, safediv=True)

    def signal(self) -> bool:
        return self.rsi[0] < self.p.threshold


class _RsiAboveParams(_RsiParams):
    threshold: float = Field(70.0, gt=0, lt=100, description="RSI level")


class RsiAbove(RsiBelow):
    """Exit when the RSI is above ``threshold`` (overbought)."""

    name = "rsi_above"
    kind = "exit"
    Params = _RsiAboveParams

    def signal(self) -> bool:
        return self.rsi[0] > self.p.threshold


class _BreakoutParams(StrategyParams):
    period: int = Field(20, ge=2, le=1000, description="look-back of the highest high (bars)")


class Breakout(LogicBlock):
    """Enter when the close breaks above the highest high of the previous ``period`` bars."""

    name = "breakout"
    kind = "entry"
    Params = _BreakoutParams

    def __init__(self, strategy: bt.Strategy, params: Any) -> None:
        super().__init__(strategy, params)
        self.highest = bt.indicators.Highest(self.data.high(-1), period=params.period)

    def signal(self) -> bool:
        return self.data.close[0] > self.highest[0]


class _TpSlParams(StrategyParams):
    take_profit: float = Field(0.05, gt=0, le=10, description="gain from entry, 0.05 = 5 %")
    stop_loss: float = Field(0.03, gt=0, lt=1, description="loss from entry, 0.03 = 3 %")


class TakeProfitStopLoss(LogicBlock):
    """Exit when the close is ``take_profit`` above or ``stop_loss`` below the entry price."""

    name = "take_profit_stop_loss"
    kind = "exit"
    Params = _TpSlParams

    def signal(self) -> bool:
        entry = self.strategy.position.price
        if not entry:
            return False
        close = self.data.close[0]
        return close >= entry * (1 + self.p.take_profit) or close <= entry * (1 - self.p.stop_loss)


class _TrailParams(StrategyParams):
    trail: float = Field(0.05, gt=0, lt=1, description="drop from the highest close, 0.05 = 5 %")


class TrailingStop(LogicBlock):
    """Exit when the close falls ``trail`` below the highest close since entry."""

    name = "trailing_stop"
    kind = "exit"
    Params = _TrailParams

    def __init__(self, strategy: bt.Strategy, params: Any) -> None:
        super().__init__(strategy, params)
        self.highest_close: float | None = None

    def on_entry(self) -> None:
        self.highest_close = None

    def signal(self) -> bool:
        close = self.data.close[0]
        if self.highest_close is None or close > self.highest_close:
            self.highest_close = close
        return close <= self.highest_close * (1 - self.p.trail)


LOGIC_BLOCKS: dict[str, type[LogicBlock]] = {
    block.name: block
    for block in (
        SmaCrossUp,
        RsiBelow,
        Breakout,
        SmaCrossDown,
        RsiAbove,
        TakeProfitStopLoss,
        TrailingStop,
    )
}


def blocks_of_kind(kind: str) -> dict[str, type[LogicBlock]]:
    return {name: block for name, block in LOGIC_BLOCKS.items() if block.kind == kind}
