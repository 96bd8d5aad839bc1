"""``trading_positions``: what each bot holds, and the cash its simulated broker had."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select

from trading_platform.db.engine import session_scope
from trading_platform.db.models import TradingPosition
from trading_platform.db.orders import Fence
from trading_platform.db.types import to_decimal, utcnow


def save_position(
    engine: Engine,
    bot_id: int,
    symbol: str,
    *,
    size: Any,
    avg_price: Any,
    cash: Any = None,
    at: dt.datetime | None = None,
    fence: Fence | None = None,
) -> None:
    """Upsert the bot's position in ``symbol``; a zero size closes it (``closed_at`` set).
    ``fence`` (the run's lease check) runs first in the same transaction."""
    now = at or utcnow()
    size_dec = to_decimal(size) or Decimal(0)
    with session_scope(engine) as session:
        if fence is not None:
            fence(session)
        position = session.scalar(
            select(TradingPosition).where(
                TradingPosition.bot_id == bot_id, TradingPosition.symbol == symbol
            )
        )
        if position is None:
            position = TradingPosition(bot_id=bot_id, symbol=symbol, size=Decimal(0))
            session.add(position)
        was_open = position.size != 0 and position.closed_at is None
        position.size = size_dec
        position.avg_price = to_decimal(avg_price) if size_dec != 0 else None
        if cash is not None:
            position.cash = to_decimal(cash)
        position.updated_at = now
        if size_dec != 0:
            if not was_open:
                position.opened_at = now
            position.closed_at = None
        elif was_open:
            position.closed_at = now


def open_positions(engine: Engine, bot_id: int | None = None) -> list[TradingPosition]:
    """Positions with a non-zero size (of one bot, or of all)."""
    with session_scope(engine) as session:
        query = select(TradingPosition).where(TradingPosition.closed_at.is_(None))
        if bot_id is not None:
            query = query.where(TradingPosition.bot_id == bot_id)
        return [p for p in session.scalars(query.order_by(TradingPosition.id)) if p.size != 0]


def get_position(engine: Engine, bot_id: int, symbol: str) -> TradingPosition | None:
    with session_scope(engine) as session:
        return session.scalar(
            select(TradingPosition).where(
                TradingPosition.bot_id == bot_id, TradingPosition.symbol == symbol
            )
        )
