"""The bot lease (db/leases.py): one holder at a time, an epoch that only grows, and a fence
that stops the writes of a process whose lease was taken, in the write's own transaction."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from tests.support.builders import add_bot
from trading_platform.db.leases import (
    LeaseHeld,
    LeaseLost,
    acquire_lease,
    lease_of,
    release_lease,
    renew_lease,
    revoke_lease,
)
from trading_platform.db.orders import (
    DuplicateClientOrderId,
    bot_orders,
    update_order,
    write_ahead_order,
)
from trading_platform.db.trades import bot_trades, record_trade

HOUR = 3600.0


def _order(bot_id: int, client_order_id: str) -> dict:
    return dict(
        bot_id=bot_id,
        run_id="r",
        client_order_id=client_order_id,
        side="buy",
        type="market",
        amount=Decimal("0.01"),
        status="submitting",
    )


def test_each_acquire_raises_the_epoch_and_a_release_frees_the_lease(db_engine) -> None:
    bot_id = add_bot(db_engine, "lease-epochs")
    first = acquire_lease(db_engine, bot_id, "run-1", "host pid 1", HOUR)
    assert first.epoch == 1
    assert release_lease(db_engine, first)
    second = acquire_lease(db_engine, bot_id, "run-2", "host pid 2", HOUR)
    assert second.epoch == 2
    assert lease_of(db_engine, bot_id).holder_run_id == "run-2"


def test_a_live_holder_keeps_the_lease_and_an_expired_one_loses_it(db_engine) -> None:
    bot_id = add_bot(db_engine, "lease-held")
    holder = acquire_lease(db_engine, bot_id, "run-1", "host-a pid 1", HOUR)
    with pytest.raises(LeaseHeld, match="traded by run run-1 \\(host-a pid 1\\)"):
        acquire_lease(db_engine, bot_id, "run-2", "host-b pid 2", HOUR)
    # a holder silent for longer than the time to live is presumed dead
    taker = acquire_lease(db_engine, bot_id, "run-2", "host-b pid 2", ttl_seconds=-1)
    assert taker.epoch == holder.epoch + 1
    with pytest.raises(LeaseLost):
        renew_lease(db_engine, holder)
    renew_lease(db_engine, taker)


def test_the_fence_stops_the_writes_of_a_process_whose_lease_was_taken(db_engine) -> None:
    bot_id = add_bot(db_engine, "lease-fence")
    old = acquire_lease(db_engine, bot_id, "run-old", "h", HOUR)
    write_ahead_order(db_engine, old.check, **_order(bot_id, f"tp-{bot_id}-1-1"))
    acquire_lease(db_engine, bot_id, "run-new", "h", ttl_seconds=-1)
    with pytest.raises(LeaseLost):
        write_ahead_order(db_engine, old.check, **_order(bot_id, f"tp-{bot_id}-1-2"))
    with pytest.raises(LeaseLost):
        update_order(db_engine, f"tp-{bot_id}-1-1", old.check, status="closed")
    with pytest.raises(LeaseLost):
        record_trade(
            db_engine,
            old.check,
            bot_id=bot_id,
            fill_id="f1",
            symbol="BTC/USDT",
            side="buy",
            amount=Decimal("0.01"),
            price=Decimal("30000"),
        )
    (order,) = bot_orders(db_engine, bot_id)
    assert order.client_order_id == f"tp-{bot_id}-1-1" and order.status == "submitting"
    assert bot_trades(db_engine, bot_id) == []


def test_a_revoked_lease_is_free_at_once_and_its_holder_fenced_off(db_engine) -> None:
    bot_id = add_bot(db_engine, "lease-revoke")
    old = acquire_lease(db_engine, bot_id, "run-old", "h", HOUR)
    assert not revoke_lease(db_engine, bot_id, "some-other-run")  # not that run's lease
    assert revoke_lease(db_engine, bot_id, "run-old")
    with pytest.raises(LeaseLost):
        renew_lease(db_engine, old)
    new = acquire_lease(db_engine, bot_id, "run-new", "h", HOUR)  # no waiting for expiry
    assert new.epoch == old.epoch + 2  # the revocation moved it on too
    assert not release_lease(db_engine, old)


def test_a_client_order_id_already_written_is_an_error_never_ignored(db_engine) -> None:
    bot_id = add_bot(db_engine, "lease-duplicate")
    write_ahead_order(db_engine, **_order(bot_id, f"tp-{bot_id}-1-1"))
    with pytest.raises(DuplicateClientOrderId, match=f"tp-{bot_id}-1-1"):
        write_ahead_order(db_engine, **_order(bot_id, f"tp-{bot_id}-1-1"))
    assert len(bot_orders(db_engine, bot_id)) == 1


def _race(db_engine, bot_id: int, contenders: int) -> tuple[list[int], list[str]]:
    """``contenders`` threads ask for one bot's lease at the same instant."""
    start = threading.Barrier(contenders)
    winners: list[int] = []
    refused: list[str] = []

    def contend(n: int) -> None:
        start.wait()
        try:
            winners.append(acquire_lease(db_engine, bot_id, f"run-{n}", f"pid {n}", HOUR).epoch)
        except LeaseHeld as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return winners, refused


def test_processes_racing_for_one_lease_get_exactly_one_holder(db_engine) -> None:
    for n in range(5):
        winners, refused = _race(db_engine, add_bot(db_engine, f"lease-race-{n}"), 4)
        assert winners == [1] and len(refused) == 3, (winners, refused)
