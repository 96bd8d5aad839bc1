"""Formatting, the outbox, and dispatching through the real python-telegram-bot and SMTP
clients to local servers."""

from __future__ import annotations

import datetime as dt
import email
import email.policy

import pytest

from tests.support.builders import add_bot
from tests.support.notification_stubs import SmtpStub, TelegramStub
from trading_platform.contract import (
    Channel,
    ErrorKind,
    NotificationStatus,
    NotificationType,
    Priority,
)
from trading_platform.db.engine import session_scope
from trading_platform.db.models import Notification
from trading_platform.db.users import ensure_user
from trading_platform.notifications import messages
from trading_platform.notifications.dispatcher import REASON_CHARS, dispatch_pending
from trading_platform.notifications.outbox import enqueue
from trading_platform.notifications.senders import EmailSender, TelegramSender, header_value


def test_trade_messages_read_as_specified() -> None:
    entry = messages.trade_entry("Bot Name", "buy", 0.01, "BTC/USDT", 45000.5, "paper")
    assert entry.text == "[Bot Name] BUY 0.0100 BTC/USDT @ 45,000.50 (Paper Trading)"
    assert entry.priority == Priority.HIGH
    exit_ = messages.trade_exit(
        "Bot Name", "sell", 0.01, "BTC/USDT", 47200.30, 220.0, 45000.5, "paper"
    )
    assert exit_.text == (
        "[Bot Name] SELL 0.0100 BTC/USDT @ 47,200.30 (P&L: 220.00 / +4.89%) (Paper Trading)"
    )
    error = messages.bot_error(
        "Bot Name", ErrorKind.START_ERROR, "credentials BINANCE_MAIN missing"
    )
    assert error.text == "[Bot Name] START_ERROR: credentials BINANCE_MAIN missing"
    assert error.priority == Priority.CRITICAL
    stopped = messages.bot_stopped("Bot Name", "run 1a2b3c4d cancelled")
    assert stopped.text == "[Bot Name] STOPPED: run 1a2b3c4d cancelled"
    assert (stopped.type, stopped.priority) == (NotificationType.BOT_STOPPED, Priority.NORMAL)


def test_senders_are_off_without_a_token_or_a_host() -> None:
    assert TelegramSender.from_settings("") is None
    assert TelegramSender.from_settings("1:T").base_url == "https://api.telegram.org/bot"
    assert EmailSender.from_settings("") is None
    assert EmailSender.from_settings("smtp.example.invalid", user="").tls == "none"
    with_user = EmailSender.from_settings("smtp.example.invalid", user="u", password="p")
    assert (with_user.tls, with_user.password) == ("starttls", "p")
    assert EmailSender.from_settings("h", user="u", tls="SSL").tls == "ssl"


@pytest.fixture
def bot_with_owner(db_engine):
    user_id = ensure_user(db_engine, "ops", email="ops@example.invalid", telegram_user_id="4242")
    return add_bot(db_engine, "n", user_id=user_id)


def _rows(db_engine):
    with session_scope(db_engine) as session:
        return list(session.query(Notification).order_by(Notification.id))


def test_enqueue_one_row_per_channel_and_dedupes(db_engine, bot_with_owner) -> None:
    message = messages.bot_restarted("n", "run failed")
    assert enqueue(db_engine, message, bot_id=bot_with_owner, dedupe_key="restart:1") == 2
    assert enqueue(db_engine, message, bot_id=bot_with_owner, dedupe_key="restart:1") == 0
    rows = _rows(db_engine)
    assert sorted(r.channel for r in rows) == [Channel.EMAIL, Channel.TELEGRAM]
    assert {r.status for r in rows} == {NotificationStatus.PENDING}


def test_no_owner_no_notification(db_engine) -> None:
    bot_id = add_bot(db_engine, "orphan")
    assert enqueue(db_engine, messages.bot_error("o", "E", "x"), bot_id=bot_id, dedupe_key="k") == 0


@pytest.fixture
def telegram():
    stub = TelegramStub().start()
    yield stub
    stub.stop()


@pytest.fixture
def smtp():
    stub = SmtpStub().start()
    yield stub
    stub.stop()


def _senders(telegram: TelegramStub, smtp: SmtpStub):
    return {
        Channel.TELEGRAM: TelegramSender(telegram.token, telegram.base_url, timeout=5),
        Channel.EMAIL: EmailSender("127.0.0.1", smtp.port, sender="bots@example.invalid"),
    }


def test_dispatch_sends_through_telegram_and_email(
    db_engine, bot_with_owner, telegram, smtp
) -> None:
    for n in range(3):
        enqueue(
            db_engine,
            messages.trade_entry("n", "buy", 1, "BTC/USDT", 100 + n, "paper"),
            bot_id=bot_with_owner,
            dedupe_key=f"fill:{n}",
        )
    report = dispatch_pending(db_engine, _senders(telegram, smtp))
    assert report.sent == 6 and report.failed == 0
    assert telegram.texts() == [
        f"[n] BUY 1.0000 BTC/USDT @ {100 + n:,.2f} (Paper Trading)" for n in range(3)
    ]
    assert [m["chat_id"] for m in telegram.messages] == ["4242"] * 3
    assert len(smtp.bodies()) == 3 and "BUY 1.0000 BTC/USDT @ 100.00" in smtp.bodies()[0]
    assert {r.status for r in _rows(db_engine)} == {NotificationStatus.SENT}
    assert dispatch_pending(db_engine, _senders(telegram, smtp)).sent == 0  # never twice


def test_5xx_and_429_are_retried_without_loss_or_doubles(
    db_engine, bot_with_owner, telegram, smtp
) -> None:
    for n in range(3):
        enqueue(
            db_engine,
            messages.bot_error("n", ErrorKind.RUN_ERROR, f"e{n}"),
            bot_id=bot_with_owner,
            dedupe_key=f"e:{n}",
        )
    telegram.faults.extend([500, ("429", 1)])
    senders = _senders(telegram, smtp)
    first = dispatch_pending(db_engine, senders)
    assert first.retried == 1 and telegram.texts() == []
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    second = dispatch_pending(db_engine, senders, now=later)
    assert second.retried == 1  # the 429
    telegram_rows = [r for r in _rows(db_engine) if r.channel == Channel.TELEGRAM]
    assert "retry after 1 s" in telegram_rows[0].last_error
    third = dispatch_pending(db_engine, senders, now=later + dt.timedelta(seconds=30))
    assert third.sent == 3
    assert telegram.texts() == [f"[n] RUN_ERROR: e{n}" for n in range(3)]  # in order, once


def test_a_message_that_keeps_failing_ends_failed_with_the_reason(
    db_engine, bot_with_owner, telegram, smtp
) -> None:
    enqueue(db_engine, messages.bot_error("n", "X", "y"), bot_id=bot_with_owner, dedupe_key="f")
    telegram.faults.extend([500] * 10)
    now = dt.datetime.now(dt.UTC)
    for attempt in range(3):
        dispatch_pending(
            db_engine,
            _senders(telegram, smtp),
            max_attempts=3,
            now=now + dt.timedelta(hours=attempt),
        )
    row = next(r for r in _rows(db_engine) if r.channel == Channel.TELEGRAM)
    assert row.status == NotificationStatus.FAILED and row.attempts == 3
    assert "gave up after 3 attempts" in row.last_error
    assert "Telegram unavailable" in row.last_error


def test_retry_delays_double_up_to_the_longest(db_engine, bot_with_owner, telegram, smtp) -> None:
    enqueue(db_engine, messages.bot_error("n", "X", "y"), bot_id=bot_with_owner, dedupe_key="b")
    telegram.faults.extend([500] * 5)
    now = dt.datetime.now(dt.UTC)
    delays = []
    for attempt in range(5):
        before = dt.datetime.now(dt.UTC)
        dispatch_pending(
            db_engine,
            _senders(telegram, smtp),
            now=now + dt.timedelta(hours=attempt),
            backoff_seconds=1.0,
            backoff_max_seconds=4.0,
        )
        row = next(r for r in _rows(db_engine) if r.channel == Channel.TELEGRAM)
        delays.append(round((row.next_attempt_at - before).total_seconds()))
    assert delays == [1, 2, 4, 4, 4]


def test_a_wrong_token_fails_permanently_without_leaking_it(
    db_engine, bot_with_owner, telegram, smtp
) -> None:
    enqueue(db_engine, messages.bot_error("n", "X", "y"), bot_id=bot_with_owner, dedupe_key="t")
    senders = _senders(telegram, smtp)
    senders[Channel.TELEGRAM] = TelegramSender("999:WRONG-SECRET", telegram.base_url, timeout=5)
    report = dispatch_pending(db_engine, senders)
    row = next(r for r in _rows(db_engine) if r.channel == Channel.TELEGRAM)
    assert row.status == NotificationStatus.FAILED and report.failed == 1
    assert "WRONG-SECRET" not in (row.last_error or "")


def test_a_newer_message_never_overtakes_one_backing_off(
    db_engine, bot_with_owner, telegram, smtp
) -> None:
    senders = _senders(telegram, smtp)
    enqueue(
        db_engine,
        messages.trade_entry("n", "buy", 1, "BTC/USDT", 100, "paper"),
        bot_id=bot_with_owner,
        dedupe_key="fill:buy",
    )
    telegram.faults.append(500)
    assert dispatch_pending(db_engine, senders).retried == 1  # the BUY backs off
    enqueue(
        db_engine,
        messages.trade_exit("n", "sell", 1, "BTC/USDT", 110, 10, 100, "paper"),
        bot_id=bot_with_owner,
        dedupe_key="fill:sell",
    )
    assert dispatch_pending(db_engine, senders).sent == 1  # the e-mail of the SELL only
    assert telegram.texts() == []
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60)
    assert dispatch_pending(db_engine, senders, now=later).sent == 2
    assert [" BUY " in t for t in telegram.texts()] == [True, False]


def test_header_values_lose_control_characters_and_are_capped() -> None:
    assert header_value("a\rb\nc\x0bd\x85e\u2028f\tg\x00h") == "a b c d e f g h"
    assert header_value("x" * 500) == "x" * 200
    assert header_value("Ünïcode stays", 5) == "Ünïco"


def _email_user_bot(db_engine, name: str, email: str, bot_name: str) -> int:
    return add_bot(db_engine, bot_name, user_id=ensure_user(db_engine, name, email=email))


def test_a_bot_name_with_line_breaks_reaches_the_subject_as_one_line(
    db_engine, telegram, smtp
) -> None:
    """A carriage return in a bot's name made ``email`` refuse the Subject: the error left
    the dispatcher, the row was claimed again every pass and aborted each one."""
    bot_name = "n\rBcc: evil@example.invalid"
    bot_id = _email_user_bot(db_engine, "ops", "ops@example.invalid", bot_name)
    message = messages.trade_entry(bot_name, "buy", 1, "BTC/USDT", 100, "paper")
    enqueue(db_engine, message, bot_id=bot_id, dedupe_key="fill:1")
    report = dispatch_pending(db_engine, _senders(telegram, smtp))
    assert (report.sent, report.failed) == (1, 0)
    ((recipients, raw),) = smtp.inbox.messages
    assert recipients == ["ops@example.invalid"]
    received = email.message_from_string(raw, policy=email.policy.default)
    assert (
        received["Subject"].strip()
        == "[n Bcc: evil@example.invalid] BUY 1.0000 BTC/USDT @ 100.00 (Paper Trading)"
    )
    assert received["Bcc"] is None


def test_a_poisoned_message_fails_alone_and_the_others_go_out_in_the_same_pass(
    db_engine, telegram, smtp
) -> None:
    """An address with a line break (a header injection attempt) is refused with a reason;
    the good messages written after it are sent in the same pass, and the bad row is not
    claimed again."""
    poisoned = _email_user_bot(db_engine, "eve", "eve@example.invalid\r\nBcc: x@y.invalid", "p")
    good = _email_user_bot(db_engine, "ops", "ops@example.invalid", "g")
    enqueue(db_engine, messages.bot_error("p", "X", "bad"), bot_id=poisoned, dedupe_key="p")
    for n in range(2):
        enqueue(db_engine, messages.bot_error("g", "X", f"ok{n}"), bot_id=good, dedupe_key=f"g{n}")
    report = dispatch_pending(db_engine, _senders(telegram, smtp))
    assert (report.sent, report.failed) == (2, 1)
    assert [to for to, _ in smtp.inbox.messages] == [["ops@example.invalid"]] * 2
    bad = _rows(db_engine)[0]
    assert bad.status == NotificationStatus.FAILED
    assert bad.last_error.startswith("not a single e-mail address")
    assert "\n" not in bad.last_error and len(bad.last_error) <= REASON_CHARS
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    again = dispatch_pending(db_engine, _senders(telegram, smtp), now=later)
    assert (again.sent, again.failed) == (0, 0)


class _Breaks:
    """A sender whose ``send`` raises what no sender classifies, for one message only."""

    channel = Channel.EMAIL

    def __init__(self, inner: EmailSender) -> None:
        self.inner = inner

    def send(self, address: str, text: str) -> None:
        if "poison" in text:
            raise LookupError("x" * 1000)
        self.inner.send(address, text)


def test_any_error_of_one_send_fails_that_row_with_a_short_reason(
    db_engine, telegram, smtp
) -> None:
    bot_id = _email_user_bot(db_engine, "ops", "ops@example.invalid", "n")
    for key, detail in (("a", "poison"), ("b", "fine"), ("c", "also fine")):
        enqueue(db_engine, messages.bot_error("n", "X", detail), bot_id=bot_id, dedupe_key=key)
    senders = {Channel.EMAIL: _Breaks(_senders(telegram, smtp)[Channel.EMAIL])}
    report = dispatch_pending(db_engine, senders)
    assert (report.sent, report.failed) == (2, 1)
    rows = _rows(db_engine)
    assert [r.status for r in rows] == [
        NotificationStatus.FAILED,
        NotificationStatus.SENT,
        NotificationStatus.SENT,
    ]
    assert rows[0].last_error == ("LookupError: " + "x" * 1000)[:REASON_CHARS]
    assert len(smtp.bodies()) == 2
