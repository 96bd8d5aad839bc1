"""SQLAlchemy models of the database contract (``design.md``, "Database contract").

Column names are user-facing: operators write ``trading_bots`` rows with any SQL client and
build dashboards on the other tables, so names are plain words and never change meaning.
Users write the *desired* columns of ``trading_bots``; the platform writes only the *observed*
ones (see ``DESIRED_COLUMNS``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from trading_platform.contract import BotStatus, NotificationStatus, Priority
from trading_platform.db.types import Money, UtcDateTime, utcnow

#: The columns a user writes. A change to any of them is a config change (hot reload).
DESIRED_COLUMNS = (
    "enabled",
    "strategy",
    "mode",
    "exchange",
    "symbol",
    "timeframe",
    "config",
    "reload_requests",
)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, Decimal: Money, dt.datetime: UtcDateTime}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    email: Mapped[str | None] = mapped_column(String(255))
    telegram_user_id: Mapped[str | None] = mapped_column(String(64))
    #: an admin sees and commands every bot; any other user only their own (migration 0008)
    is_admin: Mapped[bool] = mapped_column(
        Boolean(create_constraint=True, name="ck_users_is_admin"),
        default=False,
        server_default=text("false"),
    )
    created_at: Mapped[dt.datetime] = mapped_column(
        default=utcnow, server_default=text("CURRENT_TIMESTAMP")
    )


class CredentialGrant(Base):
    """A user may trade with a credential set (:mod:`trading_platform.db.grants`): a bot's
    config names a set, and only a set granted to the bot's owner is ever loaded."""

    __tablename__ = "credential_grants"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_credential_grants_user_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    #: the credential set's name, upper case (the environment variables name it so)
    name: Mapped[str] = mapped_column(String(64))
    granted_at: Mapped[dt.datetime] = mapped_column(
        default=utcnow, server_default=text("CURRENT_TIMESTAMP")
    )
    #: who granted it (free text: the operator's login by default)
    granted_by: Mapped[str | None] = mapped_column(Text)


class TradingBot(Base):
    __tablename__ = "trading_bots"
    __table_args__ = (
        UniqueConstraint("user_id", "name", name="uq_trading_bots_user_name"),
        # a deleted bot's id is never given to a new one (migration 0003): other tables and
        # Dagster's run history name bots by id
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200))
    # desired state, written by users
    # SQLite stores any value a client writes: a CHECK keeps 'false' (text, read as True) out
    # there (migration 0007); PostgreSQL's boolean column refuses it by itself
    enabled: Mapped[bool] = mapped_column(
        Boolean(create_constraint=True, name="ck_trading_bots_enabled"),
        default=False,
        server_default=text("false"),
    )
    strategy: Mapped[str | None] = mapped_column(String(100))
    mode: Mapped[str | None] = mapped_column(String(20))
    exchange: Mapped[str | None] = mapped_column(String(50))
    symbol: Mapped[str | None] = mapped_column(String(50))
    timeframe: Mapped[str | None] = mapped_column(String(10))
    config: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: no new entries while true, exits still allowed; read by the running bot at every
    #: heartbeat and NOT part of the config hash: pausing never restarts a bot
    paused: Mapped[bool] = mapped_column(
        Boolean(create_constraint=True, name="ck_trading_bots_paused"),
        default=False,
        server_default=text("false"),
    )
    #: ``reload`` adds one; part of the config hash, so the sensor restarts the run
    reload_requests: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # observed state, written by the platform
    status: Mapped[str] = mapped_column(
        String(20), default=BotStatus.STOPPED.value, server_default=text("'stopped'")
    )
    last_heartbeat: Mapped[dt.datetime | None]
    started_at: Mapped[dt.datetime | None]
    stopped_at: Mapped[dt.datetime | None]
    error_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    restart_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    current_balance: Mapped[Decimal | None]
    total_pnl: Mapped[Decimal | None]
    #: why the bot's live data feed is failing, written by every heartbeat (NULL: healthy)
    feed_problem: Mapped[str | None] = mapped_column(Text)
    #: when and how a running live bot found its position or open orders differing from the
    #: exchange's; NULL when none.  No new positions while set: cleared by the operator
    #: (``bots ack-drift``) or by a restart, which takes the exchange as the truth
    drift: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        default=utcnow, server_default=text("CURRENT_TIMESTAMP")
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=text("CURRENT_TIMESTAMP")
    )

    def desired(self) -> dict[str, Any]:
        return {column: getattr(self, column) for column in DESIRED_COLUMNS}


class TradingOrder(Base):
    """Written BEFORE an order is sent (write-ahead), then updated from the exchange's answer."""

    __tablename__ = "trading_orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bot_id: Mapped[int] = mapped_column(Integer, index=True)
    run_id: Mapped[str | None] = mapped_column(String(64))
    client_order_id: Mapped[str] = mapped_column(String(64), unique=True)
    exchange_order_id: Mapped[str | None] = mapped_column(String(64))
    symbol: Mapped[str | None] = mapped_column(String(50))
    side: Mapped[str] = mapped_column(String(4))
    type: Mapped[str] = mapped_column(String(20))
    amount: Mapped[Decimal]
    price: Mapped[Decimal | None]
    status: Mapped[str] = mapped_column(String(20))
    filled: Mapped[Decimal | None]
    average: Mapped[Decimal | None]
    fee: Mapped[Decimal | None]
    logic: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    #: when the order was last handed to the network (the arrival window counts from here)
    last_sent_at: Mapped[dt.datetime | None]


class TradingTrade(Base):
    """One fill. ``fill_id`` (the exchange's trade id) makes a fill recorded at most once."""

    __tablename__ = "trading_trades"
    __table_args__ = (
        UniqueConstraint("bot_id", "fill_id", name="uq_trading_trades_bot_fill"),
        Index("ix_trading_trades_bot_executed", "bot_id", "executed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bot_id: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str | None] = mapped_column(String(64))
    order_id: Mapped[int | None] = mapped_column(Integer)
    fill_id: Mapped[str] = mapped_column(String(100))
    symbol: Mapped[str | None] = mapped_column(String(50))
    side: Mapped[str] = mapped_column(String(4))
    amount: Mapped[Decimal]
    price: Mapped[Decimal]
    fee: Mapped[Decimal | None]
    pnl: Mapped[Decimal | None]
    entry_logic: Mapped[str | None] = mapped_column(String(100))
    exit_logic: Mapped[str | None] = mapped_column(String(100))
    executed_at: Mapped[dt.datetime]


class BotLease(Base):
    """Who may trade a bot: the run holding the lease, fenced by ``epoch``
    (:mod:`trading_platform.db.leases`)."""

    __tablename__ = "bot_leases"

    bot_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    epoch: Mapped[int] = mapped_column(Integer)
    holder_run_id: Mapped[str | None] = mapped_column(String(64))
    holder: Mapped[str | None] = mapped_column(String(200))
    acquired_at: Mapped[dt.datetime | None]
    renewed_at: Mapped[dt.datetime | None]


class TradingPosition(Base):
    __tablename__ = "trading_positions"
    __table_args__ = (UniqueConstraint("bot_id", "symbol", name="uq_trading_positions_bot_symbol"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bot_id: Mapped[int] = mapped_column(Integer)
    symbol: Mapped[str] = mapped_column(String(50))
    size: Mapped[Decimal]
    avg_price: Mapped[Decimal | None]
    cash: Mapped[Decimal | None]
    opened_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    closed_at: Mapped[dt.datetime | None]


class BotStatusEvent(Base):
    """Audit trail: one row per status transition of a bot."""

    __tablename__ = "bot_status_events"
    __table_args__ = (Index("ix_bot_status_events_bot_at", "bot_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: NULL for an audited operator command that concerns no single bot
    bot_id: Mapped[int | None] = mapped_column(Integer)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[str | None] = mapped_column(String(64))
    #: who caused the row (``telegram:alice``, ``cli:root``); NULL for the platform itself
    actor: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(
        default=utcnow, server_default=text("CURRENT_TIMESTAMP")
    )


class BotCommand(Base):
    """An action a running bot performs itself (``forceexit``): the run claims pending rows
    at every heartbeat and writes the result back (migration 0008)."""

    __tablename__ = "bot_commands"
    __table_args__ = (Index("ix_bot_commands_bot_status", "bot_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bot_id: Mapped[int] = mapped_column(ForeignKey("trading_bots.id", ondelete="CASCADE"))
    command: Mapped[str] = mapped_column(String(20))
    requested_by: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[dt.datetime] = mapped_column(
        default=utcnow, server_default=text("CURRENT_TIMESTAMP")
    )
    status: Mapped[str] = mapped_column(
        String(10), default="pending", server_default=text("'pending'")
    )
    run_id: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[str | None] = mapped_column(Text)
    done_at: Mapped[dt.datetime | None]
    #: e.g. ``telegram:<update id>``: a re-delivered request never makes a second command
    idempotency_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    #: the chat to answer once the result is in (Telegram), and when it was answered
    reply_chat_id: Mapped[str | None] = mapped_column(String(64))
    answered_at: Mapped[dt.datetime | None]


class MetricSnapshot(Base):
    __tablename__ = "metric_snapshots"
    __table_args__ = (Index("ix_metric_snapshots_bot_at", "bot_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bot_id: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    balance: Mapped[Decimal | None]
    equity: Mapped[Decimal | None]
    realized_pnl: Mapped[Decimal | None]
    unrealized_pnl: Mapped[Decimal | None]
    trade_count: Mapped[int] = mapped_column(Integer, default=0)
    win_rate: Mapped[float | None]
    profit_factor: Mapped[float | None]
    max_drawdown: Mapped[float | None]
    sharpe: Mapped[float | None]


class Notification(Base):
    """The outbox: producers insert and return; a dispatcher sends."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(Integer)
    bot_id: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(20))
    type: Mapped[str] = mapped_column(String(40))
    priority: Mapped[str] = mapped_column(String(10), default=Priority.NORMAL.value)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default=NotificationStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]
