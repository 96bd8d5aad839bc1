"""``users``: the owners of bots and where their notifications go."""

from __future__ import annotations

from sqlalchemy import Engine, select

from trading_platform.db.engine import session_scope
from trading_platform.db.models import User


def ensure_user(
    engine: Engine, username: str, email: str | None = None, telegram_user_id: str | None = None
) -> int:
    """The id of ``username``, creating the user if needed."""
    with session_scope(engine) as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            user = User(username=username, email=email, telegram_user_id=telegram_user_id)
            session.add(user)
            session.flush()
        return user.id


def find_user(engine: Engine, name_or_id: str) -> User | None:
    """A user by id (digits) or by username, as bots are addressed in the CLI."""
    with session_scope(engine) as session:
        if name_or_id.isdigit():
            user = session.get(User, int(name_or_id))
        else:
            user = session.scalar(select(User).where(User.username == name_or_id))
        if user is not None:
            session.expunge(user)
        return user
