"""The sensor's side of the lease after a cancel: a run whose worker is gone ends at once."""

from __future__ import annotations

import uuid

import pytest
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus

from tests.support.builders import add_bot
from trading_platform.db.leases import acquire_lease, lease_of
from trading_platform.orchestration.fencing import fence_if_unreachable
from trading_platform.orchestration.reconcile import Cancel


@pytest.fixture
def instance(tmp_path):
    (tmp_path / "dh").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "dh")) as instance:
        yield instance


def _canceling_run(instance: DagsterInstance, bot_id: int) -> str:
    run = instance.add_run(
        DagsterRun(
            job_name="bot_run",
            run_id=str(uuid.uuid4()),
            tags={"trading/bot_id": str(bot_id)},
            status=DagsterRunStatus.CANCELING,
        )
    )
    return run.run_id


@pytest.mark.parametrize("gone", [True, False])
def test_a_cancelled_run_whose_worker_is_gone_is_canceled_at_once(
    db_engine, instance, gone: bool
) -> None:
    """A killed worker's run stayed CANCELING until run monitoring got to it (10 s and more
    on a busy machine), and kept its bot's one queue slot: the relaunch waited behind it.  A
    worker still alive is left to stop by itself."""
    bot_id = add_bot(db_engine, "killed")
    run_id = _canceling_run(instance, bot_id)
    acquire_lease(db_engine, bot_id, run_id, "somehost pid 999999 start 1", ttl_seconds=60)

    fence_if_unreachable(instance, db_engine, Cancel(run_id, bot_id, "gone"), True, gone)

    status = instance.get_run_by_id(run_id).status
    lease = lease_of(db_engine, bot_id)
    if gone:
        assert status == DagsterRunStatus.CANCELED
        assert lease is not None and lease.holder_run_id is None
    else:
        assert status == DagsterRunStatus.CANCELING
        assert lease is not None and lease.holder_run_id == run_id
