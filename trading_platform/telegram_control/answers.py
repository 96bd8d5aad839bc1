"""Answering a force exit once the bot has done it.

``/forceexit`` (confirmed) puts a ``bot_commands`` row with ``reply_chat_id`` and answers
"requested" at once; the running bot takes the row at its next heartbeat or bar and writes
the result.  Every poll then looks for finished rows with a chat to answer and no
``answered_at``, and sends each result once: ``answered_at`` is set with a compare-and-set
*before* sending (``UPDATE ... WHERE answered_at IS NULL``), so two pollers, or a tick
re-run after a crash, never answer twice.  A send that fails sets it back to NULL for the
next poll; a process that dies between the claim and the send loses that one answer (never
doubles it).  The user can always read the command's fate with ``/status``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select, update

from trading_platform.db.commands import FINAL_COMMAND_STATUSES
from trading_platform.db.engine import session_scope
from trading_platform.db.models import BotCommand, TradingBot
from trading_platform.db.types import utcnow

BATCH = 50


@dataclass(frozen=True)
class Answer:
    command_id: int
    chat_id: int
    text: str


def finished_unanswered(engine: Engine, limit: int = BATCH) -> list[Answer]:
    """Finished commands with a chat waiting for their result, oldest first."""
    query = (
        select(
            BotCommand.id,
            BotCommand.bot_id,
            BotCommand.command,
            BotCommand.status,
            BotCommand.result,
            BotCommand.reply_chat_id,
            TradingBot.name,
        )
        .join(TradingBot, TradingBot.id == BotCommand.bot_id, isouter=True)
        .where(
            BotCommand.reply_chat_id.is_not(None),
            BotCommand.answered_at.is_(None),
            BotCommand.status.in_(FINAL_COMMAND_STATUSES),
        )
        .order_by(BotCommand.id)
        .limit(limit)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    answers = []
    for row in rows:
        try:
            chat = int(row.reply_chat_id)
        except ValueError:
            continue
        label = f"{row.name or 'bot'} (#{row.bot_id})"
        answers.append(
            Answer(row.id, chat, f"/{row.command} {label}: {row.status}: {row.result or '-'}")
        )
    return answers


def claim(engine: Engine, command_id: int) -> bool:
    """Take the right to answer ``command_id``: True for exactly one caller."""
    with session_scope(engine) as session:
        written = session.execute(
            update(BotCommand)
            .where(BotCommand.id == command_id, BotCommand.answered_at.is_(None))
            .values(answered_at=utcnow())
        )
        return bool(written.rowcount)  # type: ignore[attr-defined]


def release(engine: Engine, command_id: int) -> None:
    """The answer could not be sent: let the next poll try again."""
    with session_scope(engine) as session:
        session.execute(
            update(BotCommand).where(BotCommand.id == command_id).values(answered_at=None)
        )
