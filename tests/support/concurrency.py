"""Real concurrent callers for the database's check-then-act paths: threads, each with its
own engine on the same SQLite file or PostgreSQL schema, lined up on a barrier.

Started together, the callers may still run one after the other and hide a race, so a test
can hold every caller right after its first read that matches ``statement_has``, until all
have read: the window between the read and the write is then as wide as it gets.  That
works where a read takes no lock (SQLite); where the read locks rows (PostgreSQL's
``SELECT ... FOR UPDATE``), a held caller would keep the others from reaching the barrier,
so those callers are lined up before the read instead (``SKIP LOCKED`` reads never wait, so
they may be held after it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Engine, event

from trading_platform.db import make_engine

T = TypeVar("T")

BARRIER_SECONDS = 30.0


def _hold_at_first(
    engine: Engine, barrier: threading.Barrier, statement_has: str, *, after: bool
) -> None:
    """Wait on ``barrier`` once, at the first statement of ``engine`` containing
    ``statement_has`` (before or ``after`` it ran)."""
    held: list[bool] = []

    def hold(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not held and statement_has in statement:
            held.append(True)
            barrier.wait(BARRIER_SECONDS)

    event.listen(engine, "after_cursor_execute" if after else "before_cursor_execute", hold)


def run_together(
    database_url: str,
    callers: int,
    call: Callable[[Engine], T],
    *,
    statement_has: str,
    after_read: bool,
) -> list[T]:
    """``call(engine)`` in ``callers`` threads at once, each with its own engine; every
    thread is held at its first statement containing ``statement_has`` (after it ran when
    ``after_read``) until all got there.  Returns the results, in thread order; the first
    error of any thread is raised."""
    barrier = threading.Barrier(callers)
    engines = [make_engine(database_url) for _ in range(callers)]
    for engine in engines:
        _hold_at_first(engine, barrier, statement_has, after=after_read)
    try:
        with ThreadPoolExecutor(callers) as pool:
            return list(pool.map(call, engines))
    finally:
        for engine in engines:
            engine.dispose()
