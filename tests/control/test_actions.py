"""The operator's actions (control/actions.py) on a real database: who may act on which
bot (own bots, admin, a stranger's bot reported like a missing one, ``all``), the audit row
each writes, the desired columns they change, and force exit's idempotency key."""

from __future__ import annotations

import pytest

from tests.support.builders import add_bot
from trading_platform.control import actions
from trading_platform.control.actions import ControlError
from trading_platform.control.operators import (
    Operator,
    cli_operator,
    operator_for_telegram,
)
from trading_platform.db import commands
from trading_platform.db.bots import get_bot
from trading_platform.db.engine import session_scope
from trading_platform.db.models import BotStatusEvent
from trading_platform.db.status import update_bot_status
from trading_platform.db.users import add_user


def _events(db_engine) -> list[tuple[int | None, str | None, str]]:  # type: ignore[no-untyped-def]
    with session_scope(db_engine) as session:
        rows = session.query(BotStatusEvent).order_by(BotStatusEvent.id).all()
        return [(row.bot_id, row.actor, row.reason) for row in rows if row.actor]


@pytest.fixture
def people(db_engine):  # type: ignore[no-untyped-def]
    """alice owns a1 and a2, bob owns b1; carol is an admin who owns nothing."""
    alice = add_user(db_engine, "alice", telegram_user_id="1001")
    bob = add_user(db_engine, "bob", telegram_user_id="1002")
    add_user(db_engine, "carol", telegram_user_id="1003", is_admin=True)
    bots = {
        "a1": add_bot(db_engine, "a1", user_id=alice),
        "a2": add_bot(db_engine, "a2", user_id=alice, enabled=False),
        "b1": add_bot(db_engine, "b1", user_id=bob),
    }
    return bots


def _telegram(db_engine, user_id: int) -> Operator:  # type: ignore[no-untyped-def]
    operator = operator_for_telegram(db_engine, user_id)
    assert operator is not None
    return operator


def test_operators_from_telegram_and_the_shell(db_engine, people) -> None:
    alice = _telegram(db_engine, 1001)
    assert (alice.username, alice.admin, alice.actor) == ("alice", False, "telegram:alice")
    assert _telegram(db_engine, 1003).admin
    assert operator_for_telegram(db_engine, 999) is None  # a stranger
    shell = cli_operator(db_engine)
    assert shell.admin and shell.user_id is None and shell.actor.startswith("cli:")
    as_bob = cli_operator(db_engine, "bob")
    assert not as_bob.admin and as_bob.actor.endswith(" as bob")
    with pytest.raises(ControlError, match="no user"):
        cli_operator(db_engine, "mallory")


def test_a_user_acts_on_their_own_bots_only_and_a_foreign_bot_looks_missing(
    db_engine, people
) -> None:
    alice = _telegram(db_engine, 1001)
    (result,) = actions.pause(db_engine, alice, "a1")
    assert result.ok and get_bot(db_engine, people["a1"]).paused
    with pytest.raises(ControlError) as foreign:
        actions.pause(db_engine, alice, "b1")
    with pytest.raises(ControlError) as missing:
        actions.pause(db_engine, alice, "zz")
    assert str(foreign.value) == "no bot 'b1'" and str(missing.value) == "no bot 'zz'"
    with pytest.raises(ControlError) as by_id:
        actions.pause(db_engine, alice, str(people["b1"]))
    assert str(by_id.value) == f"no bot '{people['b1']}'"
    assert not get_bot(db_engine, people["b1"]).paused

    results = actions.pause(db_engine, alice, "all")  # all of hers, none of bob's
    assert [(r.bot_name, r.ok, r.text) for r in results] == [
        ("a1", True, "already paused"),
        ("a2", True, "paused: no new entries, exits still allowed"),
    ]
    assert not get_bot(db_engine, people["b1"]).paused
    assert _events(db_engine) == [
        (people["a1"], "telegram:alice", "pause: paused: no new entries, exits still allowed"),
        (None, "telegram:alice", "pause 'b1': refused: no bot 'b1'"),
        (None, "telegram:alice", "pause 'zz': refused: no bot 'zz'"),
        (None, "telegram:alice", f"pause '{people['b1']}': refused: no bot '{people['b1']}'"),
        (people["a1"], "telegram:alice", "pause: already paused"),
        (people["a2"], "telegram:alice", "pause: paused: no new entries, exits still allowed"),
    ]


def test_an_admin_acts_on_every_bot(db_engine, people) -> None:
    carol = _telegram(db_engine, 1003)
    results = actions.stop(db_engine, carol, "all")
    assert [(r.bot_name, r.text.split(":")[0]) for r in results] == [
        ("a1", "disabled"),
        ("a2", "already stopped (disabled; status stopped)"),
        ("b1", "disabled"),
    ]
    assert not any(get_bot(db_engine, bot_id).enabled for bot_id in people.values())
    (started,) = actions.start(db_engine, carol, "b1")
    assert started.ok and get_bot(db_engine, people["b1"]).enabled
    audit = [(bot_id, reason) for bot_id, actor, reason in _events(db_engine)]
    assert audit[-1] == (people["b1"], "start: enabled: the platform starts it at its next tick")
    assert all(actor == "telegram:carol" for _, actor, _ in _events(db_engine))


def test_a_user_without_bots_and_a_name_two_users_share(db_engine, people) -> None:
    dave = Operator(add_user(db_engine, "dave"), "dave", False, "cli")
    with pytest.raises(ControlError, match="you have no bots"):
        actions.resume(db_engine, dave, "all")
    add_bot(db_engine, "a1", user_id=dave.user_id)  # names are unique per owner only
    admin = cli_operator(db_engine)
    with pytest.raises(ControlError, match="names bots .*: use the id"):
        actions.pause(db_engine, admin, "a1")
    (own,) = actions.pause(db_engine, dave, "a1")  # dave sees only his
    assert own.ok


def test_reload_counts_requests_and_changes_the_hash_only_once_asked(db_engine, people) -> None:
    admin = cli_operator(db_engine)
    row = get_bot(db_engine, people["a1"])
    assert "reload_requests" not in row.desired(), "an upgrade would restart every bot"
    (result,) = actions.reload(db_engine, admin, "a1")
    assert result.ok
    reloaded = get_bot(db_engine, people["a1"])
    assert reloaded.reload_requests == 1 and reloaded.desired()["reload_requests"] == 1
    (refused,) = actions.reload(db_engine, admin, "a2")
    assert not refused.ok and "disabled" in refused.text
    assert get_bot(db_engine, people["a2"]).reload_requests == 0
    # pause is not part of the hash: pausing never restarts a bot
    before = get_bot(db_engine, people["a1"]).desired()
    actions.pause(db_engine, admin, "a1")
    assert get_bot(db_engine, people["a1"]).desired() == before


def test_force_exit_needs_one_running_bot_and_keeps_one_command_per_key(db_engine, people) -> None:
    alice = _telegram(db_engine, 1001)
    with pytest.raises(ControlError, match="not 'all'"):
        actions.force_exit(db_engine, alice, "all")
    (stopped,) = actions.force_exit(db_engine, alice, "a1")
    assert not stopped.ok and "not running (status stopped)" in stopped.text
    assert commands.bot_commands(db_engine, people["a1"]) == []
    update_bot_status(db_engine, people["a1"], "running", "test: running")

    (first,) = actions.force_exit(
        db_engine, alice, "a1", idempotency_key="tg:5", reply_chat_id=1001
    )
    (second,) = actions.force_exit(db_engine, alice, "a1", idempotency_key="tg:5")
    assert first.ok and second.ok and first.command_id == second.command_id
    assert second.text == f"already requested as command {first.command_id} (pending)"
    (command,) = commands.bot_commands(db_engine, people["a1"])
    assert (command.requested_by, command.reply_chat_id, command.status) == (
        "telegram:alice",
        "1001",
        "pending",
    )
    bob = _telegram(db_engine, 1002)  # bob replaying alice's key learns nothing of her bot
    with pytest.raises(ControlError, match="already made"):
        actions.force_exit(db_engine, bob, "b1", idempotency_key="tg:5")
    with pytest.raises(ControlError, match="no bot 'a1'"):
        actions.force_exit(db_engine, bob, "a1")

    waited = actions.wait_for_command(db_engine, first.command_id or 0, 0.3)
    assert waited.status == "pending"  # nobody takes it here: still pending at the deadline
    reasons = [reason for bot_id, _, reason in _events(db_engine) if bot_id == people["a1"]]
    assert reasons == [
        "forceexit: refused: not running (status stopped): only a running bot can close its "
        "position",
        f"forceexit: force exit requested (command {first.command_id}): the bot closes its "
        "position at market",
        f"forceexit: already requested as command {first.command_id} (pending)",
    ]
