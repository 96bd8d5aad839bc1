"""``purge_old_runs``: the daily job that keeps Dagster's run storage and the bot database's
history tables from growing without bound (README, "Running for weeks").

Dagster keeps every run and every event of it forever (dagster#33785), and the platform
makes runs all day: ``bot_health_job`` every minute and ``performance_job`` every five
minutes, 1,700 runs a day before any bot restarts.  The job deletes, with
``DagsterInstance.delete_run`` (the run and its event log; then the run's SQLite event file)
and the compute log manager (the run's captured stdout/stderr), every run that *finished*
(success, failure, canceled) more than ``TRADING_RUN_RETENTION_DAYS`` ago, but

- never a run that has not finished, whatever its age: a bot's run is long-running, and a
  STARTED run of two months is a healthy bot;
- never the newest run of a bot, so a bot that stopped or failed long ago still shows its
  last run and why it ended.

Then it prunes the bot database's history (:mod:`trading_platform.db.retention`).
"""

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    OpExecutionContext,
    RunsFilter,
    in_process_executor,
    job,
    op,
)

from trading_platform.contract import RunTag
from trading_platform.db.retention import prune_history
from trading_platform.db.types import utcnow
from trading_platform.orchestration.resources import BotDatabase, PlatformSettings

#: runs in these statuses will not change any more; every other status is a run in flight
FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]
#: at most this many runs are deleted by one job run (the first purge of an old instance
#: finishes over a few days rather than in one run of hours); the platform makes ~1,700 a day
MAX_RUNS_PER_PURGE = 20_000


@dataclass(frozen=True)
class RunPurge:
    deleted: int
    kept_newest_of_bot: int
    more_left: bool


def purge_finished_runs(
    instance: DagsterInstance,
    cutoff: dt.datetime,
    *,
    max_runs: int = MAX_RUNS_PER_PURGE,
) -> RunPurge:
    """Delete the runs that finished (were last updated) before ``cutoff``, with their events
    and captured logs; keep every unfinished run and each bot's newest run."""
    run_ids = instance.get_run_ids(
        RunsFilter(statuses=FINISHED, updated_before=cutoff), limit=max_runs + 1
    )
    more_left = len(run_ids) > max_runs
    newest_of_bot: dict[str, str | None] = {}
    deleted = kept = 0
    for run_id in run_ids[:max_runs]:
        run = instance.get_run_by_id(run_id)
        if run is None:
            continue
        bot_id = run.tags.get(RunTag.BOT_ID)
        if bot_id is not None:
            if bot_id not in newest_of_bot:
                newest = instance.get_run_ids(RunsFilter(tags={RunTag.BOT_ID: bot_id}), limit=1)
                newest_of_bot[bot_id] = newest[0] if newest else None
            if newest_of_bot[bot_id] == run_id:
                kept += 1
                continue
        instance.delete_run(run_id)
        instance.compute_log_manager.delete_logs(prefix=[run_id])
        _delete_event_shard(instance, run_id)
        deleted += 1
    return RunPurge(deleted=deleted, kept_newest_of_bot=kept, more_left=more_left)


def _delete_event_shard(instance: DagsterInstance, run_id: str) -> None:
    """Dagster's default SQLite event log keeps one database file per run
    (``history/runs/<run_id>.db``); ``delete_run`` empties it but leaves the file, so 1,700 empty
    files a day would pile up.  Other storages (PostgreSQL) have no shard."""
    storage = instance.event_log_storage
    path_for_shard = getattr(storage, "path_for_shard", None)
    if not callable(path_for_shard):
        return
    shard = Path(path_for_shard(run_id))
    for path in (shard, shard.with_name(shard.name + "-wal"), shard.with_name(shard.name + "-shm")):
        path.unlink(missing_ok=True)
    # The storage remembers which shard files it created its tables in; a later look at the
    # deleted run in this process must find an empty event log, not a file without tables.
    initialized = getattr(storage, "_initialized_dbs", None)
    if isinstance(initialized, set):
        initialized.discard(run_id)


@op(
    name="purge_history",
    description="Delete finished runs and history rows older than TRADING_RUN_RETENTION_DAYS.",
)
def purge_history(
    context: OpExecutionContext, bot_database: BotDatabase, platform_settings: PlatformSettings
) -> None:
    retention = platform_settings.retention()
    now = utcnow()
    cutoff = retention.cutoff(now)
    if cutoff is None:
        context.log.info("TRADING_RUN_RETENTION_DAYS=0: runs are kept")
    else:
        runs = purge_finished_runs(context.instance, cutoff)
        context.log.info(
            f"runs finished before {cutoff:%Y-%m-%d %H:%M} UTC: deleted={runs.deleted} "
            f"kept_newest_of_bot={runs.kept_newest_of_bot}"
            + (" (more left for the next purge)" if runs.more_left else "")
        )
    pruned = prune_history(bot_database.engine(), retention, now=now)
    context.log.info(f"bot database history pruned: {pruned.describe()}")


@job(
    executor_def=in_process_executor,
    description="Bounded growth: old finished runs, their events and logs, and old history rows "
    "of the bot database (never the books, never a run in flight).",
)
def purge_old_runs() -> None:
    purge_history()
