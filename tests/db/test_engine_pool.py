"""How many PostgreSQL connections a process keeps open: one per process, whatever its
threads did (issue 13's soak: 50 bots keeping two each exhausted PostgreSQL's default 100)."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import POSTGRES_URL
from tests.support.waiting import wait_for
from trading_platform.db import make_engine

pytestmark = pytest.mark.skipif(
    POSTGRES_URL is None, reason="needs TRADING_TEST_POSTGRES_URL (a PostgreSQL server)"
)


def test_two_threads_leave_one_connection_open() -> None:
    """The bot and its heartbeat each hold a connection at the same moment (the worst case);
    once both returned theirs, the process keeps one open, not two."""
    assert POSTGRES_URL is not None
    name = f"pool-{uuid.uuid4().hex[:12]}"
    separator = "&" if "?" in POSTGRES_URL else "?"
    engine = make_engine(f"{POSTGRES_URL}{separator}application_name={name}")
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    both_connected = threading.Barrier(2, timeout=30)
    errors: list[BaseException] = []

    def use() -> None:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
                both_connected.wait()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    def open_connections() -> int:
        with admin.connect() as connection:
            return int(
                connection.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :n"),
                    {"n": name},
                ).scalar_one()
            )

    try:
        threads = [threading.Thread(target=use) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors, errors
        # a closed connection's server process may take a moment to leave pg_stat_activity
        wait_for(lambda: open_connections() == 1, 10, "one connection left open")
    finally:
        engine.dispose()
        admin.dispose()
