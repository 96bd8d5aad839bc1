"""PostgreSQL restarted under running bots: nothing lost, nothing sent twice, nobody blamed.

Both the bot database and Dagster's storage live on a private PostgreSQL cluster
(:mod:`tests.support.private_postgres`), never the shared server: the test stops it while
ten paper bots and one live bot (``flip_flop`` holding one bar, on the exchange emulator,
through the real ccxt client) run under the real daemon and code server, keeps it down long
enough that heartbeats, fills and Dagster's event writes fail, and starts it again.  Then:

- every bot heartbeats again within 60 s of the database's return;
- every bot is still served by the same Dagster run, no restart was counted, and no bot went
  ``error``;
- after a clean stop the books agree: every fill the exchange made is in ``trading_trades``
  (by fill id), no order reached the exchange twice or unknown to the ledger, and each paper
  bot's order sequence has no hole (a paper fill made during the outage was written after it).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import text

from tests.e2e.harness import Platform, postgres_databases
from tests.support.books import assert_books_agree
from tests.support.builders import FLIP_FLOP_BOT, FLIP_FLOP_CONFIG
from tests.support.exchange_emulator import Emulator, exchange_env, served_emulator
from tests.support.private_postgres import PrivatePostgres
from trading_platform.db.orders import bot_orders
from trading_platform.db.trades import bot_trades
from trading_platform.db.users import ensure_user

pytestmark = pytest.mark.e2e

PAPER_BOTS = 10
#: how long the database stays down: longer than several heartbeats (2 s), fills (a live
#: round trip every 2 s) and the sensor's interval (2 s), shorter than a stale limit (60 s)
OUTAGE_SECONDS = 25
#: every bot must heartbeat again within this many seconds of the database's return
RECOVERY_SECONDS = 60
START_TIMEOUT = 150
API_KEY, SECRET = "dbfaults-key-0001", "dbfaults-secret-0001"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with served_emulator({API_KEY: SECRET}) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def platform(
    private_cluster: PrivatePostgres, emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    # no cleanup: the databases go with the cluster (its admin connection did not survive
    # the restart)
    database_url, dagster_env, _cleanup = postgres_databases(private_cluster.url())
    env = exchange_env({"binance": emulator.url}, {"DBFAULTS": (API_KEY, SECRET)})
    home = tmp_path_factory.mktemp("platform")
    platform = Platform(home, database_url, dagster_postgres=dagster_env, extra_env=env)
    platform.start()
    try:
        yield platform
    finally:
        platform.stop()
        platform.engine.dispose()


@dataclass
class Bots:
    live: int
    paper: list[int]

    @property
    def all(self) -> list[int]:
        return [self.live, *self.paper]


def _start_bots(platform: Platform) -> Bots:
    owner = ensure_user(platform.engine, "dbfaults-trader", email="trader@example.test")
    live = platform.insert_bot(
        "dbfaults-live",
        user_id=owner,
        **FLIP_FLOP_BOT,
        mode="live",
        config={
            **FLIP_FLOP_CONFIG,
            "params": {"hold": 1},
            "credentials": "DBFAULTS",
            "heartbeat_interval": 2,
        },
    )
    paper = [platform.insert_bot(f"dbfaults-paper-{n}") for n in range(PAPER_BOTS)]
    return Bots(live, paper)


def _all_running(platform: Platform, bots: Bots) -> bool:
    return all(platform.bot(bot_id).status == "running" for bot_id in bots.all)


def _beating_since(platform: Platform, bots: Bots, since: dt.datetime) -> list[int]:
    """The bots whose last heartbeat is not newer than ``since``."""
    late = []
    for bot_id in bots.all:
        beat = platform.bot(bot_id).last_heartbeat
        if beat is None or beat <= since:
            late.append(bot_id)
    return late


def _database_up(platform: Platform) -> bool:
    try:
        with platform.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - still down
        return False
    return True


def test_postgres_restarted_under_running_bots(
    platform: Platform, private_cluster: PrivatePostgres, emulator: Emulator
) -> None:
    account = emulator.accounts[API_KEY]
    bots = _start_bots(platform)
    platform.wait_for(lambda: _all_running(platform, bots), START_TIMEOUT, "every bot running")
    platform.wait_for(lambda: len(account.trades) >= 2, 60, "the live bot trading")
    runs = {bot_id: [r.run_id for r in platform.active_runs(bot_id)] for bot_id in bots.all}
    assert all(len(ids) == 1 for ids in runs.values()), runs

    with private_cluster.outage(OUTAGE_SECONDS):
        assert not _database_up(platform)
    returned = dt.datetime.now(dt.UTC)
    returned_at = time.monotonic()

    platform.wait_for(
        lambda: not _beating_since(platform, bots, returned),
        RECOVERY_SECONDS,
        "every bot heartbeating after the database returned",
    )
    recovered = time.monotonic() - returned_at
    print(f"outage {OUTAGE_SECONDS} s; every heartbeat back {recovered:.1f} s after the return")
    # a few more sensor ticks: a restart counted late would show now
    platform.wait_for_sensor_ticks(3)
    for bot_id in bots.all:
        assert [r.run_id for r in platform.active_runs(bot_id)] == runs[bot_id], bot_id
        row = platform.bot(bot_id)
        assert row.status == "running", (bot_id, row.status, row.last_error)
        assert row.restart_count == 0 and row.last_error is None, (bot_id, row.last_error)
    # the outage was felt: the live bot's order write-ahead or fill, and paper fills, waited
    late = _written_late(platform)
    assert bots.live in late and late & set(bots.paper), late
    with platform.engine.connect() as connection:
        errors = connection.execute(
            text("SELECT bot_id, reason FROM bot_status_events WHERE to_status = 'error'")
        ).all()
    assert errors == []

    # stop cleanly, then compare the books
    platform.sql("UPDATE trading_bots SET enabled = false")
    platform.wait_for(
        lambda: all(platform.bot(b).status == "stopped" for b in bots.all), 60, "bots stopped"
    )
    platform.wait_for(
        lambda: not any(platform.active_runs(b) for b in bots.all), 60, "runs finished"
    )
    for bot_id in bots.all:
        (run,) = platform.runs(bot_id)
        # disabled: the sensor cancels the run, the bot stops cleanly (a failure would be
        # FAILURE)
        assert run.run_id == runs[bot_id][0] and run.status.value == "CANCELED", run.status
    assert_books_agree(emulator, API_KEY, platform.engine, bots.live)
    ledger = {o.client_order_id: o for o in bot_orders(platform.engine, bots.live)}
    exchange_ids = [str(o.order_id) for o in account.orders.values()]
    assert len(exchange_ids) == len(set(exchange_ids))
    assert {o.client_order_id for o in account.orders.values()} <= set(ledger)
    assert emulator.order_posts == len(account.orders), "an order was posted twice"
    for bot_id in bots.paper:
        _assert_paper_fills_complete(platform, bot_id)


def _assert_paper_fills_complete(platform: Platform, bot_id: int) -> None:
    """A paper bot's client order ids count 1, 2, 3 … in its one incarnation, and each has
    its trade: a fill made while the database was away was written after it, not dropped."""
    orders = bot_orders(platform.engine, bot_id)
    assert orders, f"paper bot {bot_id} never traded"
    sequences = sorted(int(o.client_order_id.rsplit("-", 1)[-1]) for o in orders)
    assert sequences == list(range(sequences[0], sequences[0] + len(sequences))), sequences
    traded = {t.order_id for t in bot_trades(platform.engine, bot_id)}
    assert traded == {o.id for o in orders}


def _written_late(platform: Platform) -> set[int]:
    """The bots whose run logged a write made after the database returned (their captured
    stderr, where the platform's warnings go)."""
    late = set()
    for path in platform.home.rglob("*.err"):
        for line in path.read_text(errors="replace").splitlines():
            match = re.search(r"bot (\d+): .* written after the database returned", line)
            if match:
                late.add(int(match[1]))
    return late
