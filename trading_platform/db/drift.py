"""``trading_bots.drift``: the durable marker of a live bot whose books drifted from the exchange.

A running live bot writes it when its periodic reconciliation finds its position or open
orders differing from the exchange's (:mod:`trading_platform.exchanges.drift`), and opens no
new position while it is set.  It lives in the database, not in the bot's memory, so the
operator sees it (``bots show``, ``bot_health``) and clears it (``bots ack-drift``); the
running bot notices the cleared marker at its next reconciliation.  A restart clears it too:
recovery takes the exchange as the truth.
"""

from __future__ import annotations

from sqlalchemy import Engine, select, update

from trading_platform.db.engine import session_scope
from trading_platform.db.models import BotStatusEvent, TradingBot
from trading_platform.db.orders import Fence
from trading_platform.db.types import utcnow


def record_drift(engine: Engine, bot_id: int, what: str, fence: Fence | None = None) -> str:
    """Set the marker to ``what``, stamped with the time; returns the marker.  ``fence`` (the
    run's lease check) runs first in the same transaction: a replaced run writes nothing."""
    marker = f"{utcnow():%Y-%m-%d %H:%M:%S} UTC: {what}"
    with session_scope(engine) as session:
        if fence is not None:
            fence(session)
        session.execute(update(TradingBot).where(TradingBot.id == bot_id).values(drift=marker))
    return marker


def drift_of(engine: Engine, bot_id: int) -> str | None:
    """The bot's marker, None when it has none (or the bot is gone)."""
    with engine.connect() as connection:
        return connection.execute(
            select(TradingBot.drift).where(TradingBot.id == bot_id)
        ).scalar_one_or_none()


def clear_drift(
    engine: Engine,
    bot_id: int,
    *,
    reason: str | None = None,
    run_id: str | None = None,
    fence: Fence | None = None,
) -> str | None:
    """Clear the marker; returns the one cleared (None if there was none).  With ``reason``,
    a cleared marker leaves an audit row in ``bot_status_events`` that keeps the status."""
    with session_scope(engine) as session:
        if fence is not None:
            fence(session)
        row = session.execute(
            select(TradingBot.drift, TradingBot.status)
            .where(TradingBot.id == bot_id)
            .with_for_update()
        ).one_or_none()
        if row is None or row.drift is None:
            return None
        cleared = session.execute(
            update(TradingBot)
            .where(TradingBot.id == bot_id, TradingBot.drift == row.drift)
            .values(drift=None)
        )
        if not cleared.rowcount:  # type: ignore[attr-defined]
            return None  # the bot wrote a newer marker meanwhile: that one needs its own ack
        if reason is not None:
            session.add(
                BotStatusEvent(
                    bot_id=bot_id,
                    from_status=row.status,
                    to_status=row.status,
                    reason=f"{reason}: {row.drift}",
                    run_id=run_id,
                    at=utcnow(),
                )
            )
        return str(row.drift)
