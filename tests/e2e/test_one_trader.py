"""One trader per bot through the real Dagster processes: the bot lease against a second
Dagster instance on the same bot database, and against a run worker that outlives its code
server.  A live bot trades on the emulator with the real ccxt client; on SQLite, and on
PostgreSQL (bot database and Dagster storage) when ``TRADING_TEST_POSTGRES_URL`` is set."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from dagster import DagsterRunStatus

from tests.e2e.conftest import BACKENDS, POSTGRES_URL, _platform
from tests.e2e.harness import Platform, postgres_databases
from tests.support.builders import FLIP_FLOP_BOT, FLIP_FLOP_CONFIG
from tests.support.exchange_emulator import Emulator, exchange_env, served_emulator
from trading_platform.db.leases import lease_of
from trading_platform.db.users import ensure_user

pytestmark = pytest.mark.e2e

KEY, SECRET = "one-trader-key-0001", "one-trader-secret-0001"
START_TIMEOUT = 90


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def emulator(backend: str) -> Iterator[Emulator]:
    with served_emulator({KEY: SECRET}, usdt="100000") as emulator:
        yield emulator


def _env(emulator: Emulator) -> dict[str, str]:
    return exchange_env({"binance": emulator.url}, {"ONE": (KEY, SECRET)})


@pytest.fixture(scope="module")
def platform(
    request: pytest.FixtureRequest, tmp_path_factory, backend: str, emulator: Emulator
) -> Iterator[Platform]:
    yield from _platform(request, tmp_path_factory, backend, **_env(emulator))


def _live_bot(platform: Platform, name: str) -> int:
    owner = ensure_user(platform.engine, "one-trader", email="one@example.test")
    bot_id = platform.insert_bot(
        name,
        user_id=owner,
        **FLIP_FLOP_BOT,
        mode="live",
        config={**FLIP_FLOP_CONFIG, "heartbeat_interval": 2, "credentials": "ONE"},
    )
    platform.wait_for(
        lambda: platform.bot(bot_id).status == "running", START_TIMEOUT, "the bot running"
    )
    return bot_id


def _client_ids(emulator: Emulator) -> list[str]:
    return [order.client_order_id for order in emulator.accounts[KEY].orders.values()]


def test_a_second_dagster_instance_on_the_same_bots_never_trades_them(
    platform: Platform, emulator: Emulator, backend: str, tmp_path_factory
) -> None:
    bot_id = _live_bot(platform, "one-trader-instances")
    platform.wait_for(lambda: len(_client_ids(emulator)) >= 2, 60, "the first instance trading")
    lease = lease_of(platform.engine, bot_id)
    assert lease is not None and lease.holder_run_id is not None
    prefix = f"tp-{bot_id}-{lease.epoch}-"
    # a second Dagster instance (its own storage, the same bot database) starts beside it
    cleanup = None
    dagster_env = None
    if backend == "postgresql":
        assert POSTGRES_URL is not None
        _, dagster_env, cleanup = postgres_databases(POSTGRES_URL)
    second = Platform(
        tmp_path_factory.mktemp("second-instance"),
        platform.database_url,
        dagster_postgres=dagster_env,
        extra_env=_env(emulator),
    )
    try:
        second.start()
        failed = second.wait_for(
            lambda: second.runs(bot_id, [DagsterRunStatus.FAILURE]),
            120,
            "the second instance's run refused",
        )
        assert failed, "the second instance launched no run for the bot"
    finally:
        second.stop()
        second.engine.dispose()
        if cleanup is not None:
            cleanup()
    after = lease_of(platform.engine, bot_id)
    assert after.holder_run_id == lease.holder_run_id and after.epoch == lease.epoch
    ids = _client_ids(emulator)
    assert ids and all(i.startswith(prefix) for i in ids), f"a second trader sent {ids}"
    posts = emulator.order_posts
    platform.wait_for(lambda: emulator.order_posts > posts, 60, "the first instance trading on")


def test_a_bot_disabled_while_its_code_server_is_dead_sends_no_order_afterwards(
    platform: Platform, emulator: Emulator
) -> None:
    bot_id = _live_bot(platform, "one-trader-orphan")
    (run,) = platform.active_runs(bot_id)
    worker = platform.wait_for(lambda: platform.run_worker_pid(run.run_id), 10, "worker pid")
    # the code server dies; its run worker lives on, and Dagster can no longer stop it
    platform.kill_code_server()
    platform.kill_daemon()
    os.kill(worker, 0)  # still alive
    platform.sql("UPDATE trading_bots SET enabled = false WHERE id = :id", id=bot_id)
    platform.start()  # a new code server and daemon: the sensor cancels the run it cannot reach
    platform.wait_for(
        lambda: lease_of(platform.engine, bot_id).holder_run_id is None,
        90,
        "the sensor revoking the orphaned run's lease",
    )
    orders_after_revocation = len(_client_ids(emulator))
    platform.wait_for(lambda: not _alive(worker), 30, "the fenced-off worker exiting")
    assert len(_client_ids(emulator)) == orders_after_revocation, "an order after the stop"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its dead parent) trades no more
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False
