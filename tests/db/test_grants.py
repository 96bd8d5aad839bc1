"""``credential_grants`` through db/grants.py: names compared upper case, one query for the
sensor, a user's grants gone with the user."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from trading_platform.db.grants import (
    all_grants,
    check_granted,
    grant,
    is_granted,
    list_grants,
    revoke,
)
from trading_platform.db.users import ensure_user


def test_grant_revoke_and_lookups(db_engine) -> None:
    alice = ensure_user(db_engine, "alice")
    bob = ensure_user(db_engine, "bob")
    assert grant(db_engine, alice, "binance_main", granted_by="ops")
    assert not grant(db_engine, alice, "BINANCE_MAIN")
    assert is_granted(db_engine, alice, "Binance_Main")
    assert not is_granted(db_engine, bob, "BINANCE_MAIN")
    assert not is_granted(db_engine, None, "BINANCE_MAIN")
    (item,) = list_grants(db_engine)
    assert (item.user_id, item.username, item.name, item.granted_by) == (
        alice,
        "alice",
        "BINANCE_MAIN",
        "ops",
    )
    assert item.granted_at is not None
    assert all_grants(db_engine) == {alice: frozenset({"BINANCE_MAIN"})}
    assert revoke(db_engine, alice, "BINANCE_MAIN")
    assert not revoke(db_engine, alice, "BINANCE_MAIN")
    assert all_grants(db_engine) == {}
    with pytest.raises(ValueError, match="NAME of a credential set"):
        grant(db_engine, alice, "not a name")


def test_check_granted_names_the_user_and_the_command() -> None:
    grants = {7: frozenset({"MAIN"})}
    assert check_granted(grants, 7, None) is None
    assert check_granted(grants, 7, "main") is None
    error = check_granted(grants, 8, "MAIN")
    assert error is not None and error.field == "config.credentials"
    assert error.problem == (
        "credential set 'MAIN' is not granted to user 8; an operator grants it with "
        "`trading-platform credentials grant 8 MAIN`"
    )
    orphan = check_granted(grants, None, "MAIN")
    assert orphan is not None and "no owner" in orphan.problem


def test_deleting_a_user_deletes_their_grants(db_engine, database_url) -> None:
    alice = ensure_user(db_engine, "alice")
    grant(db_engine, alice, "MAIN")
    with db_engine.begin() as connection:
        connection.execute(text("DELETE FROM users WHERE id = :id"), {"id": alice})
    assert all_grants(db_engine) == {}
