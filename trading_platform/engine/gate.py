"""What a broker asks the run before it takes an order, and where it hands the run the
Cerebro thread between bars.

Both brokers (the simulated one of paper bots, the live one) call it, so an operator's
control (pause, force exit: :mod:`trading_platform.engine.control`) applies wherever orders
go, and to any order a strategy places, ``self.buy()`` included, not only through
``PlatformStrategy.enter_long``.  It is the same enforcement point as the live broker's
"no new positions" incidents (drift, missing fills).
"""

from __future__ import annotations

from typing import Protocol

import backtrader as bt


class OrderGate(Protocol):
    def refusal(self, order: bt.Order) -> str | None:
        """Why the broker must reject ``order`` now, or None."""
        ...

    def forced(self, order: bt.Order) -> bool:
        """An operator's order (a force exit): it closes at market whatever the price's
        age, so the stale-price rules (which protect a strategy's decision) do not apply."""
        ...

    def on_loop(self) -> None:
        """Called by the broker at every turn of Cerebro's loop (at least every
        ``LOAD_WAIT_SECONDS`` while no bar arrives), in Cerebro's thread: the one place
        where an operator's command may touch backtrader, which is not thread-safe."""
        ...
