"""Where a running bot's fills go: orders, trades, position and trade notifications.

Paper bots' fills come from backtrader's simulated broker through the recorder, and are
written here; live bots' fills are written by their broker from the exchange's own trades
(``records_fills=False``), and the sink keeps only the position and the notifications.

Every write checks the run's lease (``fence``) in its own transaction, and a paper fill's
client order id must be new: a second process on the same bot fails instead of writing
beside the first.

While the database cannot be reached every write waits for it to return
(:mod:`~trading_platform.db.outage`), in Cerebro's thread: the bot decides nothing new
meanwhile, and the fill it holds in memory is written, after the ones before it, as soon
as the database answers.  A fill written late is harmless; a fill dropped would be lost.
"""

from __future__ import annotations

import backtrader as bt
from sqlalchemy import Engine

from trading_platform.config import BotConfig
from trading_platform.contract import Side
from trading_platform.db.orders import Fence, write_ahead_order_waiting
from trading_platform.db.outage import until_reachable
from trading_platform.db.positions import save_position
from trading_platform.db.trades import link_fills_to_orders, record_trades
from trading_platform.engine.activity import ActivityLog
from trading_platform.engine.order_ids import client_order_id
from trading_platform.engine.recorder import ClosedTrade, Fill
from trading_platform.notifications import messages, outbox


class DatabaseSink:
    """Writes each fill (order, trade, position) of a running bot as it happens."""

    def __init__(
        self,
        database: Engine,
        config: BotConfig,
        run_id: str,
        incarnation: int,
        *,
        records_fills: bool = True,
        fence: Fence | None = None,
        activity: ActivityLog | None = None,
    ) -> None:
        assert config.bot_id is not None
        self.records_fills = records_fills
        self.database = database
        self.config = config
        self.bot_id = config.bot_id
        self.run_id = run_id
        self.incarnation = incarnation
        self.fence = fence
        self.activity = activity
        self.broker: bt.BrokerBase | None = None
        self.data: bt.feed.DataBase | None = None
        self._entry_price: float | None = None

    def bind(self, broker: bt.BrokerBase, data: bt.feed.DataBase) -> None:
        self.broker = broker
        self.data = data
        position = broker.getposition(data)
        self._entry_price = position.price if position.size else None

    def on_fill(self, fill: Fill) -> None:
        order_id = client_order_id(self.bot_id, self.incarnation, fill.sequence)
        if self.records_fills:
            order, trade = fill.rows(self.bot_id, self.run_id, self.config.symbol, order_id)
            what = f"bot {self.bot_id}: paper fill {order_id}"
            write_ahead_order_waiting(self.database, self.fence, what, **order)
            until_reachable(lambda: record_trades(self.database, [trade], fence=self.fence), what)
            until_reachable(
                lambda: link_fills_to_orders(self.database, self.bot_id, self.run_id), what
            )
            if self.activity is not None:
                self.activity.fill(
                    side=fill.side,
                    amount=fill.amount,
                    price=fill.price,
                    fee=fill.fee,
                    pnl=fill.pnl,
                    order=order_id,
                )
        self.save_position()
        self._notify_fill(fill, order_id)

    def _notify_fill(self, fill: Fill, order_id: str) -> None:
        flags = self.config.notifications
        if fill.side == Side.BUY and flags.position_opened:
            self._entry_price = fill.price
            message = messages.trade_entry(
                self.config.name,
                fill.side,
                fill.amount,
                self.config.symbol,
                fill.price,
                self.config.mode,
            )
        elif fill.side == Side.SELL and flags.position_closed:
            message = messages.trade_exit(
                self.config.name,
                fill.side,
                fill.amount,
                self.config.symbol,
                fill.price,
                fill.pnl or 0.0,
                self._entry_price or fill.price,
                self.config.mode,
            )
        else:
            return
        until_reachable(
            lambda: outbox.enqueue(
                self.database, message, bot_id=self.bot_id, dedupe_key=f"fill:{order_id}"
            ),
            f"bot {self.bot_id}: notification of {order_id}",
        )

    def on_trade_closed(self, trade: ClosedTrade) -> None:
        """Round trips are derived from the fills; nothing more to store."""

    def save_position(self, patience: float | None = None) -> None:
        """Write the position; while the database cannot be reached, wait for it (at most
        ``patience`` seconds when given: the stop path's limit)."""
        if self.broker is None or self.data is None:
            return
        position = self.broker.getposition(self.data)
        size, price, cash = position.size, position.price, self.broker.getcash()
        until_reachable(
            lambda: save_position(
                self.database,
                self.bot_id,
                self.config.symbol,
                size=size,
                avg_price=price if size else None,
                cash=cash,
                fence=self.fence,
            ),
            f"bot {self.bot_id}: position",
            patience=patience,
        )
