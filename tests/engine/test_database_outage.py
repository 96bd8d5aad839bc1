"""A bot run (no Dagster) while its PostgreSQL server goes away and comes back.

The server is a private cluster (:mod:`tests.support.private_postgres`), stopped under a
:class:`~trading_platform.engine.runner.BotRunner` on a thread: a paper bot whose fills
come fast, and a live ``flip_flop`` bot on the exchange emulator (real ccxt) that trades
every other bar.  Neither run may fail, lose a fill, send an order twice or lose its lease;
both heartbeat again once the server is back.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from tests.support.books import assert_books_agree
from tests.support.builders import FLIP_FLOP_CONFIG, PLUGINS, add_bot_config, add_emulator_bot
from tests.support.exchange_emulator import Emulator, serve_emulator_account
from tests.support.private_postgres import PrivatePostgres
from tests.support.running import RunnerThread
from tests.support.waiting import wait_for
from trading_platform.config import BotConfig
from trading_platform.db.bots import get_bot
from trading_platform.db.leases import acquire_lease
from trading_platform.db.orders import bot_orders
from trading_platform.db.status import status_events
from trading_platform.db.trades import bot_trades
from trading_platform.db.users import ensure_user
from trading_platform.engine.runner import BotRunner
from trading_platform.strategy_handler import load_registry

API_KEY, SECRET = "outage-key-EEEE5555", "outage-secret-FFFF6666"
#: longer than a few heartbeats and fills, shorter than the lease's 15 s floor would matter
OUTAGE_SECONDS = 6


def _run(config: BotConfig, engine: Engine) -> RunnerThread:
    registry = load_registry([PLUGINS])[0]
    return RunnerThread(BotRunner(config, registry, engine, run_id=f"run-{config.bot_id}"))


def _through_an_outage(cluster: PrivatePostgres, bot: RunnerThread, engine: Engine) -> None:
    """Stop the server for :data:`OUTAGE_SECONDS` under the running bot, then wait for a
    heartbeat newer than its return."""
    bot_id = bot.runner.bot_id
    with cluster.outage(OUTAGE_SECONDS):
        pass
    returned = dt.datetime.now(dt.UTC)
    wait_for(
        lambda: (beat := get_bot(engine, bot_id).last_heartbeat) is not None and beat > returned,
        20,
        "a heartbeat after the database returned",
    )
    assert bot.error is None, bot.error
    assert bot.thread.is_alive(), "the run ended"
    assert bot.runner.fenced is None, bot.runner.fenced


def test_paper_fills_made_while_the_database_is_down_are_written_after(
    private_cluster: PrivatePostgres, private_database: Engine
) -> None:
    registry = load_registry([PLUGINS])[0]
    config = add_bot_config(
        private_database,
        registry,
        "paper-outage",
        strategy="flip_flop",
        mode="paper",
        config={
            **FLIP_FLOP_CONFIG,
            "params": {"hold": 1},
            "data": {"pace_seconds": 0.2, "history_bars": 5, "seed": 3},
            "heartbeat_interval": 1,
        },
    )
    bot_id = config.bot_id
    assert bot_id is not None
    bot = _run(config, private_database)
    try:
        wait_for(lambda: len(bot_trades(private_database, bot_id)) >= 2, 60, "paper fills")
        _through_an_outage(private_cluster, bot, private_database)
        made = len(bot_trades(private_database, bot_id))
        wait_for(
            lambda: len(bot_trades(private_database, bot_id)) > made, 20, "fills after the return"
        )
    finally:
        bot.stop()
    assert bot.error is None, bot.error
    orders = bot_orders(private_database, bot_id)
    sequences = [int(o.client_order_id.rsplit("-", 1)[-1]) for o in orders]
    # every fill written, in order: ids 1, 2, 3 … without a hole, each with its trade
    assert sequences == list(range(1, len(orders) + 1))
    assert {t.order_id for t in bot_trades(private_database, bot_id)} == {o.id for o in orders}
    assert get_bot(private_database, bot_id).status == "stopped"


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    yield from serve_emulator_account(monkeypatch, API_KEY, SECRET)


def test_live_bot_waits_out_the_outage_and_records_every_fill_once(
    private_cluster: PrivatePostgres, private_database: Engine, emulator: Emulator
) -> None:
    registry = load_registry([PLUGINS])[0]
    owner = ensure_user(private_database, "trader")
    config = add_emulator_bot(
        private_database, registry, "live-outage", user_id=owner, params={"hold": 1}
    )
    bot_id = config.bot_id
    assert bot_id is not None
    account = emulator.accounts[API_KEY]
    bot = _run(config, private_database)
    try:
        wait_for(lambda: len(account.trades) >= 2, 60, "the live bot trading")
        _through_an_outage(private_cluster, bot, private_database)
        traded = len(account.trades)
        wait_for(lambda: len(account.trades) >= traded + 2, 30, "trading after the return")
    finally:
        bot.stop()
    assert bot.error is None, bot.error
    assert_books_agree(emulator, API_KEY, private_database, bot_id)
    assert emulator.order_posts == len(account.orders), "an order was posted twice"


def test_an_order_answered_while_the_database_is_down_is_recorded_after(
    private_cluster: PrivatePostgres, private_database: Engine, emulator: Emulator
) -> None:
    """The exchange executes an order and the server goes down before the answer reaches
    the bot (the emulator stops it while the answer is lost): the bot finds the order by its
    client id, and its fill, known only in memory, is written once the server is back."""
    registry = load_registry([PLUGINS])[0]
    owner = ensure_user(private_database, "trader-2")
    config = add_emulator_bot(
        private_database, registry, "live-answer-outage", user_id=owner, params={"hold": 100_000}
    )  # one buy, then holds
    bot_id = config.bot_id
    assert bot_id is not None
    account = emulator.accounts[API_KEY]
    stopped = threading.Event()

    def server_down() -> None:
        private_cluster.stop()
        stopped.set()

    emulator.order_faults.append("lost")
    emulator.on_lost_answer = server_down
    bot = _run(config, private_database)
    try:
        wait_for(stopped.is_set, 60, "the order executed and the server stopped")
        assert len(account.trades) == 1
        time.sleep(OUTAGE_SECONDS)  # the outage itself: the bot has the answer meanwhile
        private_cluster.start()
        wait_for(lambda: len(bot_trades(private_database, bot_id)) == 1, 30, "the fill recorded")
        wait_for(
            lambda: [o.status for o in bot_orders(private_database, bot_id)] == ["closed"],
            10,
            "the order closed",
        )
        assert bot.error is None and bot.thread.is_alive() and bot.runner.fenced is None
    finally:
        emulator.on_lost_answer = None
        if not private_cluster.running:
            private_cluster.start()
        bot.stop()
    assert bot.error is None, bot.error
    assert emulator.order_posts == 1, "the order was sent again"
    assert_books_agree(emulator, API_KEY, private_database, bot_id)


def test_an_incident_noted_while_the_database_is_down_is_recorded_after(
    private_cluster: PrivatePostgres, private_database: Engine
) -> None:
    """The feed failing (or fills missing) while the database is away: the thread that
    notes it waits for the server instead of dying of the outage."""
    registry = load_registry([PLUGINS])[0]
    config = add_bot_config(private_database, registry, "incident-outage")
    runner = BotRunner(config, registry, private_database, run_id="run-incident")
    runner.lease = acquire_lease(private_database, runner.bot_id, runner.run_id, "test", 60)
    errors: list[BaseException] = []

    def note() -> None:
        try:
            runner.note("data feed unhealthy: timeout; retrying with backoff")
        except BaseException as exc:  # noqa: BLE001 - inspected below
            errors.append(exc)

    private_cluster.stop()
    try:
        noting = threading.Thread(target=note, daemon=True)
        noting.start()
        noting.join(2)
    finally:
        private_cluster.start()
    noting.join(15)
    assert errors == [] and not noting.is_alive()
    reasons = [e.reason for e in status_events(private_database, runner.bot_id)]
    assert "data feed unhealthy: timeout; retrying with backoff" in reasons
