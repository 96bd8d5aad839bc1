"""Users through db/users.py (``ensure_user`` is idempotent), and a bot found by name or id,
then deleted."""

from tests.support.builders import add_bot
from trading_platform.db.bots import delete_bot, find_bot, get_bots
from trading_platform.db.users import ensure_user


def test_users_and_bot_lookup(db_engine) -> None:
    user_id = ensure_user(db_engine, "alice", email="a@example.invalid")
    assert ensure_user(db_engine, "alice") == user_id
    bot_id = add_bot(db_engine, "alpha", user_id=None)
    assert find_bot(db_engine, "alpha").id == bot_id
    assert find_bot(db_engine, str(bot_id)).name == "alpha"
    assert find_bot(db_engine, "nope") is None
    assert delete_bot(db_engine, bot_id)
    assert get_bots(db_engine) == []


def test_a_plain_sql_insert_makes_a_user(db_engine) -> None:
    """``created_at`` and ``is_admin`` take database defaults (migration 0008), so any SQL
    client can add a user with its name alone."""
    from sqlalchemy import text

    from trading_platform.db.users import list_users

    with db_engine.begin() as connection:
        connection.execute(text("INSERT INTO users (username) VALUES ('sql-user')"))
    (user,) = list_users(db_engine)
    assert user.username == "sql-user" and user.created_at is not None
    assert user.is_admin is False


def test_users_added_listed_and_changed(db_engine) -> None:
    import pytest

    from trading_platform.db.users import (
        UserExists,
        add_user,
        list_users,
        set_user,
        user_by_telegram_id,
    )

    alice = add_user(db_engine, "alice", email="a@example.test", telegram_user_id="1001")
    with pytest.raises(UserExists, match="username: 'alice' already exists"):
        add_user(db_engine, "alice")
    assert set_user(db_engine, alice, is_admin=True, email="")
    assert not set_user(db_engine, 999, is_admin=True)
    (user,) = list_users(db_engine)
    assert (user.is_admin, user.email, user.telegram_user_id) == (True, None, "1001")
    found = user_by_telegram_id(db_engine, 1001)
    assert found is not None and found.id == alice
    add_user(db_engine, "mallory", telegram_user_id="1001")  # two claim one id: nobody is it
    assert user_by_telegram_id(db_engine, "1001") is None
