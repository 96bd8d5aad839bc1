"""Observed columns through db/status.py: status changes and their audit rows, conditional
changes, heartbeats with exact money, and the status of a bot whose config is malformed."""

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import event, text

from tests.support.builders import add_bot
from tests.support.concurrency import run_together
from trading_platform.db import make_engine
from trading_platform.db.bots import get_bot, get_bots
from trading_platform.db.status import (
    heartbeat,
    set_restart_count,
    status_events,
    update_bot_status,
)


def test_update_status_writes_an_audit_row(db_engine) -> None:
    bot_id = add_bot(db_engine, "b1")
    assert update_bot_status(db_engine, bot_id, "starting", "launched", run_id="r1")
    assert update_bot_status(db_engine, bot_id, "error", "crash", error="boom", run_id="r1")
    row = get_bot(db_engine, bot_id)
    assert row.status == "error" and row.last_error == "boom" and row.error_count == 1
    assert update_bot_status(db_engine, bot_id, "running", "ok", reset_errors=True)
    row = get_bot(db_engine, bot_id)
    assert row.error_count == 0 and row.last_error is None
    events = status_events(db_engine, bot_id)
    assert [(e.from_status, e.to_status, e.run_id) for e in events] == [
        ("stopped", "starting", "r1"),
        ("starting", "error", "r1"),
        ("error", "running", None),
    ]


def test_conditional_status_change(db_engine) -> None:
    bot_id = add_bot(db_engine, "b1")
    update_bot_status(db_engine, bot_id, "error", "bad config", error="x")
    assert not update_bot_status(
        db_engine, bot_id, "stopped", "run ended", only_from=("running", "stopping")
    )
    assert get_bot(db_engine, bot_id).status == "error"
    with pytest.raises(ValueError):
        update_bot_status(db_engine, bot_id, "sleeping", "?")


def test_heartbeat_sets_time_and_money_exactly(db_engine) -> None:
    bot_id = add_bot(db_engine, "b1")
    at = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    heartbeat(db_engine, bot_id, balance=10012.345678901234, total_pnl="12.3456789", at=at)
    with db_engine.connect() as connection:
        row = connection.execute(
            text("SELECT current_balance, total_pnl FROM trading_bots WHERE id = :id"),
            {"id": bot_id},
        ).one()
    assert Decimal(str(row.current_balance)) == Decimal("10012.345678901234")
    assert Decimal(str(row.total_pnl)) == Decimal("12.3456789")
    assert get_bot(db_engine, bot_id).last_heartbeat == at


def test_status_of_a_bot_with_malformed_config_can_be_recorded(db_engine) -> None:
    if db_engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's json type rejects malformed JSON on insert")
    with db_engine.begin() as connection:
        connection.execute(
            text("INSERT INTO trading_bots (name, enabled, config) VALUES ('bad', 1, '{oops')")
        )
    (row,) = get_bots(db_engine)
    assert update_bot_status(db_engine, row.id, "error", "invalid", error="config: x")
    assert get_bot(db_engine, row.id).last_error == "config: x"


def test_a_conditional_change_never_overwrites_a_status_written_after_its_read(
    db_engine, database_url
) -> None:
    """``only_from`` is checked by the ``UPDATE`` itself: a run that writes ``stopping``
    between the read and the write of a conditional change keeps its status.  PostgreSQL
    locks the row at the read (the other writer would wait), so the race is SQLite's."""
    if db_engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's SELECT ... FOR UPDATE already holds the row")
    bot_id = add_bot(db_engine, "b1")
    update_bot_status(db_engine, bot_id, "running", "trading")
    run = make_engine(database_url)
    raced = []

    def run_writes_after_the_read(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if not raced and statement.lstrip().upper().startswith("SELECT"):
            raced.append(True)
            update_bot_status(run, bot_id, "stopping", "run cancelled")

    event.listen(db_engine, "after_cursor_execute", run_writes_after_the_read)
    try:
        assert not update_bot_status(db_engine, bot_id, "stopped", "sensor", only_from=("running",))
    finally:
        event.remove(db_engine, "after_cursor_execute", run_writes_after_the_read)
        run.dispose()
    assert raced and get_bot(db_engine, bot_id).status == "stopping"
    assert [e.to_status for e in status_events(db_engine, bot_id)] == ["running", "stopping"]


def test_restart_count_is_written_without_touching_the_status(db_engine) -> None:
    bot_id = add_bot(db_engine, "b1")
    update_bot_status(db_engine, bot_id, "stopping", "run cancelled", restart_count=3)
    set_restart_count(db_engine, bot_id, 0, "config changed: restart count reset")
    row = get_bot(db_engine, bot_id)
    assert row.status == "stopping" and row.restart_count == 0
    last = status_events(db_engine, bot_id)[-1]
    assert (last.from_status, last.to_status) == ("stopping", "stopping")
    assert last.reason == "config changed: restart count reset"


TRANSITIONS = 8


def test_of_overlapping_identical_transitions_exactly_one_happens(db_engine, database_url) -> None:
    """Eight callers move the same bot ``running -> stopped`` at once, each with its own
    engine: one wins and one audit row is written, the others report that nothing happened.
    On SQLite every caller is held after its read until all have read (the read locks
    nothing there); on PostgreSQL the read locks the row, so they are lined up before it."""
    bot_id = add_bot(db_engine, "b1")
    update_bot_status(db_engine, bot_id, "running", "trading")
    sqlite = db_engine.dialect.name == "sqlite"

    def stop(engine) -> bool:  # type: ignore[no-untyped-def]
        return update_bot_status(engine, bot_id, "stopped", "sensor", only_from=("running",))

    won = run_together(
        database_url, TRANSITIONS, stop, statement_has="FROM trading_bots", after_read=sqlite
    )
    assert sorted(won) == [False] * (TRANSITIONS - 1) + [True]
    assert get_bot(db_engine, bot_id).status == "stopped"
    events = status_events(db_engine, bot_id)
    assert [(e.from_status, e.to_status) for e in events] == [
        ("stopped", "running"),
        ("running", "stopped"),
    ]
