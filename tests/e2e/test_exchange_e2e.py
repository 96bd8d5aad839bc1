"""Bots on an exchange through the real Dagster processes and the real ccxt client.

The Binance-compatible emulator runs in this test process on 127.0.0.1; the daemon, code
server and run workers reach it through ``TRADING_EXCHANGE_URL_BINANCE``.  Each live test
trades on its own account (credential set), so its books can be compared with the exchange's.
Bots trade one-second candles.  The faults test needs 100 of them, so it trades on a second
emulator, served as ``binanceus`` (the same API), from the start of the module: its bot runs
beside the other tests and is checked at the end.  Each test runs on SQLite, and on PostgreSQL
(bot database and Dagster storage) when ``TRADING_TEST_POSTGRES_URL`` is set.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from tests.e2e.conftest import BACKENDS, _platform
from tests.e2e.harness import Platform
from tests.support.books import assert_books_agree
from tests.support.builders import FLIP_FLOP_BOT, FLIP_FLOP_CONFIG
from tests.support.exchange_emulator import Emulator, exchange_env, served_emulator
from trading_platform.db.engine import session_scope
from trading_platform.db.models import Notification
from trading_platform.db.orders import bot_orders
from trading_platform.db.positions import get_position
from trading_platform.db.status import status_events
from trading_platform.db.trades import bot_trades
from trading_platform.db.users import ensure_user

pytestmark = pytest.mark.e2e

START_TIMEOUT = 90
ACCOUNTS = {
    "ROUNDTRIP": ("rt-key-0001", "rt-secret-0001"),
    "CRASH": ("crash-key-0002", "crash-secret-0002"),
    "FAULTS": ("faults-key-0003", "faults-secret-0003"),  # on the faulty emulator
    "WRONG": ("wrong-key-0004", "not-the-secret-0004"),
}


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """SQLite, and PostgreSQL (bot database and Dagster storage) when configured; each backend
    gets its own emulators, so every account's history belongs to one platform."""
    return request.param


@pytest.fixture(scope="module")
def emulator(backend: str) -> Iterator[Emulator]:
    accounts = {
        key: "the-real-secret" if name == "WRONG" else secret
        for name, (key, secret) in ACCOUNTS.items()
        if name != "FAULTS"
    }
    with served_emulator(accounts) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def faulty(backend: str) -> Iterator[Emulator]:
    """The exchange that fails a fifth of all requests (timeouts, 429, 5xx) once its bot runs."""
    with served_emulator(dict([ACCOUNTS["FAULTS"]])) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def platform(
    request: pytest.FixtureRequest,
    tmp_path_factory,
    backend: str,
    emulator: Emulator,
    faulty: Emulator,
) -> Iterator[Platform]:
    env = exchange_env({"binance": emulator.url, "binanceus": faulty.url}, ACCOUNTS)
    yield from _platform(request, tmp_path_factory, backend, **env)


@pytest.fixture(scope="module")
def owner(platform: Platform) -> int:
    return ensure_user(platform.engine, "e2e-trader", email="trader@example.test")


def _bot(
    platform: Platform,
    owner: int,
    name: str,
    *,
    mode: str = "live",
    exchange: str = "binance",
    **config,
) -> int:
    return platform.insert_bot(
        name,
        user_id=owner,
        **{**FLIP_FLOP_BOT, "exchange": exchange},
        mode=mode,
        config={**FLIP_FLOP_CONFIG, "heartbeat_interval": 2, **config},
    )


@dataclass
class FaultyRun:
    bot_id: int
    run_id: str
    first_candle: int


@pytest.fixture(scope="module", autouse=True)
def faulty_run(platform: Platform, faulty: Emulator, owner: int) -> Iterator[FaultyRun]:
    """Starts the faults test's bot before the first test of the module."""
    bot_id = _bot(
        platform,
        owner,
        "e2e-faults",
        exchange="binanceus",
        credentials="FAULTS",
        params={"hold": 1},
    )
    platform.wait_for(lambda: _running(platform, bot_id), START_TIMEOUT, "the faulty bot running")
    platform.keep_running.add(bot_id)
    (run,) = platform.active_runs(bot_id)
    faulty.fault_rate = 0.2
    try:
        yield FaultyRun(bot_id, run.run_id, len(faulty.candles))
    finally:
        faulty.fault_rate = 0.0


def _running(platform: Platform, bot_id: int) -> bool:
    return platform.bot(bot_id).status == "running"


def _stop(platform: Platform, bot_id: int) -> None:
    platform.sql("UPDATE trading_bots SET enabled = false WHERE id = :id", id=bot_id)
    platform.wait_for(lambda: platform.bot(bot_id).status == "stopped", 60, "bot stopped")
    platform.wait_for(lambda: not platform.active_runs(bot_id), 60, "run finished")


def test_live_bot_buys_and_sells_and_the_books_agree(
    platform: Platform, emulator: Emulator, owner: int
) -> None:
    key = ACCOUNTS["ROUNDTRIP"][0]
    bot_id = _bot(platform, owner, "e2e-live", credentials="ROUNDTRIP")
    platform.wait_for(lambda: _running(platform, bot_id), START_TIMEOUT, "bot running")
    platform.wait_for(lambda: len(emulator.accounts[key].trades) >= 4, 60, "two round trips")
    _stop(platform, bot_id)
    assert_books_agree(emulator, key, platform.engine, bot_id)
    trades = bot_trades(platform.engine, bot_id)
    assert {t.side for t in trades} == {"buy", "sell"}
    assert all(t.exit_logic == "flop" for t in trades if t.side == "sell")


def test_kill_9_while_an_order_answer_is_lost_sends_one_order(
    platform: Platform, emulator: Emulator, owner: int
) -> None:
    key = ACCOUNTS["CRASH"][0]
    bot_id = _bot(platform, owner, "e2e-crash", credentials="CRASH", params={"hold": 100_000})
    platform.wait_for(lambda: _running(platform, bot_id), START_TIMEOUT, "bot running")
    # the next order executes, its answer is lost, and the exchange goes dark at once
    posts = emulator.order_posts
    emulator.order_faults.append("lost")
    emulator.on_lost_answer = lambda: setattr(emulator, "reachable", False)
    platform.wait_for(
        lambda: [o.status for o in bot_orders(platform.engine, bot_id)] == ["unknown"],
        60,
        "the order left unknown",
    )
    (run,) = platform.active_runs(bot_id)
    pid = platform.wait_for(lambda: platform.run_worker_pid(run.run_id), 10, "run worker pid")
    os.kill(pid, signal.SIGKILL)
    emulator.on_lost_answer = None
    emulator.reachable = True

    def relaunched():
        runs = [r for r in platform.active_runs(bot_id) if r.run_id != run.run_id]
        return runs[0] if runs and _running(platform, bot_id) else None

    new = platform.wait_for(relaunched, 120, "relaunch after kill -9")
    assert int(new.tags["trading/incarnation"]) == int(run.tags["trading/incarnation"]) + 1
    assert emulator.order_posts == posts + 1, "the exchange received a second order"
    (order,) = bot_orders(platform.engine, bot_id)
    assert order.status == "closed"
    position = get_position(platform.engine, bot_id, "BTC/USDT")
    assert position.size == emulator.accounts[key].balances["BTC"] > 0
    _stop(platform, bot_id)
    assert_books_agree(emulator, key, platform.engine, bot_id)
    reasons = [e.reason for e in status_events(platform.engine, bot_id)]
    assert any("recorded after the restart" in reason for reason in reasons)


def test_paper_bot_stopped_and_started_continues_with_position_and_cash(
    platform: Platform, emulator: Emulator, owner: int
) -> None:
    bot_id = _bot(platform, owner, "e2e-paper-ccxt", mode="paper", params={"hold": 100_000})
    platform.wait_for(lambda: bot_trades(platform.engine, bot_id), START_TIMEOUT, "paper buy")
    _stop(platform, bot_id)
    saved = get_position(platform.engine, bot_id, "BTC/USDT")
    assert saved.size == Decimal("0.01") and saved.cash < Decimal(10_000)
    platform.sql("UPDATE trading_bots SET enabled = true WHERE id = :id", id=bot_id)
    platform.wait_for(lambda: _running(platform, bot_id), START_TIMEOUT, "bot running again")
    first_beat = platform.bot(bot_id).last_heartbeat
    platform.wait_for(lambda: platform.bot(bot_id).last_heartbeat != first_beat, 30, "a heartbeat")
    _stop(platform, bot_id)
    assert len(bot_trades(platform.engine, bot_id)) == 1  # held: no second buy
    again = get_position(platform.engine, bot_id, "BTC/USDT")
    assert again.size == saved.size and again.cash == saved.cash


def test_wrong_credentials_error_once_without_a_retry_storm(
    platform: Platform, emulator: Emulator, owner: int
) -> None:
    key = ACCOUNTS["WRONG"][0]
    bot_id = _bot(platform, owner, "e2e-wrong-key", credentials="WRONG")
    row = platform.wait_for(
        lambda: (b := platform.bot(bot_id)).status == "error" and b, START_TIMEOUT, "error"
    )
    assert "credential set 'WRONG'" in row.last_error and "rejected" in row.last_error
    platform.wait_for_sensor_ticks(4)
    assert len(platform.runs(bot_id)) == 1
    assert platform.bot(bot_id).status == "error"
    rejected = [r for r in emulator.rejected_keys if r == key]
    assert len(rejected) == 1, f"{len(rejected)} requests with the rejected key"


def test_exchange_unreachable_for_a_while(
    platform: Platform, emulator: Emulator, owner: int
) -> None:
    bot_id = _bot(platform, owner, "e2e-outage", mode="paper", params={"hold": 100_000})
    platform.wait_for(lambda: _running(platform, bot_id), START_TIMEOUT, "bot running")
    (run,) = platform.active_runs(bot_id)
    emulator.reachable = False
    try:
        platform.wait_for(
            lambda: any(
                "data feed unhealthy" in e.reason for e in status_events(platform.engine, bot_id)
            ),
            60,
            "the outage noticed",
        )
    finally:
        emulator.reachable = True
    platform.wait_for(
        lambda: any(
            "data feed recovered" in e.reason for e in status_events(platform.engine, bot_id)
        ),
        60,
        "the feed recovered",
    )
    assert [r.run_id for r in platform.active_runs(bot_id)] == [run.run_id]  # survived
    with session_scope(platform.engine) as session:
        kinds = [
            n.type
            for n in session.scalars(select(Notification).where(Notification.bot_id == bot_id))
        ]
    assert kinds.count("DATA_FEED_FAILURE") == 1
    _stop(platform, bot_id)


def test_faults_at_a_fifth_of_requests_over_100_bars(
    platform: Platform, faulty: Emulator, faulty_run: FaultyRun
) -> None:
    key = ACCOUNTS["FAULTS"][0]
    bot_id = faulty_run.bot_id
    platform.wait_for(
        lambda: len(faulty.candles) - faulty_run.first_candle >= 102, 240, "100 bars", 2
    )
    faulty.fault_rate = 0.0
    assert [r.run_id for r in platform.active_runs(bot_id)] == [faulty_run.run_id]  # stayed up
    assert _running(platform, bot_id)
    _stop(platform, bot_id)
    assert len(faulty.accounts[key].orders) >= 10
    assert_books_agree(faulty, key, platform.engine, bot_id)


def _read_if_there(path: Path) -> str | None:
    """A SQLite ``-wal``/``-journal`` file listed a moment ago may be gone by now (its pages
    checkpointed into the database file, which is read too)."""
    try:
        return path.read_bytes().decode(errors="replace")
    except FileNotFoundError:
        return None


def test_no_key_or_secret_anywhere_the_platform_wrote(platform: Platform) -> None:
    """The bot database, Dagster's storage (run config, tags, event logs), compute logs and
    the daemon's log: every file under the platform's home, and on PostgreSQL every row of
    both databases, is searched for every key and secret."""
    secrets = [value for pair in ACCOUNTS.values() for value in pair]
    files = [path for path in platform.home.rglob("*") if path.is_file()]
    assert any("compute_logs" in str(path) for path in files)
    places = {str(path): text for path in files if (text := _read_if_there(path)) is not None}
    engines = [platform.engine]
    if platform.dagster_postgres:
        dagster_url = platform.engine.url.set(database=platform.dagster_postgres["DAGSTER_PG_DB"])
        engines.append(create_engine(dagster_url))
    else:
        assert any(path.name == "trading.db" for path in files)
        engines = []  # SQLite: the databases are files, searched above
    for engine in engines:
        places.update(_every_row_as_text(engine))
    for engine in engines[1:]:
        engine.dispose()
    leaks = [(place, s) for place, text in places.items() for s in secrets if s in text]
    assert leaks == []


def _every_row_as_text(engine) -> dict[str, str]:
    with engine.connect() as connection:
        tables = connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ).scalars()
        return {
            f"{engine.url.database}.{table}": "\n".join(
                connection.execute(text(f'SELECT t::text FROM "{table}" t')).scalars()
            )
            for table in list(tables)
        }
