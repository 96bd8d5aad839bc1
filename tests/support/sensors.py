"""``trading_bots_sensor`` evaluated in the test process, as the daemon would, on a bot
database and a Dagster instance of the test's."""

from __future__ import annotations

from typing import Any

from dagster import DagsterInstance, SensorResult, SkipReason, build_sensor_context

from trading_platform.orchestration.resources import BotDatabase, PlatformSettings
from trading_platform.orchestration.sensors import trading_bots_sensor


def evaluate_bots_sensor(
    instance: DagsterInstance,
    database_url: str,
    *,
    cursor: str | None = None,
    settings: PlatformSettings | None = None,
) -> Any:
    """One tick; returns the sensor's result (``SensorResult`` or ``SkipReason``)."""
    context = build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={
            "bot_database": BotDatabase(url=database_url),
            "platform_settings": settings or PlatformSettings(),
        },
    )
    result: SensorResult | SkipReason = trading_bots_sensor(context)
    return result
