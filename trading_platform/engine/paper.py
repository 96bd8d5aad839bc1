"""The simulated broker of paper bots, and recovery of their state after a restart."""

from __future__ import annotations

import logging
from typing import Any

import backtrader as bt
from sqlalchemy import Engine

from trading_platform.db.positions import get_position
from trading_platform.engine.activity import Activity, ActivityLog
from trading_platform.feeds.staleness import stale_bar_reason

log = logging.getLogger(__name__)


HISTORY_BAR = "the bar is history or a late catch-up bar"


def refusal(feed: Any) -> str | None:
    """Why no order may be placed on ``feed``'s current bar, or None: the same rules as the
    live broker's, so a paper bot never fills at a price a live one would refuse."""
    if feed is not None and not getattr(feed, "live", True):
        return HISTORY_BAR
    return stale_bar_reason(feed)


class PaperBroker(bt.brokers.BackBroker):
    """backtrader's simulated broker that refuses orders on stale prices.

    A paper bot warms its indicators up on history bars; an order placed on one of those
    would fill at a price from the past, so it is rejected (the strategy is notified).  So is
    an order on a live bar that is too old by the time it is placed
    (:mod:`~trading_platform.feeds.staleness`).
    """

    params = (("feed", None), ("activity", None))

    def submit(self, order: bt.Order, check: bool = True) -> bt.Order:
        why = refusal(self.p.feed)
        if why is not None:
            log.debug("paper order refused: %s", why)
            activity: ActivityLog | None = self.p.activity
            if activity is not None and why == HISTORY_BAR:  # a stale one reported itself
                activity.incident(Activity.REFUSAL, f"order refused: {why}")
            order.reject(self)
            self.notify(order)
            return order
        return super().submit(order, check)


class RestoreState(bt.Analyzer):
    """Puts a recovered cash balance and position into the broker before the first bar.

    backtrader's broker resets itself in ``start()``; analyzers start after it and before the
    strategy's first ``next()``, so the strategy sees ``self.position`` as it was.
    """

    params = (("cash", None), ("size", 0.0), ("price", 0.0))

    def start(self) -> None:
        broker = self.strategy.broker
        if self.p.cash is not None:
            broker.set_cash(self.p.cash)
        if self.p.size:
            broker.positions[self.strategy.data] = bt.Position(size=self.p.size, price=self.p.price)


def restore_paper_state(cerebro: bt.Cerebro, database: Engine, bot_id: int, symbol: str) -> None:
    """A paper bot continues with the cash and position its last run saved."""
    saved = get_position(database, bot_id, symbol)
    if saved is not None:
        cerebro.addanalyzer(
            RestoreState,
            cash=float(saved.cash) if saved.cash is not None else None,
            size=float(saved.size),
            price=float(saved.avg_price or 0),
        )
