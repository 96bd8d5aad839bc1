"""From one update to what is sent back: authorisation, the commands, confirmations.

:func:`handle` is synchronous and knows nothing of python-telegram-bot: it takes an
:class:`~trading_platform.telegram_control.parsing.Incoming` and returns the messages to
send (:class:`Reply`, :class:`Edit`, :class:`AnswerButton`) and the receipt to write.  The
poller does the network; :func:`handle_batch` does the bookkeeping (skip what has a
receipt, write the receipt after acting).

Rules:
- a chat is served only when the Telegram user who wrote or pressed is some user's
  ``users.telegram_user_id``; anyone else gets no answer at all (not even "refused": the
  bot does not tell strangers it is there), a warning in the log and a receipt with actor
  ``telegram:unknown:<id>``;
- only private chats are served: a report in a group would show a user's bots to everyone
  in it;
- a user sees and commands their own bots, an admin every bot (``control`` decides which
  bots a reference names; a bot one may not see reads as one that does not exist);
- ``/stop`` and ``/forceexit`` ask first, with buttons (:mod:`.confirmation`); the others act
  at once.  ``/forceexit`` answers "requested" and the result later (:mod:`.answers`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine

from trading_platform.telegram_control import audit, confirmation, reports
from trading_platform.telegram_control.control_api import (
    FORCE_EXIT,
    ActionResult,
    ControlError,
    Operator,
    act,
    operator_for,
    resolve,
)
from trading_platform.telegram_control.parsing import (
    Command,
    Incoming,
    is_for_other_bot,
    parse_command,
)

log = logging.getLogger(__name__)

READ_COMMANDS = ("status", "profit", "balance", "trades", "daily", "performance", "health")
ACT_COMMANDS = ("stop", "start", "pause", "resume", "forceexit", "reload")
#: act commands that take ``all``
ALL_ALLOWED = ("stop", "start", "pause", "resume", "reload")


@dataclass(frozen=True)
class Reply:
    """sendMessage, with inline buttons (text, callback_data) when given."""

    chat_id: int
    text: str
    buttons: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Edit:
    """editMessageText of a message with buttons: the new text replaces them."""

    chat_id: int
    message_id: int
    text: str


@dataclass(frozen=True)
class AnswerButton:
    """answerCallbackQuery: ends the client's spinner; ``alert`` shows a dialog."""

    callback_id: str
    text: str | None = None
    alert: bool = False


Outgoing = Reply | Edit | AnswerButton


@dataclass
class Context:
    """What handling needs besides the update."""

    engine: Engine
    #: the confirmation signing key (:func:`confirmation.secret_from_token`)
    secret: bytes
    #: the bot's own username, to ignore ``/cmd@OtherBot``
    bot_username: str | None = None
    #: the bots with an active run (for /health), asked only when /health is
    active_bot_ids: Callable[[], Collection[int]] = field(default=lambda: ())
    stale_factor: float = 3.0
    clock: Callable[[], float] = time.time


@dataclass(frozen=True)
class Handled:
    """What to send, and the receipt (None: nothing to record, e.g. another bot's command)."""

    outgoing: tuple[Outgoing, ...] = ()
    actor: str | None = None
    what: str = ""
    result: str = ""


class UsageError(Exception):
    """A command's arguments are wrong; the message says how, fit for the user."""


def handle_batch(context: Context, updates: Sequence[Incoming]) -> list[tuple[Incoming, Handled]]:
    """Handle ``updates`` in order, skipping those already handled (a re-delivery after a
    tick that died), writing each receipt right after its action."""
    done = audit.handled(context.engine, [update.update_id for update in updates])
    results = []
    for update in updates:
        if update.update_id in done:
            log.info("Telegram update %s was handled before: skipped", update.update_id)
            continue
        outcome = handle(context, update)
        if outcome.actor is not None:
            audit.record(
                context.engine,
                actor=outcome.actor,
                update_id=update.update_id,
                what=outcome.what,
                result=outcome.result,
            )
        results.append((update, outcome))
    return results


def handle(context: Context, update: Incoming) -> Handled:
    """What to answer to ``update`` (see the module docstring for the rules)."""
    command = None if update.is_button else parse_command(update.text)
    if command is not None and is_for_other_bot(command, context.bot_username):
        return Handled()
    what = _what(update, command)
    operator = operator_for(context.engine, update.user_id)
    if operator is None:
        log.warning(
            "Telegram: %s from unknown Telegram user %s (chat %s) refused, nothing answered; "
            "to let them in, set their users.telegram_user_id",
            what,
            update.user_id,
            update.chat_id,
        )
        return Handled((), audit.unknown_actor(update.user_id), what, "refused: unknown user")
    if update.chat_id != update.user_id:
        return Handled(
            _to_chat(update, "I answer in private chats only: write to me directly."),
            operator.actor,
            what,
            "refused: not a private chat",
        )
    if update.is_button:
        return _press(context, operator, update)
    if command is None:
        return Handled(
            (Reply(update.chat_id, "Send /help for the commands."),),
            operator.actor,
            what,
            "not a command",
        )
    try:
        if command.name in READ_COMMANDS or command.name == "help":
            text = _read(context, operator, command)
            return Handled((Reply(update.chat_id, text),), operator.actor, what, "answered")
        if command.name in ACT_COMMANDS:
            return _act(context, operator, update, command)
    except (UsageError, ControlError) as exc:
        return Handled((Reply(update.chat_id, str(exc)),), operator.actor, what, f"refused: {exc}")
    return Handled(
        (Reply(update.chat_id, f"Unknown command /{command.name}. /help lists the commands."),),
        operator.actor,
        what,
        "unknown command",
    )


def _what(update: Incoming, command: Command | None) -> str:
    if update.is_button:
        return f"button {(update.callback_data or '')[:40]}"
    if command is None:
        return "(a message that is not a command)"
    return command.text[:120]


def _to_chat(update: Incoming, text: str) -> tuple[Outgoing, ...]:
    if update.is_button and update.callback_id is not None:
        return (AnswerButton(update.callback_id, text, alert=True),)
    return (Reply(update.chat_id, text),)


# -- read commands ---------------------------------------------------------------------------
def _count(text: str, name: str, largest: int) -> int:
    if not text.isdigit() or not 1 <= int(text) <= largest:
        raise UsageError(f"{name}: expected a whole number from 1 to {largest}, found {text!r}")
    return int(text)


def _bots(context: Context, operator: Operator, ref: str | None) -> list[reports.BotView]:
    visible = reports.visible_bots(context.engine, operator.user_id, operator.admin)
    if ref is None:
        return visible
    named = {bot.id for bot in resolve(context.engine, operator, ref, allow_all=True)}
    return [bot for bot in visible if bot.id in named]


def _read(context: Context, operator: Operator, command: Command) -> str:
    args = command.args
    engine = context.engine
    if command.name == "help":
        return reports.help_text(operator.admin)
    if command.name in ("status", "balance", "performance", "health"):
        if len(args) > 1:
            raise UsageError(f"/{command.name} takes at most one bot")
        bots = _bots(context, operator, args[0] if args else None)
        if command.name == "status":
            return reports.status(engine, bots)
        if command.name == "balance":
            return reports.balance(engine, bots)
        if command.name == "performance":
            return reports.performance(engine, bots)
        return reports.health(
            engine, bots, context.active_bot_ids(), stale_factor=context.stale_factor
        )
    if command.name == "profit":
        if len(args) > 1:
            raise UsageError("usage: /profit [bot]")
        return reports.profit(engine, _bots(context, operator, args[0] if args else None))
    if command.name == "trades":
        if len(args) > 2:
            raise UsageError("usage: /trades [bot] [n]")
        ref, count = None, reports.DEFAULT_TRADES
        if len(args) == 2:
            ref, count = args[0], _count(args[1], "n", reports.MAX_TRADES)
        elif len(args) == 1 and args[0].isdigit():
            count = _count(args[0], "n", reports.MAX_TRADES)  # /trades 5: the last 5 trades
        elif args:
            ref = args[0]
        return reports.trades(engine, _bots(context, operator, ref), count)
    # daily
    if len(args) > 1:
        raise UsageError("usage: /daily [n]")
    days = _count(args[0], "n", reports.MAX_DAYS) if args else reports.DEFAULT_DAYS
    return reports.daily(engine, _bots(context, operator, None), days)


# -- act commands ----------------------------------------------------------------------------
def _results_text(results: Sequence[ActionResult]) -> str:
    return (
        "\n".join(
            f"{result.bot_name} (#{result.bot_id}): {result.text}"
            + ("" if result.ok else " (not done)")
            for result in results
        )
        or "No bot was concerned."
    )


def _summary(results: Sequence[ActionResult]) -> str:
    return (
        "; ".join(f"#{r.bot_id} {'ok' if r.ok else 'failed'}: {r.text}" for r in results)[:300]
        or "no bot"
    )


def _act(context: Context, operator: Operator, update: Incoming, command: Command) -> Handled:
    what = command.text
    if len(command.args) != 1:
        form = "<bot>" if command.name == FORCE_EXIT else "<bot|all>"
        raise UsageError(f"usage: /{command.name} {form}")
    ref = command.args[0]
    allow_all = command.name in ALL_ALLOWED
    if ref == "all" and not allow_all:
        raise UsageError(f"/{command.name} acts on one bot at a time: name it")
    bots = resolve(context.engine, operator, ref, allow_all=allow_all)
    if command.name in confirmation.CONFIRMED_ACTIONS:
        return _ask(context, operator, update, command, bots, ref)
    results = act(context.engine, operator, command.name, ref)
    return Handled(
        (Reply(update.chat_id, _results_text(results)),), operator.actor, what, _summary(results)
    )


def _ask(
    context: Context,
    operator: Operator,
    update: Incoming,
    command: Command,
    bots: Sequence[object],
    ref: str,
) -> Handled:
    """The confirmation question with its two buttons, signed for the user who asked."""
    if ref == "all":
        target, named = confirmation.ALL_BOTS, f"all your bots ({len(bots)})"
        if operator.admin:
            named = f"ALL bots ({len(bots)})"
    elif len(bots) == 1:
        bot = bots[0]
        target, named = str(bot.id), f"{bot.name} (#{bot.id})"  # type: ignore[attr-defined]
    else:
        ids = ", ".join(f"#{bot.id}" for bot in bots)  # type: ignore[attr-defined]
        raise UsageError(f"Several bots are named {ref!r} ({ids}): name one by its id.")
    request = confirmation.Confirmation(
        command.name, target, update.update_id, int(context.clock())
    )
    question = {
        "stop": f"Stop {named}? The bot is disabled; its run stops cleanly.",
        FORCE_EXIT: f"Force exit {named}? Its position is closed now at market.",
    }[command.name]
    yes = confirmation.button_data(context.secret, request, update.user_id, yes=True)
    no = confirmation.button_data(context.secret, request, update.user_id, yes=False)
    minutes = confirmation.CONFIRM_SECONDS // 60
    reply = Reply(
        update.chat_id,
        f"{question}\n(The buttons work for {minutes} minutes.)",
        ((f"Yes, {command.name}", yes), ("Cancel", no)),
    )
    return Handled((reply,), operator.actor, command.text, "asked for confirmation")


def _press(context: Context, operator: Operator, update: Incoming) -> Handled:
    assert update.callback_id is not None
    data = update.callback_data or ""
    what = f"button {data[:40]}"
    try:
        yes, request = confirmation.read_press(
            context.secret, data, update.user_id, context.clock()
        )
    except confirmation.ConfirmationRefused as exc:
        return Handled(
            (AnswerButton(update.callback_id, str(exc), alert=True),),
            operator.actor,
            what,
            f"refused: {exc}",
        )
    ref = "all" if request.target == confirmation.ALL_BOTS else request.target
    what = f"confirm /{request.action} {ref} (asked in update {request.request_update_id})"
    edits: list[Outgoing] = []
    if not yes:
        if update.message_id is not None:
            edits.append(Edit(update.chat_id, update.message_id, f"Cancelled: /{request.action}."))
        return Handled(
            (*edits, AnswerButton(update.callback_id, "Cancelled")),
            operator.actor,
            what.replace("confirm", "cancel"),
            "cancelled",
        )
    try:
        results = act(
            context.engine,
            operator,
            request.action,
            ref,
            idempotency_key=f"telegram:{request.request_update_id}",
            reply_chat_id=str(update.chat_id),
        )
        text = _results_text(results)
        if request.action == FORCE_EXIT and all(r.ok for r in results):
            text += "\nI will tell you when the bot has done it."
        result = _summary(results)
    except ControlError as exc:
        text, result = str(exc), f"refused: {exc}"
    if update.message_id is not None:
        edits.append(Edit(update.chat_id, update.message_id, text))
    else:
        edits.append(Reply(update.chat_id, text))
    return Handled((*edits, AnswerButton(update.callback_id)), operator.actor, what, result)
