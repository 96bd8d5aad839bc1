"""``credential_grants``: which user may trade with which credential set.

A bot's config names a credential set (``"credentials": "BINANCE_MAIN"``); the keys are in
the environment of every run worker, so without a rule any row could trade any account.
The rule: a bot may name a set only if its owner (``trading_bots.user_id``) holds a grant for
it; a bot with no owner may name none.  The sensor checks it before launching (one query per
tick, :func:`all_grants`), and the run checks it again before reading any key
(:func:`is_granted`), so a grant revoked between the two still stops the run.

Names are compared upper case: the environment variables are named so
(:func:`trading_platform.exchanges.credentials.variable`), and ``binance_main`` reads the
same keys as ``BINANCE_MAIN``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Engine, delete, select

from trading_platform.config import CREDENTIALS_PATTERN
from trading_platform.db.engine import session_scope
from trading_platform.db.models import CredentialGrant, User
from trading_platform.errors import ConfigError

#: every grant: user id -> the names of the sets granted to that user
Grants = Mapping[int, frozenset[str]]


@dataclass(frozen=True)
class Grant:
    user_id: int
    username: str
    name: str
    granted_at: dt.datetime
    granted_by: str | None


def canonical(name: str) -> str:
    """The stored form of a set's name; :class:`ValueError` for one that is not a name."""
    if not CREDENTIALS_PATTERN.match(name):
        raise ValueError(
            f"expected the NAME of a credential set (letters, digits, _), found {name!r}"
        )
    return name.upper()


def grant(engine: Engine, user_id: int, name: str, granted_by: str | None = None) -> bool:
    """Let ``user_id``'s bots use the set; False if it was granted already."""
    name = canonical(name)
    with session_scope(engine) as session:
        exists = session.scalar(
            select(CredentialGrant.id).where(
                CredentialGrant.user_id == user_id, CredentialGrant.name == name
            )
        )
        if exists is not None:
            return False
        session.add(CredentialGrant(user_id=user_id, name=name, granted_by=granted_by))
        return True


def revoke(engine: Engine, user_id: int, name: str) -> bool:
    """Take the grant back; False if there was none.  Running bots of the user that name the
    set are stopped by the sensor's next tick."""
    name = canonical(name)
    with session_scope(engine) as session:
        result = session.execute(
            delete(CredentialGrant).where(
                CredentialGrant.user_id == user_id, CredentialGrant.name == name
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def list_grants(engine: Engine, user_id: int | None = None) -> list[Grant]:
    """Every grant (or one user's), by user then set."""
    query = (
        select(
            CredentialGrant.user_id,
            User.username,
            CredentialGrant.name,
            CredentialGrant.granted_at,
            CredentialGrant.granted_by,
        )
        .join(User, User.id == CredentialGrant.user_id)
        .order_by(CredentialGrant.user_id, CredentialGrant.name)
    )
    if user_id is not None:
        query = query.where(CredentialGrant.user_id == user_id)
    with engine.connect() as connection:
        return [Grant(*row) for row in connection.execute(query).all()]


def all_grants(engine: Engine) -> Grants:
    """Every grant in one query: what a sensor tick checks every bot against."""
    grants: dict[int, set[str]] = {}
    with engine.connect() as connection:
        rows = connection.execute(select(CredentialGrant.user_id, CredentialGrant.name)).all()
    for user_id, name in rows:
        grants.setdefault(user_id, set()).add(name)
    return {user_id: frozenset(names) for user_id, names in grants.items()}


def is_granted(engine: Engine, user_id: int | None, name: str) -> bool:
    """Whether ``user_id`` may use the set (never for a bot with no owner)."""
    if user_id is None:
        return False
    with engine.connect() as connection:
        found = connection.execute(
            select(CredentialGrant.id).where(
                CredentialGrant.user_id == user_id, CredentialGrant.name == name.upper()
            )
        ).first()
    return found is not None


def not_granted(user_id: int | None, name: str) -> ConfigError:
    """The error of a bot whose config names a set its owner may not use."""
    if user_id is None:
        return ConfigError(
            "config.credentials",
            f"credential set {name!r} cannot be used by a bot with no owner (user_id is "
            "NULL); give the bot an owner, and an operator grants the owner the set with "
            f"`trading-platform credentials grant USER {name}`",
        )
    return ConfigError(
        "config.credentials",
        f"credential set {name!r} is not granted to user {user_id}; an operator grants it "
        f"with `trading-platform credentials grant {user_id} {name}`",
    )


def check_granted(grants: Grants, user_id: int | None, name: str | None) -> ConfigError | None:
    """The error for a bot naming ``name`` (None: it names no set) against ``grants``."""
    if name is None:
        return None
    if user_id is not None and name.upper() in grants.get(user_id, frozenset()):
        return None
    return not_granted(user_id, name)
