"""``trading_trades``: every fill, recorded once per (bot, fill id)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, select, update

from trading_platform.db.engine import dialect_insert, session_scope
from trading_platform.db.models import TradingOrder, TradingTrade
from trading_platform.db.orders import Fence
from trading_platform.db.types import exact_money, to_decimal


def record_trade(engine: Engine, fence: Fence | None = None, **values: Any) -> bool:
    """Record one fill at most once per (bot, fill id); returns whether it was new."""
    return record_trades(engine, [values], fence=fence) == 1


def record_trades(
    engine: Engine, fills: Sequence[dict[str, Any]], fence: Fence | None = None
) -> int:
    """Record many fills in one transaction, skipping ones already there; returns how many new.
    ``fence`` (the run's lease check) runs first in the same transaction."""
    if not fills:
        return 0
    rows = [exact_money(fill) for fill in fills]
    insert = dialect_insert(engine)
    with session_scope(engine) as session:
        if fence is not None:
            fence(session)
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


def last_entry_logic(engine: Engine, bot_id: int) -> str | None:
    """The entry logic of the bot's newest buy fill (the position it holds was opened so)."""
    with engine.connect() as connection:
        return connection.execute(
            select(TradingTrade.entry_logic)
            .where(TradingTrade.bot_id == bot_id, TradingTrade.side == "buy")
            .order_by(TradingTrade.executed_at.desc(), TradingTrade.id.desc())
            .limit(1)
        ).scalar_one_or_none()


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
