"""Writes that wait out an outage of the bot database instead of failing the bot.

A PostgreSQL restart (``pg_ctlcluster … restart``, a failover, a network blip) ends every
connection and refuses new ones for a few seconds to minutes.  A bot that raised on the first
failed write would fail its run, be counted a restart and, worse, forget what it was writing:
a fill the exchange made is known to the bot only in memory until it is in
``trading_trades``.  So the writes a bot cannot do without (order write-aheads, fills, order
updates, positions, notifications) go through :func:`until_reachable`: the writing thread
(Cerebro's) waits, retrying with a backoff from :data:`RETRY_START_SECONDS` doubling to
:data:`RETRY_MAX_SECONDS`, until the database answers, and then the write is made, late but
in order.  While it waits the bot decides nothing new, so it sends no order: an order is sent
only after its write-ahead row is committed (fail closed).

Only a database that cannot be reached is waited for (:func:`unreachable`): an error in the
statement, a constraint, a lost lease (:class:`~trading_platform.db.leases.LeaseLost`) or
SQLite's "database is locked" (SQLite has its own busy timeout) is raised as before.  Every
write retried this way is idempotent or made so by its caller (a write-ahead whose COMMIT's
answer was lost finds its own row on the retry, :func:`~trading_platform.db.orders.
write_ahead_order_waiting`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: the first wait after a failed write; doubled after each failure up to the maximum
RETRY_START_SECONDS = 0.5
#: the longest wait between attempts: a write is made at most this long after the return
RETRY_MAX_SECONDS = 5.0

#: SQLSTATEs of a server going away or not yet back: class 08 (connection exception),
#: admin_shutdown, crash_shutdown, cannot_connect_now (the server is starting up)
_SERVER_GONE = ("57P01", "57P02", "57P03")


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the PostgreSQL server could not be reached (refused, closed,
    shutting down, starting up), as opposed to refusing the statement."""
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    if not hasattr(orig, "pgcode"):  # not psycopg2: SQLite has its own busy handling
        return False
    if exc.connection_invalidated:
        return True
    code = getattr(orig, "pgcode", None)
    if code is None:  # raised by the client library: no server answered the statement
        return isinstance(exc, OperationalError | InterfaceError)
    return str(code).startswith("08") or code in _SERVER_GONE


def until_reachable(
    write: Callable[[], T],
    what: str,
    *,
    patience: float | None = None,
    sleep: Callable[[float], object] = time.sleep,
) -> T:
    """``write()``, attempted again while the database is :func:`unreachable` until it
    answers; any other error is raised at once.  ``what`` names the write in the log.
    ``patience``: give up (raise the last error) after that many seconds; None waits as
    long as it takes (a run's own writes: a stop path passes a limit, so a run that must
    end does end)."""
    delay = RETRY_START_SECONDS
    down_since: float | None = None
    attempts = 0
    while True:
        try:
            result = write()
        except DBAPIError as exc:
            if not unreachable(exc):
                raise
            attempts += 1
            now = time.monotonic()
            if down_since is not None and patience is not None and now - down_since > patience:
                raise
            if down_since is None:
                down_since = now
                log.warning(
                    "%s: the database cannot be reached (%s); waiting for it to return",
                    what,
                    type(exc.orig).__name__,
                )
            sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)
            continue
        if down_since is not None:
            log.warning(
                "%s: written after the database returned (waited %.1f s, %d failed attempts)",
                what,
                time.monotonic() - down_since,
                attempts,
            )
        return result
