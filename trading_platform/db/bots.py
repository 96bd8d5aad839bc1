"""``trading_bots`` as its users see it: rows read whole, desired columns written.

Writers keep to the contract: users (and the CLI) write the desired columns through
:func:`add_bot` and :func:`set_bot`; the platform writes observed ones through
:mod:`trading_platform.db.status`.  Each function is one short transaction: bots run for
weeks, and a long-lived session would hold SQLite's write lock or a PostgreSQL snapshot.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CursorResult,
    Engine,
    Result,
    Text,
    cast,
    delete,
    select,
    type_coerce,
    update,
)
from sqlalchemy.types import NullType

from trading_platform.config_limits import load_config_text
from trading_platform.contract import BotStatus
from trading_platform.db.engine import session_scope
from trading_platform.db.models import DESIRED_COLUMNS, TradingBot
from trading_platform.db.status import record_event_in
from trading_platform.db.types import utcnow


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
    drift: str | None = None
    #: no new entries while true (desired; not part of the config hash)
    paused: bool = False
    #: how many reloads operators asked for (desired; part of the hash once non-zero)
    reload_requests: int = 0
    #: why ``enabled`` is not a boolean (SQLite stores any value): the bot is then an error,
    #: and never enabled
    enabled_problem: str | None = None

    def desired(self) -> dict[str, Any]:
        """The desired columns, normalised so that equal configs hash equally."""
        config: Any = self.config_text
        if config is not None:
            # a row over the limits keeps its text: it hashes all the same, and validation
            # says what is wrong with it
            with contextlib.suppress(TypeError, ValueError, RecursionError):
                config = load_config_text(config)
        values = {
            "enabled": bool(self.enabled),
            "strategy": self.strategy,
            "mode": self.mode,
            "exchange": self.exchange,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "config": config,
        }
        # only once asked for: a bot that was never reloaded keeps the hash it had before
        # the column existed, so upgrading restarts no bot
        if self.reload_requests:
            values["reload_requests"] = self.reload_requests
        return values


_BOT_ROW_COLUMNS = (
    TradingBot.id,
    TradingBot.user_id,
    TradingBot.name,
    # the value as stored, not through the Boolean type (which reads any text as True)
    type_coerce(TradingBot.enabled, NullType()).label("enabled"),
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
    TradingBot.drift,
    TradingBot.paused,
    TradingBot.reload_requests,
)


def get_bots(engine: Engine, bot_ids: Sequence[int] | None = None) -> list[BotRow]:
    """Every bot (or the given ones) in one query, ordered by id."""
    query = select(*_BOT_ROW_COLUMNS).order_by(TradingBot.id)
    if bot_ids is not None:
        query = query.where(TradingBot.id.in_(list(bot_ids)))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return [_bot_row(row._mapping) for row in rows]


def _bot_row(values: Any) -> BotRow:
    enabled, problem = strict_enabled(values["enabled"])
    return BotRow(
        **{
            **values,
            "enabled": enabled,
            "enabled_problem": problem,
            "status": values["status"] or BotStatus.STOPPED.value,
            "paused": bool(values["paused"]),
            "reload_requests": int(values["reload_requests"] or 0),
        }
    )


def strict_enabled(value: Any) -> tuple[bool, str | None]:
    """``enabled`` as a bool, and a problem for anything but a real boolean or 0/1.  SQLite
    keeps whatever a client wrote: the text ``'false'`` would read as True, turning a bot its
    owner meant to stop into a running one."""
    if isinstance(value, bool):
        return value, None
    if isinstance(value, int) and value in (0, 1):
        return bool(value), None
    return False, f"expected a boolean (true/false, or 1/0), found {str(value)[:40]!r}"


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
        return _rows_changed(result) > 0


def operator_write(
    engine: Engine, bot_id: int, values: dict[str, Any], *, reason: str, actor: str
) -> bool:
    """An operator's change of a bot's desired state (``enabled``, ``paused``, a reload)
    and its audit row, in one transaction; False if the bot is gone.  ``reload_requests``
    is given as an increment (``{"reload_requests": 1}``), so two reloads at once count two."""
    allowed = {"enabled", "paused", "reload_requests"}
    if set(values) - allowed:
        raise ValueError(f"not an operator's column: {', '.join(sorted(set(values) - allowed))}")
    changes: dict[str, Any] = {**values, "updated_at": utcnow()}
    if "reload_requests" in values:
        changes["reload_requests"] = TradingBot.reload_requests + int(values["reload_requests"])
    with session_scope(engine) as session:
        result = session.execute(
            update(TradingBot).where(TradingBot.id == bot_id).values(**changes)
        )
        if not _rows_changed(result):
            return False
        record_event_in(session, bot_id, reason, actor=actor)
        return True


def delete_bot(engine: Engine, bot_id: int) -> bool:
    with session_scope(engine) as session:
        return _rows_changed(session.execute(delete(TradingBot).where(TradingBot.id == bot_id))) > 0


def _rows_changed(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE changed (its result is a ``CursorResult``)."""
    assert isinstance(result, CursorResult)
    return result.rowcount


def _check_desired(values: dict[str, Any]) -> None:
    observed = sorted(set(values) - set(DESIRED_COLUMNS))
    if observed:
        raise ValueError(f"only desired columns may be written here, not {', '.join(observed)}")
