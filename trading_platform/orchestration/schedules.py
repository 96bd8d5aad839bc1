"""Schedules that materialize health every minute and performance every five, and purge old
history daily (env cron)."""

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    ScheduleDefinition,
    define_asset_job,
    in_process_executor,
)

from trading_platform.orchestration.assets import bot_health, bot_performance, portfolio_pnl
from trading_platform.orchestration.environment import TIMING
from trading_platform.orchestration.purge import purge_old_runs

# In process: each asset is a few queries, and the multiprocess executor would start one
# more process per asset on every tick (each importing the platform, seconds of CPU).
bot_health_job = define_asset_job(
    "bot_health_job",
    selection=AssetSelection.assets(bot_health),
    executor_def=in_process_executor,
)
performance_job = define_asset_job(
    "performance_job",
    selection=AssetSelection.assets(bot_performance, portfolio_pnl),
    executor_def=in_process_executor,
)

bot_health_schedule = ScheduleDefinition(
    name="bot_health_schedule",
    job=bot_health_job,
    cron_schedule=TIMING.health_cron,
    default_status=DefaultScheduleStatus.RUNNING,
    description="bot_health and its checks (TRADING_HEALTH_CRON, default every minute).",
)
performance_schedule = ScheduleDefinition(
    name="performance_schedule",
    job=performance_job,
    cron_schedule=TIMING.performance_cron,
    default_status=DefaultScheduleStatus.RUNNING,
    description="bot_performance -> portfolio_pnl (TRADING_PERFORMANCE_CRON, default 5 min).",
)
# Running by default: without it runs, events and history rows grow for as long as the
# platform runs (README, "Running for weeks"); TRADING_RUN_RETENTION_DAYS=0 keeps them all.
purge_schedule = ScheduleDefinition(
    name="purge_schedule",
    job=purge_old_runs,
    cron_schedule=TIMING.purge_cron,
    default_status=DefaultScheduleStatus.RUNNING,
    description="purge_old_runs: finished runs and history older than TRADING_RUN_RETENTION_DAYS "
    "(TRADING_PURGE_CRON, default daily at 03:17 UTC).",
)
