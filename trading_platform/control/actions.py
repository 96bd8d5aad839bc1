"""Stand-in for wt-ops' ``control/actions.py`` (replaced at merge): the same signatures."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select, update

from trading_platform.control.operators import Operator
from trading_platform.db.engine import session_scope
from trading_platform.db.models import BotCommand, BotStatusEvent, TradingBot
from trading_platform.db.types import utcnow


class ControlError(Exception):
    pass


@dataclass(frozen=True)
class ActionResult:
    bot_id: int
    bot_name: str
    ok: bool
    text: str


def resolve_bots(
    database: Engine, operator: Operator, ref: str, allow_all: bool
) -> list[TradingBot]:
    with session_scope(database) as session:
        query = select(TradingBot).order_by(TradingBot.id)
        if not operator.admin:
            query = query.where(TradingBot.user_id == operator.user_id)
        if ref == "all":
            if not allow_all:
                raise ControlError("name one bot")
            bots = list(session.scalars(query))
        elif ref.isdigit():
            bots = list(session.scalars(query.where(TradingBot.id == int(ref))))
        else:
            bots = list(session.scalars(query.where(TradingBot.name == ref)))
        if not bots:
            raise ControlError(f"no bot {ref!r}")
        return bots


def _write(database: Engine, operator: Operator, ref: str, what: str, **values: object):
    results = []
    for bot in resolve_bots(database, operator, ref, allow_all=True):
        with session_scope(database) as session:
            session.execute(update(TradingBot).where(TradingBot.id == bot.id).values(**values))
            session.add(
                BotStatusEvent(
                    bot_id=bot.id,
                    from_status=bot.status,
                    to_status=bot.status,
                    reason=what,
                    actor=operator.actor,
                    at=utcnow(),
                )
            )
        results.append(ActionResult(bot.id, bot.name, True, what))
    return results


def stop(database: Engine, operator: Operator, ref: str) -> list[ActionResult]:
    return _write(database, operator, ref, "stopped", enabled=False)


def start(database: Engine, operator: Operator, ref: str) -> list[ActionResult]:
    return _write(database, operator, ref, "started", enabled=True)


def pause(database: Engine, operator: Operator, ref: str) -> list[ActionResult]:
    return _write(database, operator, ref, "paused", paused=True)


def resume(database: Engine, operator: Operator, ref: str) -> list[ActionResult]:
    return _write(database, operator, ref, "resumed", paused=False)


def reload(database: Engine, operator: Operator, ref: str) -> list[ActionResult]:
    return _write(
        database, operator, ref, "reload requested", reload_requests=TradingBot.reload_requests + 1
    )


def force_exit(
    database: Engine,
    operator: Operator,
    ref: str,
    idempotency_key: str | None = None,
    reply_chat_id: str | None = None,
) -> list[ActionResult]:
    (bot,) = resolve_bots(database, operator, ref, allow_all=False)
    with session_scope(database) as session:
        existing = session.scalar(
            select(BotCommand).where(BotCommand.idempotency_key == idempotency_key)
        )
        if existing is None:
            session.add(
                BotCommand(
                    bot_id=bot.id,
                    command="forceexit",
                    requested_by=operator.actor,
                    idempotency_key=idempotency_key,
                    reply_chat_id=reply_chat_id,
                )
            )
    return [ActionResult(bot.id, bot.name, True, "force exit requested")]
