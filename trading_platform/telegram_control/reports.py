"""The read commands: queries over the platform's tables and their text for a chat.

Every function takes the bots the operator may see (:func:`visible_bots`) and reads nothing
else, so a user's report can never show another user's bot.  Figures come from where the
platform already computes them: P&L, trade counts and win rates from
:func:`trading_platform.monitoring.snapshots.compute` (the same definitions as the
``bot_performance`` asset), health from :func:`trading_platform.monitoring.health.bot_health`,
win rates per symbol from :func:`trading_platform.metrics.performance.win_rate`.  Amounts are
rounded here, for display only.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Engine, select

from trading_platform.contract import Side
from trading_platform.db.models import TradingBot, TradingPosition, TradingTrade
from trading_platform.db.types import utcnow
from trading_platform.metrics.performance import win_rate
from trading_platform.monitoring import health as health_rules
from trading_platform.monitoring.snapshots import BotPerformance, compute

#: Telegram refuses messages longer than 4096 characters
MESSAGE_CHARS = 4000
DEFAULT_TRADES, MAX_TRADES = 10, 50
DEFAULT_DAYS, MAX_DAYS = 7, 90


@dataclass(frozen=True)
class BotView:
    """What the reports show of a ``trading_bots`` row."""

    id: int
    name: str
    user_id: int | None
    enabled: bool
    paused: bool
    status: str
    mode: str | None
    symbol: str | None
    last_heartbeat: dt.datetime | None
    current_balance: Decimal | None


def visible_bots(engine: Engine, user_id: int | None, admin: bool) -> list[BotView]:
    """The bots of ``user_id``, or every bot for an admin, by id."""
    query = select(
        TradingBot.id,
        TradingBot.name,
        TradingBot.user_id,
        TradingBot.enabled,
        TradingBot.paused,
        TradingBot.status,
        TradingBot.mode,
        TradingBot.symbol,
        TradingBot.last_heartbeat,
        TradingBot.current_balance,
    ).order_by(TradingBot.id)
    if not admin:
        query = query.where(TradingBot.user_id == user_id)
    with engine.connect() as connection:
        return [BotView(**row._mapping) for row in connection.execute(query)]


def fit(lines: Sequence[str], limit: int = MESSAGE_CHARS) -> str:
    """``lines`` joined, cut at a line boundary to fit one Telegram message."""
    kept: list[str] = []
    size = 0
    for index, line in enumerate(lines):
        if size + len(line) + 1 > limit - 40:
            kept.append(f"... ({len(lines) - index} more lines)")
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept)


def money(value: float | Decimal | None, *, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{float(value):+,.2f}" if signed else f"{float(value):,.2f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _age(at: dt.datetime | None, now: dt.datetime) -> str:
    if at is None:
        return "never"
    seconds = max(0.0, (now - at).total_seconds())
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def _label(bot: BotView) -> str:
    return f"{bot.name} (#{bot.id})"


def _no_bots() -> str:
    return "You have no bots."


def _performance(engine: Engine, bots: Collection[BotView]) -> dict[int, BotPerformance]:
    ids = {bot.id for bot in bots}
    return {row.bot_id: row for row in compute(engine) if row.bot_id in ids}


def _positions(engine: Engine, ids: Collection[int]) -> dict[int, list[TradingPosition]]:
    found: dict[int, list[TradingPosition]] = defaultdict(list)
    if not ids:
        return found
    with engine.connect() as connection:
        rows = connection.execute(
            select(TradingPosition).where(
                TradingPosition.bot_id.in_(list(ids)), TradingPosition.closed_at.is_(None)
            )
        )
        for row in rows:
            if row.size:
                found[row.bot_id].append(row)  # type: ignore[arg-type]
    return found


def status(engine: Engine, bots: Sequence[BotView], now: dt.datetime | None = None) -> str:
    """Per bot: status, mode, desired state, position, unrealised P&L, last heartbeat."""
    if not bots:
        return _no_bots()
    now = now or utcnow()
    figures = _performance(engine, bots)
    positions = _positions(engine, [bot.id for bot in bots])
    lines = []
    for bot in bots:
        flags = [] if bot.enabled else ["disabled"]
        if bot.paused:
            flags.append("paused")
        held = ", ".join(
            f"{float(p.size):,.4f} {p.symbol} @ {money(p.avg_price)}" for p in positions[bot.id]
        )
        perf = figures.get(bot.id)
        lines += [
            f"{_label(bot)}: {bot.status}, {bot.mode or '-'}"
            + (f" [{', '.join(flags)}]" if flags else ""),
            f"  position: {held or 'none'}; unrealised P&L "
            f"{money(perf.unrealized_pnl if perf else None, signed=True)}",
            f"  heartbeat: {_age(bot.last_heartbeat, now)}",
        ]
    return fit(lines)


def profit(engine: Engine, bots: Sequence[BotView]) -> str:
    """Realised and unrealised P&L, closed trades and win rate, per bot and in total."""
    if not bots:
        return _no_bots()
    figures = _performance(engine, bots)
    lines = []
    realised = unrealised = 0.0
    trades = wins = 0
    for bot in bots:
        perf = figures.get(bot.id)
        if perf is None:
            continue
        realised += perf.realized_pnl
        unrealised += perf.unrealized_pnl
        trades += perf.trade_count
        wins += round((perf.win_rate or 0.0) * perf.trade_count)
        lines.append(
            f"{_label(bot)}: realised {money(perf.realized_pnl, signed=True)}, unrealised "
            f"{money(perf.unrealized_pnl, signed=True)}, {perf.trade_count} trades, "
            f"win rate {_percent(perf.win_rate)}"
        )
    if len(bots) > 1:
        lines.append(
            f"Total: realised {money(realised, signed=True)}, unrealised "
            f"{money(unrealised, signed=True)}, {trades} trades, win rate "
            f"{_percent(wins / trades if trades else None)}"
        )
    return fit(lines)


def balance(engine: Engine, bots: Sequence[BotView]) -> str:
    """Per bot its cash and equity (the running bot's last reported value), and the total."""
    if not bots:
        return _no_bots()
    figures = _performance(engine, bots)
    lines = []
    total = 0.0
    for bot in bots:
        perf = figures.get(bot.id)
        if perf is None:
            continue
        total += perf.equity
        lines.append(f"{_label(bot)}: equity {money(perf.equity)} (cash {money(perf.balance)})")
    lines.append(f"Total equity: {money(total)}")
    return fit(lines)


def trades(engine: Engine, bots: Sequence[BotView], count: int = DEFAULT_TRADES) -> str:
    """The newest ``count`` fills of the bots, newest first."""
    if not bots:
        return _no_bots()
    names = {bot.id: bot.name for bot in bots}
    with engine.connect() as connection:
        rows = connection.execute(
            select(TradingTrade)
            .where(TradingTrade.bot_id.in_(list(names)))
            .order_by(TradingTrade.executed_at.desc(), TradingTrade.id.desc())
            .limit(count)
        ).all()
    if not rows:
        return "No trades yet."
    lines = []
    for row in rows:
        pnl = f", P&L {money(row.pnl, signed=True)}" if row.side == Side.SELL else ""
        lines.append(
            f"{row.executed_at:%m-%d %H:%M} {names[row.bot_id]}: {row.side.upper()} "
            f"{float(row.amount):,.4f} {row.symbol or ''} @ {money(row.price)}{pnl}"
        )
    return fit(lines)


def daily(
    engine: Engine,
    bots: Sequence[BotView],
    days: int = DEFAULT_DAYS,
    now: dt.datetime | None = None,
) -> str:
    """Realised P&L per UTC day over the last ``days`` days (P&L of sells minus every fee,
    the definition of ``bot_performance``), summed over the bots; days without trades show 0."""
    if not bots:
        return _no_bots()
    now = now or utcnow()
    first = (now - dt.timedelta(days=days - 1)).date()
    start = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                TradingTrade.executed_at, TradingTrade.side, TradingTrade.pnl, TradingTrade.fee
            ).where(
                TradingTrade.bot_id.in_([bot.id for bot in bots]),
                TradingTrade.executed_at >= start,
            )
        ).all()
    per_day: dict[dt.date, Decimal] = defaultdict(Decimal)
    count: dict[dt.date, int] = defaultdict(int)
    for row in rows:
        day = row.executed_at.astimezone(dt.UTC).date()
        pnl = (row.pnl or Decimal(0)) if row.side == Side.SELL else Decimal(0)
        per_day[day] += pnl - (row.fee or Decimal(0))
        count[day] += row.side == Side.SELL
    lines = [f"Realised P&L per day (UTC), last {days} days:"]
    for offset in range(days):
        day = now.date() - dt.timedelta(days=offset)
        lines.append(f"{day:%Y-%m-%d}: {money(per_day[day], signed=True)} ({count[day]} trades)")
    return fit(lines)


def performance(engine: Engine, bots: Sequence[BotView]) -> str:
    """Per bot (P&L, trades, win rate, profit factor) and per symbol (P&L of closed trades,
    their count and win rate)."""
    if not bots:
        return _no_bots()
    figures = _performance(engine, bots)
    lines = ["Per bot:"]
    for bot in sorted(bots, key=lambda b: -(figures[b.id].realized_pnl if b.id in figures else 0)):
        perf = figures.get(bot.id)
        if perf is None:
            continue
        factor = "-" if perf.profit_factor is None else f"{perf.profit_factor:.2f}"
        lines.append(
            f"  {_label(bot)}: {money(perf.realized_pnl, signed=True)}, {perf.trade_count} "
            f"trades, win rate {_percent(perf.win_rate)}, profit factor {factor}"
        )
    with engine.connect() as connection:
        sells = connection.execute(
            select(TradingTrade.symbol, TradingTrade.pnl).where(
                TradingTrade.bot_id.in_([bot.id for bot in bots]), TradingTrade.side == Side.SELL
            )
        ).all()
    pnls: dict[str, list[Decimal]] = defaultdict(list)
    for symbol, pnl in sells:
        pnls[symbol or "-"].append(pnl or Decimal(0))
    lines.append("Per symbol (closed trades):")
    if not pnls:
        lines.append("  none yet")
    for symbol, values in sorted(pnls.items(), key=lambda item: -sum(item[1])):
        lines.append(
            f"  {symbol}: {money(sum(values), signed=True)}, {len(values)} trades, "
            f"win rate {_percent(win_rate(values))}"
        )
    return fit(lines)


def health(
    engine: Engine,
    bots: Sequence[BotView],
    active_bot_ids: Collection[int],
    *,
    stale_factor: float = 3.0,
    now: dt.datetime | None = None,
) -> str:
    """What the ``bot_health`` asset says of the bots: healthy or the problem."""
    if not bots:
        return _no_bots()
    ids = {bot.id for bot in bots}
    rows = [
        row
        for row in health_rules.bot_health(
            engine, active_bot_ids, now=now, stale_factor=stale_factor
        )
        if row.bot_id in ids
    ]
    counts = health_rules.counts(rows)
    lines = [
        f"{counts['healthy']} healthy, {counts['unhealthy']} unhealthy, {counts['stopped']} stopped"
    ]
    for row in rows:
        if not row.enabled:
            state = "stopped (disabled)"
        elif row.healthy:
            state = "healthy"
        else:
            state = f"UNHEALTHY: {row.problem}"
        lines.append(f"{row.name} (#{row.bot_id}): {state}")
    return fit(lines)


HELP = """Commands (a bot is named by its name or its id):
/status - each bot: status, mode, position, unrealised P&L, heartbeat
/profit [bot] - realised and unrealised P&L, trades, win rate
/balance - equity and cash per bot
/trades [bot] [n] - the last n trades (default 10)
/daily [n] - realised P&L per day, last n days (default 7)
/performance - per bot and per symbol
/health - what bot_health says
/stop <bot|all> - disable (asks for confirmation)
/start <bot|all> - enable
/pause <bot|all> - no new entries, exits still allowed
/resume <bot|all> - allow entries again
/forceexit <bot> - close the position now at market (asks for confirmation)
/reload <bot|all> - restart the run with the same config
/help - this text"""


def help_text(admin: bool) -> str:
    scope = "You see and command every bot (admin)." if admin else "You see your own bots."
    return f"{HELP}\n{scope}"
