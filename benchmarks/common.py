"""Small helpers the benchmarks share: client order ids, database times, free ports, the
environment of the processes they start."""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
from pathlib import Path

from trading_platform.orchestration.environment import Timing

CHECKOUT = Path(__file__).resolve().parents[1]


def epoch_of(client_order_id: str) -> int | None:
    """The lease epoch in a client order id ``tp-<bot>-<epoch>-<sequence>``."""
    match = re.fullmatch(r"tp-\d+-(\d+)-\d+", client_order_id)
    return int(match[1]) if match else None


def timestamp(at: dt.datetime) -> float:
    """A database time (SQLite answers naive UTC) as a Unix time."""
    return (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).timestamp()


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def checkout_pythonpath(*first: Path) -> str:
    """``PYTHONPATH`` for the processes a benchmark starts: ``first``, then this checkout (the
    run workers import the package of this checkout, whatever is installed), then the
    caller's own."""
    entries = [*map(str, first), str(CHECKOUT), os.environ.get("PYTHONPATH")]
    return os.pathsep.join(entry for entry in entries if entry)


def production_schedules() -> dict[str, str]:
    """The health, performance and purge schedules as in production (the end-to-end harness
    makes them fire once a year)."""
    production = Timing()
    return {
        "TRADING_HEALTH_CRON": production.health_cron,
        "TRADING_PERFORMANCE_CRON": production.performance_cron,
        "TRADING_PURGE_CRON": production.purge_cron,
    }
