"""``trading-platform users`` and the operator's bot commands (``pause``, ``resume``,
``reload``, ``forceexit``, ``enable``/``disable``) through the control package: the same
authorisation and audit as Telegram, one-line errors, tables within 80 columns."""

from __future__ import annotations

import threading

from tests.cli.checks import expect_error
from tests.support.builders import add_bot
from tests.support.waiting import wait_for
from trading_platform.db import commands
from trading_platform.db.bots import get_bot
from trading_platform.db.commands import CommandStatus
from trading_platform.db.status import status_events, update_bot_status
from trading_platform.db.users import find_user, list_users


def test_users_add_list_and_set(invoke, db_engine) -> None:
    added = invoke(
        "users", "add", "alice", "--email", "a@example.test", "--telegram-user-id", "1001"
    )
    assert added.exit_code == 0 and "added user 1 'alice'" in added.output
    assert "(admin)" in invoke("users", "add", "carol", "--admin").output
    expect_error(invoke("users", "add", "alice"), "username: 'alice' already exists")
    expect_error(invoke("users", "add", "eve", "--telegram-user-id", "@eve"), "telegram-user-id:")

    listed = invoke("users", "list")
    assert listed.exit_code == 0
    lines = listed.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert any("alice" in line and "1001" in line and " no " in line for line in lines)
    assert any("carol" in line and " yes " in line for line in lines)

    changed = invoke("users", "set", "alice", "--admin", "--telegram-user-id", "")
    assert changed.exit_code == 0 and "updated: telegram_user_id, is_admin" in changed.output
    alice = find_user(db_engine, "alice")
    assert alice is not None and alice.is_admin and alice.telegram_user_id is None
    expect_error(invoke("users", "set", "alice"), "nothing to change")
    expect_error(invoke("users", "set", "mallory", "--admin"), "user: no user", "mallory")
    assert [u.username for u in list_users(db_engine)] == ["alice", "carol"]
    assert '"is_admin": true' in invoke("users", "list", "--json").output


def test_pause_resume_and_reload_are_audited_with_the_shell_as_actor(invoke, db_engine) -> None:
    bot_id = add_bot(db_engine, "alpha")
    paused = invoke("bots", "pause", "alpha")
    assert paused.exit_code == 0, paused.output
    assert f"bot {bot_id} 'alpha': paused: no new entries" in paused.output
    assert get_bot(db_engine, bot_id).paused
    assert invoke("bots", "resume", str(bot_id)).exit_code == 0
    assert not get_bot(db_engine, bot_id).paused
    assert invoke("bots", "reload", "all").exit_code == 0
    assert get_bot(db_engine, bot_id).reload_requests == 1
    assert invoke("bots", "disable", "alpha").exit_code == 0
    reload_disabled = invoke("bots", "reload", "alpha")
    assert reload_disabled.exit_code == 1 and "refused: disabled" in reload_disabled.output
    events = [e for e in status_events(db_engine, bot_id) if e.actor]
    assert [e.reason.split(":")[0] for e in events] == [
        "pause",
        "resume",
        "reload",
        "stop",
        "reload",
    ]
    assert all(e.actor.startswith("cli:") for e in events)  # type: ignore[union-attr]
    expect_error(invoke("bots", "pause", "nope"), "no bot 'nope'")


def test_as_user_limits_the_shell_to_that_users_bots(invoke, db_engine) -> None:
    invoke("users", "add", "alice")
    invoke("users", "add", "bob")
    hers = add_bot(db_engine, "hers", user="alice")
    theirs = add_bot(db_engine, "his", user="bob")
    assert invoke("bots", "pause", "hers", "--as", "alice").exit_code == 0
    expect_error(invoke("bots", "pause", "his", "--as", "alice"), "no bot 'his'")
    expect_error(invoke("bots", "pause", "his", "--as", "mallory"), "user: no user")
    assert not get_bot(db_engine, theirs).paused
    (event,) = [e for e in status_events(db_engine, hers) if e.actor]
    assert event.actor is not None and event.actor.endswith(" as alice")


def test_forceexit_waits_for_the_bots_result_and_prints_it(invoke, db_engine) -> None:
    bot_id = add_bot(db_engine, "alpha")
    expect_error(invoke("bots", "forceexit", "all"), "not 'all'")
    refused = invoke("bots", "forceexit", "alpha", "--wait", "1")
    assert refused.exit_code == 1 and "not running (status stopped)" in refused.output
    update_bot_status(db_engine, bot_id, "running", "test: running")

    def bot_answers() -> None:
        """What the running bot does (engine/control.py): take the command, finish it."""
        (taken,) = wait_for(lambda: commands.claim(db_engine, bot_id, "run-1"), 10, "command")
        commands.finish(
            db_engine, taken.id, CommandStatus.DONE, "no open position", taken_by="run-1"
        )

    answering = threading.Thread(target=bot_answers)
    answering.start()
    done = invoke("bots", "forceexit", "alpha", "--wait", "20")
    answering.join(timeout=20)
    assert done.exit_code == 0, done.output
    assert "force exit requested (command 1)" in done.output
    assert "command 1 done: no open position" in done.output

    unanswered = invoke("bots", "forceexit", "alpha", "--wait", "0.5")
    assert unanswered.exit_code == 2 and "command 2 pending: no result yet" in unanswered.output
    table = invoke("bots", "commands", "alpha").output.splitlines()
    assert max(len(line) for line in table) <= 80
    assert any("no open position" in line for line in table)
