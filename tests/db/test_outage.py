"""Which errors mean "the database is away" (waited for) and which are raised at once."""

from __future__ import annotations

import sqlite3
import threading

import psycopg2
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError, OperationalError

from tests.support.private_postgres import PrivatePostgres
from trading_platform.db.orders import (
    DuplicateClientOrderId,
    write_ahead_order,
    write_ahead_order_waiting,
)
from trading_platform.db.outage import unreachable, until_reachable


def _wrapped(orig: Exception, cls: type = OperationalError, invalidated: bool = False):  # type: ignore[no-untyped-def]
    return cls("SELECT 1", {}, orig, connection_invalidated=invalidated)


class _PgError(psycopg2.OperationalError):
    """A server's answer with a SQLSTATE (psycopg2's ``pgcode`` is read-only)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code

    @property
    def pgcode(self) -> str:  # type: ignore[override]
        return self.code


def test_a_server_that_cannot_be_reached_is_unreachable() -> None:
    assert unreachable(_wrapped(psycopg2.OperationalError("connection refused")))
    assert unreachable(_wrapped(psycopg2.OperationalError("x"), invalidated=True))
    assert unreachable(_wrapped(_PgError("57P01")))  # terminating: administrator command
    assert unreachable(_wrapped(_PgError("57P03")))  # the database system is starting up
    assert unreachable(_wrapped(_PgError("08006")))


def test_a_refused_statement_or_sqlite_is_not() -> None:
    assert not unreachable(_wrapped(_PgError("57014")))  # statement timeout
    assert not unreachable(_wrapped(psycopg2.IntegrityError("dup"), IntegrityError))
    assert not unreachable(_wrapped(sqlite3.OperationalError("database is locked")))
    assert not unreachable(RuntimeError("no"))


def test_until_reachable_retries_an_outage_only_and_gives_up_after_its_patience() -> None:
    failures = [_wrapped(psycopg2.OperationalError("refused"))] * 3
    waits: list[float] = []

    def write() -> str:
        if failures:
            raise failures.pop()
        return "written"

    assert until_reachable(write, "w", sleep=waits.append) == "written"
    assert waits == [0.5, 1.0, 2.0]

    def refused() -> None:
        raise _wrapped(_PgError("57014"))

    with pytest.raises(OperationalError):
        until_reachable(refused, "w", sleep=waits.append)
    assert len(waits) == 3  # not retried

    def down() -> None:
        raise _wrapped(psycopg2.OperationalError("refused"))

    with pytest.raises(OperationalError):
        until_reachable(down, "w", patience=0.0, sleep=lambda _s: None)


def _order(client_order_id: str, run_id: str) -> dict[str, object]:
    return {
        "bot_id": 1,
        "run_id": run_id,
        "client_order_id": client_order_id,
        "symbol": "BTC/USDT",
        "side": "buy",
        "type": "market",
        "amount": "0.01",
        "status": "submitting",
    }


def test_a_write_ahead_whose_commit_answer_was_lost_takes_its_own_row(
    private_database: Engine,
) -> None:
    """The first attempt committed, then the connection died before the answer: the retry
    finds the run's own id and takes that row; another run's id is still a duplicate."""
    committed = write_ahead_order(private_database, None, **_order("tp-1-1-1", "run-a"))
    calls = 0

    def lost_answer_then_retry(session) -> None:  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 1:
            raise _wrapped(psycopg2.OperationalError("server closed the connection"))

    row = write_ahead_order_waiting(
        private_database, lost_answer_then_retry, "w", **_order("tp-1-1-1", "run-a")
    )
    assert row == committed and calls == 2
    with pytest.raises(DuplicateClientOrderId):
        write_ahead_order_waiting(private_database, None, "w", **_order("tp-1-1-1", "run-b"))


def test_a_write_made_during_an_outage_lands_once_the_server_is_back(
    private_cluster: PrivatePostgres, private_database: Engine
) -> None:
    with private_database.connect() as connection:
        connection.execute(text("SELECT 1"))  # a pooled connection the restart will break
    with private_cluster.outage(2):
        pass
    with private_database.begin() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS probe (n int)"))

    def write() -> int:
        with private_database.begin() as connection:
            connection.execute(text("INSERT INTO probe VALUES (1)"))
            return int(connection.execute(text("SELECT count(*) FROM probe")).scalar_one())

    private_cluster.stop()
    try:
        result: list[int] = []
        writer = threading.Thread(target=lambda: result.append(until_reachable(write, "probe")))
        writer.start()
        writer.join(2)
        assert writer.is_alive(), "the write did not wait for the server"
    finally:
        private_cluster.start()
    writer.join(15)
    assert result == [1]


def test_a_machine_without_postgresql_binaries_skips_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from tests.support import private_postgres as module

    monkeypatch.setattr(module, "BIN", tmp_path)
    assert "initdb is missing" in (module.missing_reason() or "")
    with pytest.raises(pytest.skip.Exception, match="PostgreSQL 15 binaries not found"):
        module.require_private_postgres()
