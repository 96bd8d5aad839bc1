"""A bot's observed state: status transitions with their audit rows, and heartbeats.

Only the platform writes these columns (the runner, the sensor); every transition leaves a
``bot_status_events`` row, so an operator can read why a bot is where it is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from trading_platform.contract import BotStatus
from trading_platform.db.engine import session_scope
from trading_platform.db.models import BotStatusEvent, TradingBot
from trading_platform.db.types import to_decimal, utcnow

#: a transition into these from elsewhere is a start: ``started_at`` is set
_ACTIVE = (BotStatus.STARTING, BotStatus.RUNNING)
#: a transition into these is an end: ``stopped_at`` is set
_ENDED = (BotStatus.STOPPED, BotStatus.ERROR, BotStatus.COMPLETED)


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
    ``stopped``; the sensor passes the status it read, so it never overwrites a newer status
    written by a run); returns whether it happened.  ``error`` sets ``last_error`` and bumps
    ``error_count``; ``reset_errors`` clears both after a good start.

    The write is a compare-and-set: the ``UPDATE`` names the status the decision was made
    on, so a status another process wrote after our read is never overwritten.  PostgreSQL
    locks the row at the read already; SQLite takes no lock for a read, so there a concurrent
    write makes the ``UPDATE`` match nothing, and the decision is made again on a fresh read
    (the failed ``UPDATE`` holds the write lock, so the second read is the last word).
    """
    if to_status not in set(BotStatus):
        raise ValueError(f"unknown status {to_status!r}")
    to_status = BotStatus(to_status).value  # the plain word, whatever the caller passed
    allowed = None if only_from is None else {BotStatus(s).value for s in only_from}
    now = utcnow()
    with session_scope(engine) as session:
        for _attempt in range(_CAS_ATTEMPTS):
            # only observed columns are read: a malformed ``config`` written by a SQL client
            # must not stop the platform from recording that the bot is in error
            from_status = session.execute(
                select(TradingBot.status).where(TradingBot.id == bot_id).with_for_update()
            ).scalar_one_or_none()
            if from_status is None:
                _record_deleted(session, bot_id, to_status, reason, run_id, now)
                return False
            if allowed is not None and from_status not in allowed:
                return False
            values = _transition_values(from_status, to_status, now, error, reset_errors)
            if restart_count is not None:
                values["restart_count"] = restart_count
            written = session.execute(
                update(TradingBot)
                .where(TradingBot.id == bot_id, TradingBot.status == from_status)
                .values(**values)
            )
            if written.rowcount:  # type: ignore[attr-defined]
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
    raise RuntimeError(f"bot {bot_id}: status kept changing under {to_status!r} ({reason})")


#: a compare-and-set that loses once holds the write lock, so the second attempt wins
_CAS_ATTEMPTS = 3


def _transition_values(
    from_status: str, to_status: str, now: dt.datetime, error: str | None, reset_errors: bool
) -> dict[str, Any]:
    """The columns a move from ``from_status`` to ``to_status`` writes."""
    values: dict[str, Any] = {"status": to_status}
    if to_status in _ACTIVE and from_status not in _ACTIVE:
        values["started_at"] = now
        values["stopped_at"] = None
    if to_status in _ENDED:
        values["stopped_at"] = now
    if error is not None:
        values["last_error"] = error
        values["error_count"] = func.coalesce(TradingBot.error_count, 0) + 1
    if reset_errors:
        values["error_count"] = 0
        values["last_error"] = None
    return values


def _record_deleted(
    session: Session,
    bot_id: int,
    to_status: str,
    reason: str,
    run_id: str | None,
    now: dt.datetime,
) -> None:
    """The row was deleted while the bot ran: keep the audit trail all the same."""
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


def record_event(
    engine: Engine,
    bot_id: int | None,
    reason: str,
    *,
    actor: str | None = None,
    run_id: str | None = None,
) -> str | None:
    """An audit row that keeps the bot's status (from = to = its status now): an operator's
    command (``actor`` says who: ``cli:root``, ``telegram:alice``) or an event of a running
    bot.  ``bot_id`` None: a command that concerns no single bot (an unknown bot named, a
    user nobody knows).  Returns the status recorded (None without a bot)."""
    with session_scope(engine) as session:
        return record_event_in(session, bot_id, reason, actor=actor, run_id=run_id)


def record_event_in(
    session: Session,
    bot_id: int | None,
    reason: str,
    *,
    actor: str | None = None,
    run_id: str | None = None,
) -> str | None:
    """:func:`record_event` inside a caller's transaction (with the change it audits)."""
    status = (
        session.scalar(select(TradingBot.status).where(TradingBot.id == bot_id))
        if bot_id is not None
        else None
    )
    session.add(
        BotStatusEvent(
            bot_id=bot_id,
            from_status=status,
            # to_status is NOT NULL: a command about no bot (or a deleted one) records none
            to_status=status or "-",
            reason=reason,
            run_id=run_id,
            actor=actor,
            at=utcnow(),
        )
    )
    return status


def set_restart_count(engine: Engine, bot_id: int, count: int, reason: str | None = None) -> None:
    """Write ``restart_count`` alone, never the status.

    The sensor owns this counter but not the status of a bot whose run is alive: a reset
    after a config change must not write back the status the sensor read, which the run may
    have changed since (``stopping -> running -> stopped`` was observed).  ``reason`` leaves
    an audit row that keeps the status the row has at the time of the write."""
    with session_scope(engine) as session:
        written = session.execute(
            update(TradingBot)
            .where(TradingBot.id == bot_id)
            .values(restart_count=count)
            .returning(TradingBot.status)
        ).scalar_one_or_none()
        if written is not None and reason is not None:
            session.add(
                BotStatusEvent(
                    bot_id=bot_id,
                    from_status=written,
                    to_status=written,
                    reason=reason,
                    at=utcnow(),
                )
            )


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
