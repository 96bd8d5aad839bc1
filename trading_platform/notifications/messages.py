"""The one place a notification's text is formatted.

Amounts keep four decimals and prices two, with thousands separators: rounding is for
display only, the database keeps the exact values.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from trading_platform.contract import Mode, NotificationType, Priority

MODE_LABELS: dict[str, str] = {
    Mode.PAPER: "Paper Trading",
    Mode.LIVE: "Live Trading",
    Mode.BACKTEST: "Backtest",
}


@dataclass(frozen=True)
class Message:
    type: NotificationType
    priority: Priority
    text: str


def _amount(value: float | Decimal) -> str:
    return f"{float(value):,.4f}"


def _price(value: float | Decimal) -> str:
    return f"{float(value):,.2f}"


def trade_entry(
    bot_name: str,
    side: str,
    amount: float | Decimal,
    symbol: str,
    price: float | Decimal,
    mode: str,
) -> Message:
    """``[Bot Name] BUY 0.0100 BTC/USDT @ 45,000.50 (Paper Trading)``"""
    text = (
        f"[{bot_name}] {side.upper()} {_amount(amount)} {symbol} @ {_price(price)} "
        f"({MODE_LABELS.get(mode, mode)})"
    )
    return Message(NotificationType.TRADE_ENTRY, Priority.HIGH, text)


def trade_exit(
    bot_name: str,
    side: str,
    amount: float | Decimal,
    symbol: str,
    price: float | Decimal,
    pnl: float | Decimal,
    entry_price: float | Decimal,
    mode: str,
) -> Message:
    """``[Bot Name] SELL 0.0100 BTC/USDT @ 47,200.30 (P&L: 220.00 / +4.89%) (Paper Trading)``

    The percentage is the price move from entry to exit, as traders quote it.
    """
    entry = float(entry_price)
    percent = (float(price) / entry - 1) * 100 if entry > 0 else 0.0
    text = (
        f"[{bot_name}] {side.upper()} {_amount(amount)} {symbol} @ {_price(price)} "
        f"(P&L: {float(pnl):,.2f} / {percent:+.2f}%) ({MODE_LABELS.get(mode, mode)})"
    )
    return Message(NotificationType.TRADE_EXIT, Priority.HIGH, text)


def bot_error(bot_name: str, kind: str, detail: str) -> Message:
    """``[Bot Name] START_ERROR: ...``; ``kind`` is a ``contract.ErrorKind``."""
    return Message(NotificationType.ERROR, Priority.CRITICAL, f"[{bot_name}] {kind}: {detail}")


def bot_restarted(bot_name: str, detail: str) -> Message:
    return Message(
        NotificationType.BOT_RESTARTED, Priority.HIGH, f"[{bot_name}] RESTARTED: {detail}"
    )


def restarts_exhausted(bot_name: str, detail: str) -> Message:
    return Message(
        NotificationType.RESTARTS_EXHAUSTED,
        Priority.CRITICAL,
        f"[{bot_name}] RESTARTS_EXHAUSTED: {detail}",
    )


def invalid_config(bot_name: str, detail: str) -> Message:
    return Message(
        NotificationType.INVALID_CONFIG, Priority.CRITICAL, f"[{bot_name}] INVALID_CONFIG: {detail}"
    )


def bot_unhealthy(bot_name: str, detail: str) -> Message:
    return Message(
        NotificationType.BOT_UNHEALTHY, Priority.CRITICAL, f"[{bot_name}] UNHEALTHY: {detail}"
    )


def data_feed_failure(bot_name: str, detail: str) -> Message:
    return Message(
        NotificationType.DATA_FEED_FAILURE,
        Priority.CRITICAL,
        f"[{bot_name}] DATA_FEED_FAILURE: {detail}",
    )


def bot_stopped(bot_name: str, detail: str) -> Message:
    """``[Bot Name] STOPPED: run 1a2b3c4d cancelled``: the bot's run was cancelled."""
    return Message(NotificationType.BOT_STOPPED, Priority.NORMAL, f"[{bot_name}] STOPPED: {detail}")
