"""The database side of a live broker: write-ahead orders and fills recorded once.

The broker writes an order here BEFORE it goes to the exchange (status ``submitting``), then
the exchange's answer (``open``, ``closed``, ``canceled``, ``rejected``) or ``unknown`` when
the answer was lost and the order could not be looked up yet.  A fill is keyed by the
exchange's trade id, so recording it again (a retry, a poll, a restart) stores nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Context, Decimal
from typing import Any

from sqlalchemy import Engine

from trading_platform.contract import OrderStatus
from trading_platform.db.models import TradingOrder
from trading_platform.db.orders import (
    count_orders_with_prefix,
    record_order,
    unresolved_orders,
    update_order,
)
from trading_platform.db.trades import record_trade
from trading_platform.db.types import to_decimal


@dataclass(frozen=True)
class ExchangeFill:
    """One fill as the exchange reported it (ccxt's unified trade), with exact numbers."""

    fill_id: str
    exchange_order_id: str | None
    price: Decimal
    amount: Decimal
    fee: Decimal
    fee_currency: str | None
    at: dt.datetime

    @classmethod
    def from_ccxt(cls, trade: dict[str, Any], exchange_order_id: str | None) -> ExchangeFill:
        fee = trade.get("fee") or {}
        stamp = trade.get("timestamp")
        at = (
            dt.datetime.fromtimestamp(stamp / 1000, dt.UTC).replace(tzinfo=None)
            if stamp
            else dt.datetime.now(dt.UTC).replace(tzinfo=None)
        )
        return cls(
            fill_id=str(trade["id"]),
            exchange_order_id=str(trade.get("order") or exchange_order_id or "") or None,
            price=to_decimal(trade["price"]) or Decimal(0),
            amount=to_decimal(trade["amount"]) or Decimal(0),
            fee=to_decimal(fee.get("cost")) or Decimal(0),
            fee_currency=fee.get("currency"),
            at=at,
        )


#: the database keeps money to 18 decimal places (NUMERIC(38, 18)); so does a computed P&L
MONEY_PLACES = Decimal("1e-18")
_MONEY_CONTEXT = Context(prec=38)


def sale_pnl(fill: ExchangeFill, entry_price: Decimal) -> Decimal:
    """What a sell fill earned over the position's entry price, before fees (fees are
    recorded per fill and subtracted where P&L is reported)."""
    earned = fill.amount * (fill.price - entry_price)
    return earned.quantize(MONEY_PLACES, context=_MONEY_CONTEXT)


class OrderLedger:
    """``trading_orders`` and ``trading_trades`` of one live bot run."""

    def __init__(self, database: Engine, bot_id: int, run_id: str, symbol: str) -> None:
        self.database = database
        self.bot_id = bot_id
        self.run_id = run_id
        self.symbol = symbol
        self._row_ids: dict[str, int] = {}

    def next_sequence(self, prefix: str) -> int:
        """The first free sequence number of ``prefix`` (ids are never reused)."""
        return count_orders_with_prefix(self.database, prefix) + 1

    def write_ahead(
        self,
        client_order_id: str,
        *,
        side: str,
        order_type: str,
        amount: Decimal,
        price: Decimal | None,
        logic: str | None,
    ) -> None:
        self._row_ids[client_order_id] = record_order(
            self.database,
            bot_id=self.bot_id,
            run_id=self.run_id,
            client_order_id=client_order_id,
            symbol=self.symbol,
            side=side,
            type=order_type,
            amount=amount,
            price=price,
            status=OrderStatus.SUBMITTING,
            logic=logic,
        )

    def update(self, client_order_id: str, answer: dict[str, Any] | None, status: str) -> None:
        """The exchange's view of the order (``answer`` is ccxt's unified order)."""
        values: dict[str, Any] = {"status": status}
        if answer is not None:
            values["exchange_order_id"] = str(answer.get("id"))
            for key in ("filled", "average"):
                if answer.get(key) is not None:
                    values[key] = to_decimal(answer[key])
            fee = answer.get("fee") or {}
            if fee.get("cost") is not None:
                values["fee"] = to_decimal(fee["cost"])
        update_order(self.database, client_order_id, **values)

    def record_fill(
        self,
        client_order_id: str,
        side: str,
        fill: ExchangeFill,
        *,
        fee_in_quote: Decimal,
        pnl: Decimal | None,
        entry_logic: str | None,
        exit_logic: str | None,
    ) -> bool:
        """Store ``fill`` once; returns whether it was new."""
        row_id = self._row_ids.get(client_order_id)
        if row_id is None:
            row_id = record_order(
                self.database,
                bot_id=self.bot_id,
                client_order_id=client_order_id,
                side=side,
                type="market",
                amount=fill.amount,
                status=OrderStatus.OPEN,
            )
            self._row_ids[client_order_id] = row_id
        return record_trade(
            self.database,
            bot_id=self.bot_id,
            run_id=self.run_id,
            order_id=row_id,
            fill_id=fill.fill_id,
            symbol=self.symbol,
            side=side,
            amount=fill.amount,
            price=fill.price,
            fee=fee_in_quote,
            pnl=pnl,
            entry_logic=entry_logic,
            exit_logic=exit_logic,
            executed_at=fill.at,
        )

    def unresolved(self) -> list[TradingOrder]:
        orders = unresolved_orders(self.database, self.bot_id)
        for order in orders:
            self._row_ids[order.client_order_id] = order.id
        return orders
