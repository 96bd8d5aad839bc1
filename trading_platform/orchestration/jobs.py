"""``bot_run``: one long-running op that runs one bot with the snapshot the sensor validated."""

from typing import Any

from dagster import Config, OpExecutionContext, in_process_executor, job, op

from trading_platform.config import BotConfig
from trading_platform.engine.errors import FatalBotError
from trading_platform.engine.runner import BotRunner
from trading_platform.orchestration.hooks import notify_op_failure
from trading_platform.orchestration.resources import BotDatabase, PlatformSettings

#: set on a run that failed in a way a restart cannot fix (e.g. rejected credentials)
FATAL_TAG = "trading/fatal"


class BotRunConfig(Config):
    """The validated configuration snapshot the run executes (the audit record, no secrets)."""

    snapshot: dict[str, Any]
    incarnation: int = 0


@op(description="Run one trading bot until it is stopped (or, for backtests, to the end).")
def run_bot(
    context: OpExecutionContext,
    config: BotRunConfig,
    bot_database: BotDatabase,
    platform_settings: PlatformSettings,
) -> None:
    bot = BotConfig.model_validate(config.snapshot)
    context.log.info(
        f"bot {bot.bot_id} {bot.name!r}: {bot.strategy_class} {bot.mode} on {bot.exchange} "
        f"{bot.symbol} {bot.timeframe} (incarnation {config.incarnation})"
    )
    runner = BotRunner(
        bot,
        platform_settings.registry(),
        bot_database.engine(),
        run_id=context.run_id,
        incarnation=config.incarnation,
    )
    # A cancel arrives as DagsterExecutionInterruptedError (a BaseException) inside
    # runner.run(); the runner stops Cerebro, saves the position and records "stopped".
    try:
        outcome = runner.run()
    except FatalBotError:
        # tells trading_bots_sensor not to relaunch until the config changes
        context.instance.add_run_tags(context.run_id, {FATAL_TAG: "true"})
        raise
    context.log.info(f"bot {bot.bot_id} ended: {outcome.status} ({outcome.reason})")


@job(
    executor_def=in_process_executor,
    description="One trading bot as one long-running run; launched by trading_bots_sensor.",
    tags={"trading/managed": "true"},
    hooks={notify_op_failure},
)
def bot_run() -> None:
    run_bot()
