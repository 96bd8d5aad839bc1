"""Small builders shared by the tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from trading_platform.db import bots
from trading_platform.db.users import ensure_user

PAPER_BOT: dict[str, Any] = {
    "enabled": True,
    "strategy": "sma_cross",
    "mode": "paper",
    "exchange": "replay",
    "symbol": "BTC/USDT",
    "timeframe": "1m",
    "config": {"params": {"fast": 5, "slow": 20}},
}


def add_bot(engine: Engine, name: str, *, user: str | None = None, **desired: Any) -> int:
    """A paper bot on the replay exchange, with ``desired`` columns overriding the defaults;
    ``user`` names an owner (created if missing)."""
    user_id = desired.pop("user_id", None)
    if user is not None:
        user_id = ensure_user(engine, user)
    return bots.add_bot(engine, name=name, user_id=user_id, **{**PAPER_BOT, **desired})
