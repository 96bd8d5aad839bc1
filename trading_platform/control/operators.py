"""Who is acting: an :class:`Operator`, from a Telegram user id or the local shell.

A user flagged ``users.is_admin`` may act on every bot; any other user only on the bots they
own (``trading_bots.user_id``).  The local shell (the CLI) is the platform's operator and
acts as an admin, unless ``--as USER`` asks it to act as (and be limited like) that user.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass

from sqlalchemy import Engine

from trading_platform.db.users import find_user, user_by_telegram_id


class ControlError(Exception):
    """An operator's request that cannot be carried out; the message is fit to send back to
    the operator as it is (it never tells a bot they may not see from one that does not
    exist)."""


@dataclass(frozen=True)
class Operator:
    """Someone acting on bots: ``user_id`` None for the local shell, ``via`` ``cli`` or
    ``telegram``; ``login`` is the shell's login when it acts as another user (``--as``)."""

    user_id: int | None
    username: str
    admin: bool
    via: str
    login: str | None = None

    @property
    def actor(self) -> str:
        """Who, as ``bot_status_events.actor`` and ``bot_commands.requested_by`` say it:
        ``telegram:alice``, ``cli:root``, ``cli:root as alice``."""
        if self.login is not None and self.login != self.username:
            return f"{self.via}:{self.login} as {self.username}"
        return f"{self.via}:{self.username}"

    def may_act_on(self, owner_id: int | None) -> bool:
        return self.admin or (self.user_id is not None and owner_id == self.user_id)


def operator_for_telegram(database: Engine, telegram_user_id: int | str) -> Operator | None:
    """The user whose ``users.telegram_user_id`` is this Telegram user; None for a stranger
    (or an id two users claim: never a guess between two people)."""
    user = user_by_telegram_id(database, telegram_user_id)
    if user is None:
        return None
    return Operator(user.id, user.username, bool(user.is_admin), "telegram")


def cli_operator(database: Engine, as_user: str | None = None) -> Operator:
    """The local shell: an admin named by its login, or, with ``as_user`` (an id or a
    username), that user with that user's rights."""
    login = _login()
    if as_user is None:
        return Operator(None, login, True, "cli")
    user = find_user(database, as_user)
    if user is None:
        raise ControlError(f"user: no user with id or name {as_user!r}")
    return Operator(user.id, user.username, bool(user.is_admin), "cli", login=login)


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in a bare container
        return "unknown"
