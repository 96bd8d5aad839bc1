"""Getting notifications out: the dispatcher sensor, run-status sensors and the failure hook.

Run-status sensors see what hooks cannot (a killed run worker, a cancel); the failure hook
catches an op exception inside the run.  Both enqueue with ``outbox.run_error_key``, which the
bot runner uses too, so one failure is one message.
"""

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunStatusSensorContext,
    SensorEvaluationContext,
    SkipReason,
    run_failure_sensor,
    run_status_sensor,
    sensor,
)

from trading_platform.contract import ErrorKind
from trading_platform.notifications import messages, outbox
from trading_platform.notifications.dispatcher import dispatch_pending
from trading_platform.notifications.senders import Sender
from trading_platform.orchestration.environment import TIMING
from trading_platform.orchestration.jobs import bot_run
from trading_platform.orchestration.resources import (
    BotDatabase,
    EmailResource,
    PlatformSettings,
    TelegramResource,
)
from trading_platform.orchestration.runs import bot_of_run, wants_error_notifications


@sensor(
    minimum_interval_seconds=TIMING.notify_interval_seconds,
    default_status=DefaultSensorStatus.RUNNING,
    description="Sends pending notifications (Telegram, e-mail) with retries and backoff.",
)
def notification_dispatcher(
    context: SensorEvaluationContext,
    bot_database: BotDatabase,
    platform_settings: PlatformSettings,
    telegram: TelegramResource,
    email: EmailResource,
) -> SkipReason:
    senders: dict[str, Sender] = {
        sender.channel: sender
        for sender in (telegram.sender(), email.sender())
        if sender is not None
    }
    first, longest = platform_settings.notification_backoff()
    report = dispatch_pending(
        bot_database.engine(),
        senders,
        backoff_seconds=first,
        backoff_max_seconds=longest,
    )
    summary = (
        f"notifications: sent={report.sent} retried={report.retried} failed={report.failed} "
        f"deferred={report.skipped}"
    )
    if report.retried or report.failed:
        context.log.warning(f"{summary}; last problem: {report.reasons[-1]}")
    return SkipReason(summary)


@run_failure_sensor(
    monitored_jobs=[bot_run],
    default_status=DefaultSensorStatus.RUNNING,
    description="A bot run failed (exception, kill, lost worker): notify its owner.",
)
def bot_run_failure_sensor(context: RunFailureSensorContext, bot_database: BotDatabase) -> None:
    run = context.dagster_run
    bot_id, name = bot_of_run(run.tags)
    if bot_id is None or not wants_error_notifications(run):
        return
    detail = context.failure_event.message or "run failed"
    outbox.enqueue(
        bot_database.engine(),
        messages.bot_error(
            name, ErrorKind.RUN_ERROR, f"run {run.run_id[:8]} failed: {detail}"[:1000]
        ),
        bot_id=bot_id,
        dedupe_key=outbox.run_error_key(run.run_id),
    )


@run_status_sensor(
    run_status=DagsterRunStatus.CANCELED,
    monitored_jobs=[bot_run],
    default_status=DefaultSensorStatus.RUNNING,
    description="A bot run was cancelled (disable, delete, hot reload, UI): notify its owner.",
)
def bot_run_canceled_sensor(context: RunStatusSensorContext, bot_database: BotDatabase) -> None:
    run = context.dagster_run
    bot_id, name = bot_of_run(run.tags)
    if bot_id is None:
        return
    outbox.enqueue(
        bot_database.engine(),
        messages.bot_stopped(name, f"run {run.run_id[:8]} cancelled"),
        bot_id=bot_id,
        dedupe_key=f"run-canceled:{run.run_id}",
    )
