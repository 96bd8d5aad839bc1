"""``trading_trades``: every fill, recorded once per (bot, fill id)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, select, update

from trading_platform.db.engine import dialect_insert, session_scope
from trading_platform.db.models import TradingOrder, TradingTrade
from trading_platform.db.types import exact_money, to_decimal


def record_trade(engine: Engine, **values: Any) -> bool:
    """Record one fill at most once per (bot, fill id); returns whether it was new."""
    return record_trades(engine, [values]) == 1


def record_trades(engine: Engine, fills: Sequence[dict[str, Any]]) -> int:
    """Record many fills in one transaction, skipping ones already there; returns how many new."""
    if not fills:
        return 0
    rows = [exact_money(fill) for fill in fills]
    insert = dialect_insert(engine)
    with session_scope(engine) as session:
        inserted = session.connection().execute(
            insert(TradingTrade.__table__)
            .on_conflict_do_nothing(index_elements=["bot_id", "fill_id"])
            .returning(TradingTrade.__table__.c.id),
            rows,
        )
        return len(inserted.all())


def link_fills_to_orders(engine: Engine, bot_id: int, run_id: str) -> None:
    """Set ``trading_trades.order_id`` for fills whose fill id is their order's client id."""
    order_id = (
        select(TradingOrder.id)
        .where(TradingOrder.client_order_id == TradingTrade.fill_id)
        .scalar_subquery()
    )
    with session_scope(engine) as session:
        session.execute(
            update(TradingTrade)
            .where(
                TradingTrade.bot_id == bot_id,
                TradingTrade.run_id == run_id,
                TradingTrade.order_id.is_(None),
            )
            .values(order_id=order_id)
        )


def bot_trades(engine: Engine, bot_id: int) -> list[TradingTrade]:
    with session_scope(engine) as session:
        return list(
            session.scalars(
                select(TradingTrade)
                .where(TradingTrade.bot_id == bot_id)
                .order_by(TradingTrade.executed_at, TradingTrade.id)
            )
        )


def realized_pnl(engine: Engine, bot_id: int) -> Decimal:
    """P&L of the bot's closed trades net of every fee it paid (exact on PostgreSQL)."""
    with engine.connect() as connection:
        pnl, fees = connection.execute(
            select(
                func.coalesce(func.sum(TradingTrade.pnl), 0),
                func.coalesce(func.sum(TradingTrade.fee), 0),
            ).where(TradingTrade.bot_id == bot_id)
        ).one()
    return (to_decimal(pnl) or Decimal(0)) - (to_decimal(fees) or Decimal(0))
