"""The sensor's writes against a real bot database, with a run that writes its own status.

The sensor decides on the rows it read at the start of a tick; a run may write its status
between that read and the sensor's writes (a cancelled run records ``stopping`` at once).  The
sensor must never overwrite that newer status.
"""

from __future__ import annotations

import json
import uuid

import pytest
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus
from sqlalchemy import Engine, event, text

from tests.support.builders import add_bot
from tests.support.sensors import evaluate_bots_sensor
from trading_platform.db.bots import get_bot, get_bots
from trading_platform.db.grants import grant, revoke
from trading_platform.db.status import status_events, update_bot_status
from trading_platform.db.users import ensure_user
from trading_platform.orchestration import runs
from trading_platform.orchestration.reconcile import BotMemory, Launch, PlatformMemory
from trading_platform.orchestration.resources import PlatformSettings
from trading_platform.orchestration.sensors import (
    dump_cursor,
    load_cursor,
    validate_row,
)


@pytest.fixture
def instance(tmp_path):
    (tmp_path / "dh").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "dh")) as instance:
        yield instance


def _running_bot_after_restarts(db_engine, instance) -> tuple[int, str, str]:
    """A bot whose second run is running (one restart behind it); its id, the run's id and
    the sensor cursor that remembers launching it."""
    bot_id = add_bot(db_engine, "restarted")
    (row,) = get_bots(db_engine)
    config_hash, config = validate_row(row, PlatformSettings().registry())
    launch = Launch(bot_id, config, 2, f"bot-{bot_id}-k-2", True)
    run = instance.add_run(
        DagsterRun(
            job_name="bot_run",
            run_id=str(uuid.uuid4()),
            run_config=runs.run_config(launch),
            tags=runs.run_tags(launch),
            status=DagsterRunStatus.STARTED,
        )
    )
    update_bot_status(db_engine, bot_id, "starting", "launched", run_id=run.run_id)
    update_bot_status(db_engine, bot_id, "running", "trading", run_id=run.run_id, restart_count=1)
    memory = BotMemory(
        config_hash=config_hash, incarnation=2, launched_key=launch.run_key, failures=[1.0]
    )
    return bot_id, run.run_id, json.dumps({str(bot_id): memory.to_json()})


def _tick(database_url, instance, cursor: str) -> None:
    settings = PlatformSettings()
    evaluate_bots_sensor(instance, database_url, cursor=cursor, settings=settings)


@pytest.mark.parametrize("run_finishes_before_the_sensor_writes", [False, True])
def test_disabling_a_restarted_bot_never_moves_its_status_backwards(
    db_engine, database_url, instance, monkeypatch, run_finishes_before_the_sensor_writes
) -> None:
    """Observed: ``stopping -> running ("config changed: restart count reset") -> stopped``,
    or the row left ``running`` with no run until the next tick."""
    bot_id, run_id, cursor = _running_bot_after_restarts(db_engine, instance)
    with db_engine.begin() as connection:
        connection.execute(
            text("UPDATE trading_bots SET enabled = false WHERE id = :id"), {"id": bot_id}
        )

    def cancel_run(cancelled: str) -> None:
        """The run answers the cancel at once, as ``BotRunner`` does."""
        assert cancelled == run_id
        update_bot_status(db_engine, bot_id, "stopping", "run cancelled", run_id=run_id)
        if run_finishes_before_the_sensor_writes:
            update_bot_status(db_engine, bot_id, "stopped", "position saved", run_id=run_id)

    monkeypatch.setattr(instance.run_coordinator, "cancel_run", cancel_run)
    _tick(database_url, instance, cursor)
    if not run_finishes_before_the_sensor_writes:
        assert get_bot(db_engine, bot_id).status == "stopping"
        update_bot_status(db_engine, bot_id, "stopped", "position saved", run_id=run_id)

    row = get_bot(db_engine, bot_id)
    assert row.status == "stopped" and row.restart_count == 0
    moves = [e.to_status for e in status_events(db_engine, bot_id) if e.from_status != e.to_status]
    assert moves == ["starting", "running", "stopping", "stopped"]


def test_the_cursor_keeps_the_platform_memory_and_reads_an_older_cursor() -> None:
    """A cursor of the bots' map alone (before the platform had a memory) reads as one with
    no previous tick, so the first tick after an upgrade gives every run a stale limit."""
    legacy = json.dumps({"3": {"config_hash": "h", "incarnation": 2}})
    memory, platform = load_cursor(legacy)
    assert memory == {3: BotMemory(config_hash="h", incarnation=2)}
    assert platform == PlatformMemory()
    platform = PlatformMemory(last_tick=100.0, watching_since=50.0, outage_since=90.0)
    assert load_cursor(dump_cursor(memory, platform)) == (memory, platform)


def test_a_tick_remembers_when_it_completed(db_engine, database_url, instance) -> None:
    add_bot(db_engine, "idle", enabled=False)
    result = evaluate_bots_sensor(instance, database_url)
    _memory, platform = load_cursor(result.cursor)
    assert platform.last_tick is not None and platform.watching_since == platform.last_tick


# -- no row can stop the others ----------------------------------------------------------------
def _launched(result) -> list[int]:
    return sorted(int(request.tags["trading/bot_id"]) for request in result.run_requests)


def test_a_config_nested_too_deeply_marks_its_bot_error_and_the_tick_goes_on(
    db_engine, database_url, instance
) -> None:
    """JSON nested 5,000 deep (beyond Python's parser, within PostgreSQL's) raised
    RecursionError out of the tick: no bot could be started or stopped any more."""
    valid = add_bot(db_engine, "valid-beside-a-deep-one")
    deep = add_bot(db_engine, "deep")
    nested = '{"params": ' + "[" * 5_000 + "]" * 5_000 + "}"
    with db_engine.begin() as connection:
        connection.execute(
            text("UPDATE trading_bots SET config = :c WHERE id = :id"), {"c": nested, "id": deep}
        )
    result = evaluate_bots_sensor(instance, database_url)
    assert _launched(result) == [valid]
    row = get_bot(db_engine, deep)
    assert row.status == "error"
    assert row.last_error == "invalid config: config: nested more than 16 levels deep"


@pytest.mark.parametrize(
    ("column", "value", "error"),
    [
        (
            "config",
            '{"broker": {"cash": Infinity}}',
            "config.broker.cash: expected a finite number",
        ),
        ("config", '{"params": {"fast": NaN}}', "config.params.fast: expected a finite number"),
        (
            "config",
            '{"params": {"x": "' + "a" * 70_000 + '"}}',
            "config: is 70021 bytes; at most 65536",
        ),
        ("config", '{"max_restarts": 1' + "0" * 5_000 + "}", "config: unreadable JSON value"),
        ("config", '{"params": ' + '{"a": ' * 16 + "1" + "}" * 17, "nested more than 16 levels"),
        ("name", "x" * 101, "name: is 101 characters long; at most 100"),
        ("name", "evil\r\nBcc: all@example.com", "name: contains the control character U+000D"),
        ("strategy", "s" * 5_000, "strategy: is 5000 characters long; at most 100"),
    ],
)
def test_a_row_beyond_the_limits_is_an_error_naming_the_field(
    db_engine, database_url, instance, column, value, error
) -> None:
    """Each limit of trading_platform.config_limits: the bot is marked error with a message
    that names the field and the limit (a quoted value is cut short), its neighbour runs."""
    if not database_url.startswith("sqlite"):
        if "Infinity" in value or "NaN" in value:
            pytest.skip("PostgreSQL's json column refuses Infinity and NaN at insert time")
        if column == "strategy":
            pytest.skip("PostgreSQL's varchar(100) column refuses a longer strategy")
    valid = add_bot(db_engine, "valid-beside-an-oversized-one")
    bad = add_bot(db_engine, "oversized")
    with db_engine.begin() as connection:
        connection.execute(
            text(f"UPDATE trading_bots SET {column} = :v WHERE id = :id"), {"v": value, "id": bad}
        )
    result = evaluate_bots_sensor(instance, database_url)
    assert _launched(result) == [valid]
    row = get_bot(db_engine, bad)
    assert row.status == "error"
    assert error in row.last_error
    assert len(row.last_error) < 300


def test_enabled_written_as_text_is_an_error_never_enabled(
    db_engine, database_url, instance
) -> None:
    """SQLite keeps whatever a client writes: ``enabled = 'false'`` read as True, and a bot its
    owner meant to stop kept trading.  Migration 0007's CHECK now refuses such a write; the
    sensor's own rule stays (a database whose checks are off), so the test turns them off."""
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's boolean column refuses text that is not a boolean")
    valid = add_bot(db_engine, "valid-beside-a-text-flag")
    flagged = {word: add_bot(db_engine, f"flag-{word}") for word in ("false", "no", "2")}
    with db_engine.begin() as connection:
        connection.execute(text("PRAGMA ignore_check_constraints = ON"))
        for word, bot_id in flagged.items():
            connection.execute(
                text("UPDATE trading_bots SET enabled = :w WHERE id = :id"),
                {"w": word, "id": bot_id},
            )
        connection.execute(text("PRAGMA ignore_check_constraints = OFF"))
    result = evaluate_bots_sensor(instance, database_url)
    assert _launched(result) == [valid]
    for word, bot_id in flagged.items():
        row = get_bot(db_engine, bot_id)
        assert not row.enabled and row.status == "error"
        assert row.last_error.startswith("invalid config: enabled: expected a boolean")
        assert repr(word) in row.last_error


# -- credential grants -------------------------------------------------------------------------
LIVE_WITH_MAIN = {
    "mode": "live",
    "exchange": "binance",
    "config": {"params": {"fast": 5, "slow": 20}, "credentials": "MAIN"},
}


@pytest.fixture
def no_key_reads(monkeypatch):
    """The sensor decides on grants alone: reading a credential set's keys fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("the sensor read credential keys from the environment")

    # the venue's name first: patching it imports the venue module, which must bind the real
    # function, or the undo would "restore" the refusal for every later test in the process
    monkeypatch.setattr("trading_platform.exchanges.venue.load_credentials", refuse)
    monkeypatch.setattr("trading_platform.exchanges.credentials.load_credentials", refuse)


def test_a_bot_naming_a_set_its_owner_is_not_granted_is_an_error(
    db_engine, database_url, instance, no_key_reads
) -> None:
    """Any row could name any set: Bob's bot would trade Alice's account."""
    alice = ensure_user(db_engine, "alice")
    bob = ensure_user(db_engine, "bob")
    grant(db_engine, alice, "MAIN")
    alices = add_bot(db_engine, "alices", user_id=alice, **LIVE_WITH_MAIN)
    bobs = add_bot(db_engine, "bobs", user_id=bob, grant=False, **LIVE_WITH_MAIN)
    nobodys = add_bot(db_engine, "nobodys", **LIVE_WITH_MAIN)
    result = evaluate_bots_sensor(instance, database_url)
    assert _launched(result) == [alices]
    assert get_bot(db_engine, bobs).last_error == (
        f"invalid config: config.credentials: credential set 'MAIN' is not granted to user "
        f"{bob}; an operator grants it with `trading-platform credentials grant {bob} MAIN`"
    )
    orphan = get_bot(db_engine, nobodys)
    assert orphan.status == "error" and "no owner" in orphan.last_error


def test_a_grant_or_a_revoke_takes_effect_at_the_next_tick(
    db_engine, database_url, instance, no_key_reads
) -> None:
    bob = ensure_user(db_engine, "bob")
    bot_id = add_bot(db_engine, "bobs", user_id=bob, grant=False, **LIVE_WITH_MAIN)
    first = evaluate_bots_sensor(instance, database_url)
    assert _launched(first) == [] and get_bot(db_engine, bot_id).status == "error"
    grant(db_engine, bob, "MAIN")
    second = evaluate_bots_sensor(instance, database_url, cursor=first.cursor)
    assert _launched(second) == [bot_id]
    revoke(db_engine, bob, "MAIN")
    update_bot_status(db_engine, bot_id, "stopped", "its run ended")
    evaluate_bots_sensor(instance, database_url, cursor=second.cursor)
    row = get_bot(db_engine, bot_id)
    assert row.status == "error" and "is not granted to user" in row.last_error


def test_a_tick_reads_the_grants_in_one_query(db_engine, database_url, instance) -> None:
    for owner in ("a", "b", "c"):
        add_bot(db_engine, f"bot-{owner}", user=owner, **LIVE_WITH_MAIN)
    statements: list[str] = []

    def record(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        result = evaluate_bots_sensor(instance, database_url)
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    assert len(_launched(result)) == 3
    assert len([s for s in statements if "credential_grants" in s]) == 1


# -- operator control: reload ----------------------------------------------------------------
def test_a_reload_restarts_the_run_with_the_same_config_and_counts_no_failure(
    db_engine, database_url, instance, monkeypatch
) -> None:
    """``bots reload`` (control.actions.reload) raises ``reload_requests``, part of the
    config hash: the next tick cancels the run and launches one with the same config through
    the config-change path, counted as a reload, not as a failure or a restart."""
    from trading_platform.control import actions
    from trading_platform.control.operators import cli_operator

    bot_id = add_bot(db_engine, "reloaded")
    first = evaluate_bots_sensor(instance, database_url)
    (request,) = first.run_requests
    run = instance.add_run(
        DagsterRun(
            job_name="bot_run",
            run_id=str(uuid.uuid4()),
            run_config=request.run_config,
            tags=request.tags,
            status=DagsterRunStatus.STARTED,
        )
    )
    update_bot_status(db_engine, bot_id, "starting", "launched", run_id=run.run_id)
    update_bot_status(db_engine, bot_id, "running", "trading", run_id=run.run_id)
    cancelled: list[str] = []
    monkeypatch.setattr(instance.run_coordinator, "cancel_run", cancelled.append)
    unchanged = evaluate_bots_sensor(instance, database_url, cursor=first.cursor)
    assert unchanged.run_requests == [] and cancelled == []

    (result,) = actions.reload(db_engine, cli_operator(db_engine), "reloaded")
    assert result.ok
    second = evaluate_bots_sensor(instance, database_url, cursor=unchanged.cursor)
    assert cancelled == [run.run_id]
    (relaunch,) = second.run_requests
    old_config = request.run_config["ops"]["run_bot"]["config"]["snapshot"]
    new_config = relaunch.run_config["ops"]["run_bot"]["config"]["snapshot"]
    assert new_config.pop("config_hash") != old_config.pop("config_hash")
    assert new_config == old_config, "a reload must run the same config"
    assert relaunch.tags["trading/config_hash"] != request.tags["trading/config_hash"]
    assert int(relaunch.tags["trading/incarnation"]) == int(request.tags["trading/incarnation"]) + 1
    row = get_bot(db_engine, bot_id)
    assert row.restart_count == 0 and row.error_count == 0 and row.status == "running"
    memory, _ = load_cursor(second.cursor)
    assert memory[bot_id].failures == []
