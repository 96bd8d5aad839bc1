"""``trading-platform credentials``: grant, revoke and list, a user named by id or name, and
a one-line error for an unknown user or a set name that is not a name."""

from __future__ import annotations

from tests.cli.checks import expect_error
from trading_platform.db.grants import all_grants
from trading_platform.db.users import ensure_user


def test_grant_list_and_revoke_by_name_and_by_id(invoke, db_engine) -> None:
    alice = ensure_user(db_engine, "alice")
    bob = ensure_user(db_engine, "bob")
    result = invoke("credentials", "grant", "alice", "binance_main", "--by", "ops")
    assert result.exit_code == 0, result.output
    assert f"granted BINANCE_MAIN to user {alice} 'alice'" in result.output
    assert invoke("credentials", "grant", str(bob), "KRAKEN").exit_code == 0
    again = invoke("credentials", "grant", str(alice), "BINANCE_MAIN")
    assert again.exit_code == 0 and "already holds BINANCE_MAIN" in again.output
    assert all_grants(db_engine) == {alice: {"BINANCE_MAIN"}, bob: {"KRAKEN"}}

    listed = invoke("credentials", "list").output.splitlines()
    assert [line.split("\t")[:3] for line in listed] == [
        [str(alice), "alice", "BINANCE_MAIN"],
        [str(bob), "bob", "KRAKEN"],
    ]
    assert listed[0].split("\t")[4] == "ops"
    (line,) = invoke("credentials", "list", "bob").output.splitlines()
    assert line.startswith(f"{bob}\tbob\tKRAKEN\t")

    revoked = invoke("credentials", "revoke", "alice", "BINANCE_MAIN")
    assert revoked.exit_code == 0 and "revoked BINANCE_MAIN" in revoked.output
    assert "did not hold" in invoke("credentials", "revoke", "alice", "BINANCE_MAIN").output
    assert all_grants(db_engine) == {bob: {"KRAKEN"}}
    assert invoke("credentials", "list", "alice").output.strip() == "no credential grants"


def test_unknown_user_and_bad_set_name_are_one_line_errors(invoke, db_engine) -> None:
    ensure_user(db_engine, "alice")
    expect_error(invoke("credentials", "grant", "mallory", "MAIN"), "user: no user", "mallory")
    expect_error(invoke("credentials", "grant", "999", "MAIN"), "user: no user", "'999'")
    expect_error(invoke("credentials", "list", "mallory"), "user: no user")
    expect_error(invoke("credentials", "grant", "alice", "sk-123 456"), "credential set:", "NAME")
    assert all_grants(db_engine) == {}
