"""What has each bot earned?  Snapshots recomputed from the database every time.

A snapshot never builds on the previous one, so a missed schedule tick loses nothing.  The
work is done by three aggregate queries (per-bot trade totals, per-bot daily realized P&L,
open positions) whatever the number of trades, then the ``metrics`` functions.

Definitions (long-only spot bots, one fill per row of ``trading_trades``):
- a closed trade is a sell fill; its P&L is the fill's ``pnl`` (before fees), which is what
  the win rate and profit factor count;
- realized P&L = Σ pnl of sells − Σ fees of all fills (fees are paid, so they are realized);
- balance = the cash recorded with the position; equity = the running bot's last reported
  value (``current_balance``) or, without one, cash + size × average price;
- unrealized P&L = equity − cash − size × average price;
- max drawdown and Sharpe are computed on the realized equity curve
  (starting cash + cumulative daily realized P&L), on daily returns.

On PostgreSQL the sums are exact NUMERIC; SQLite keeps decimals as text and sums them in
floating point, so its snapshot figures are exact to about 15 significant digits.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import Engine, Float, Text, case, cast, func, insert, select

from trading_platform.config import starting_cash_of
from trading_platform.contract import Side
from trading_platform.db.models import MetricSnapshot, TradingBot, TradingPosition, TradingTrade
from trading_platform.metrics.performance import (
    ZERO_VOLATILITY,
    max_drawdown,
    sharpe_ratio,
)


@dataclass(frozen=True)
class BotPerformance:
    bot_id: int
    user_id: int | None
    name: str
    balance: float
    equity: float
    realized_pnl: float
    unrealized_pnl: float
    trade_count: int
    win_rate: float | None
    profit_factor: float | None
    max_drawdown: float
    sharpe: float | None
    open_position: bool


def _day(engine: Engine) -> Any:
    if engine.dialect.name == "sqlite":
        return func.date(TradingTrade.executed_at)
    return func.date_trunc("day", TradingTrade.executed_at)


def compute(engine: Engine, periods_per_year: int = 365) -> list[BotPerformance]:
    pnl = cast(TradingTrade.pnl, Float)
    fee = func.coalesce(cast(TradingTrade.fee, Float), 0.0)
    is_sell = TradingTrade.side == Side.SELL
    totals_query = select(
        TradingTrade.bot_id,
        func.sum(case((is_sell, 1), else_=0)).label("trades"),
        func.sum(case((is_sell & (pnl > 0), 1), else_=0)).label("wins"),
        func.sum(case((is_sell & (pnl > 0), pnl), else_=0.0)).label("gross_profit"),
        func.sum(case((is_sell & (pnl < 0), -pnl), else_=0.0)).label("gross_loss"),
        func.sum(case((is_sell, func.coalesce(pnl, 0.0)), else_=0.0)).label("pnl"),
        func.sum(fee).label("fees"),
    ).group_by(TradingTrade.bot_id)
    day = _day(engine).label("day")
    daily_query = (
        select(
            TradingTrade.bot_id,
            day,
            func.sum(case((is_sell, func.coalesce(pnl, 0.0)), else_=0.0) - fee).label("pnl"),
        )
        .group_by(TradingTrade.bot_id, day)
        .order_by(TradingTrade.bot_id, day)
    )
    positions_query = select(
        TradingPosition.bot_id,
        cast(TradingPosition.size, Float).label("size"),
        cast(TradingPosition.avg_price, Float).label("avg_price"),
        cast(TradingPosition.cash, Float).label("cash"),
    )
    bots_query = select(
        TradingBot.id,
        TradingBot.user_id,
        TradingBot.name,
        cast(TradingBot.config, Text).label("config_text"),
        cast(TradingBot.current_balance, Float).label("current_balance"),
    ).order_by(TradingBot.id)

    with engine.connect() as connection:
        bots = connection.execute(bots_query).all()
        totals = {row.bot_id: row for row in connection.execute(totals_query)}
        daily: dict[int, list[float]] = defaultdict(list)
        for row in connection.execute(daily_query):
            daily[row.bot_id].append(float(row.pnl or 0.0))
        positions = {row.bot_id: row for row in connection.execute(positions_query)}

    results = []
    for bot in bots:
        initial = starting_cash_of(bot.config_text)
        total = totals.get(bot.id)
        position = positions.get(bot.id)
        trades = int(total.trades or 0) if total else 0
        realized = float((total.pnl or 0.0) - (total.fees or 0.0)) if total else 0.0
        size = float(position.size or 0.0) if position else 0.0
        avg_price = float(position.avg_price or 0.0) if position else 0.0
        cash = (
            float(position.cash) if position and position.cash is not None else initial + realized
        )
        cost = size * avg_price
        equity = float(bot.current_balance) if bot.current_balance is not None else cash + cost
        curve = initial + np.concatenate([[0.0], np.cumsum(daily.get(bot.id, []))])
        returns = np.diff(curve) / np.where(np.abs(curve[:-1]) > ZERO_VOLATILITY, curve[:-1], 1.0)
        gross_loss = float(total.gross_loss or 0.0) if total else 0.0
        gross_profit = float(total.gross_profit or 0.0) if total else 0.0
        if trades == 0:
            factor = None
        elif gross_loss > 0:
            factor = gross_profit / gross_loss
        else:
            factor = float("inf") if gross_profit > 0 else None
        results.append(
            BotPerformance(
                bot_id=bot.id,
                user_id=bot.user_id,
                name=bot.name,
                balance=cash,
                equity=equity,
                realized_pnl=realized,
                unrealized_pnl=equity - cash - cost,
                trade_count=trades,
                win_rate=(int(total.wins or 0) / trades) if total and trades else None,
                profit_factor=factor,
                max_drawdown=max_drawdown(curve).relative,
                sharpe=sharpe_ratio(returns, periods_per_year),
                open_position=size > 0,
            )
        )
    return results


def write_snapshots(engine: Engine, rows: list[BotPerformance], at: dt.datetime) -> int:
    """One ``metric_snapshots`` row per bot, in one statement."""
    if not rows:
        return 0
    values = [
        {
            "bot_id": row.bot_id,
            "at": at,
            "balance": Decimal(repr(row.balance)),
            "equity": Decimal(repr(row.equity)),
            "realized_pnl": Decimal(repr(row.realized_pnl)),
            "unrealized_pnl": Decimal(repr(row.unrealized_pnl)),
            "trade_count": row.trade_count,
            "win_rate": row.win_rate,
            "profit_factor": None
            if row.profit_factor in (None, float("inf"))
            else row.profit_factor,
            "max_drawdown": row.max_drawdown,
            "sharpe": row.sharpe,
        }
        for row in rows
    ]
    with engine.begin() as connection:
        connection.execute(insert(MetricSnapshot), values)
    return len(values)


def latest_snapshots(engine: Engine) -> list[BotPerformance]:
    """The newest ``metric_snapshots`` row of every bot (what ``portfolio_pnl`` sums)."""
    newest = (
        select(MetricSnapshot.bot_id, func.max(MetricSnapshot.id).label("id"))
        .group_by(MetricSnapshot.bot_id)
        .subquery()
    )
    open_sizes = (
        select(TradingPosition.bot_id, func.count().label("open"))
        .where(TradingPosition.closed_at.is_(None), cast(TradingPosition.size, Float) > 0)
        .group_by(TradingPosition.bot_id)
        .subquery()
    )
    query = (
        select(MetricSnapshot, TradingBot.user_id, TradingBot.name, open_sizes.c.open)
        .join(newest, newest.c.id == MetricSnapshot.id)
        .join(TradingBot, TradingBot.id == MetricSnapshot.bot_id, isouter=True)
        .join(open_sizes, open_sizes.c.bot_id == MetricSnapshot.bot_id, isouter=True)
        .order_by(MetricSnapshot.bot_id)
    )
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        rows = session.execute(query).all()
    return [
        BotPerformance(
            bot_id=snap.bot_id,
            user_id=user_id,
            name=name or f"bot {snap.bot_id}",
            balance=float(snap.balance or 0),
            equity=float(snap.equity or 0),
            realized_pnl=float(snap.realized_pnl or 0),
            unrealized_pnl=float(snap.unrealized_pnl or 0),
            trade_count=snap.trade_count,
            win_rate=snap.win_rate,
            profit_factor=snap.profit_factor,
            max_drawdown=snap.max_drawdown or 0.0,
            sharpe=snap.sharpe,
            open_position=bool(open_count),
        )
        for snap, user_id, name, open_count in rows
    ]


@dataclass(frozen=True)
class PortfolioTotals:
    equity: float
    realized_pnl: float
    unrealized_pnl: float
    total_pnl: float
    open_positions: int
    bots: int


def portfolio(rows: list[BotPerformance]) -> tuple[PortfolioTotals, dict[str, PortfolioTotals]]:
    """Totals overall and per user (key: user id as text, ``"none"`` for unowned bots)."""

    def totals(group: list[BotPerformance]) -> PortfolioTotals:
        # float starts: the sum of no bots is 0.0, not the integer 0 (the assets' metadata
        # is typed, and a fresh platform has no bots)
        realized = sum((r.realized_pnl for r in group), 0.0)
        unrealized = sum((r.unrealized_pnl for r in group), 0.0)
        return PortfolioTotals(
            equity=sum((r.equity for r in group), 0.0),
            realized_pnl=realized,
            unrealized_pnl=unrealized,
            total_pnl=realized + unrealized,
            open_positions=sum(1 for r in group if r.open_position),
            bots=len(group),
        )

    by_user: dict[str, list[BotPerformance]] = defaultdict(list)
    for row in rows:
        by_user[str(row.user_id) if row.user_id is not None else "none"].append(row)
    return totals(rows), {user: totals(group) for user, group in sorted(by_user.items())}


def as_dict(row: BotPerformance | PortfolioTotals) -> dict[str, object]:
    return asdict(row)
