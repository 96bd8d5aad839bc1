"""``telegram_commands_sensor`` evaluated in the test process, as the daemon would: the
update offset lives in the cursor, and without a token the sensor only says why it skips."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dagster import DagsterInstance, SensorResult, SkipReason, build_sensor_context

from tests.support.builders import add_bot
from tests.support.notification_stubs import TelegramStub
from trading_platform.db.users import ensure_user
from trading_platform.orchestration.resources import (
    BotDatabase,
    PlatformSettings,
    TelegramResource,
)
from trading_platform.orchestration.telegram_sensors import telegram_commands_sensor

ALICE = 1001


@pytest.fixture
def telegram() -> Iterator[TelegramStub]:
    stub = TelegramStub().start()
    yield stub
    stub.stop()


def _tick(database_url: str, instance, telegram: TelegramResource, cursor: str | None):
    context = build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={
            "bot_database": BotDatabase(url=database_url),
            "platform_settings": PlatformSettings(telegram_poll_seconds="0"),
            "telegram": telegram,
        },
    )
    return telegram_commands_sensor(context)


def test_the_offset_is_kept_in_the_cursor(database_url, db_engine, telegram) -> None:
    alice = ensure_user(db_engine, "alice", telegram_user_id=str(ALICE))
    add_bot(db_engine, "alpha", user_id=alice)
    resource = TelegramResource(bot_token=telegram.token, api_base_url=telegram.base_url)
    with DagsterInstance.ephemeral() as instance:
        first = telegram.inject_message(ALICE, "/status")
        result = _tick(database_url, instance, resource, None)
        assert isinstance(result, SensorResult) and result.cursor == str(first + 1)
        assert "handled=1" in str(result.skip_reason)
        second = telegram.inject_message(ALICE, "/health")
        result = _tick(database_url, instance, resource, result.cursor)
        assert isinstance(result, SensorResult) and result.cursor == str(second + 1)
        assert telegram.polls[-1][0] == first + 1  # asked from the cursor's offset on
        assert len(telegram.replies_to(ALICE)) == 2
        assert "healthy" in telegram.replies_to(ALICE)[1]


def test_without_a_token_the_sensor_skips_saying_why(database_url) -> None:
    with DagsterInstance.ephemeral() as instance:
        result = _tick(database_url, instance, TelegramResource(), None)
    assert isinstance(result, SkipReason)
    assert result.skip_message == "Telegram is off: TELEGRAM_BOT_TOKEN is not set"


def test_telegram_down_skips_and_keeps_the_cursor(database_url) -> None:
    stub = TelegramStub().start()
    stub.stop()
    resource = TelegramResource(bot_token=stub.token, api_base_url=stub.base_url)
    with DagsterInstance.ephemeral() as instance:
        result = _tick(database_url, instance, resource, "42")
    assert isinstance(result, SkipReason)  # no cursor: the daemon keeps "42"
    assert "getMe failed" in (result.skip_message or "") and stub.token not in str(result)


def test_the_poll_is_bounded_well_under_the_tick_timeout() -> None:
    assert PlatformSettings().telegram_poll() == 3
    with pytest.raises(ValueError, match="TRADING_TELEGRAM_POLL_SECONDS: expected 0 to 30"):
        PlatformSettings(telegram_poll_seconds="45").telegram_poll()


def test_running_by_default_only_when_a_token_is_configured(monkeypatch) -> None:
    import importlib

    from dagster import DefaultSensorStatus

    from trading_platform.orchestration import telegram_sensors

    try:
        monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
        off = importlib.reload(telegram_sensors).telegram_commands_sensor
        assert off.default_status == DefaultSensorStatus.STOPPED
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "1:x")
        on = importlib.reload(telegram_sensors).telegram_commands_sensor
        assert on.default_status == DefaultSensorStatus.RUNNING
        assert on.minimum_interval_seconds == 2
    finally:
        monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
        importlib.reload(telegram_sensors)
