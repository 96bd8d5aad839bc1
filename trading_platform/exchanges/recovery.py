"""A live bot's restart: the exchange is the truth.

Orders the previous incarnation left unresolved (``submitting``, ``open``, ``unknown``) are
looked up by client order id; their fills are recorded once; the ones still open are
cancelled, or adopted and followed, as ``live.open_orders_on_restart`` says.  Cash and
position then come from the balance, and every difference from the database is returned as
a sentence, for the runner to log, audit and notify.
"""

from __future__ import annotations

from decimal import Decimal

import backtrader as bt

from trading_platform.db.models import TradingOrder
from trading_platform.db.types import to_decimal
from trading_platform.exchanges.broker import (
    ARRIVAL_WINDOW_MS,
    FINAL_STATUSES,
    LiveBroker,
    TrackedOrder,
    age_ms,
)


def recover(broker: LiveBroker, saved_size: Decimal, saved_price: Decimal | None) -> list[str]:
    """Resolve what the previous incarnation left, and take cash and position from the
    exchange; returns the corrections made (empty when the database was right)."""
    corrections: list[str] = []
    last_buy: Decimal | None = None
    for row in broker.ledger.unresolved():
        last_buy = _resolve(broker, row, saved_price, corrections) or last_buy
    balance = broker.refresh_balance()
    size = to_decimal(balance.get(broker.base, {}).get("total") or 0) or Decimal(0)
    if abs(size - saved_size) > Decimal("1e-12"):
        corrections.append(
            f"position corrected from {saved_size} to {size} {broker.base} "
            "(the exchange's balance is the truth)"
        )
    price = saved_price or last_buy
    if size > 0 and not price:
        price = to_decimal(broker.client.fetch_ticker(broker.symbol).get("last"))
    broker.positions[broker.p.feed] = bt.Position(
        size=float(size), price=float(price or 0) if size > 0 else 0.0
    )
    return corrections


def _resolve(
    broker: LiveBroker, row: TradingOrder, saved_price: Decimal | None, corrections: list[str]
) -> Decimal | None:
    """One order a previous incarnation left unresolved; returns its last buy price."""
    import ccxt

    found = broker.lookup(row.client_order_id)
    created_ms = int(row.created_at.timestamp() * 1000) if row.created_at else 0
    if found is None and age_ms(created_ms) < ARRIVAL_WINDOW_MS:
        broker.wait((ARRIVAL_WINDOW_MS - age_ms(created_ms)) / 1000)
        found = broker.lookup(row.client_order_id)
    if found is None:
        broker.ledger.update(row.client_order_id, None, "rejected")
        corrections.append(f"order {row.client_order_id} never reached the exchange")
        return None
    tracked = TrackedOrder(
        row.client_order_id,
        row.side,
        row.type,
        row.amount,
        row.price,
        None,
        created_ms,
        exchange_order_id=str(found["id"]),
        logic=row.logic,
    )
    last_buy = None
    for fill in broker.fills_of(tracked):
        tracked.fill_ids.add(fill.fill_id)
        selling = row.side == "sell"
        new = broker.ledger.record_fill(
            row.client_order_id,
            row.side,
            fill,
            fee_in_quote=broker.fee_in_quote(fill),
            pnl=fill.amount * (fill.price - saved_price) if selling and saved_price else None,
            entry_logic=None if selling else row.logic,
            exit_logic=row.logic if selling else None,
        )
        if new:
            corrections.append(
                f"fill {fill.fill_id} of order {row.client_order_id} "
                f"({row.side} {fill.amount} @ {fill.price}) recorded after the restart"
            )
        if not selling:
            last_buy = fill.price
    status = found.get("status") or "open"
    if status not in FINAL_STATUSES:
        if broker.p.open_orders_on_restart == "adopt":
            broker.tracked[row.client_order_id] = tracked
            corrections.append(f"open order {row.client_order_id} adopted")
        else:
            try:
                found = broker.client.cancel_order(found["id"], broker.symbol)
                status = "canceled"
            except ccxt.OrderNotFound:
                found = broker.client.fetch_order(found["id"], broker.symbol)
                status = found.get("status") or "closed"
            corrections.append(f"open order {row.client_order_id} cancelled")
    broker.ledger.update(row.client_order_id, found, status)
    return last_buy
