"""Is every bot alive?  One row per bot from ``trading_bots`` and the set of active runs.

A bot is *healthy* when it is enabled, running, its heartbeat is younger than
``stale_factor`` × its heartbeat interval (never less than 60 s: the sensor's limit), that
heartbeat reports no data-feed problem and no drift from the exchange is waiting for the
operator (``trading_bots.drift``, which blocks new positions); disabled bots are *stopped*,
not unhealthy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Engine

from trading_platform.config import heartbeat_interval_of
from trading_platform.contract import BotStatus, Mode
from trading_platform.db.bots import get_bots
from trading_platform.engine.heartbeat import stale_limit_seconds


@dataclass(frozen=True)
class BotHealth:
    bot_id: int
    name: str
    enabled: bool
    status: str
    heartbeat_age_seconds: float | None
    last_heartbeat: dt.datetime | None
    heartbeat_interval: int
    run_active: bool
    restart_count: int
    heartbeat_stale: bool
    healthy: bool
    problem: str | None


def bot_health(
    engine: Engine,
    active_bot_ids: Collection[int],
    *,
    now: dt.datetime | None = None,
    stale_factor: float = 3.0,
) -> list[BotHealth]:
    now = now or dt.datetime.now(dt.UTC)
    rows = []
    for bot in get_bots(engine):
        interval = heartbeat_interval_of(bot.config_text)
        age = (now - bot.last_heartbeat).total_seconds() if bot.last_heartbeat else None
        limit = stale_limit_seconds(interval, stale_factor)
        watched = bot.enabled and bot.mode != Mode.BACKTEST
        stale = watched and (age is None or age > limit)
        problem = None
        if bot.enabled and bot.status == BotStatus.ERROR:
            problem = f"status error: {bot.last_error or 'no detail'}"
        elif stale:
            problem = (
                "no heartbeat yet"
                if age is None
                else (f"heartbeat {age:.0f} s old (limit {limit:.0f} s)")
            )
        elif watched and bot.status != BotStatus.RUNNING:
            problem = f"status {bot.status}"
        elif watched and bot.drift:
            problem = f"drift from the exchange, no new positions until acknowledged: {bot.drift}"
        elif watched and bot.feed_problem:
            problem = f"data feed failing: {bot.feed_problem}"
        rows.append(
            BotHealth(
                bot_id=bot.id,
                name=bot.name,
                enabled=bot.enabled,
                status=bot.status,
                heartbeat_age_seconds=age,
                last_heartbeat=bot.last_heartbeat,
                heartbeat_interval=interval,
                run_active=bot.id in active_bot_ids,
                restart_count=bot.restart_count,
                heartbeat_stale=stale,
                healthy=problem is None,
                problem=problem,
            )
        )
    return rows


def stale_heartbeats(rows: list[BotHealth]) -> list[BotHealth]:
    """Enabled live/paper bots whose heartbeat is missing or older than the limit."""
    return [row for row in rows if row.heartbeat_stale]


def bots_in_error(rows: list[BotHealth]) -> list[BotHealth]:
    return [row for row in rows if row.enabled and row.status == BotStatus.ERROR]


def counts(rows: list[BotHealth]) -> dict[str, int]:
    return {
        "healthy": sum(1 for r in rows if r.enabled and r.healthy),
        "unhealthy": sum(1 for r in rows if r.enabled and not r.healthy),
        "error": sum(1 for r in rows if r.status == BotStatus.ERROR),
        "stopped": sum(1 for r in rows if not r.enabled or r.status == BotStatus.STOPPED),
    }
