"""The code location ``workspace.yaml`` loads: ``defs``."""

import os

from dagster import Definitions, EnvVar

from trading_platform.orchestration.jobs import bot_run
from trading_platform.orchestration.resources import BotDatabase, settings_from_environment
from trading_platform.orchestration.sensors import trading_bots_sensor


def _bot_database() -> BotDatabase:
    if os.environ.get("TRADING_DATABASE_URL"):
        return BotDatabase(url=EnvVar("TRADING_DATABASE_URL"))
    return BotDatabase()


defs = Definitions(
    jobs=[bot_run],
    sensors=[trading_bots_sensor],
    resources={
        "bot_database": _bot_database(),
        "platform_settings": settings_from_environment(),
    },
)
