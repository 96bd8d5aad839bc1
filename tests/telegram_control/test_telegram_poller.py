"""The real python-telegram-bot client against the local Bot API stub (no Dagster): long
polling, replies, buttons, re-delivery, and force-exit answers."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select

from tests.support.builders import add_bot
from tests.support.notification_stubs import TelegramStub
from tests.support.waiting import wait_for
from trading_platform.db.models import BotCommand, TradingBot
from trading_platform.db.types import utcnow
from trading_platform.db.users import ensure_user
from trading_platform.telegram_control.poller import PollReport, TelegramUnavailable, poll

ALICE, STRANGER = 1001, 999


@pytest.fixture
def telegram() -> Iterator[TelegramStub]:
    stub = TelegramStub().start()
    yield stub
    stub.stop()


@pytest.fixture
def alpha(db_engine: Engine) -> int:
    alice = ensure_user(db_engine, "alice", telegram_user_id=str(ALICE))
    return add_bot(db_engine, "alpha", user_id=alice)


def _poll(engine: Engine, stub: TelegramStub, offset: int | None, seconds: float = 0):
    return poll(engine, stub.token, stub.base_url, offset, seconds=seconds)


def test_a_command_is_answered_and_the_offset_moves_on(db_engine, alpha, telegram) -> None:
    update_id = telegram.inject_message(ALICE, "/status", username="alice")
    report = _poll(db_engine, telegram, None)
    assert report.next_offset == update_id + 1 and report.handled == 1
    (reply,) = telegram.replies_to(ALICE)
    assert reply.startswith(f"alpha (#{alpha}): stopped, paper")
    # the next poll confirms the update: Telegram forgets it, nothing is answered twice
    again = _poll(db_engine, telegram, report.next_offset)
    assert again.updates == 0 and telegram.updates == []
    assert len(telegram.replies_to(ALICE)) == 1


def test_a_command_sent_during_the_long_poll_is_answered_at_once(
    db_engine, alpha, telegram
) -> None:
    result: list[PollReport] = []
    poller = threading.Thread(target=lambda: result.append(_poll(db_engine, telegram, None, 4)))
    poller.start()
    wait_for(lambda: telegram.polls, 10, "the poller's first getUpdates")
    telegram.inject_message(ALICE, "/profit")
    wait_for(lambda: telegram.replies_to(ALICE), 10, "the reply")
    replied_while_polling = poller.is_alive()
    poller.join(20)
    assert replied_while_polling  # answered within the poll, not at its end
    assert "alpha" in telegram.replies_to(ALICE)[0]
    assert result[0].handled == 1 and len(telegram.polls) >= 2  # it went on polling


def test_stop_is_confirmed_with_the_inline_button(db_engine, alpha, telegram) -> None:
    offset = _poll(db_engine, telegram, None).next_offset
    telegram.inject_message(ALICE, "/stop alpha")
    offset = _poll(db_engine, telegram, offset).next_offset
    (question,) = telegram.messages
    (yes_text, yes), (_, _no) = TelegramStub.buttons(question)
    assert yes_text == "Yes, stop" and question["text"].startswith("Stop alpha")
    assert _enabled(db_engine, alpha) is True

    telegram.press_button(ALICE, yes, message=question)
    _poll(db_engine, telegram, offset)
    assert _enabled(db_engine, alpha) is False
    (edit,) = telegram.calls("editMessageText")
    assert edit.params["message_id"] == "1" and "alpha" in edit.params["text"]
    assert "reply_markup" not in edit.params  # the buttons are gone
    (answer,) = telegram.calls("answerCallbackQuery")
    assert answer.params["callback_query_id"].startswith("cq")


def _enabled(engine: Engine, bot_id: int) -> bool:
    with engine.connect() as connection:
        return connection.execute(
            select(TradingBot.enabled).where(TradingBot.id == bot_id)
        ).scalar_one()


def test_a_tick_that_died_gets_the_updates_again_and_skips_them(db_engine, alpha, telegram) -> None:
    telegram.inject_message(ALICE, "/pause alpha")
    _poll(db_engine, telegram, None)  # acted, but say the cursor was never saved
    redelivered = _poll(db_engine, telegram, None)
    assert redelivered.updates == 1 and redelivered.skipped == 1 and redelivered.handled == 0
    assert len(telegram.replies_to(ALICE)) == 1


def test_a_stranger_gets_nothing(db_engine, alpha, telegram) -> None:
    telegram.inject_message(STRANGER, "/status")
    telegram.inject_message(STRANGER, "/stop alpha")
    report = _poll(db_engine, telegram, None)
    assert report.handled == 2 and report.unknown_users == [STRANGER, STRANGER]
    assert telegram.messages == []
    assert _enabled(db_engine, alpha) is True


def test_a_finished_force_exit_is_answered_once(db_engine, alpha, telegram) -> None:
    with db_engine.begin() as connection:
        connection.execute(
            BotCommand.__table__.insert().values(
                bot_id=alpha,
                command="forceexit",
                status="done",
                result="no open position",
                done_at=utcnow(),
                reply_chat_id=str(ALICE),
                idempotency_key="telegram:1",
            )
        )
    assert _poll(db_engine, telegram, None).answered == 1
    assert _poll(db_engine, telegram, None).answered == 0
    assert telegram.replies_to(ALICE) == [f"/forceexit alpha (#{alpha}): done: no open position"]


def test_an_answer_that_cannot_be_sent_is_sent_again_later(db_engine, alpha, telegram) -> None:
    with db_engine.begin() as connection:
        connection.execute(
            BotCommand.__table__.insert().values(
                bot_id=alpha,
                command="forceexit",
                status="failed",
                result="bot stopped",
                reply_chat_id=str(ALICE),
                idempotency_key="telegram:2",
            )
        )
    telegram.faults.append(500)
    # the first send fails; the poll looks again after its getUpdates and sends it then
    report = _poll(db_engine, telegram, None)
    assert len(report.send_failures) == 1 and report.answered == 1
    assert telegram.token not in report.send_failures[0]
    assert telegram.replies_to(ALICE) == [f"/forceexit alpha (#{alpha}): failed: bot stopped"]
    assert _poll(db_engine, telegram, None).answered == 0
    with db_engine.connect() as connection:
        assert connection.execute(select(BotCommand.answered_at)).scalar_one() is not None


def test_telegram_down_keeps_the_offset(db_engine, alpha) -> None:
    stub = TelegramStub().start()
    base_url = stub.base_url
    stub.stop()  # nothing listens there any more
    with pytest.raises(TelegramUnavailable) as error:
        poll(db_engine, stub.token, base_url, 7, seconds=0)
    assert stub.token not in str(error.value)
