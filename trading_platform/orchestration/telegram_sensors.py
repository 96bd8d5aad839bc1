"""``telegram_commands_sensor``: Telegram commands, served from the daemon's sensor loop.

Each tick long-polls ``getUpdates`` for ``TRADING_TELEGRAM_POLL_SECONDS`` (default 3) from
the offset in the cursor, handles the commands as they arrive, answers finished force exits,
and stores the next offset in the cursor (README, "Telegram commands", says why a sensor and
not a long-running run).  The work is :func:`trading_platform.telegram_control.poller.poll`;
this module only hands it the resources.
"""

from dagster import DefaultSensorStatus, SensorEvaluationContext, SensorResult, SkipReason, sensor

from trading_platform.orchestration import runs
from trading_platform.orchestration.environment import TIMING, telegram_configured
from trading_platform.orchestration.resources import (
    BotDatabase,
    PlatformSettings,
    TelegramResource,
)
from trading_platform.telegram_control.poller import TelegramUnavailable, poll


def _offset(context: SensorEvaluationContext) -> int | None:
    if not context.cursor:
        return None
    try:
        return int(context.cursor)
    except ValueError:
        context.log.warning(f"telegram cursor {context.cursor[:40]!r} is not an offset: reset")
        return None


@sensor(
    minimum_interval_seconds=TIMING.telegram_interval_seconds,
    default_status=(
        DefaultSensorStatus.RUNNING if telegram_configured() else DefaultSensorStatus.STOPPED
    ),
    description="Telegram commands (/status, /profit, /stop, /forceexit, ...): long-polls "
    "getUpdates, answers, keeps the update offset in the cursor.",
)
def telegram_commands_sensor(
    context: SensorEvaluationContext,
    bot_database: BotDatabase,
    platform_settings: PlatformSettings,
    telegram: TelegramResource,
) -> SensorResult | SkipReason:
    if not telegram.bot_token:
        return SkipReason("Telegram is off: TELEGRAM_BOT_TOKEN is not set")
    try:
        report = poll(
            bot_database.engine(),
            telegram.bot_token,
            telegram.api_base_url,
            _offset(context),
            seconds=platform_settings.telegram_poll(),
            active_bot_ids=lambda: runs.active_bot_ids(context.instance),
            stale_factor=platform_settings.policy().stale_heartbeat_factor,
        )
    except TelegramUnavailable as exc:
        context.log.warning(str(exc))
        return SkipReason(f"{exc}; the same updates are fetched again at the next tick")
    summary = (
        f"telegram: updates={report.updates} handled={report.handled} "
        f"skipped={report.skipped} answered={report.answered} "
        f"send_failures={len(report.send_failures)}"
    )
    if report.unknown_users:
        ids = ", ".join(str(user) for user in sorted(set(report.unknown_users)))
        context.log.warning(
            f"Telegram: refused {len(report.unknown_users)} update(s) from unknown Telegram "
            f"user(s) {ids}: set users.telegram_user_id to let one in"
        )
    if report.send_failures:
        context.log.warning(f"{summary}; last: {report.send_failures[-1]}")
    cursor = None if report.next_offset is None else str(report.next_offset)
    return SensorResult(skip_reason=SkipReason(summary), cursor=cursor)
