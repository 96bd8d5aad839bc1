"""The small functions the rest of the platform calls instead of writing SQL itself.

Each function opens its own short transaction: bots run for weeks, and a long-lived session
would hold SQLite's write lock or a PostgreSQL snapshot for no reason.  Writers keep to the
contract: users write desired columns (``add_bot``, ``set_bot``), the platform writes
observed ones (``update_bot_status``, ``heartbeat``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, Text, cast, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from trading_platform.db.engine import session_scope
from trading_platform.db.models import (
    BOT_STATUSES,
    DESIRED_COLUMNS,
    BotStatusEvent,
    TradingBot,
    TradingOrder,
    TradingPosition,
    TradingTrade,
    User,
)
from trading_platform.db.types import to_decimal, utcnow


@dataclass(frozen=True)
class BotRow:
    """One ``trading_bots`` row as read by the sensor.

    ``config_text`` is the raw JSON text: a malformed value written by a SQL client must mark
    that one bot ``error``, not break the query that reads every bot.
    """

    id: int
    user_id: int | None
    name: str
    enabled: bool
    strategy: str | None
    mode: str | None
    exchange: str | None
    symbol: str | None
    timeframe: str | None
    config_text: str | None
    status: str
    last_heartbeat: dt.datetime | None
    error_count: int
    restart_count: int
    last_error: str | None
    current_balance: Decimal | None = None
    total_pnl: Decimal | None = None
    feed_problem: str | None = None

    def desired(self) -> dict[str, Any]:
        """The desired columns, normalised so that equal configs hash equally."""
        config: Any = self.config_text
        if config is not None:
            with contextlib.suppress(TypeError, ValueError):
                config = json.loads(config)
        values = {
            "enabled": bool(self.enabled),
            "strategy": self.strategy,
            "mode": self.mode,
            "exchange": self.exchange,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "config": config,
        }
        return values


_BOT_ROW_COLUMNS = (
    TradingBot.id,
    TradingBot.user_id,
    TradingBot.name,
    TradingBot.enabled,
    TradingBot.strategy,
    TradingBot.mode,
    TradingBot.exchange,
    TradingBot.symbol,
    TradingBot.timeframe,
    cast(TradingBot.config, Text).label("config_text"),
    TradingBot.status,
    TradingBot.last_heartbeat,
    TradingBot.error_count,
    TradingBot.restart_count,
    TradingBot.last_error,
    TradingBot.current_balance,
    TradingBot.total_pnl,
    TradingBot.feed_problem,
)


def get_bots(engine: Engine, bot_ids: Sequence[int] | None = None) -> list[BotRow]:
    """Every bot (or the given ones) in one query, ordered by id."""
    query = select(*_BOT_ROW_COLUMNS).order_by(TradingBot.id)
    if bot_ids is not None:
        query = query.where(TradingBot.id.in_(list(bot_ids)))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return [
        BotRow(**{**row._mapping, "enabled": bool(row.enabled), "status": row.status or "stopped"})
        for row in rows
    ]


def get_bot(engine: Engine, bot_id: int) -> BotRow | None:
    rows = get_bots(engine, [bot_id])
    return rows[0] if rows else None


def find_bot(engine: Engine, name_or_id: str) -> BotRow | None:
    """A bot by id (digits) or by name."""
    if name_or_id.isdigit():
        return get_bot(engine, int(name_or_id))
    with engine.connect() as connection:
        bot_id = connection.execute(
            select(TradingBot.id).where(TradingBot.name == name_or_id).order_by(TradingBot.id)
        ).scalar()
    return get_bot(engine, bot_id) if bot_id is not None else None


def ensure_user(
    engine: Engine, username: str, email: str | None = None, telegram_user_id: str | None = None
) -> int:
    """The id of ``username``, creating the user if needed."""
    with session_scope(engine) as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            user = User(username=username, email=email, telegram_user_id=telegram_user_id)
            session.add(user)
            session.flush()
        return user.id


def add_bot(engine: Engine, *, name: str, user_id: int | None = None, **desired: Any) -> int:
    """Insert a bot with its desired columns only; returns its id."""
    _check_desired(desired)
    with session_scope(engine) as session:
        bot = TradingBot(name=name, user_id=user_id, **desired)
        session.add(bot)
        session.flush()
        return bot.id


def set_bot(engine: Engine, bot_id: int, **desired: Any) -> bool:
    """Change desired columns of a bot (a config change); False if the bot does not exist."""
    _check_desired(desired)
    if not desired:
        return get_bot(engine, bot_id) is not None
    with session_scope(engine) as session:
        result = session.execute(
            update(TradingBot).where(TradingBot.id == bot_id).values(**desired, updated_at=utcnow())
        )
        return result.rowcount > 0


def delete_bot(engine: Engine, bot_id: int) -> bool:
    with session_scope(engine) as session:
        return session.execute(delete(TradingBot).where(TradingBot.id == bot_id)).rowcount > 0


def _check_desired(values: dict[str, Any]) -> None:
    observed = sorted(set(values) - set(DESIRED_COLUMNS))
    if observed:
        raise ValueError(f"only desired columns may be written here, not {', '.join(observed)}")


def update_bot_status(
    engine: Engine,
    bot_id: int,
    to_status: str,
    reason: str,
    *,
    run_id: str | None = None,
    error: str | None = None,
    reset_errors: bool = False,
    restart_count: int | None = None,
    only_from: Iterable[str] | None = None,
) -> bool:
    """Move a bot to ``to_status`` and write the audit row in ``bot_status_events``.

    ``only_from`` makes the transition conditional (e.g. never overwrite ``error`` with
    ``stopped``); returns whether it happened.  ``error`` sets ``last_error`` and bumps
    ``error_count``; ``reset_errors`` clears both after a good start.
    """
    if to_status not in BOT_STATUSES:
        raise ValueError(f"unknown status {to_status!r}")
    now = utcnow()
    with session_scope(engine) as session:
        # only observed columns are read: a malformed ``config`` written by a SQL client must
        # not stop the platform from recording that the bot is in error
        current = session.execute(
            select(TradingBot.status, TradingBot.error_count)
            .where(TradingBot.id == bot_id)
            .with_for_update()
        ).one_or_none()
        if current is None:
            # the row was deleted while the bot ran: keep the audit trail all the same
            session.add(
                BotStatusEvent(
                    bot_id=bot_id,
                    from_status=None,
                    to_status=to_status,
                    reason=f"{reason} (bot deleted)",
                    run_id=run_id,
                    at=now,
                )
            )
            return False
        from_status = current.status
        if only_from is not None and from_status not in set(only_from):
            return False
        values: dict[str, Any] = {"status": to_status}
        if to_status in ("starting", "running") and from_status not in ("starting", "running"):
            values["started_at"] = now
            values["stopped_at"] = None
        if to_status in ("stopped", "error", "completed"):
            values["stopped_at"] = now
        if error is not None:
            values["last_error"] = error
            values["error_count"] = (current.error_count or 0) + 1
        if reset_errors:
            values["error_count"] = 0
            values["last_error"] = None
        if restart_count is not None:
            values["restart_count"] = restart_count
        session.execute(update(TradingBot).where(TradingBot.id == bot_id).values(**values))
        session.add(
            BotStatusEvent(
                bot_id=bot_id,
                from_status=from_status,
                to_status=to_status,
                reason=reason,
                run_id=run_id,
                at=now,
            )
        )
        return True


def heartbeat(
    engine: Engine,
    bot_id: int,
    *,
    balance: Any = None,
    total_pnl: Any = None,
    feed_problem: str | None = None,
    at: dt.datetime | None = None,
) -> None:
    """``last_heartbeat`` now; balance and P&L too when given; ``feed_problem`` always (None
    clears it), so it is never older than the heartbeat."""
    values: dict[str, Any] = {"last_heartbeat": at or utcnow(), "feed_problem": feed_problem}
    if balance is not None:
        values["current_balance"] = to_decimal(balance)
    if total_pnl is not None:
        values["total_pnl"] = to_decimal(total_pnl)
    with session_scope(engine) as session:
        session.execute(update(TradingBot).where(TradingBot.id == bot_id).values(**values))


def status_events(engine: Engine, bot_id: int) -> list[BotStatusEvent]:
    with session_scope(engine) as session:
        return list(
            session.scalars(
                select(BotStatusEvent)
                .where(BotStatusEvent.bot_id == bot_id)
                .order_by(BotStatusEvent.id)
            )
        )


def dialect_insert(engine: Engine):  # type: ignore[no-untyped-def]
    return pg_insert if engine.dialect.name == "postgresql" else sqlite_insert


_MONEY_COLUMNS = ("amount", "price", "filled", "average", "fee", "pnl")


def _exact(values: dict[str, Any]) -> dict[str, Any]:
    """A copy with every money column as a Decimal."""
    return {
        key: to_decimal(value) if key in _MONEY_COLUMNS else value for key, value in values.items()
    }


def record_order(engine: Engine, **values: Any) -> int:
    """Write an order BEFORE it is sent; idempotent on ``client_order_id``.

    Returns the order's id, also when it was already recorded by an earlier attempt.
    """
    values = _exact(values)
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
        return session.scalar(
            select(TradingOrder.id).where(TradingOrder.client_order_id == values["client_order_id"])
        )


def update_order(engine: Engine, client_order_id: str, **values: Any) -> None:
    values = _exact(values)
    with session_scope(engine) as session:
        session.execute(
            update(TradingOrder)
            .where(TradingOrder.client_order_id == client_order_id)
            .values(**values, updated_at=utcnow())
        )


def record_trade(engine: Engine, **values: Any) -> bool:
    """Record one fill at most once per (bot, fill id); returns whether it was new."""
    return record_trades(engine, [values]) == 1


def record_trades(engine: Engine, fills: Sequence[dict[str, Any]]) -> int:
    """Record many fills in one transaction, skipping ones already there; returns how many new."""
    if not fills:
        return 0
    rows = [_exact(fill) for fill in fills]
    insert = dialect_insert(engine)
    with session_scope(engine) as session:
        inserted = session.connection().execute(
            insert(TradingTrade.__table__)
            .on_conflict_do_nothing(index_elements=["bot_id", "fill_id"])
            .returning(TradingTrade.__table__.c.id),
            rows,
        )
        return len(inserted.all())


def record_orders(engine: Engine, orders: Sequence[dict[str, Any]]) -> None:
    """Many finished orders in one transaction (backtests write theirs at the end)."""
    if not orders:
        return
    rows = [_exact(order) for order in orders]
    insert = dialect_insert(engine)
    with session_scope(engine) as session:
        session.execute(
            insert(TradingOrder).on_conflict_do_nothing(index_elements=["client_order_id"]),
            rows,
        )


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


def bot_orders(engine: Engine, bot_id: int) -> list[TradingOrder]:
    with session_scope(engine) as session:
        return list(
            session.scalars(
                select(TradingOrder).where(TradingOrder.bot_id == bot_id).order_by(TradingOrder.id)
            )
        )


def save_position(
    engine: Engine,
    bot_id: int,
    symbol: str,
    *,
    size: Any,
    avg_price: Any,
    cash: Any = None,
    at: dt.datetime | None = None,
) -> None:
    """Upsert the bot's position in ``symbol``; a zero size closes it (``closed_at`` set)."""
    now = at or utcnow()
    size_dec = to_decimal(size) or Decimal(0)
    with session_scope(engine) as session:
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


def count_rows(engine: Engine, model: type, bot_id: int | None = None) -> int:
    """How many rows a table has (for one bot): for the CLI and tests."""
    query = select(func.count()).select_from(model)
    if bot_id is not None:
        query = query.where(model.bot_id == bot_id)  # type: ignore[attr-defined]
    with engine.connect() as connection:
        return connection.execute(query).scalar_one()


#: order statuses that may still change at the exchange: resolved on a live bot's restart
UNRESOLVED_ORDER_STATUSES = ("submitting", "open", "unknown")


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
