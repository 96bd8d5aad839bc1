"""Health as asset checks on ``bot_health``: a failing check names the bots."""

from collections.abc import Callable

from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from trading_platform.monitoring import health as health_rules
from trading_platform.orchestration import runs
from trading_platform.orchestration.assets import bot_health
from trading_platform.orchestration.resources import BotDatabase

Rule = Callable[[list[health_rules.BotHealth]], list[health_rules.BotHealth]]


def _evaluate(context, bot_database: BotDatabase, rule: Rule, what: str, ok: str):
    rows = health_rules.bot_health(bot_database.engine(), runs.active_bot_ids(context.instance))
    failing = rule(rows)
    names = ", ".join(f"{row.name} (#{row.bot_id}): {row.problem}" for row in failing[:50])
    return AssetCheckResult(
        passed=not failing,
        severity=AssetCheckSeverity.ERROR,
        description=f"{what}: {names}" if failing else ok,
        metadata={
            "bots": MetadataValue.int(len(failing)),
            "names": MetadataValue.text(names or "-"),
        },
    )


@asset_check(
    asset=bot_health,
    description="Every enabled bot has a heartbeat younger than 3 x its heartbeat interval.",
)
def heartbeats_fresh(context, bot_database: BotDatabase) -> AssetCheckResult:
    return _evaluate(
        context,
        bot_database,
        health_rules.stale_heartbeats,
        "stale",
        "every enabled bot heartbeats",
    )


@asset_check(asset=bot_health, description="No enabled bot is in status error.")
def no_bot_in_error(context, bot_database: BotDatabase) -> AssetCheckResult:
    return _evaluate(
        context, bot_database, health_rules.bots_in_error, "in error", "no enabled bot in error"
    )
