"""The code location ``workspace.yaml`` loads: ``defs``."""

from dagster import ConfigurableResource, Definitions, EnvVar

from trading_platform.orchestration.assets import (
    SOURCE_SPECS,
    bot_health,
    bot_performance,
    portfolio_pnl,
)
from trading_platform.orchestration.checks import heartbeats_fresh, no_bot_in_error
from trading_platform.orchestration.environment import bind
from trading_platform.orchestration.jobs import bot_run
from trading_platform.orchestration.notification_sensors import (
    bot_run_canceled_sensor,
    bot_run_failure_sensor,
    notification_dispatcher,
)
from trading_platform.orchestration.purge import purge_old_runs
from trading_platform.orchestration.research import backtest, backtest_result
from trading_platform.orchestration.resources import (
    BotDatabase,
    EmailResource,
    PlatformSettings,
    TelegramResource,
)
from trading_platform.orchestration.schedules import (
    bot_health_job,
    bot_health_schedule,
    performance_job,
    performance_schedule,
    purge_schedule,
)
from trading_platform.orchestration.sensors import trading_bots_sensor
from trading_platform.orchestration.telegram_sensors import telegram_commands_sensor


def platform_resources() -> dict[str, ConfigurableResource]:
    """Every runtime setting, fed by its environment variable (``environment.bind``: an unset
    variable leaves the documented default)."""
    return {
        "bot_database": BotDatabase(**bind(url=EnvVar("TRADING_DATABASE_URL"))),
        "platform_settings": PlatformSettings(
            **bind(
                strategy_paths=EnvVar("TRADING_STRATEGY_PATHS"),
                restart_backoff_seconds=EnvVar("TRADING_RESTART_BACKOFF_SECONDS"),
                restart_backoff_max_seconds=EnvVar("TRADING_RESTART_BACKOFF_MAX_SECONDS"),
                stale_heartbeat_factor=EnvVar("TRADING_STALE_HEARTBEAT_FACTOR"),
                notification_backoff_seconds=EnvVar("TRADING_NOTIFICATION_BACKOFF_SECONDS"),
                notification_backoff_max_seconds=EnvVar("TRADING_NOTIFICATION_BACKOFF_MAX_SECONDS"),
                activity_summary_seconds=EnvVar("TRADING_ACTIVITY_SUMMARY_SECONDS"),
                telegram_poll_seconds=EnvVar("TRADING_TELEGRAM_POLL_SECONDS"),
                run_retention_days=EnvVar("TRADING_RUN_RETENTION_DAYS"),
                audit_retention_days=EnvVar("TRADING_AUDIT_RETENTION_DAYS"),
                bot_log_bytes=EnvVar("TRADING_BOT_LOG_BYTES"),
            )
        ),
        "telegram": TelegramResource(
            **bind(
                bot_token=EnvVar("TELEGRAM_BOT_TOKEN"),
                api_base_url=EnvVar("TELEGRAM_API_BASE_URL"),
            )
        ),
        "email": EmailResource(
            **bind(
                host=EnvVar("SMTP_HOST"),
                port=EnvVar.int("SMTP_PORT"),
                user=EnvVar("SMTP_USER"),
                password=EnvVar("SMTP_PASSWORD"),
                from_address=EnvVar("SMTP_FROM"),
                tls=EnvVar("SMTP_TLS"),
            )
        ),
    }


def platform_definitions() -> Definitions:
    return Definitions(
        assets=[*SOURCE_SPECS, bot_health, bot_performance, portfolio_pnl, backtest_result],
        asset_checks=[heartbeats_fresh, no_bot_in_error],
        jobs=[bot_run, bot_health_job, performance_job, purge_old_runs, backtest],
        schedules=[bot_health_schedule, performance_schedule, purge_schedule],
        sensors=[
            trading_bots_sensor,
            notification_dispatcher,
            bot_run_failure_sensor,
            bot_run_canceled_sensor,
            telegram_commands_sensor,
        ],
        resources=platform_resources(),
    )


defs = platform_definitions()
