"""The heartbeat thread: proof of life in ``trading_bots.last_heartbeat``.

The sensor relaunches a bot whose heartbeat is older than three intervals while its run
claims to be alive, and ``bot_health`` counts it unhealthy; so the heartbeat runs on its own
thread, independent of Cerebro's, and a failing write never stops the bot.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Protocol

from sqlalchemy import Engine

from trading_platform.config import BotConfig
from trading_platform.contract import Mode
from trading_platform.db.engine import SQLITE_BUSY_TIMEOUT_MS
from trading_platform.db.outage import unreachable
from trading_platform.db.status import heartbeat
from trading_platform.db.trades import realized_pnl

log = logging.getLogger(__name__)

#: every how many heartbeats the balance and P&L are written too
BALANCE_EVERY_HEARTBEATS = 5
#: the shortest time without a heartbeat after which a run may be presumed hung: SQLite's
#: busy timeout (a heartbeat may wait that long for the write lock) plus 30 s of margin.
#: ``heartbeat_interval`` still validates from 1 s, so no existing row turns ``error`` (and
#: has its run cancelled) on upgrade; the floor applies to the limit, silently.
MIN_STALE_SECONDS = SQLITE_BUSY_TIMEOUT_MS / 1000 + 30.0
#: how often (at most) the heartbeat thread asks for the operator's control (``paused``,
#: pending commands) between beats: one indexed read; a bot beats every 60 s by default,
#: and a force exit must not wait that long
CONTROL_POLL_SECONDS = 5.0


def stale_limit_seconds(heartbeat_interval: float, factor: float = 3.0) -> float:
    """How long a bot may go without a heartbeat before it is stale: for the sensor (a hung
    run) and for ``bot_health`` alike."""
    return max(factor * heartbeat_interval, MIN_STALE_SECONDS)


class Beating(Protocol):
    """What a heartbeat reports of the bot it belongs to."""

    feed_problem: str | None

    def latest_value(self) -> float | None: ...

    def renew_lease(self) -> None:
        """Prove the run still holds the bot's lease (it stops itself if not)."""

    def unrealized_pnl(self) -> float: ...

    def report_activity(self) -> None:
        """The periodic activity summary, if one is due (the heartbeat is the run's clock)."""

    def poll_control(self) -> None:
        """Read the operator's control of the bot (pause, pending commands)."""


def _finite(number: float | None) -> float | None:
    """The heartbeat reads Cerebro's lines from another thread: while a live feed waits for its
    next bar, the newest slot can be NaN for a moment.  That beat skips the figure (the next
    writes it) instead of failing, which would leave ``last_heartbeat`` unwritten."""
    return number if number is not None and math.isfinite(number) else None


class Heartbeat(threading.Thread):
    """Writes ``last_heartbeat`` every interval; balance and P&L every fifth beat; reads the
    operator's control at every beat and every :data:`CONTROL_POLL_SECONDS` between."""

    def __init__(self, database: Engine, config: BotConfig, bot: Beating) -> None:
        super().__init__(name=f"heartbeat-{config.bot_id}", daemon=True)
        assert config.bot_id is not None
        self.database = database
        self.config = config
        self.bot_id = config.bot_id
        self.bot = bot
        self._stop_event = threading.Event()

    def beat(self, count: int) -> None:
        self.bot.renew_lease()
        value = _finite(self.bot.latest_value())
        with_balance = count % BALANCE_EVERY_HEARTBEATS == 0 and value is not None
        heartbeat(
            self.database,
            self.bot_id,
            balance=value if with_balance else None,
            total_pnl=_finite(self.total_pnl(value)) if with_balance and value else None,
            feed_problem=self.bot.feed_problem,
        )
        self.bot.report_activity()

    def total_pnl(self, value: float) -> float:
        """Simulated bots: equity minus the configured starting cash (their cash survives
        restarts).  Live bots start from whatever the account holds, so theirs is realized
        P&L net of fees from ``trading_trades`` plus the open position's unrealized P&L."""
        if self.config.mode != Mode.LIVE:
            return value - self.config.broker.cash
        return float(realized_pnl(self.database, self.bot_id)) + self.bot.unrealized_pnl()

    def run(self) -> None:
        count = 0
        interval = float(self.config.heartbeat_interval)
        poll = min(interval, CONTROL_POLL_SECONDS)
        next_beat = time.monotonic()
        while True:
            if time.monotonic() >= next_beat:
                try:
                    self.beat(count)
                except Exception as exc:  # a database hiccup must not kill the bot
                    if unreachable(exc):  # an outage: one line a beat, not a traceback
                        log.warning(
                            "heartbeat of bot %s: the database cannot be reached", self.bot_id
                        )
                    else:
                        log.exception("heartbeat of bot %s failed", self.bot_id)
                count += 1
                next_beat = time.monotonic() + interval
            try:
                self.bot.poll_control()
            except Exception as exc:  # nor a failing read of the operator's control
                if unreachable(exc):
                    log.warning(
                        "control poll of bot %s: the database cannot be reached", self.bot_id
                    )
                else:
                    log.exception("control poll of bot %s failed", self.bot_id)
            wait = max(0.0, min(poll, next_beat - time.monotonic()))
            if self._stop_event.wait(wait):
                return

    def stop(self) -> None:
        self._stop_event.set()
