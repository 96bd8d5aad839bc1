"""``bot_commands``: actions a running bot performs itself (``forceexit``), and their results.

An operator (CLI, Telegram) enqueues a row (``pending``); the bot's run claims it
(``taken``, with its run id) and writes the result back (``done`` or ``failed``, ``result``,
``done_at``).  A pending row nobody took within :data:`COMMAND_TTL_SECONDS` is ``expired``
by whoever looks next (the run's claim, a waiting CLI), so a bot that was down when the
command was given never acts on it hours later.

Two runs of one bot may race for a command (a replaced run that has not noticed yet): the
claim is a compare-and-set ``pending -> taken`` per row, so one run takes it, the other
finds nothing; the claim also runs the run's lease check in its transaction.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError

from trading_platform.db.engine import dialect_insert, session_scope
from trading_platform.db.models import BotCommand, BotStatusEvent, TradingBot, TradingOrder
from trading_platform.db.orders import Fence
from trading_platform.db.types import utcnow

#: a pending command not taken within this many seconds is expired: its bot was not running
#: (a running bot claims its commands every few seconds, see engine/heartbeat.py)
COMMAND_TTL_SECONDS = 120.0


class CommandStatus(StrEnum):
    """``bot_commands.status``."""

    PENDING = "pending"
    TAKEN = "taken"
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"


#: a command in one of these will not change any more
FINAL_COMMAND_STATUSES = (CommandStatus.DONE, CommandStatus.FAILED, CommandStatus.EXPIRED)


class CommandKind(StrEnum):
    """``bot_commands.command``."""

    FORCEEXIT = "forceexit"


@dataclass(frozen=True)
class CommandRow:
    id: int
    bot_id: int
    command: str
    requested_by: str | None
    requested_at: dt.datetime
    status: str
    run_id: str | None
    result: str | None
    done_at: dt.datetime | None
    idempotency_key: str | None
    reply_chat_id: str | None
    answered_at: dt.datetime | None

    @property
    def final(self) -> bool:
        return self.status in FINAL_COMMAND_STATUSES

    @classmethod
    def of(cls, row: BotCommand) -> CommandRow:
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})


def enqueue(
    engine: Engine,
    bot_id: int,
    command: str,
    requested_by: str | None,
    *,
    idempotency_key: str | None = None,
    reply_chat_id: str | None = None,
) -> tuple[CommandRow, bool]:
    """A new pending command, or the one already given under ``idempotency_key`` (a
    re-delivered request); the flag says whether it is new.  Two concurrent requests with one
    key make one row: the unique key decides, the loser reads the winner's row."""
    values = {
        "bot_id": bot_id,
        "command": CommandKind(command).value,
        "requested_by": requested_by,
        "requested_at": utcnow(),
        "status": CommandStatus.PENDING.value,
        "idempotency_key": idempotency_key,
        "reply_chat_id": reply_chat_id,
    }
    if idempotency_key is not None:
        existing = get_by_key(engine, idempotency_key)
        if existing is not None:
            return existing, False
    insert = dialect_insert(engine)
    try:
        with session_scope(engine) as session:
            statement = insert(BotCommand).values(**values)
            if idempotency_key is not None:
                statement = statement.on_conflict_do_nothing(index_elements=["idempotency_key"])
            new_id = session.execute(statement.returning(BotCommand.id)).scalar_one_or_none()
    except IntegrityError:  # pragma: no cover - ON CONFLICT covers it; a belt for odd drivers
        new_id = None
    if new_id is None:
        assert idempotency_key is not None
        existing = get_by_key(engine, idempotency_key)
        assert existing is not None, "a conflicting idempotency key vanished"
        return existing, False
    command_row = get_command(engine, new_id)
    assert command_row is not None
    return command_row, True


def get_command(engine: Engine, command_id: int) -> CommandRow | None:
    with session_scope(engine) as session:
        row = session.get(BotCommand, command_id)
        return CommandRow.of(row) if row is not None else None


def get_by_key(engine: Engine, idempotency_key: str) -> CommandRow | None:
    with session_scope(engine) as session:
        row = session.scalar(
            select(BotCommand).where(BotCommand.idempotency_key == idempotency_key)
        )
        return CommandRow.of(row) if row is not None else None


def bot_commands(engine: Engine, bot_id: int, limit: int = 20) -> list[CommandRow]:
    """The bot's newest commands, oldest first."""
    with session_scope(engine) as session:
        rows = session.scalars(
            select(BotCommand)
            .where(BotCommand.bot_id == bot_id)
            .order_by(BotCommand.id.desc())
            .limit(limit)
        )
        return [CommandRow.of(row) for row in reversed(list(rows))]


def expire_stale(
    engine: Engine,
    *,
    bot_id: int | None = None,
    ttl_seconds: float = COMMAND_TTL_SECONDS,
    now: dt.datetime | None = None,
) -> list[int]:
    """Expire the pending commands older than ``ttl_seconds`` (of one bot, or all); returns
    their ids.  A compare-and-set on ``pending``: a command a run took meanwhile stays taken."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=ttl_seconds)
    with session_scope(engine) as session:
        query = select(BotCommand.id).where(
            BotCommand.status == CommandStatus.PENDING.value, BotCommand.requested_at < cutoff
        )
        if bot_id is not None:
            query = query.where(BotCommand.bot_id == bot_id)
        expired = []
        for command_id in session.scalars(query).all():
            written = session.execute(
                update(BotCommand)
                .where(BotCommand.id == command_id, BotCommand.status == CommandStatus.PENDING)
                .values(
                    status=CommandStatus.EXPIRED.value,
                    result=(
                        f"expired: the bot did not take it within {ttl_seconds:.0f} s "
                        "(it was not running); nothing was done"
                    ),
                    done_at=now,
                )
            )
            if written.rowcount:  # type: ignore[attr-defined]
                expired.append(command_id)
        return expired


def has_pending(engine: Engine, bot_id: int) -> bool:
    """Whether the bot has a pending command: the running bot's cheap poll."""
    with engine.connect() as connection:
        return (
            connection.execute(
                select(func.count())
                .select_from(BotCommand)
                .where(BotCommand.bot_id == bot_id, BotCommand.status == CommandStatus.PENDING)
            ).scalar_one()
            > 0
        )


def claim(
    engine: Engine,
    bot_id: int,
    run_id: str,
    *,
    fence: Fence | None = None,
    ttl_seconds: float = COMMAND_TTL_SECONDS,
) -> list[CommandRow]:
    """Take the bot's pending commands for ``run_id``, oldest first; stale ones are expired
    instead.  Each is a compare-and-set ``pending -> taken``: of two runs claiming at once,
    one takes a given command.  ``fence`` (the run's lease check) runs first."""
    expire_stale(engine, bot_id=bot_id, ttl_seconds=ttl_seconds)
    taken: list[int] = []
    with session_scope(engine) as session:
        if fence is not None:
            fence(session)
        pending = session.scalars(
            select(BotCommand.id)
            .where(BotCommand.bot_id == bot_id, BotCommand.status == CommandStatus.PENDING)
            .order_by(BotCommand.id)
        ).all()
        for command_id in pending:
            written = session.execute(
                update(BotCommand)
                .where(BotCommand.id == command_id, BotCommand.status == CommandStatus.PENDING)
                .values(status=CommandStatus.TAKEN.value, run_id=run_id)
            )
            if written.rowcount:  # type: ignore[attr-defined]
                taken.append(command_id)
    rows = [get_command(engine, command_id) for command_id in taken]
    return [row for row in rows if row is not None]


def finish(
    engine: Engine,
    command_id: int,
    status: CommandStatus,
    result: str,
    *,
    taken_by: str,
    run_id: str | None = None,
    fence: Fence | None = None,
) -> bool:
    """Write a taken command's result (``done`` or ``failed``) and its audit row, in one
    transaction; ``taken_by`` is the run that took it (compare-and-set: a command finished
    meanwhile is left alone).  ``run_id`` (default ``taken_by``) is the run that finishes it:
    another one when a restarted run finishes what its dead predecessor took.  The audit row
    names the operator who asked (``actor``)."""
    if status not in (CommandStatus.DONE, CommandStatus.FAILED):
        raise ValueError(f"a command is finished done or failed, not {status!r}")
    run_id = run_id or taken_by
    now = utcnow()
    with session_scope(engine) as session:
        if fence is not None:
            fence(session)
        command = session.get(BotCommand, command_id)
        if command is None:
            return False
        written = session.execute(
            update(BotCommand)
            .where(
                BotCommand.id == command_id,
                BotCommand.status == CommandStatus.TAKEN,
                BotCommand.run_id == taken_by,
            )
            .values(status=status.value, result=result, done_at=now, run_id=run_id)
        )
        if not written.rowcount:  # type: ignore[attr-defined]
            return False
        bot_status = session.scalar(
            select(TradingBot.status).where(TradingBot.id == command.bot_id)
        )
        session.add(
            BotStatusEvent(
                bot_id=command.bot_id,
                from_status=bot_status,
                to_status=bot_status or "stopped",
                reason=f"{command.command} command {command_id} {status.value}: {result}",
                run_id=run_id,
                actor=command.requested_by,
                at=now,
            )
        )
        return True


def taken_by_other_runs(engine: Engine, bot_id: int, run_id: str) -> list[CommandRow]:
    """The bot's commands taken by another run and never finished: that run ended (or lost
    its lease) while acting on them; the run holding the bot now finishes them."""
    with session_scope(engine) as session:
        rows = session.scalars(
            select(BotCommand)
            .where(
                BotCommand.bot_id == bot_id,
                BotCommand.status == CommandStatus.TAKEN,
                BotCommand.run_id != run_id,
            )
            .order_by(BotCommand.id)
        )
        return [CommandRow.of(row) for row in rows]


def mark_answered(engine: Engine, command_id: int) -> bool:
    """The requester was told the result (Telegram): set ``answered_at`` once."""
    with session_scope(engine) as session:
        written = session.execute(
            update(BotCommand)
            .where(BotCommand.id == command_id, BotCommand.answered_at.is_(None))
            .values(answered_at=utcnow())
        )
        return bool(written.rowcount)  # type: ignore[attr-defined]


def forceexit_order(engine: Engine, bot_id: int, run_id: str) -> TradingOrder | None:
    """The newest ``forceexit`` order ``run_id`` wrote for the bot that no finished command
    of the bot names in its result: what a command that run took became (a run acts on one
    force exit at a time, and names the order in the result when it finishes)."""
    with session_scope(engine) as session:
        orders = session.scalars(
            select(TradingOrder)
            .where(
                TradingOrder.bot_id == bot_id,
                TradingOrder.run_id == run_id,
                TradingOrder.logic == CommandKind.FORCEEXIT.value,
            )
            .order_by(TradingOrder.id.desc())
        ).all()
        if not orders:
            return None
        results = session.scalars(
            select(BotCommand.result).where(
                BotCommand.bot_id == bot_id,
                BotCommand.status.in_([CommandStatus.DONE, CommandStatus.FAILED]),
                BotCommand.result.is_not(None),
            )
        ).all()
        newest = orders[0]
        mention = re.compile(rf"{re.escape(newest.client_order_id)}(?!\d)")
        named = any(mention.search(text or "") for text in results)
        return None if named else newest
