"""The bot database: models, engine factory, migrations and service functions."""

from trading_platform.db.engine import database_url, make_engine, session_scope
from trading_platform.db.models import (
    Base,
    BotStatusEvent,
    MetricSnapshot,
    Notification,
    TradingBot,
    TradingOrder,
    TradingPosition,
    TradingTrade,
    User,
)

__all__ = [
    "Base",
    "BotStatusEvent",
    "MetricSnapshot",
    "Notification",
    "TradingBot",
    "TradingOrder",
    "TradingPosition",
    "TradingTrade",
    "User",
    "database_url",
    "make_engine",
    "session_scope",
]
