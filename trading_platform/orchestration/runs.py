"""Bot runs as Dagster keeps them: their tags, their run config and the queries on them.

A ``bot_run`` run names its bot in its tags (:class:`~trading_platform.contract.RunTag`) and
carries the validated snapshot in its run config.  The sensor, ``bot_health`` and its checks,
the failure hook and the run-status sensors all read runs through this module, so there is
one query for "the active bot runs" and one reader of a run's snapshot.
"""

import datetime as dt
from collections.abc import Mapping
from typing import Any

from dagster import Config, DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter
from pydantic import ValidationError

from trading_platform.config import BotConfig
from trading_platform.contract import RunTag
from trading_platform.orchestration.reconcile import ActiveRun, EndedRun, EndedRunLookup, Launch

#: the op of ``bot_run`` whose config holds the snapshot
RUN_BOT_OP = "run_bot"
#: the value of the yes/no tags (``RunTag.MANAGED``, ``RunTag.FATAL``)
YES = "true"
#: runs that hold a bot, or are about to (the run queue allows one per ``RunTag.BOT_ID``)
ACTIVE_STATUSES = (
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
)


class BotRunConfig(Config):
    """The validated configuration snapshot the run executes (the audit record, no secrets)."""

    snapshot: dict[str, Any]
    incarnation: int = 0


def run_tags(launch: Launch) -> dict[str, str]:
    config = launch.config
    return {
        RunTag.MANAGED: YES,
        RunTag.BOT_ID: str(launch.bot_id),
        RunTag.BOT_NAME: config.name[:200],
        RunTag.CONFIG_HASH: config.config_hash,
        RunTag.STRATEGY: config.strategy_class,
        # tag values are serialized by Dagster, which accepts no enum: plain text
        RunTag.MODE: str(config.mode),
        RunTag.INCARNATION: str(launch.incarnation),
    }


def run_config(launch: Launch) -> dict[str, Any]:
    snapshot = BotRunConfig(snapshot=launch.config.run_config(), incarnation=launch.incarnation)
    return {"ops": {RUN_BOT_OP: {"config": snapshot.model_dump()}}}


def bot_config_of(run: DagsterRun) -> BotConfig | None:
    """The snapshot ``run`` executes, validated; ``None`` when it cannot be read (not a bot
    run, or a snapshot an older platform wrote)."""
    ops: Any = run.run_config.get("ops") or {}
    op_config = (ops.get(RUN_BOT_OP) or {}).get("config")
    try:
        return BotConfig.model_validate(BotRunConfig(**(op_config or {})).snapshot)
    except (ValidationError, TypeError):
        return None


def wants_error_notifications(run: DagsterRun) -> bool:
    """Whether the bot of ``run`` asked for error notifications; yes when in doubt."""
    config = bot_config_of(run)
    return config is None or config.notifications.error_notifications


def bot_of_run(tags: Mapping[str, str]) -> tuple[int | None, str]:
    """The bot id (``None`` for a run that is not a bot's) and name a run's tags give."""
    bot_id = tags.get(RunTag.BOT_ID)
    return (int(bot_id) if bot_id and bot_id.isdigit() else None), tags.get(RunTag.BOT_NAME, "bot")


def active_bot_runs(instance: DagsterInstance) -> list[ActiveRun]:
    """The active bot runs: what the sensor reconciles with and what ``bot_health`` and its
    checks call ``run_active``."""
    records = instance.get_run_records(
        filters=RunsFilter(tags={RunTag.MANAGED: YES}, statuses=list(ACTIVE_STATUSES))
    )
    runs = []
    for record in records:
        tags = record.dagster_run.tags
        bot_id, _name = bot_of_run(tags)
        if bot_id is None:
            continue
        started = record.start_time
        runs.append(
            ActiveRun(
                run_id=record.dagster_run.run_id,
                bot_id=bot_id,
                config_hash=tags.get(RunTag.CONFIG_HASH, ""),
                status=record.dagster_run.status,
                incarnation=int(tags.get(RunTag.INCARNATION, "0")),
                started_at=dt.datetime.fromtimestamp(started, dt.UTC) if started else None,
            )
        )
    return runs


def active_bot_ids(instance: DagsterInstance) -> set[int]:
    return {run.bot_id for run in active_bot_runs(instance)}


def ended_run_lookup(instance: DagsterInstance) -> EndedRunLookup:
    """How the newest run of a bot ended (asked only for bots whose run has just ended)."""

    def lookup(bot_id: int) -> EndedRun | None:
        records = instance.get_run_records(
            filters=RunsFilter(tags={RunTag.MANAGED: YES, RunTag.BOT_ID: str(bot_id)}),
            limit=1,
        )
        if not records:
            return None
        run = records[0].dagster_run
        return EndedRun(run.status, fatal=run.tags.get(RunTag.FATAL) == YES)

    return lookup
