"""A strategy plugin for tests: trades on every few live bars, whatever the price."""

from pydantic import Field

from trading_platform.strategy_handler import PlatformStrategy, StrategyParams


class FlipFlop(PlatformStrategy):
    """Buys when flat, sells after holding ``hold`` bars: many round trips in a short test."""

    name = "flip_flop"

    class Params(StrategyParams):
        hold: int = Field(2, ge=1, le=100_000, description="bars to hold a position")

    def __init__(self) -> None:
        super().__init__()
        self.held = 0

    def next(self) -> None:
        if self.pending_order is not None:
            return
        if not self.position:
            self.held = 0
            self.enter_long("flip")
            return
        self.held += 1
        if self.held >= self.p.hold:
            self.exit_long("flop")
