"""Notifications through the real daemon, the real clients and local servers."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import ONE_BACKEND, _platform
from tests.e2e.harness import Platform
from tests.support.builders import FAST_PAPER_CONFIG
from tests.support.notification_stubs import SmtpStub, TelegramStub
from trading_platform.db.trades import bot_trades
from trading_platform.db.users import ensure_user

pytestmark = pytest.mark.e2e

CHAT_ID = "777001"


@pytest.fixture(scope="module", params=ONE_BACKEND)
def backend(request: pytest.FixtureRequest) -> str:
    """SQLite, and PostgreSQL when configured; each backend gets its own Telegram and SMTP
    servers, so the messages a test reads are its platform's only."""
    return request.param


@pytest.fixture(scope="module")
def telegram(backend: str) -> Iterator[TelegramStub]:
    stub = TelegramStub().start()
    yield stub
    stub.stop()


@pytest.fixture(scope="module")
def smtp(backend: str) -> Iterator[SmtpStub]:
    stub = SmtpStub().start()
    yield stub
    stub.stop()


@pytest.fixture(scope="module")
def platform(request, tmp_path_factory, backend, telegram, smtp) -> Iterator[Platform]:
    yield from _platform(
        request,
        tmp_path_factory,
        backend,
        TELEGRAM_BOT_TOKEN=telegram.token,
        TELEGRAM_API_BASE_URL=telegram.base_url,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp.port),
        SMTP_FROM="bots@example.invalid",
        TRADING_NOTIFY_INTERVAL_SECONDS="1",
    )


def _owned_bot(platform: Platform, name: str, **columns) -> int:
    user_id = ensure_user(
        platform.engine, "ops", email="ops@example.invalid", telegram_user_id=CHAT_ID
    )
    return platform.insert_bot(name, user_id=user_id, **columns)


def _texts(telegram: TelegramStub, name: str) -> list[str]:
    return [text for text in telegram.texts() if text.startswith(f"[{name}]")]


def test_trades_reach_telegram_and_email_in_order(platform, telegram, smtp) -> None:
    bot_id = _owned_bot(platform, "notify-paper")
    platform.wait_for(
        lambda: len(_texts(telegram, "notify-paper")) >= 2, 150, "entry and exit messages"
    )
    texts = _texts(telegram, "notify-paper")
    assert texts[0].startswith("[notify-paper] BUY ") and texts[0].endswith("(Paper Trading)")
    assert texts[1].startswith("[notify-paper] SELL ") and "(P&L: " in texts[1]
    trades = bot_trades(platform.engine, bot_id)
    assert f"@ {float(trades[0].price):,.2f}" in texts[0]
    platform.wait_for(
        lambda: sum("[notify-paper] SELL" in b for b in smtp.bodies()) >= 1, 30, "e-mail"
    )
    mails = [b for b in smtp.bodies() if "[notify-paper]" in b]
    assert "[notify-paper] BUY" in mails[0]
    # the flags: switch entry messages off, exits stay on
    platform.sql("UPDATE trading_bots SET enabled = false WHERE id = :id", id=bot_id)


def test_flags_turn_entry_messages_off(platform, telegram) -> None:
    config = {**FAST_PAPER_CONFIG, "notifications": {"position_opened": False}}
    _owned_bot(platform, "notify-quiet", config=config)
    platform.wait_for(lambda: _texts(telegram, "notify-quiet"), 150, "an exit message")
    assert all(" SELL " in text for text in _texts(telegram, "notify-quiet"))


def test_killed_run_and_exhausted_restarts_notify(platform, telegram) -> None:
    bot_id = _owned_bot(platform, "notify-kill")
    platform.wait_for(lambda: platform.bot(bot_id).status == "running", 90, "running")
    (run,) = platform.active_runs(bot_id)
    os.kill(
        platform.wait_for(lambda: platform.run_worker_pid(run.run_id), 10, "pid"), signal.SIGKILL
    )
    platform.wait_for(
        lambda: any("RESTARTED" in t for t in _texts(telegram, "notify-kill")),
        90,
        "restart message",
    )
    platform.sql("UPDATE trading_bots SET enabled = false WHERE id = :id", id=bot_id)

    config = '{"data": {"pace_seconds": 0.2, "history_bars": 5}, "max_restarts": 1}'
    _owned_bot(platform, "notify-raise", strategy="always_raises", config=config)
    platform.wait_for(
        lambda: any("RESTARTS_EXHAUSTED" in t for t in _texts(telegram, "notify-raise")),
        150,
        "restarts exhausted message",
    )
    platform.wait_for_sensor_ticks(3)
    texts = _texts(telegram, "notify-raise")
    assert sum("RESTARTS_EXHAUSTED" in t for t in texts) == 1
    assert sum("RUN_ERROR" in t for t in texts) == 2  # one per failed run, never doubled


def test_telegram_outage_loses_and_doubles_nothing(platform, telegram) -> None:
    telegram.faults.extend([500] * 3 + [("429", 2)] + [500] * 2)
    bot_id = _owned_bot(platform, "notify-outage")
    platform.wait_for(
        lambda: len(bot_trades(platform.engine, bot_id)) >= 4,
        150,
        "the bot keeps trading during the outage",
    )
    platform.wait_for(lambda: not telegram.faults, 90, "the outage to pass")
    platform.sql("UPDATE trading_bots SET enabled = false WHERE id = :id", id=bot_id)
    platform.wait_for(lambda: platform.bot(bot_id).status == "stopped", 60, "bot stopped")
    trades = bot_trades(platform.engine, bot_id)
    platform.wait_for(
        lambda: len(_texts(telegram, "notify-outage")) >= len(trades),
        90,
        "every trade message delivered after the outage",
    )
    platform.wait_for_sensor_ticks(3)  # the dispatcher ran several more times meanwhile
    texts = [t for t in _texts(telegram, "notify-outage") if " BUY " in t or " SELL " in t]
    assert len(texts) == len(trades)  # nothing lost, nothing doubled
    for trade, text in zip(trades, texts, strict=True):  # and in order
        assert f" {trade.side.upper()} " in text
