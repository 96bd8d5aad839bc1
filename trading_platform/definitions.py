"""The code location ``workspace.yaml`` loads: ``defs``."""

import os

from dagster import Definitions, EnvVar

from trading_platform.orchestration.assets import (
    SOURCE_SPECS,
    bot_health,
    bot_performance,
    portfolio_pnl,
)
from trading_platform.orchestration.checks import heartbeats_fresh, no_bot_in_error
from trading_platform.orchestration.jobs import bot_run
from trading_platform.orchestration.notification_sensors import (
    bot_run_canceled_sensor,
    bot_run_failure_sensor,
    notification_dispatcher,
)
from trading_platform.orchestration.resources import BotDatabase, settings_from_environment
from trading_platform.orchestration.schedules import (
    bot_health_job,
    bot_health_schedule,
    performance_job,
    performance_schedule,
)
from trading_platform.orchestration.sensors import trading_bots_sensor


def _bot_database() -> BotDatabase:
    if os.environ.get("TRADING_DATABASE_URL"):
        return BotDatabase(url=EnvVar("TRADING_DATABASE_URL"))
    return BotDatabase()


defs = Definitions(
    assets=[*SOURCE_SPECS, bot_health, bot_performance, portfolio_pnl],
    asset_checks=[heartbeats_fresh, no_bot_in_error],
    jobs=[bot_run, bot_health_job, performance_job],
    schedules=[bot_health_schedule, performance_schedule],
    sensors=[
        trading_bots_sensor,
        notification_dispatcher,
        bot_run_failure_sensor,
        bot_run_canceled_sensor,
    ],
    resources={
        "bot_database": _bot_database(),
        "platform_settings": settings_from_environment(),
    },
)
