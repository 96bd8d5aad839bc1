"""A bot's activity entries in its Dagster run's event log.

The engine reports what a bot does on the ``trading_platform.activity`` logger
(:mod:`trading_platform.engine.activity`: one entry per fill, per status change, per
incident, and a periodic summary; never one per bar).  This bridge puts them in the event log
of the run, where a team auditing run history reads them: the run page, ``all_logs(run_id)``,
the GraphQL API.

Why a queue drained by the op's thread, and not Dagster's ``managed_python_loggers``:

- The entries come from the bot's threads (Cerebro's, the feed's, the heartbeat's), and the
  op's ``context.log`` is made for the op's own thread.  Dagster's handler for Python loggers
  did lose entries when several threads logged at once (dagster-io/dagster#7442, fixed in 1.5
  by a thread-local guard) and an issue about logging from other threads is still open
  (#8691).  Here every write to the event log happens in the op's thread, which only waits
  while the bot runs (:meth:`~trading_platform.engine.runner.BotRunner.run_until_interrupted`
  calls :meth:`EventLogBridge.drain` twice a second).
- A bot's thread never waits on Dagster's storage: writing many events slows down
  (dagster#19618), and a fill must not wait for the run page's database.  The bot's threads
  only append to a bounded in-memory queue.
- It needs nothing in ``dagster.yaml``.  ``managed_python_loggers`` is instance config: an
  operator's own ``dagster.yaml`` (or the PostgreSQL variant copied without the key) would
  silently lose the audit trail, and ``python_log_level`` sets the level of every managed
  logger in the process.  Do not list ``trading_platform`` there as well: the entries would
  appear twice.

A failing write to the event log is logged to stderr and the entry dropped; it never stops
the bot (the database rows are the record, the event log a view of them).  Should the queue
fill up (the op's thread held up for a long time), newer entries are counted and the count is
written once the queue drains, so nothing is lost silently.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from trading_platform.engine.activity import ACTIVITY_LOGGER, Activity, format_activity

log = logging.getLogger(__name__)

#: entries held at most between two drains (a drain runs twice a second)
QUEUE_CAPACITY = 1_000


class EventLogBridge(logging.Handler):
    """Collects one bot's activity records from any thread; :meth:`drain` writes them to a
    logger (the op's ``context.log``) from the caller's thread."""

    def __init__(self, bot_id: int, capacity: int = QUEUE_CAPACITY) -> None:
        super().__init__(level=logging.INFO)
        self.bot_id = bot_id
        self.capacity = capacity
        self._queue: collections.deque[tuple[int, str]] = collections.deque()
        self._dropped = 0
        self._queue_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "bot_id", None) != self.bot_id:
            return  # another bot's run in the same process (tests, the CLI)
        with self._queue_lock:
            if len(self._queue) >= self.capacity:
                self._dropped += 1
                return
            self._queue.append((record.levelno, record.getMessage()))

    def pending(self) -> int:
        with self._queue_lock:
            return len(self._queue)

    def drain(self, target: logging.Logger) -> int:
        """Write the queued entries to ``target`` in order; returns how many were written."""
        with self._queue_lock:
            entries = list(self._queue)
            self._queue.clear()
            dropped, self._dropped = self._dropped, 0
        if dropped:
            entries.append(
                (
                    logging.WARNING,
                    format_activity(
                        Activity.INCIDENT,
                        {
                            "bot": self.bot_id,
                            "reason": f"{dropped} activity entries dropped: the queue was full",
                        },
                    ),
                )
            )
        written = 0
        for level, message in entries:
            try:
                target.log(level, message)
                written += 1
            except Exception:
                log.exception("bot %s: an activity entry missed the run's log", self.bot_id)
        return written

    @contextmanager
    def attached(self) -> Iterator[EventLogBridge]:
        """Collect while the block runs.  The activity logger is set to INFO meanwhile: its
        default (the root's WARNING) would drop fills and status changes before any handler
        saw them."""
        logger = logging.getLogger(ACTIVITY_LOGGER)
        previous = logger.level
        logger.setLevel(logging.INFO)
        logger.addHandler(self)
        try:
            yield self
        finally:
            logger.removeHandler(self)
            logger.setLevel(previous)
