"""What an operator may do to bots: one function per action, each authorised and audited.

- ``stop`` / ``start``: write ``enabled`` (the desired state); the sensor stops or starts
  the run at its next tick.
- ``pause`` / ``resume``: write ``paused``; the running bot reads it within a few seconds
  and refuses new entries while it is set (exits still go out).  Not part of the config
  hash: pausing never restarts a bot.
- ``reload``: ``reload_requests += 1``, part of the config hash: the sensor restarts the
  run with the same config through its config-change path (no failure counted).
- ``force_exit``: a ``bot_commands`` row the running bot takes within seconds; it closes
  the position at market and writes the result back (:func:`wait_for_command` waits for
  it).  One bot at a time: ``all`` is refused, so one typo never sells every position.

Every call writes one ``bot_status_events`` row per bot it concerns (``actor`` says who,
``reason`` what and with what result; the status is the bot's, unchanged), and one row
without a bot when the reference named none the operator may see.  A bot the operator may
not see is reported exactly like one that does not exist.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from trading_platform.contract import BotStatus, Mode
from trading_platform.control.operators import ControlError, Operator
from trading_platform.db import commands
from trading_platform.db.bots import BotRow, get_bots, operator_write
from trading_platform.db.commands import CommandKind, CommandRow
from trading_platform.db.status import record_event

__all__ = [
    "ActionResult",
    "ControlError",
    "force_exit",
    "pause",
    "reload",
    "resolve_bots",
    "resume",
    "start",
    "stop",
    "wait_for_command",
]

#: the reference that names every bot the operator may act on
ALL = "all"


@dataclass(frozen=True)
class ActionResult:
    """What an action did to one bot; ``ok`` False: refused for this bot (``text`` says
    why).  ``command_id``: the ``bot_commands`` row of a force exit."""

    bot_id: int
    bot_name: str
    ok: bool
    text: str
    command_id: int | None = None


def resolve_bots(database: Engine, operator: Operator, ref: str, allow_all: bool) -> list[BotRow]:
    """The bots ``ref`` names among those ``operator`` may act on: a name, an id, or
    ``all``.  :class:`ControlError` for none (unknown and foreign alike), for ``all`` where
    it is not allowed, and for a name two visible bots share (use the id)."""
    ref = ref.strip()
    visible = [row for row in get_bots(database) if operator.may_act_on(row.user_id)]
    if ref.lower() == ALL:
        if not allow_all:
            raise ControlError("this command takes one bot (a name or an id), not 'all'")
        if not visible:
            raise ControlError("you have no bots")
        return visible
    if ref.isdigit():
        found = [row for row in visible if row.id == int(ref)]
    else:
        found = [row for row in visible if row.name == ref]
    if not found:
        raise ControlError(f"no bot {ref!r}")
    if len(found) > 1:
        ids = ", ".join(str(row.id) for row in found)
        raise ControlError(f"{ref!r} names bots {ids}: use the id")
    return found


def _resolve(
    database: Engine, operator: Operator, verb: str, ref: str, allow_all: bool
) -> list[BotRow]:
    """:func:`resolve_bots`, with the refusal audited (a row without a bot)."""
    try:
        return resolve_bots(database, operator, ref, allow_all)
    except ControlError as exc:
        record_event(database, None, f"{verb} {ref!r}: refused: {exc}", actor=operator.actor)
        raise


def _audit(
    database: Engine, operator: Operator, verb: str, row: BotRow, result: ActionResult
) -> ActionResult:
    outcome = result.text if result.ok else f"refused: {result.text}"
    record_event(database, row.id, f"{verb}: {outcome}", actor=operator.actor)
    return result


#: what a desired-state action decides for one bot: the columns to write (None: nothing to
#: write) and the text of its result
Decision = tuple[dict[str, Any] | None, bool, str]


def _desired_action(
    database: Engine,
    operator: Operator,
    verb: str,
    ref: str,
    decide: Callable[[BotRow], Decision],
) -> list[ActionResult]:
    results = []
    for row in _resolve(database, operator, verb, ref, allow_all=True):
        values, ok, text = decide(row)
        result = ActionResult(row.id, row.name, ok, text)
        if values is not None and ok:
            # the change and its audit row in one transaction
            if not operator_write(
                database, row.id, values, reason=f"{verb}: {text}", actor=operator.actor
            ):
                result = ActionResult(row.id, row.name, False, f"no bot {ref!r}")
            results.append(result)
            continue
        results.append(_audit(database, operator, verb, row, result))
    return results


def stop(database: Engine, operator: Operator, ref: str) -> list[ActionResult]:
    """``enabled = false``: the sensor stops the run at its next tick."""

    def decide(row: BotRow) -> Decision:
        if not row.enabled:
            return None, True, f"already stopped (disabled; status {row.status})"
        return {"enabled": False}, True, "disabled: the platform stops it at its next tick"

    return _desired_action(database, operator, "stop", ref, decide)


def start(database: Engine, operator: Operator, ref: str) -> list[ActionResult]:
    """``enabled = true``: the sensor starts it (a bot that gave up gets a new chance)."""

    def decide(row: BotRow) -> Decision:
        if row.enabled:
            return None, True, f"already enabled (status {row.status})"
        return {"enabled": True}, True, "enabled: the platform starts it at its next tick"

    return _desired_action(database, operator, "start", ref, decide)


def pause(database: Engine, operator: Operator, ref: str) -> list[ActionResult]:
    """``paused = true``: no new entries, exits still allowed."""

    def decide(row: BotRow) -> Decision:
        if row.paused:
            return None, True, "already paused"
        note = " (backtests ignore it)" if row.mode == Mode.BACKTEST else ""
        return {"paused": True}, True, f"paused: no new entries, exits still allowed{note}"

    return _desired_action(database, operator, "pause", ref, decide)


def resume(database: Engine, operator: Operator, ref: str) -> list[ActionResult]:
    """``paused = false``: entries allowed again."""

    def decide(row: BotRow) -> Decision:
        if not row.paused:
            return None, True, "not paused"
        return {"paused": False}, True, "resumed: new entries allowed again"

    return _desired_action(database, operator, "resume", ref, decide)


def reload(database: Engine, operator: Operator, ref: str) -> list[ActionResult]:
    """``reload_requests += 1``: the sensor restarts the run with the same config."""

    def decide(row: BotRow) -> Decision:
        if not row.enabled:
            return None, False, "disabled: nothing to reload (start it instead)"
        return (
            {"reload_requests": 1},
            True,
            "reload requested: the platform restarts its run at its next tick",
        )

    return _desired_action(database, operator, "reload", ref, decide)


def force_exit(
    database: Engine,
    operator: Operator,
    ref: str,
    *,
    idempotency_key: str | None = None,
    reply_chat_id: str | int | None = None,
) -> list[ActionResult]:
    """Ask the running bot to close its position at market now; returns at once with the
    command's id (:func:`wait_for_command` waits for its result).  A request repeated under
    the same ``idempotency_key`` (a re-delivered Telegram update) returns the command the
    first one made.  Refused for a bot that is not running: a pending command its bot never
    takes expires after :data:`~trading_platform.db.commands.COMMAND_TTL_SECONDS`."""
    verb = CommandKind.FORCEEXIT.value
    if idempotency_key is not None:
        existing = commands.get_by_key(database, idempotency_key)
        if existing is not None:
            return [_repeated(database, operator, existing)]
    (row,) = _resolve(database, operator, verb, ref, allow_all=False)
    if row.mode == Mode.BACKTEST:
        return [_audit(database, operator, verb, row, _refused(row, "a backtest has no position"))]
    if row.status != BotStatus.RUNNING:
        why = f"not running (status {row.status}): only a running bot can close its position"
        return [_audit(database, operator, verb, row, _refused(row, why))]
    command, created = commands.enqueue(
        database,
        row.id,
        verb,
        operator.actor,
        idempotency_key=idempotency_key,
        reply_chat_id=None if reply_chat_id is None else str(reply_chat_id),
    )
    if not created:  # the same key, an instant earlier
        return [_repeated(database, operator, command)]
    text = f"force exit requested (command {command.id}): the bot closes its position at market"
    result = ActionResult(row.id, row.name, True, text, command.id)
    return [_audit(database, operator, verb, row, result)]


def _refused(row: BotRow, why: str) -> ActionResult:
    return ActionResult(row.id, row.name, False, why)


def _repeated(database: Engine, operator: Operator, command: CommandRow) -> ActionResult:
    """A request already made under its idempotency key: the existing command, audited as
    a repetition; an operator who may not see its bot learns nothing of it."""
    rows = [row for row in get_bots(database, [command.bot_id]) if operator.may_act_on(row.user_id)]
    if not rows:
        record_event(
            database, None, "forceexit: refused: repeated request key", actor=operator.actor
        )
        raise ControlError("this request was already made")
    row = rows[0]
    text = f"already requested as command {command.id} ({command.status})"
    result = ActionResult(row.id, row.name, True, text, command.id)
    return _audit(database, operator, CommandKind.FORCEEXIT.value, row, result)


def wait_for_command(
    database: Engine, command_id: int, timeout: float, poll_seconds: float = 0.25
) -> CommandRow:
    """The command once it is final (done, failed, expired), or as it is when ``timeout``
    runs out (still pending or taken).  A pending command past its time to live is expired
    on the way, so a caller never waits on a bot that is gone."""
    deadline = time.monotonic() + timeout
    while True:
        command = commands.get_command(database, command_id)
        if command is None:
            raise ControlError(f"no command {command_id}")
        if not command.final:
            commands.expire_stale(database, bot_id=command.bot_id)
            command = commands.get_command(database, command_id) or command
        if command.final or time.monotonic() >= deadline:
            return command
        time.sleep(min(poll_seconds, max(0.0, deadline - time.monotonic())))
