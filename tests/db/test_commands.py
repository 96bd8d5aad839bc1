"""``bot_commands`` (db/commands.py): enqueue with an idempotency key, the claim's
compare-and-set under concurrent claimers, expiry of commands nobody took, and finishing
only by the run that took a command."""

from __future__ import annotations

import datetime as dt
import itertools

from sqlalchemy import Engine

from tests.support.builders import add_bot
from tests.support.concurrency import run_together
from trading_platform.db import commands
from trading_platform.db.commands import CommandStatus
from trading_platform.db.status import status_events
from trading_platform.db.types import utcnow

CLAIMERS = 4
COMMANDS = 6


def test_an_idempotency_key_makes_one_command(db_engine) -> None:
    bot_id = add_bot(db_engine, "alpha")
    first, created = commands.enqueue(
        db_engine, bot_id, "forceexit", "telegram:alice", idempotency_key="tg:7", reply_chat_id="42"
    )
    again, created_again = commands.enqueue(
        db_engine, bot_id, "forceexit", "telegram:alice", idempotency_key="tg:7"
    )
    assert created and not created_again and again == first
    assert (first.status, first.requested_by, first.reply_chat_id) == (
        "pending",
        "telegram:alice",
        "42",
    )
    other, created_other = commands.enqueue(db_engine, bot_id, "forceexit", "cli:root")
    assert created_other and other.id != first.id
    assert [c.id for c in commands.bot_commands(db_engine, bot_id)] == [first.id, other.id]


def test_concurrent_enqueues_under_one_key_make_one_row(database_url, db_engine) -> None:
    bot_id = add_bot(db_engine, "alpha")

    def enqueue(engine: Engine) -> tuple[int, bool]:
        row, created = commands.enqueue(
            engine, bot_id, "forceexit", "telegram:alice", idempotency_key="tg:99"
        )
        return row.id, created

    results = run_together(
        database_url, CLAIMERS, enqueue, statement_has="FROM bot_commands", after_read=True
    )
    assert len({command_id for command_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert len(commands.bot_commands(db_engine, bot_id)) == 1


def test_two_runs_claiming_at_once_never_both_take_a_command(database_url, db_engine) -> None:
    bot_id = add_bot(db_engine, "alpha")
    ids = [
        commands.enqueue(db_engine, bot_id, "forceexit", "cli:root")[0].id for _ in range(COMMANDS)
    ]
    counter = itertools.count()

    def claim(engine: Engine) -> tuple[str, list[int]]:
        run_id = f"run-{next(counter)}"
        return run_id, [c.id for c in commands.claim(engine, bot_id, run_id)]

    # every claimer is held right after reading the pending commands, so all of them try
    # to take every command
    taken = run_together(
        database_url,
        CLAIMERS,
        claim,
        statement_has="ORDER BY bot_commands.id",
        after_read=True,
    )
    flat = [command_id for _, claimed in taken for command_id in claimed]
    assert sorted(flat) == ids, f"a command was taken twice or not at all: {taken}"
    takers = {command_id: run_id for run_id, claimed in taken for command_id in claimed}
    for command_id in ids:  # each row names its one taker
        row = commands.get_command(db_engine, command_id)
        assert row is not None and (row.status, row.run_id) == ("taken", takers[command_id])


def test_a_command_nobody_took_expires_and_is_never_claimed(db_engine) -> None:
    bot_id = add_bot(db_engine, "alpha")
    old, _ = commands.enqueue(db_engine, bot_id, "forceexit", "cli:root")
    fresh, _ = commands.enqueue(db_engine, bot_id, "forceexit", "cli:root")
    later = utcnow() + dt.timedelta(seconds=commands.COMMAND_TTL_SECONDS + 1)
    assert commands.expire_stale(db_engine, bot_id=bot_id, now=later) == [old.id, fresh.id]
    assert commands.claim(db_engine, bot_id, "run-late") == []
    expired = commands.get_command(db_engine, old.id)
    assert expired is not None and expired.status == "expired" and expired.final
    assert expired.result is not None and "nothing was done" in expired.result
    assert commands.expire_stale(db_engine, bot_id=bot_id) == []  # young ones stay pending
    young, _ = commands.enqueue(db_engine, bot_id, "forceexit", "cli:root")
    assert commands.expire_stale(db_engine, bot_id=bot_id) == []
    assert [c.id for c in commands.claim(db_engine, bot_id, "run-1")] == [young.id]


def test_only_the_run_that_took_a_command_finishes_it_with_an_audit_row(db_engine) -> None:
    bot_id = add_bot(db_engine, "alpha")
    command, _ = commands.enqueue(db_engine, bot_id, "forceexit", "telegram:alice")
    (taken,) = commands.claim(db_engine, bot_id, "run-1")
    assert not commands.finish(
        db_engine, taken.id, CommandStatus.DONE, "closed", taken_by="run-2"
    ), "a run finished a command another run took"
    assert commands.finish(
        db_engine, taken.id, CommandStatus.DONE, "no open position", taken_by="run-1"
    )
    assert not commands.finish(
        db_engine, taken.id, CommandStatus.FAILED, "late", taken_by="run-1"
    ), "a finished command was finished again"
    done = commands.get_command(db_engine, command.id)
    assert done is not None and (done.status, done.result) == ("done", "no open position")
    (event,) = status_events(db_engine, bot_id)
    assert (event.actor, event.run_id, event.from_status, event.to_status) == (
        "telegram:alice",
        "run-1",
        "stopped",
        "stopped",
    )
    assert event.reason == f"forceexit command {command.id} done: no open position"
    assert commands.mark_answered(db_engine, command.id)
    assert not commands.mark_answered(db_engine, command.id)
