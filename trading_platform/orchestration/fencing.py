"""The sensor's side of the bot lease (:mod:`trading_platform.db.leases`).

Dagster's view of a run and the process behind it can disagree: a run Dagster marked CANCELED
or FAILURE may still be alive (its code server gone, a strategy that swallows the interrupt).
So whenever this instance is done with a run and the run cannot be trusted to stop by
itself, the sensor takes the run's lease away:

- a run the sensor cancels (disabled, deleted, config changed, hung) is first asked to stop:
  it records its stop, saves its position and releases its lease.  If Dagster cannot reach it
  (its code server is gone: Dagster marks it CANCELED at once, or the cancel fails), the
  lease is revoked in the same tick, so the process can write, hence send, no order after;
- a lease still held by one of this instance's runs that has ended (a worker that died, or
  one that outlived its CANCELED run) is revoked on the next tick, so the process is fenced
  off and the bot's next run need not wait for the lease to expire.

A lease held by a run this instance does not know (another Dagster instance on the same bot
database, a run launched elsewhere) is left alone: its holder renews it while it lives, and the
new run waits for it to expire or gives up without trading.  That is the point: one trader
per bot, whichever Dagster launched it.
"""

from collections.abc import Iterable
from dataclasses import replace

from dagster import DagsterInstance, DagsterRunStatus
from sqlalchemy import Engine

from trading_platform.db.leases import Holder, revoke_lease
from trading_platform.orchestration.reconcile import ActiveRun, Cancel
from trading_platform.processes import process_gone


def fence_if_unreachable(
    instance: DagsterInstance, engine: Engine, cancel: Cancel, reached: bool, gone: bool
) -> bool:
    """After asking Dagster to cancel a run: unless it is stopping by itself (CANCELING, its
    worker alive), revoke its lease.  True if a lease was revoked."""
    run = instance.get_run_by_id(cancel.run_id)
    stopping = run is not None and run.status == DagsterRunStatus.CANCELING
    if reached and stopping and not gone:
        return False  # it stops cleanly; if it never does, run monitoring ends it
    revoked = revoke_lease(engine, cancel.bot_id, cancel.run_id)
    if gone and run is not None and stopping:
        # Nobody is left to finish the cancel: the run would stay CANCELING (and keep the
        # bot's one queue slot, so the relaunch waits) until run monitoring gets to it.
        instance.report_run_canceled(run, message=f"run worker gone: {cancel.reason}")
    return revoked


def free_leases_of_ended_runs(
    instance: DagsterInstance,
    engine: Engine,
    active: Iterable[ActiveRun],
    holders: Iterable[Holder],
) -> list[int]:
    """Revoke the leases (``holders``, read this tick) held by runs of this instance that
    have ended.  Only holders not among the ``active`` runs are looked up, so a tick asks
    Dagster nothing while every bot runs normally."""
    running = {run.run_id for run in active}
    freed = []
    for holder in holders:
        if holder.run_id in running:
            continue
        run = instance.get_run_by_id(holder.run_id)
        ended = run is not None and run.is_finished
        if ended and revoke_lease(engine, holder.bot_id, holder.run_id):
            freed.append(holder.bot_id)
    return freed


def with_gone_workers(active: list[ActiveRun], holders: Iterable[Holder]) -> list[ActiveRun]:
    """``active``, each STARTED run whose worker process no longer exists marked
    ``worker_gone`` (it holds its bot's lease, in ``holders``, and names a process of this
    host that is gone): a killed worker is restarted at the next tick, not a stale limit
    later."""
    started = {run.run_id for run in active if run.status == DagsterRunStatus.STARTED}
    gone = {
        holder.run_id
        for holder in holders
        if holder.run_id in started and process_gone(holder.process)
    }
    return [replace(run, worker_gone=True) if run.run_id in gone else run for run in active]
