"""The one place a notification's text is formatted.

Amounts keep four decimals and prices two, with thousands separators: rounding is for
display only, the database keeps the exact values.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

MODE_LABELS = {"paper": "Paper Trading", "live": "Live Trading", "backtest": "Backtest"}

HIGH = "HIGH"
CRITICAL = "CRITICAL"
NORMAL = "NORMAL"


@dataclass(frozen=True)
class Message:
    type: str
    priority: str
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
    return Message("TRADE_ENTRY", HIGH, text)


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
    return Message("TRADE_EXIT", HIGH, text)


def bot_error(bot_name: str, kind: str, detail: str) -> Message:
    """``[Bot Name] START_ERROR: ...``; ``kind`` is e.g. START_ERROR, RUN_ERROR."""
    return Message("ERROR", CRITICAL, f"[{bot_name}] {kind}: {detail}")


def bot_restarted(bot_name: str, detail: str) -> Message:
    return Message("BOT_RESTARTED", HIGH, f"[{bot_name}] RESTARTED: {detail}")


def restarts_exhausted(bot_name: str, detail: str) -> Message:
    return Message("RESTARTS_EXHAUSTED", CRITICAL, f"[{bot_name}] RESTARTS_EXHAUSTED: {detail}")


def invalid_config(bot_name: str, detail: str) -> Message:
    return Message("INVALID_CONFIG", CRITICAL, f"[{bot_name}] INVALID_CONFIG: {detail}")


def bot_unhealthy(bot_name: str, detail: str) -> Message:
    return Message("BOT_UNHEALTHY", CRITICAL, f"[{bot_name}] UNHEALTHY: {detail}")


def data_feed_failure(bot_name: str, detail: str) -> Message:
    return Message("DATA_FEED_FAILURE", CRITICAL, f"[{bot_name}] DATA_FEED_FAILURE: {detail}")
