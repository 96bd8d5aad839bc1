"""Health as asset checks on ``bot_health``: a failing check names the bots."""

from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from trading_platform.monitoring import health as health_rules
from trading_platform.orchestration.assets import active_bot_ids, bot_health
from trading_platform.orchestration.resources import BotDatabase


def _names(rows: list[health_rules.BotHealth]) -> str:
    return ", ".join(f"{row.name} (#{row.bot_id}): {row.problem}" for row in rows[:50])


@asset_check(
    asset=bot_health,
    description="Every enabled bot has a heartbeat younger than 3 x its heartbeat interval.",
)
def heartbeats_fresh(context, bot_database: BotDatabase) -> AssetCheckResult:  # type: ignore[no-untyped-def]
    rows = health_rules.bot_health(bot_database.engine(), active_bot_ids(context.instance))
    stale = health_rules.stale_heartbeats(rows)
    return AssetCheckResult(
        passed=not stale,
        severity=AssetCheckSeverity.ERROR,
        description=f"stale: {_names(stale)}" if stale else "every enabled bot heartbeats",
        metadata={
            "stale_bots": MetadataValue.int(len(stale)),
            "names": MetadataValue.text(_names(stale) or "-"),
        },
    )


@asset_check(asset=bot_health, description="No enabled bot is in status error.")
def no_bot_in_error(context, bot_database: BotDatabase) -> AssetCheckResult:  # type: ignore[no-untyped-def]
    rows = health_rules.bot_health(bot_database.engine(), active_bot_ids(context.instance))
    failing = health_rules.bots_in_error(rows)
    return AssetCheckResult(
        passed=not failing,
        severity=AssetCheckSeverity.ERROR,
        description=f"in error: {_names(failing)}" if failing else "no enabled bot in error",
        metadata={
            "bots_in_error": MetadataValue.int(len(failing)),
            "names": MetadataValue.text(_names(failing) or "-"),
        },
    )
