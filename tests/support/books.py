"""The check every live-trading test ends with: the exchange and the database agree."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Engine

from tests.support.exchange_emulator import Emulator
from trading_platform.db.orders import bot_orders
from trading_platform.db.positions import get_position
from trading_platform.db.trades import bot_trades


def assert_books_agree(emulator: Emulator, api_key: str, database: Engine, bot_id: int) -> None:
    """Every exchange fill recorded exactly once, each order as the exchange has it, and the
    position equal to the account's base balance."""
    account = emulator.accounts[api_key]
    exchange = {str(t["id"]): t for t in account.trades}
    recorded = bot_trades(database, bot_id)
    assert sorted(t.fill_id for t in recorded) == sorted(exchange)
    for trade in recorded:
        fill = exchange[trade.fill_id]
        assert trade.amount == Decimal(fill["qty"]) and trade.price == Decimal(fill["price"])
    orders = {o.client_order_id: o for o in bot_orders(database, bot_id)}
    for order in account.orders.values():
        assert orders[order.client_order_id].exchange_order_id == str(order.order_id)
        assert orders[order.client_order_id].filled == order.executed
    client_ids = [order.client_order_id for order in account.orders.values()]
    assert len(client_ids) == len(set(client_ids))
    base = account.balances.get(emulator.base, Decimal(0))
    position = get_position(database, bot_id, f"{emulator.base}/{emulator.quote}")
    assert position is not None and position.size == base
