"""Stand-in for wt-ops' ``control/operators.py`` (replaced at merge): who is acting."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select

from trading_platform.db.engine import session_scope
from trading_platform.db.models import User


@dataclass(frozen=True)
class Operator:
    user_id: int | None
    username: str
    admin: bool
    via: str

    @property
    def actor(self) -> str:
        return f"{self.via}:{self.username}"


def operator_for_telegram(database: Engine, telegram_user_id: int | str) -> Operator | None:
    with session_scope(database) as session:
        user = session.scalars(
            select(User).where(User.telegram_user_id == str(telegram_user_id)).order_by(User.id)
        ).first()
        if user is None:
            return None
        return Operator(user.id, user.username, bool(user.is_admin), "telegram")
