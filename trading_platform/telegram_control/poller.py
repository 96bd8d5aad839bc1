"""One bounded round of Telegram long polling: fetch updates, handle them, answer.

:func:`poll` is what a sensor tick calls: from ``offset`` (the cursor) it long-polls
``getUpdates`` until ``seconds`` have passed, handling each batch as it arrives (so a command
sent during the poll is answered within a moment), answers finished force exits after each
batch, and returns the next offset.  It runs one ``asyncio.run`` with its own ``Bot``
(python-telegram-bot is asyncio; a sensor tick is not), so nothing outlives the call.

A failure to reach Telegram for ``getUpdates`` raises :class:`TelegramUnavailable`: the
caller keeps its old offset and the same updates come again.  A failure to send one reply is
logged and counted; the update is handled (its receipt says so) and is not retried.
The token appears in no message: it is taken out of every error that leaves.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from trading_platform.telegram_control import answers
from trading_platform.telegram_control.confirmation import secret_from_token
from trading_platform.telegram_control.handler import (
    AnswerButton,
    Context,
    Edit,
    Outgoing,
    Reply,
    handle_batch,
)
from trading_platform.telegram_control.parsing import Incoming

log = logging.getLogger(__name__)

#: the updates the platform asks for: commands and button presses
ALLOWED_UPDATES = ("message", "callback_query")
#: seconds for connecting, writing and reading an ordinary request (not the long poll)
REQUEST_TIMEOUT = 10.0


class TelegramUnavailable(Exception):
    """getUpdates failed: keep the offset, try again at the next tick."""


@dataclass
class PollReport:
    next_offset: int | None
    updates: int = 0
    handled: int = 0
    skipped: int = 0
    answered: int = 0
    send_failures: list[str] = field(default_factory=list)
    #: Telegram user ids refused as unknown (for the tick's log: how an admin learns an id)
    unknown_users: list[int] = field(default_factory=list)
    #: the token, to take out of every problem recorded (never printed)
    token: str = field(default="", repr=False)

    def problem(self, text: str) -> None:
        text = text.replace(self.token, "<TELEGRAM_BOT_TOKEN>") if self.token else text
        log.warning("Telegram: %s", text)
        self.send_failures.append(text)


def poll(
    engine: Engine,
    token: str,
    base_url: str,
    offset: int | None,
    *,
    seconds: float,
    active_bot_ids: Callable[[], Collection[int]] = lambda: (),
    stale_factor: float = 3.0,
) -> PollReport:
    """Long-poll for ``seconds`` (whole seconds per request, Telegram's unit) from
    ``offset``; handle and answer what arrives.  See the module docstring."""
    try:
        return asyncio.run(
            _poll(engine, token, base_url, offset, seconds, active_bot_ids, stale_factor)
        )
    except TelegramUnavailable as exc:
        raise TelegramUnavailable(str(exc).replace(token, "<TELEGRAM_BOT_TOKEN>")) from None


def _request() -> Any:
    from telegram.request import HTTPXRequest

    # the platform talks to one server, named by TELEGRAM_API_BASE_URL: no proxy from the
    # environment (a local Bot API server must not go through an HTTP proxy)
    return HTTPXRequest(
        connect_timeout=REQUEST_TIMEOUT,
        read_timeout=REQUEST_TIMEOUT,
        write_timeout=REQUEST_TIMEOUT,
        httpx_kwargs={"trust_env": False},
    )


async def _poll(
    engine: Engine,
    token: str,
    base_url: str,
    offset: int | None,
    seconds: float,
    active_bot_ids: Callable[[], Collection[int]],
    stale_factor: float,
) -> PollReport:
    from telegram import Bot
    from telegram.error import TelegramError

    report = PollReport(next_offset=offset, token=token)
    deadline = time.monotonic() + seconds
    bot = Bot(token, base_url=base_url, request=_request(), get_updates_request=_request())
    try:
        await bot.initialize()  # getMe: the bot's username, to ignore /cmd@OtherBot
    except TelegramError as exc:
        raise TelegramUnavailable(f"Telegram getMe failed: {type(exc).__name__}: {exc}") from None
    context = Context(
        engine,
        secret_from_token(token),
        bot_username=bot.username,
        active_bot_ids=active_bot_ids,
        stale_factor=stale_factor,
    )
    try:
        await _answer_finished(bot, engine, report)
        while True:
            remaining = deadline - time.monotonic()
            try:
                updates = await bot.get_updates(
                    offset=report.next_offset,
                    timeout=max(0, int(remaining)),
                    allowed_updates=ALLOWED_UPDATES,
                )
            except TelegramError as exc:
                raise TelegramUnavailable(
                    f"Telegram getUpdates failed: {type(exc).__name__}: {exc}"
                ) from None
            if updates:
                report.updates += len(updates)
                report.next_offset = max(u.update_id for u in updates) + 1
                incoming = [item for u in updates if (item := to_incoming(u)) is not None]
                results = await asyncio.to_thread(handle_batch, context, incoming)
                report.handled += len(results)
                report.skipped += len(incoming) - len(results)
                for update, outcome in results:
                    if outcome.actor and outcome.actor.startswith("telegram:unknown:"):
                        report.unknown_users.append(update.user_id)
                    for message in outcome.outgoing:
                        await _send(bot, message, report)
            await _answer_finished(bot, engine, report)
            if deadline - time.monotonic() < 1:
                return report
    finally:
        await bot.shutdown()


def to_incoming(update: Any) -> Incoming | None:
    """The :class:`Incoming` of a python-telegram-bot ``Update``; None for other kinds."""
    if update.callback_query is not None:
        query = update.callback_query
        message = query.message
        chat_id = message.chat.id if message is not None else query.from_user.id
        return Incoming(
            update_id=update.update_id,
            user_id=query.from_user.id,
            chat_id=chat_id,
            callback_data=query.data,
            callback_id=query.id,
            message_id=message.message_id if message is not None else None,
            username=query.from_user.username,
        )
    message = update.message
    if message is None or message.from_user is None:
        return None
    return Incoming(
        update_id=update.update_id,
        user_id=message.from_user.id,
        chat_id=message.chat.id,
        text=message.text,
        message_id=message.message_id,
        username=message.from_user.username,
    )


async def _send(bot: Any, message: Outgoing, report: PollReport) -> bool:
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup
    from telegram.error import TelegramError

    try:
        if isinstance(message, Reply):
            markup = None
            if message.buttons:
                markup = InlineKeyboardMarkup(
                    [
                        [
                            InlineKeyboardButton(text, callback_data=data)
                            for text, data in message.buttons
                        ]
                    ]
                )
            await bot.send_message(chat_id=message.chat_id, text=message.text, reply_markup=markup)
        elif isinstance(message, Edit):
            await bot.edit_message_text(
                message.text, chat_id=message.chat_id, message_id=message.message_id
            )
        elif isinstance(message, AnswerButton):
            await bot.answer_callback_query(
                message.callback_id, text=message.text, show_alert=message.alert or None
            )
    except TelegramError as exc:
        report.problem(f"{type(message).__name__} failed: {type(exc).__name__}: {exc}")
        return False
    return True


async def _answer_finished(bot: Any, engine: Engine, report: PollReport) -> None:
    """Send the results of finished force exits, each once (:mod:`.answers`)."""
    for answer in await asyncio.to_thread(answers.finished_unanswered, engine):
        if not await asyncio.to_thread(answers.claim, engine, answer.command_id):
            continue
        if await _send(bot, Reply(answer.chat_id, answer.text), report):
            report.answered += 1
        else:
            await asyncio.to_thread(answers.release, engine, answer.command_id)
