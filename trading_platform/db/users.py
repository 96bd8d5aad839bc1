"""``users``: the owners of bots and where their notifications go."""

from __future__ import annotations

from typing import Any

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


class UserExists(ValueError):
    """A username is unique."""


def add_user(
    engine: Engine,
    username: str,
    *,
    email: str | None = None,
    telegram_user_id: str | None = None,
    is_admin: bool = False,
) -> int:
    """A new user; :class:`UserExists` if the name is taken."""
    with session_scope(engine) as session:
        if session.scalar(select(User.id).where(User.username == username)) is not None:
            raise UserExists(f"username: {username!r} already exists")
        user = User(
            username=username, email=email, telegram_user_id=telegram_user_id, is_admin=is_admin
        )
        session.add(user)
        session.flush()
        return user.id


def list_users(engine: Engine) -> list[User]:
    with session_scope(engine) as session:
        users = list(session.scalars(select(User).order_by(User.id)))
        session.expunge_all()
        return users


def set_user(engine: Engine, user_id: int, **values: Any) -> bool:
    """Change ``email``, ``telegram_user_id`` or ``is_admin`` (None: leave as is; an empty
    string clears the e-mail or chat id); False if the user does not exist."""
    allowed = {"email", "telegram_user_id", "is_admin"}
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ValueError(f"not a user column: {', '.join(unknown)}")
    changes = {
        key: (None if value == "" else value) for key, value in values.items() if value is not None
    }
    with session_scope(engine) as session:
        user = session.get(User, user_id)
        if user is None:
            return False
        for key, value in changes.items():
            setattr(user, key, value)
        return True


def user_by_telegram_id(engine: Engine, telegram_user_id: int | str) -> User | None:
    """The user whose ``telegram_user_id`` is this Telegram user (or chat) id; None when
    nobody is, or (never expected) when two users claim it: a command is never run as a
    guess between two people."""
    with session_scope(engine) as session:
        users = list(
            session.scalars(
                select(User).where(User.telegram_user_id == str(telegram_user_id).strip())
            )
        )
        if len(users) != 1:
            return None
        session.expunge(users[0])
        return users[0]
