"""What a running bot did, as a short, bounded stream of structured log entries.

A bot's fills, refusals, reconciliation results, feed outages, drift, a lost lease and its
status changes are written to the database (``trading_trades``, ``bot_status_events``, ...),
but a team auditing run history reads the orchestrator's run log.  So the engine also reports
them, through Python logging on one logger, :data:`ACTIVITY_LOGGER` (``trading_platform.
activity``), and nothing else: the engine knows no orchestrator, and whoever runs the bot
decides where the entries go (the Dagster op bridges them into the run's event log, see
:mod:`trading_platform.orchestration.activity_log`; a process without a handler prints
nothing new).

Each entry is one line of ``key=value`` pairs, ``activity=<kind>`` first, then ``bot=<id>``
and the kind's fields; a value with a space, a quote or an ``=`` is a JSON string.  So an
entry reads well in the Dagster UI and :func:`parse_activity` turns it back into a dict
exactly (the same pairs also ride on the record as ``record.activity`` and
``record.activity_fields``).  Text, not Dagster metadata: an op can attach metadata only to
events it yields (materializations, observations), and a bot's run yields none of those
while it runs.

Bounded, on purpose: the Dagster run page loads every event of a run, and a bot runs for
weeks.  So there is never an entry per bar:

- one per fill (``fill``) and per status change (``status``): each is also a database row;
- one per incident (``feed_down``, ``feed_up``, ``reconciled``, ``drift``, ``fills``,
  ``refusal``, ``incident``, ``lease_lost``), at most :data:`INCIDENTS_PER_WINDOW` of one
  kind per summary window: a strategy that asks for an order on every bar while its orders
  are refused must not write an entry per bar.  What is left out is counted and named in the
  next summary (``suppressed=refusal:37``); the audit rows in ``bot_status_events`` keep
  every one;
- a ``summary`` every ``summary_seconds`` (checked at each heartbeat, so never more often
  than the heartbeat) and one when the run ends: bars seen, position, equity, fills since
  the previous summary.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from enum import StrEnum

ACTIVITY_LOGGER = "trading_platform.activity"
#: incidents of one kind reported per summary window; the rest are counted in the summary
INCIDENTS_PER_WINDOW = 10
#: how often a running bot summarizes what it did, by default (15 minutes)
DEFAULT_SUMMARY_SECONDS = 900.0

log = logging.getLogger(ACTIVITY_LOGGER)

Value = str | int | float | bool | None


class Activity(StrEnum):
    """The kinds of entries; their names are part of the entries' stable shape."""

    FILL = "fill"
    STATUS = "status"
    SUMMARY = "summary"
    REFUSAL = "refusal"
    FEED_DOWN = "feed_down"
    FEED_UP = "feed_up"
    RECONCILED = "reconciled"
    DRIFT = "drift"
    FILLS = "fills"
    LEASE_LOST = "lease_lost"
    #: an audit note without a more precise kind
    INCIDENT = "incident"


#: never left out: each is a database row of its own, and their number is the run's, not
#: the bars'
UNBOUNDED = frozenset({Activity.FILL, Activity.STATUS, Activity.SUMMARY, Activity.LEASE_LOST})

_BARE = re.compile(r'^[^\s"=]+$')
_PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s"]*)')


def _text(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.10g}"
    text = str(value)
    return text if not text or _BARE.match(text) else json.dumps(text)


def format_activity(kind: str, fields: Mapping[str, Value]) -> str:
    """``activity=<kind> key=value ...``: see the module docstring."""
    pairs = [("activity", kind), *fields.items()]
    return " ".join(f"{key}={_text(value)}" for key, value in pairs)


def parse_activity(message: str) -> dict[str, str]:
    """The pairs of an entry, values as text (a JSON string decoded); ``{}`` when
    ``message`` is not an activity entry."""
    if not message.startswith("activity="):
        return {}
    return {
        key: json.loads(value) if value.startswith('"') else value
        for key, value in _PAIR.findall(message)
    }


class ActivityLog:
    """One run's activity reporter; safe to call from any thread (Cerebro's, the feed's,
    the heartbeat's)."""

    def __init__(
        self,
        bot_id: int,
        *,
        summary_seconds: float = DEFAULT_SUMMARY_SECONDS,
        incidents_per_window: int = INCIDENTS_PER_WINDOW,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = log,
    ) -> None:
        self.bot_id = bot_id
        self.summary_seconds = summary_seconds
        self.incidents_per_window = incidents_per_window
        self.clock = clock
        self.logger = logger
        self._lock = threading.Lock()
        self._window_started = clock()
        self._reported: Counter[str] = Counter()
        self._suppressed: Counter[str] = Counter()
        self._fills = 0
        self._bars_at_summary = 0

    def report(self, kind: Activity, level: int = logging.INFO, **fields: Value) -> bool:
        """One entry, unless its kind used up its window's budget; whether it was written."""
        with self._lock:
            if kind not in UNBOUNDED:
                if self._reported[kind] >= self.incidents_per_window:
                    self._suppressed[kind] += 1
                    return False
                self._reported[kind] += 1
            if kind == Activity.FILL:
                self._fills += 1
        all_fields = {"bot": self.bot_id, **fields}
        self.logger.log(
            level,
            format_activity(kind, all_fields),
            extra={"activity": str(kind), "activity_fields": all_fields, "bot_id": self.bot_id},
        )
        return True

    # -- the kinds the engine reports ----------------------------------------------------------
    def fill(
        self,
        *,
        side: str,
        amount: object,
        price: object,
        fee: object,
        order: str,
        pnl: object = None,
        fill_id: str | None = None,
    ) -> None:
        """A recorded fill (one ``trading_trades`` row).  Amounts come as the broker has
        them (a Decimal from the exchange is shown exactly)."""
        self.report(
            Activity.FILL,
            side=side,
            amount=str(amount),
            price=str(price),
            fee=str(fee),
            pnl=None if pnl is None else str(pnl),
            order=order,
            fill=fill_id,
        )

    def status(self, from_status: str, to_status: str, reason: str) -> None:
        level = logging.ERROR if to_status == "error" else logging.INFO
        self.report(
            Activity.STATUS, level, **{"from": from_status, "to": to_status, "reason": reason}
        )

    def incident(self, kind: Activity, text: str, status: str | None = None) -> None:
        level = logging.INFO if kind in (Activity.FEED_UP, Activity.REFUSAL) else logging.WARNING
        if kind == Activity.LEASE_LOST:
            level = logging.ERROR
        self.report(kind, level, status=status, reason=text)

    # -- the summary --------------------------------------------------------------------------
    def summary_due(self) -> bool:
        return self.clock() - self._window_started >= self.summary_seconds

    def summary(
        self, *, bars: int, position: float, equity: float | None, final: bool = False
    ) -> None:
        """What the run did since the previous summary; opens a new window (the incident
        budgets start again)."""
        with self._lock:
            now = self.clock()
            window = now - self._window_started
            fills, self._fills = self._fills, 0
            suppressed = ",".join(f"{k}:{n}" for k, n in sorted(self._suppressed.items()))
            self._suppressed.clear()
            self._reported.clear()
            self._window_started = now
            new_bars, self._bars_at_summary = bars - self._bars_at_summary, bars
        self.report(
            Activity.SUMMARY,
            bars=bars,
            new_bars=new_bars,
            fills=fills,
            position=position,
            equity=None if equity is None else round(equity, 8),
            window_s=round(window, 1),
            suppressed=suppressed,
            final=final,
        )
