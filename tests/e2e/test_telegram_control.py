"""Telegram commands through the real daemon and code server, the real python-telegram-bot
client and the local Bot API stub: the ``telegram_commands_sensor`` serves the chats."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from tests.e2e.conftest import ONE_BACKEND, _platform
from tests.e2e.harness import Platform
from tests.support.notification_stubs import TelegramStub
from trading_platform.db.users import ensure_user

pytestmark = pytest.mark.e2e

ALICE, BOB, STRANGER = 5001, 5002, 5999


@pytest.fixture(scope="module", params=ONE_BACKEND)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def telegram(backend: str) -> Iterator[TelegramStub]:
    stub = TelegramStub().start()
    yield stub
    stub.stop()


@pytest.fixture(scope="module")
def platform(request, tmp_path_factory, backend, telegram) -> Iterator[Platform]:
    """The platform's default Telegram settings (sensor every 2 s, 3 s long polls)."""
    yield from _platform(
        request,
        tmp_path_factory,
        backend,
        TELEGRAM_BOT_TOKEN=telegram.token,
        TELEGRAM_API_BASE_URL=telegram.base_url,
    )


@pytest.fixture(scope="module")
def users(platform: Platform) -> dict[str, int]:
    return {
        "alice": ensure_user(platform.engine, "alice", telegram_user_id=str(ALICE)),
        "bob": ensure_user(platform.engine, "bob", telegram_user_id=str(BOB)),
    }


def _answers(telegram: TelegramStub, chat: int) -> list[str]:
    """What the command sensor sent to ``chat``: the platform's notifications to the same
    user (``[bot] BUY ...``, from the dispatcher) interleave with them and are left out."""
    return [text for text in telegram.replies_to(chat) if not text.startswith("[")]


def _reply(platform: Platform, telegram: TelegramStub, chat: int, count: int) -> str:
    """The ``count``-th answer sent to ``chat`` (1-based), waited for."""
    replies = platform.wait_for(
        lambda: len(_answers(telegram, chat)) >= count and _answers(telegram, chat),
        60,
        f"reply {count} to chat {chat}",
    )
    return replies[count - 1]


def _events(platform: Platform, where: str, **params) -> list:
    with platform.engine.connect() as connection:
        return list(
            connection.execute(
                text(f"SELECT bot_id, actor, reason FROM bot_status_events WHERE {where}"),
                params,
            )
        )


def test_status_answers_with_the_users_own_bots(platform, telegram, users) -> None:
    platform.insert_bot("tg-alice", user_id=users["alice"], enabled=False)
    platform.insert_bot("tg-bob", user_id=users["bob"], enabled=False)
    telegram.inject_message(ALICE, "/status")
    reply = _reply(platform, telegram, ALICE, 1)
    assert "tg-alice (#" in reply and "tg-bob" not in reply


def test_an_unknown_chat_gets_nothing_and_is_audited(platform, telegram, users) -> None:
    update_id = telegram.inject_message(STRANGER, "/status")
    rows = platform.wait_for(
        lambda: _events(platform, "actor = :actor", actor=f"telegram:unknown:{STRANGER}"),
        60,
        "the stranger's audit row",
    )
    assert rows[0].bot_id is None
    assert rows[0].reason.startswith(f"telegram update {update_id}: /status")
    assert telegram.replies_to(STRANGER) == []


def test_pause_writes_the_column_and_the_audit_row(platform, telegram, users) -> None:
    bot_id = platform.insert_bot("tg-pause", user_id=users["alice"], enabled=False)
    before = len(_answers(telegram, ALICE))
    telegram.inject_message(ALICE, "/pause tg-pause")
    reply = _reply(platform, telegram, ALICE, before + 1)
    assert f"tg-pause (#{bot_id})" in reply
    with platform.engine.connect() as connection:
        paused = connection.execute(
            text("SELECT paused FROM trading_bots WHERE id = :id"), {"id": bot_id}
        ).scalar_one()
    assert paused in (True, 1)
    assert _events(platform, "bot_id = :id AND actor = 'telegram:alice'", id=bot_id)
    assert _events(platform, "actor = 'telegram:alice' AND reason LIKE '%/pause tg-pause%'")


def test_stop_asks_and_stops_a_running_bot_only_after_the_button(platform, telegram, users) -> None:
    bot_id = platform.insert_bot("tg-stop", user_id=users["alice"])
    platform.wait_for(lambda: platform.bot(bot_id).status == "running", 120, "running")
    before = len(_answers(telegram, ALICE))
    telegram.inject_message(ALICE, "/stop tg-stop")
    question_text = _reply(platform, telegram, ALICE, before + 1)
    assert question_text.startswith(f"Stop tg-stop (#{bot_id})?")
    (question,) = [m for m in telegram.messages if m["text"] == question_text]
    (_, yes), _cancel = TelegramStub.buttons(question)
    platform.wait_for_sensor_ticks(2)  # the sensor ran on, and the bot still runs
    assert platform.bot(bot_id).enabled and platform.bot(bot_id).status == "running"

    telegram.press_button(ALICE, yes, message=question)
    platform.wait_for(lambda: telegram.calls("editMessageText"), 60, "the answer to the press")
    platform.wait_for(lambda: platform.bot(bot_id).status == "stopped", 90, "the bot stopped")
    assert not platform.bot(bot_id).enabled


def test_forceexit_round_trip_answers_the_result(platform, telegram, users) -> None:
    bot_id = platform.insert_bot("tg-exit", user_id=users["alice"])
    platform.wait_for(lambda: platform.bot(bot_id).status == "running", 120, "running")
    before = len(_answers(telegram, ALICE))
    telegram.inject_message(ALICE, "/forceexit tg-exit")
    question_text = _reply(platform, telegram, ALICE, before + 1)
    assert question_text.startswith(f"Force exit tg-exit (#{bot_id})?")
    (question,) = [m for m in telegram.messages if m["text"] == question_text]
    (_, yes), _cancel = TelegramStub.buttons(question)
    edits = len(telegram.calls("editMessageText"))
    telegram.press_button(ALICE, yes, message=question)
    platform.wait_for(
        lambda: len(telegram.calls("editMessageText")) > edits, 60, "the answer to the press"
    )
    requested = telegram.calls("editMessageText")[edits].params["text"]
    assert "force exit requested" in requested and "I will tell you" in requested
    result = _reply(platform, telegram, ALICE, before + 2)  # sent when the bot has done it
    assert result.startswith(f"/forceexit tg-exit (#{bot_id}): done: ")
    with platform.engine.connect() as connection:
        command = connection.execute(
            text("SELECT status, answered_at FROM bot_commands WHERE bot_id = :id"),
            {"id": bot_id},
        ).one()
    assert command.status == "done" and command.answered_at is not None
