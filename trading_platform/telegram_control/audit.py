"""One audit row per Telegram update: who asked what, and what they were answered.

The row (``bot_status_events``, ``bot_id`` NULL, ``to_status`` :data:`RECEIPT`, ``actor``
``telegram:<username>`` or ``telegram:unknown:<telegram user id>``) is the receipt of the
update: its reason starts ``telegram update <id>:``.  Actions write their own per-bot rows
(``control.actions``: the bot, from/to status, the result); the receipt records the request
as it came from the chat, read commands and refusals included.

The receipt also makes handling at most once per update.  The sensor saves its getUpdates
offset only when its tick ends; a tick that dies after handling an update gets the same
update again.  Before handling a batch the handler asks :func:`handled` which of its
updates have a receipt and skips those, so a re-delivered ``/pause`` writes neither a second
``paused`` nor a second audit row.  The receipt is written right after the action, so the
one remaining window is a crash between the two: then the action runs again, which is
harmless (``enabled``/``paused`` are written to the same value; a force exit carries the
idempotency key ``telegram:<update id>``), and its audit row appears twice.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection

from sqlalchemy import Engine, select

from trading_platform.db.engine import session_scope
from trading_platform.db.models import BotStatusEvent
from trading_platform.db.types import utcnow

#: ``to_status`` of a receipt (it changes no bot's status)
RECEIPT = "command"
REASON_CHARS = 500
#: Telegram keeps an unconfirmed update for 24 hours: no re-delivery comes later than that
REDELIVERY_WINDOW = dt.timedelta(hours=24)
_PREFIX = "telegram update "
_ID = re.compile(r"telegram update (\d+):")


def unknown_actor(telegram_user_id: int) -> str:
    return f"telegram:unknown:{telegram_user_id}"


def record(engine: Engine, *, actor: str, update_id: int, what: str, result: str) -> None:
    """Write the receipt of update ``update_id``."""
    reason = f"{_PREFIX}{update_id}: {what} -> {result}"
    with session_scope(engine) as session:
        session.add(
            BotStatusEvent(
                bot_id=None,
                from_status=None,
                to_status=RECEIPT,
                reason=reason[:REASON_CHARS],
                actor=actor[:200],
                at=utcnow(),
            )
        )


def handled(engine: Engine, update_ids: Collection[int]) -> set[int]:
    """Which of ``update_ids`` already have a receipt (one query; the receipts are the
    ``bot_id IS NULL`` rows of the last day, found through the ``(bot_id, at)`` index)."""
    if not update_ids:
        return set()
    since = utcnow() - REDELIVERY_WINDOW
    with session_scope(engine) as session:
        reasons = session.scalars(
            select(BotStatusEvent.reason).where(
                BotStatusEvent.bot_id.is_(None),
                BotStatusEvent.at >= since,
                BotStatusEvent.to_status == RECEIPT,
                BotStatusEvent.actor.like("telegram:%"),
                BotStatusEvent.reason.like(f"{_PREFIX}%"),
            )
        )
        seen = {int(match[1]) for reason in reasons if (match := _ID.match(reason or ""))}
    return seen & set(update_ids)
