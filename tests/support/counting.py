"""Counting rows, for assertions."""

from __future__ import annotations

from sqlalchemy import Engine, func, select


def count_rows(engine: Engine, model: type, bot_id: int | None = None) -> int:
    """How many rows ``model``'s table has (of one bot)."""
    query = select(func.count()).select_from(model)
    if bot_id is not None:
        query = query.where(model.bot_id == bot_id)  # type: ignore[attr-defined]
    with engine.connect() as connection:
        return connection.execute(query).scalar_one()
