"""``trading_orders``: written BEFORE an order is sent (write-ahead), then followed.

:func:`record_order` is idempotent on ``client_order_id``, so an order recorded by an earlier
attempt is found, never doubled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trading_platform.contract import UNRESOLVED_ORDER_STATUSES
from trading_platform.db.engine import dialect_insert, session_scope
from trading_platform.db.models import TradingOrder
from trading_platform.db.outage import until_reachable
from trading_platform.db.types import exact_money, utcnow

#: runs first in a write's transaction; raises to stop the write (a lost lease)
Fence = Callable[[Session], None]


class DuplicateClientOrderId(Exception):
    """A write-ahead found its client order id already recorded: never sent twice."""


def write_ahead_order(engine: Engine, fence: Fence | None = None, **values: Any) -> int:
    """Write an order BEFORE it is sent; its id must be new (:class:`DuplicateClientOrderId`)."""
    values = exact_money(values)
    now = utcnow()
    values.setdefault("created_at", now)
    values.setdefault("updated_at", now)
    try:
        with session_scope(engine) as session:
            if fence is not None:
                fence(session)
            return session.execute(
                insert(TradingOrder).values(**values).returning(TradingOrder.id)
            ).scalar_one()
    except IntegrityError:
        raise DuplicateClientOrderId(
            f"client order id {values['client_order_id']} is already in trading_orders; "
            "another process may be trading this bot"
        ) from None


def write_ahead_order_waiting(engine: Engine, fence: Fence | None, what: str, **values: Any) -> int:
    """:func:`write_ahead_order`, waiting out an outage of the database
    (:func:`~trading_platform.db.outage.until_reachable`).

    A connection lost during the COMMIT leaves it unknown whether the row was written; the
    retry then finds the id taken.  An id taken by this same run (``run_id``) is the row the
    lost COMMIT wrote, taken as this write's: the id carries the run's lease epoch, so no
    other process can have written it.  Any other duplicate is raised as before."""
    attempts = 0

    def attempt() -> int:
        nonlocal attempts
        attempts += 1
        try:
            return write_ahead_order(engine, fence, **values)
        except DuplicateClientOrderId:
            if attempts > 1:
                existing = _own_order_id(engine, values["client_order_id"], values.get("run_id"))
                if existing is not None:
                    return existing
            raise

    return until_reachable(attempt, what)


def _own_order_id(engine: Engine, client_order_id: str, run_id: str | None) -> int | None:
    with session_scope(engine) as session:
        return session.scalars(
            select(TradingOrder.id).where(
                TradingOrder.client_order_id == client_order_id,
                TradingOrder.run_id == run_id,
            )
        ).one_or_none()


def record_order(engine: Engine, **values: Any) -> int:
    """Write an order BEFORE it is sent; idempotent on ``client_order_id``.

    Returns the order's id, also when it was already recorded by an earlier attempt.
    """
    values = exact_money(values)
    now = utcnow()
    values.setdefault("created_at", now)
    values.setdefault("updated_at", now)
    insert = dialect_insert(engine)
    with session_scope(engine) as session:
        session.execute(
            insert(TradingOrder)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["client_order_id"])
        )
        return session.scalars(
            select(TradingOrder.id).where(TradingOrder.client_order_id == values["client_order_id"])
        ).one()


def update_order(
    engine: Engine, client_order_id: str, fence: Fence | None = None, **values: Any
) -> None:
    values = exact_money(values)
    with session_scope(engine) as session:
        if fence is not None:
            fence(session)
        session.execute(
            update(TradingOrder)
            .where(TradingOrder.client_order_id == client_order_id)
            .values(**values, updated_at=utcnow())
        )


def record_orders(engine: Engine, orders: Sequence[dict[str, Any]]) -> None:
    """Many finished orders in one transaction (backtests write theirs at the end)."""
    if not orders:
        return
    rows = [exact_money(order) for order in orders]
    insert = dialect_insert(engine)
    with session_scope(engine) as session:
        session.execute(
            insert(TradingOrder).on_conflict_do_nothing(index_elements=["client_order_id"]),
            rows,
        )


def bot_orders(engine: Engine, bot_id: int) -> list[TradingOrder]:
    with session_scope(engine) as session:
        return list(
            session.scalars(
                select(TradingOrder).where(TradingOrder.bot_id == bot_id).order_by(TradingOrder.id)
            )
        )


def unresolved_orders(engine: Engine, bot_id: int) -> list[TradingOrder]:
    with session_scope(engine) as session:
        return list(
            session.scalars(
                select(TradingOrder)
                .where(
                    TradingOrder.bot_id == bot_id,
                    TradingOrder.status.in_(UNRESOLVED_ORDER_STATUSES),
                )
                .order_by(TradingOrder.id)
            )
        )


def count_orders_with_prefix(engine: Engine, prefix: str) -> int:
    """How many client order ids start with ``prefix`` (so a sequence never reuses an id)."""
    with engine.connect() as connection:
        return connection.execute(
            select(func.count())
            .select_from(TradingOrder)
            .where(TradingOrder.client_order_id.startswith(prefix, autoescape=True))
        ).scalar_one()
