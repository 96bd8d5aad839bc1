"""The one module of the Dagster layer that looks at the environment, and why it has to.

Runtime settings (database URL, restart policy, plugin paths, Telegram and SMTP) are resource
fields fed by ``EnvVar`` in ``definitions.py``: Dagster resolves a variable when a run or a
sensor tick initializes the resource, and the repository snapshot the UI shows holds the
variable's *name*, never its value, so the database password, ``TELEGRAM_BOT_TOKEN`` and
``SMTP_PASSWORD`` stay out of run config, tags, logs and the UI.  An ``EnvVar`` has no default,
though: an unset variable fails every run and tick that uses the resource
(dagster-io/dagster#16232).  :func:`bind` therefore binds a field to its variable only when
the variable exists; an unset variable leaves the field's default, which is the documented
one.  It reads which variables exist, never their values.

Sensor intervals and schedule crons are different: they are part of the definitions (the
daemon reads them from the repository snapshot to decide when to tick, before any run or tick
exists), and a resource is only built inside an execution, so they cannot be resources.
:data:`TIMING` reads them here, once, when the code location loads.
"""

import os
from dataclasses import dataclass
from typing import Any


def bind(**fields: Any) -> dict[str, Any]:
    """Resource keyword arguments: each field bound to its ``EnvVar`` when that variable is
    set, left out (so its default applies) when it is not.  The values are what
    ``EnvVar("NAME")`` and ``EnvVar.int("NAME")`` return (typed ``Any``: Dagster declares a
    resource field by the type it resolves to, not by ``EnvVar``); both have
    ``env_var_name``."""
    return {
        field: var
        for field, var in fields.items()
        if getattr(var, "env_var_name", None) in os.environ
    }


@dataclass(frozen=True)
class Timing:
    """When the sensors tick and the schedules fire."""

    #: ``TRADING_SENSOR_INTERVAL_SECONDS``: trading_bots_sensor's minimum interval
    sensor_interval_seconds: int = 15
    #: ``TRADING_NOTIFY_INTERVAL_SECONDS``: notification_dispatcher's minimum interval
    notify_interval_seconds: int = 10
    #: ``TRADING_TELEGRAM_INTERVAL_SECONDS``: telegram_commands_sensor's minimum interval (the
    #: daemon looks at sensors every 5 s; at 2 the sensor ticks at every look)
    telegram_interval_seconds: int = 2
    #: ``TRADING_HEALTH_CRON``: bot_health_schedule
    health_cron: str = "* * * * *"
    #: ``TRADING_PERFORMANCE_CRON``: performance_schedule
    performance_cron: str = "*/5 * * * *"
    #: ``TRADING_PURGE_CRON``: purge_schedule (daily, at a quiet minute)
    purge_cron: str = "17 3 * * *"

    @classmethod
    def from_environment(cls) -> "Timing":
        env, default = os.environ, cls()
        return cls(
            sensor_interval_seconds=int(
                env.get("TRADING_SENSOR_INTERVAL_SECONDS", default.sensor_interval_seconds)
            ),
            notify_interval_seconds=int(
                env.get("TRADING_NOTIFY_INTERVAL_SECONDS", default.notify_interval_seconds)
            ),
            telegram_interval_seconds=int(
                env.get("TRADING_TELEGRAM_INTERVAL_SECONDS", default.telegram_interval_seconds)
            ),
            health_cron=env.get("TRADING_HEALTH_CRON", default.health_cron),
            performance_cron=env.get("TRADING_PERFORMANCE_CRON", default.performance_cron),
            purge_cron=env.get("TRADING_PURGE_CRON", default.purge_cron),
        )


TIMING = Timing.from_environment()


def telegram_configured() -> bool:
    """Whether ``TELEGRAM_BOT_TOKEN`` is set (its presence, never its value): the Telegram
    command sensor is running by default only then, like the definitions' other defaults
    it is decided when the code location loads."""
    return bool(os.environ.get("TELEGRAM_BOT_TOKEN"))
