"""The words the platform shares with its users, their dashboards and its own processes.

Statuses, modes and notification types are values in the database contract (``design.md``)
that operators filter on with SQL; run tags are what the Dagster UI filters run history by.
Each is named once, here, and imported everywhere else: a typo is then an ``AttributeError``
at import time instead of a bot that silently never matches.  The enums are ``StrEnum``, so a
member *is* its string (``BotStatus.RUNNING == "running"``) and goes into SQL and JSON as is.
"""

from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    """``trading_bots.mode``: historical bars, live bars with a simulated broker, or real
    orders."""

    BACKTEST = "backtest"
    PAPER = "paper"
    LIVE = "live"


class BotStatus(StrEnum):
    """``trading_bots.status``: the observed state, written by the platform only."""

    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    ERROR = "error"
    COMPLETED = "completed"


class OrderStatus(StrEnum):
    """``trading_orders.status``: ccxt's words for an order at the exchange, plus three of the
    platform's own: ``submitting`` (written ahead, not yet answered), ``unknown`` (the
    answer was lost and the order could not be looked up yet) and ``settling`` (the exchange
    ended it, but the fills recorded do not add up to its ``filled`` yet)."""

    SUBMITTING = "submitting"
    UNKNOWN = "unknown"
    SETTLING = "settling"
    OPEN = "open"
    CLOSED = "closed"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"


#: orders whose outcome may still change at the exchange: resolved on a live bot's restart
UNRESOLVED_ORDER_STATUSES = (
    OrderStatus.SUBMITTING,
    OrderStatus.OPEN,
    OrderStatus.UNKNOWN,
    OrderStatus.SETTLING,
)
#: orders the exchange will not change any more
FINAL_ORDER_STATUSES = (
    OrderStatus.CLOSED,
    OrderStatus.CANCELED,
    OrderStatus.REJECTED,
    OrderStatus.EXPIRED,
)


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class NotificationType(StrEnum):
    """``notifications.type``: what happened."""

    TRADE_ENTRY = "TRADE_ENTRY"
    TRADE_EXIT = "TRADE_EXIT"
    ERROR = "ERROR"
    BOT_RESTARTED = "BOT_RESTARTED"
    RESTARTS_EXHAUSTED = "RESTARTS_EXHAUSTED"
    INVALID_CONFIG = "INVALID_CONFIG"
    BOT_UNHEALTHY = "BOT_UNHEALTHY"
    BOT_STOPPED = "BOT_STOPPED"
    DATA_FEED_FAILURE = "DATA_FEED_FAILURE"


class ErrorKind(StrEnum):
    """The word after the bot's name in an ``ERROR`` notification (``[bot] RUN_ERROR: ...``)."""

    START_ERROR = "START_ERROR"
    RUN_ERROR = "RUN_ERROR"
    RECONCILED = "RECONCILED"
    #: an order's fills do not add up to what the exchange filled
    FILLS_MISSING = "FILLS_MISSING"
    #: while running, the recorded position or open orders differ from the exchange's
    DRIFT = "DRIFT"


class Priority(StrEnum):
    """``notifications.priority``; the dispatcher sends the more urgent first."""

    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    NORMAL = "NORMAL"
    LOW = "LOW"


class NotificationStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class Channel(StrEnum):
    TELEGRAM = "telegram"
    EMAIL = "email"


#: exchanges served by the platform itself (generated or file data), not by ccxt
OFFLINE_EXCHANGES = ("replay", "csv")


class RunTag(StrEnum):
    """Tags on every ``bot_run`` run: the UI filters run history by them, the sensor finds a
    bot's runs by them, and the run queue allows one active run per ``trading/bot_id``."""

    MANAGED = "trading/managed"
    BOT_ID = "trading/bot_id"
    BOT_NAME = "trading/bot_name"
    CONFIG_HASH = "trading/config_hash"
    STRATEGY = "trading/strategy"
    MODE = "trading/mode"
    INCARNATION = "trading/incarnation"
    #: set on a run that failed in a way a restart cannot fix (rejected credentials)
    FATAL = "trading/fatal"
