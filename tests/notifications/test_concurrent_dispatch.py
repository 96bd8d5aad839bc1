"""Dispatchers running at once (the sensor's tick overlapping a CLI run, two daemons):
every due message is claimed by exactly one of them, so none is sent twice."""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from tests.support.builders import add_bot
from tests.support.concurrency import run_together
from trading_platform.contract import Channel, NotificationStatus
from trading_platform.db.engine import session_scope
from trading_platform.db.models import Notification
from trading_platform.db.users import ensure_user
from trading_platform.notifications import messages
from trading_platform.notifications.dispatcher import DispatchReport, dispatch_pending
from trading_platform.notifications.outbox import enqueue

DISPATCHERS = 8
MESSAGES = 20


class _Recorder:
    """A Telegram sender that keeps what it was asked to send, from any thread."""

    channel = Channel.TELEGRAM

    def __init__(self) -> None:
        self.texts: list[str] = []
        self._lock = threading.Lock()

    def send(self, address: str, text: str) -> None:
        with self._lock:
            self.texts.append(text)


def test_overlapping_dispatchers_send_each_message_exactly_once(db_engine, database_url) -> None:
    """Every dispatcher reads the due rows before any claims one (held on a barrier).  On
    SQLite the read locks nothing, so each saw every row and claimed it again: 8 copies."""
    owner = ensure_user(db_engine, "ops", telegram_user_id="4242")
    bot_id = add_bot(db_engine, "n", user_id=owner)
    texts = [messages.bot_error("n", "X", f"m{n}").text for n in range(MESSAGES)]
    for n in range(MESSAGES):
        enqueue(db_engine, messages.bot_error("n", "X", f"m{n}"), bot_id=bot_id, dedupe_key=f"{n}")
    recorder = _Recorder()

    def dispatch(engine: Engine) -> DispatchReport:
        return dispatch_pending(engine, {Channel.TELEGRAM: recorder})

    reports = run_together(
        database_url, DISPATCHERS, dispatch, statement_has="FROM notifications", after_read=True
    )
    assert sorted(recorder.texts) == sorted(texts)
    assert sum(r.sent for r in reports) == MESSAGES
    assert sum(r.failed + r.retried + r.skipped for r in reports) == 0
    with session_scope(db_engine) as session:
        rows = list(session.query(Notification))
    assert {(r.status, r.attempts) for r in rows} == {(NotificationStatus.SENT, 1)}
