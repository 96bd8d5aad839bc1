"""The demo a new user sees: a demo user, paper bots on replayed data and a backtest bot.

Everything is generated (no download): replay bots trade the deterministic demo series, and
``write_demo_files`` puts a CSV under ``TRADING_HOME/demo`` for the CLI backtest example.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from trading_platform.db.bots import add_bot
from trading_platform.db.engine import session_scope, trading_home
from trading_platform.db.models import TradingBot
from trading_platform.db.users import ensure_user
from trading_platform.feeds.demo_data import write_demo_csv

DEMO_USER = "demo"

DEMO_BOTS: list[dict[str, Any]] = [
    {
        "name": "Demo SMA Cross (paper)",
        "strategy": "sma_cross",
        "mode": "paper",
        "exchange": "replay",
        "symbol": "BTC/USDT",
        "timeframe": "1m",
        "config": {
            "params": {"fast": 5, "slow": 20},
            "data": {"pace_seconds": 1.0, "history_bars": 50, "seed": 11},
            "broker": {"cash": 10000.0, "commission": 0.001},
            "heartbeat_interval": 10,
        },
    },
    {
        "name": "Demo RSI (paper)",
        "strategy": "rsi_mean_reversion",
        "mode": "paper",
        "exchange": "replay",
        "symbol": "ETH/USDT",
        "timeframe": "1m",
        "config": {
            "params": {"period": 7, "oversold": 35, "overbought": 65},
            "data": {"pace_seconds": 1.0, "history_bars": 50, "seed": 23, "start_price": 2000.0},
            "broker": {"cash": 10000.0, "commission": 0.001},
            "heartbeat_interval": 10,
        },
    },
    {
        "name": "Demo Bollinger (backtest)",
        "strategy": "bollinger_breakout",
        "mode": "backtest",
        "exchange": "replay",
        "symbol": "BTC/USDT",
        "timeframe": "1d",
        "config": {
            "params": {"period": 20, "devfactor": 2.0},
            "data": {"bars": 1500, "seed": 7},
            "broker": {"cash": 10000.0, "commission": 0.001},
        },
    },
]


def seed_demo(engine: Engine) -> list[str]:
    """Create the demo user and whichever demo bots do not exist yet; returns their names."""
    user_id = ensure_user(engine, DEMO_USER, email="demo@example.invalid")
    with session_scope(engine) as session:
        existing = set(
            session.scalars(select(TradingBot.name).where(TradingBot.user_id == user_id))
        )
    created = []
    for bot in DEMO_BOTS:
        if bot["name"] in existing:
            continue
        add_bot(engine, user_id=user_id, enabled=True, **bot)
        created.append(bot["name"])
    return created


def write_demo_files(directory: Path | None = None) -> Path:
    """The demo daily series as a CSV (what the README's backtest example reads)."""
    directory = directory or trading_home() / "demo"
    return write_demo_csv(directory / "BTC-USDT-1d.csv", bars=1500)
