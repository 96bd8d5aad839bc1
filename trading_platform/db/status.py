"""A bot's observed state: status transitions with their audit rows, and heartbeats.

Only the platform writes these columns (the runner, the sensor); every transition leaves a
``bot_status_events`` row, so an operator can read why a bot is where it is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, select, update

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
    ``stopped``); returns whether it happened.  ``error`` sets ``last_error`` and bumps
    ``error_count``; ``reset_errors`` clears both after a good start.
    """
    if to_status not in set(BotStatus):
        raise ValueError(f"unknown status {to_status!r}")
    to_status = BotStatus(to_status).value  # the plain word, whatever the caller passed
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
        if to_status in _ACTIVE and from_status not in _ACTIVE:
            values["started_at"] = now
            values["stopped_at"] = None
        if to_status in _ENDED:
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
