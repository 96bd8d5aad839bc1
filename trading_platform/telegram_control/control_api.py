"""The one module that calls :mod:`trading_platform.control`: who an operator is, which
bots they name, and the actions.

Telegram is one front of operator control (the CLI is the other): authorisation, the audit
rows of actions and the command table belong to ``control``, so both fronts behave the same.
This module only adapts its API to what the command handler needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from trading_platform.control import actions
from trading_platform.control.actions import ActionResult, ControlError
from trading_platform.control.operators import Operator, operator_for_telegram

__all__ = ["ActionResult", "BotRef", "ControlError", "Operator", "act", "operator_for", "resolve"]

#: the actions a chat may ask for, by command word; ``forceexit`` reaches the running bot
#: through ``bot_commands`` and answers later
ACTIONS: dict[str, Callable[..., list[ActionResult]]] = {
    "stop": actions.stop,
    "start": actions.start,
    "pause": actions.pause,
    "resume": actions.resume,
    "reload": actions.reload,
}
FORCE_EXIT = "forceexit"


@dataclass(frozen=True)
class BotRef:
    id: int
    name: str


def operator_for(engine: Engine, telegram_user_id: int) -> Operator | None:
    """The platform user whose ``users.telegram_user_id`` is this Telegram user, or None."""
    return operator_for_telegram(engine, telegram_user_id)


def resolve(engine: Engine, operator: Operator, ref: str, *, allow_all: bool) -> list[BotRef]:
    """The bots ``ref`` (a name, an id, or ``all``) names among those ``operator`` may see;
    :class:`ControlError` when none (a bot they may not see reads as one that does not
    exist)."""
    return [
        BotRef(bot.id, bot.name) for bot in actions.resolve_bots(engine, operator, ref, allow_all)
    ]


def act(
    engine: Engine,
    operator: Operator,
    action: str,
    ref: str,
    *,
    idempotency_key: str | None = None,
    reply_chat_id: str | None = None,
) -> list[ActionResult]:
    """Perform ``action`` on the bots ``ref`` names; the audit rows are written by
    ``control``.  ``forceexit`` enqueues a command and returns at once; the key makes a
    re-delivered request return the existing command instead of making a second."""
    if action == FORCE_EXIT:
        return actions.force_exit(
            engine, operator, ref, idempotency_key=idempotency_key, reply_chat_id=reply_chat_id
        )
    return ACTIONS[action](engine, operator, ref)
