"""``bot_run``: one long-running op that runs one bot with the snapshot the sensor validated.

What the bot does while it runs (fills, incidents, status changes, a summary every
``TRADING_ACTIVITY_SUMMARY_SECONDS``) reaches the run's event log through
:class:`~trading_platform.orchestration.activity_log.EventLogBridge`, written by this op's
thread while it waits for the bot."""

from dagster import Failure, OpExecutionContext, in_process_executor, job, op

from trading_platform.config import BotConfig
from trading_platform.contract import RunTag
from trading_platform.db.engine import trading_home
from trading_platform.engine.errors import FatalBotError
from trading_platform.engine.output import bot_log_path, bounded_output
from trading_platform.engine.runner import BotRunner
from trading_platform.orchestration.activity_log import EventLogBridge
from trading_platform.orchestration.hooks import notify_op_failure
from trading_platform.orchestration.resources import BotDatabase, PlatformSettings
from trading_platform.orchestration.runs import RUN_BOT_OP, YES, BotRunConfig

#: the tag Dagster puts on every run a sensor launched
SENSOR_NAME_TAG = "dagster/sensor_name"
#: the only launcher of bot runs: its tick validates the row and supervises the run
BOTS_SENSOR = "trading_bots_sensor"


def refuse_unsupervised(context: OpExecutionContext, bot: BotConfig) -> None:
    """A ``bot_run`` launched by hand (the Launchpad, the GraphQL API) would trade with a
    config nobody validated against the table, outside the one-run-per-bot queue limit and
    unseen by the sensor: it fails before touching the bot."""
    tags = context.run.tags
    if tags.get(SENSOR_NAME_TAG) != BOTS_SENSOR or tags.get(RunTag.BOT_ID) != str(bot.bot_id):
        raise Failure(
            description=(
                f"bot_run refuses to trade bot {bot.bot_id}: it was not launched by "
                f"{BOTS_SENSOR}. Bots are started by writing their row in trading_bots "
                "(enabled = true); the sensor launches and supervises the run."
            )
        )


@op(
    name=RUN_BOT_OP,
    description="Run one trading bot until it is stopped (or, for backtests, to the end).",
)
def run_bot(
    context: OpExecutionContext,
    config: BotRunConfig,
    bot_database: BotDatabase,
    platform_settings: PlatformSettings,
) -> None:
    bot = BotConfig.model_validate(config.snapshot)
    refuse_unsupervised(context, bot)
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
        summary_seconds=platform_settings.activity_summary(),
    )
    assert bot.bot_id is not None  # the runner refuses a bot without an id
    bridge = EventLogBridge(bot.bot_id)
    # A cancel arrives as DagsterExecutionInterruptedError (a BaseException) in this thread,
    # which only waits while the bot runs on its own: the runner stops Cerebro, lets its
    # writes finish, saves the position and records "stopped", then the error propagates.
    # The bot's activity entries are written here, in the op's thread, while it waits; the
    # last ones (stopping, stopped, the final summary) once the bot has ended, however.
    # The run lives for weeks: its logging goes to a rotated file, its stdout/stderr (which
    # Dagster captures whole) are capped (engine/output.py).
    log_path = bot_log_path(trading_home(), bot.bot_id)
    with bounded_output(log_path, platform_settings.output_limits()), bridge.attached():
        try:
            outcome = runner.run_until_interrupted(on_wait=lambda: bridge.drain(context.log))
        except FatalBotError:
            # tells trading_bots_sensor not to relaunch until the config changes
            context.instance.add_run_tags(context.run_id, {RunTag.FATAL: YES})
            raise
        finally:
            bridge.drain(context.log)
    context.log.info(f"bot {bot.bot_id} ended: {outcome.status} ({outcome.reason})")


@job(
    executor_def=in_process_executor,
    description="One trading bot as one long-running run; launched by trading_bots_sensor.",
    tags={RunTag.MANAGED: YES},
    hooks={notify_op_failure},
)
def bot_run() -> None:
    run_bot()
