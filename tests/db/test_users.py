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
