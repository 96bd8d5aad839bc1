"""Pruning the bot database's history tables, so a platform that runs for months stays small.

What is pruned, and why only that (README, "Running for weeks"):

- ``notifications`` that ended (``sent`` or ``failed``) before the cutoff: the outbox is a
  queue, not a record; a ``pending`` message is never deleted, whatever its age.  A deleted
  row frees its dedupe key: the only producer that repeats an old event is ``bot_health``
  (``unhealthy:<bot>:<last heartbeat>``), so a bot that stays unhealthy longer than the
  retention is reminded once per retention period.
- ``bot_commands`` that ended (``done``, ``failed``, ``expired``) before the cutoff and whose
  answer, if one was asked for, was sent: a ``pending`` or ``taken`` command is the state of a
  force exit in flight and is never deleted.
- ``metric_snapshots`` older than the cutoff are thinned to the newest row per bot and UTC day:
  ``bot_performance`` writes one per bot every five minutes (288 a day); a day's last one keeps
  the long equity curve.  The newest snapshot of each bot is always among those kept.
- ``bot_status_events`` older than the (longer) audit cutoff: it is the audit trail (who
  paused, who forced an exit), so it is kept a year by default.

Never pruned: ``trading_orders``, ``trading_trades`` and ``trading_positions`` (the books, and
a live bot's recovery reads its orders), ``trading_bots``, ``users``, ``credential_grants``,
``bot_leases`` (one row per bot or user: bounded by what the operator creates).

Timestamps are compared with the ``at``/``created_at`` columns the platform writes in UTC.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine, and_, delete, func, or_, select

from trading_platform.contract import NotificationStatus
from trading_platform.db.commands import FINAL_COMMAND_STATUSES
from trading_platform.db.engine import session_scope
from trading_platform.db.models import BotCommand, BotStatusEvent, MetricSnapshot, Notification
from trading_platform.db.types import utcnow

#: default ``TRADING_RUN_RETENTION_DAYS``: finished runs, notifications, commands, snapshots
DEFAULT_RETENTION_DAYS = 30
#: default ``TRADING_AUDIT_RETENTION_DAYS``: ``bot_status_events``
DEFAULT_AUDIT_RETENTION_DAYS = 365


@dataclass(frozen=True)
class Retention:
    """How many days of history to keep; 0 keeps everything (that kind is not pruned)."""

    days: int = DEFAULT_RETENTION_DAYS
    audit_days: int = DEFAULT_AUDIT_RETENTION_DAYS

    def __post_init__(self) -> None:
        for name, value in (
            ("TRADING_RUN_RETENTION_DAYS", self.days),
            ("TRADING_AUDIT_RETENTION_DAYS", self.audit_days),
        ):
            if value < 0:
                raise ValueError(f"{name}: expected 0 (keep all) or more days, found {value}")

    def cutoff(self, now: dt.datetime) -> dt.datetime | None:
        return now - dt.timedelta(days=self.days) if self.days else None

    def audit_cutoff(self, now: dt.datetime) -> dt.datetime | None:
        return now - dt.timedelta(days=self.audit_days) if self.audit_days else None


@dataclass(frozen=True)
class Pruned:
    """How many rows each table lost."""

    notifications: int = 0
    commands: int = 0
    snapshots: int = 0
    status_events: int = 0

    def describe(self) -> str:
        return (
            f"notifications={self.notifications} commands={self.commands} "
            f"snapshots={self.snapshots} status_events={self.status_events}"
        )


def prune_history(
    engine: Engine, retention: Retention, *, now: dt.datetime | None = None
) -> Pruned:
    """Delete the history rows older than the retention (each table in its own transaction,
    so a long prune never holds SQLite's write lock across tables)."""
    now = now or utcnow()
    cutoff, audit_cutoff = retention.cutoff(now), retention.audit_cutoff(now)
    counts = {"notifications": 0, "commands": 0, "snapshots": 0, "status_events": 0}
    if cutoff is not None:
        counts["notifications"] = _prune_notifications(engine, cutoff)
        counts["commands"] = _prune_commands(engine, cutoff)
        counts["snapshots"] = _thin_snapshots(engine, cutoff)
    if audit_cutoff is not None:
        with session_scope(engine) as session:
            counts["status_events"] = _deleted(
                session.execute(delete(BotStatusEvent).where(BotStatusEvent.at < audit_cutoff))
            )
    return Pruned(**counts)


def _deleted(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _prune_notifications(engine: Engine, cutoff: dt.datetime) -> int:
    ended = (NotificationStatus.SENT.value, NotificationStatus.FAILED.value)
    with session_scope(engine) as session:
        return _deleted(
            session.execute(
                delete(Notification).where(
                    Notification.status.in_(ended), Notification.created_at < cutoff
                )
            )
        )


def _prune_commands(engine: Engine, cutoff: dt.datetime) -> int:
    with session_scope(engine) as session:
        return _deleted(
            session.execute(
                delete(BotCommand).where(
                    BotCommand.status.in_([s.value for s in FINAL_COMMAND_STATUSES]),
                    BotCommand.requested_at < cutoff,
                    or_(BotCommand.done_at.is_(None), BotCommand.done_at < cutoff),
                    or_(BotCommand.reply_chat_id.is_(None), BotCommand.answered_at.is_not(None)),
                )
            )
        )


def _thin_snapshots(engine: Engine, cutoff: dt.datetime) -> int:
    """Keep the newest snapshot per bot and UTC day among those older than ``cutoff``.

    Ids grow with time (one writer, ``bot_performance``), so a day's newest row is its
    largest id.  ``date(at)`` is the day in both dialects: SQLite's ``date()`` of the stored
    UTC text, PostgreSQL's ``date(timestamptz)`` in the session's zone (the buckets are days
    either way).  One statement: the kept ids are a subquery over the old rows only."""
    day = func.date(MetricSnapshot.at)
    keep = (
        select(func.max(MetricSnapshot.id))
        .where(MetricSnapshot.at < cutoff)
        .group_by(MetricSnapshot.bot_id, day)
    )
    with session_scope(engine) as session:
        return _deleted(
            session.execute(
                delete(MetricSnapshot).where(
                    and_(MetricSnapshot.at < cutoff, MetricSnapshot.id.not_in(keep))
                )
            )
        )
