"""Engine and session factory for the bot database.

SQLite is the default so a fresh machine needs nothing running; it is opened in WAL mode with
a busy timeout because many bot processes, the sensor and the CLI write to it at once.
PostgreSQL (``TRADING_DATABASE_URL=postgresql+psycopg2://...``) is the production option.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000
#: PostgreSQL connections a process keeps open between uses.  Every bot's run worker is a
#: process of its own with two threads on the database (the bot and its heartbeat) that
#: rarely use it at the same moment; with a pool of 5, each kept two connections open, and 50
#: bots took 94 of PostgreSQL's default ``max_connections`` (100): the next process to
#: connect (a schedule's run, the CLI) was refused (``benchmarks/soak.py``).  A thread that
#: needs a connection while the kept one is in use opens another (up to
#: :data:`POSTGRES_MAX_OVERFLOW`), closed as soon as it is returned.
POSTGRES_POOL_SIZE = 1
POSTGRES_MAX_OVERFLOW = 9


def trading_home() -> Path:
    """Where the platform keeps its local files (SQLite database, demo data)."""
    return Path(os.environ.get("TRADING_HOME", Path.home() / ".trading_platform")).expanduser()


def database_url() -> str:
    """``TRADING_DATABASE_URL``, or a SQLite file under ``TRADING_HOME``."""
    url = os.environ.get("TRADING_DATABASE_URL")
    if url:
        return url
    home = trading_home()
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home / 'trading.db'}"


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str | None = None) -> Engine:
    """A new engine for ``url`` (default: :func:`database_url`)."""
    url = url or database_url()
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
        )
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=POSTGRES_POOL_SIZE,
        max_overflow=POSTGRES_MAX_OVERFLOW,
    )


@lru_cache(maxsize=8)
def cached_engine(url: str) -> Engine:
    """One engine (one pool) per URL per process."""
    return make_engine(url)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A transaction: commit on success, roll back on any error."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


def dialect_insert(engine: Engine) -> Any:
    """The ``INSERT`` of ``engine``'s dialect: both have ``ON CONFLICT DO NOTHING``, which
    makes recording an order, a fill or a notification idempotent."""
    return pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
