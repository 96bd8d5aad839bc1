"""A strategy plugin for tests: raises on every bar, to exercise restarts and give-up."""

from trading_platform.strategy_handler import PlatformStrategy


class AlwaysRaises(PlatformStrategy):
    """Raises RuntimeError on every bar."""

    name = "always_raises"

    def next(self) -> None:
        raise RuntimeError("this strategy fails on every bar (test plugin)")
