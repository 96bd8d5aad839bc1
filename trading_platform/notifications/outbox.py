"""Writing to the outbox: one row per channel of the bot's owner, deduplicated by key.

Producers (the bot runner, the sensor, run-status sensors) call :func:`enqueue` and return:
trading never waits on Telegram or SMTP.  The dedupe key names the event (``fill:tp-3-1-4``,
``restarts-exhausted:7:<hash>``), so the same event produced twice, by a retry or a second
process, is stored once.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, select

from trading_platform.contract import Channel, NotificationStatus
from trading_platform.db.engine import dialect_insert, session_scope
from trading_platform.db.models import Notification, TradingBot, User
from trading_platform.db.types import utcnow
from trading_platform.notifications.messages import Message


def run_error_key(run_id: str) -> str:
    """The dedupe key of a run's failure: the bot runner, the failure hook and the run-failure
    sensor each report it, and the owner hears of it once."""
    return f"run-error:{run_id}"


def recipients(engine: Engine, bot_id: int | None) -> tuple[int | None, list[Channel]]:
    """The bot's owner and the channels they can be reached on."""
    if bot_id is None:
        return None, []
    with session_scope(engine) as session:
        row = session.execute(
            select(User.id, User.telegram_user_id, User.email)
            .join(TradingBot, TradingBot.user_id == User.id)
            .where(TradingBot.id == bot_id)
        ).one_or_none()
    if row is None:
        return None, []
    channels = []
    if row.telegram_user_id:
        channels.append(Channel.TELEGRAM)
    if row.email:
        channels.append(Channel.EMAIL)
    return row.id, channels


def enqueue(
    engine: Engine,
    message: Message,
    *,
    bot_id: int | None,
    dedupe_key: str,
    at: dt.datetime | None = None,
) -> int:
    """Queue ``message`` on every channel of the bot's owner; returns how many rows are new."""
    user_id, channels = recipients(engine, bot_id)
    if not channels:
        return 0
    now = at or utcnow()
    rows = [
        {
            "user_id": user_id,
            "bot_id": bot_id,
            "channel": channel,
            "type": message.type,
            "priority": message.priority,
            "text": message.text,
            "status": NotificationStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "dedupe_key": f"{dedupe_key}:{channel}"[:200],
            "created_at": now,
        }
        for channel in channels
    ]
    insert = dialect_insert(engine)
    with session_scope(engine) as session:
        result = session.connection().execute(
            insert(Notification.__table__)
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(Notification.__table__.c.id),
            rows,
        )
        return len(result.all())
