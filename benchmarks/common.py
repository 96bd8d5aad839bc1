"""Small helpers the benchmarks share: client order ids, database times, free ports."""

from __future__ import annotations

import datetime as dt
import re
import socket


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
