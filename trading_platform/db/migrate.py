"""Schema migrations through Alembic, driven from code so no ``alembic.ini`` is needed.

``upgrade`` is what ``trading-platform db upgrade`` calls; Alembic records the applied revision,
so running it twice changes nothing.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from trading_platform.db.engine import database_url, make_engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", (url or database_url()).replace("%", "%%"))
    return config


def upgrade(url: str | None = None, revision: str = "head") -> str | None:
    """Bring the schema to ``revision``; returns the revision now applied."""
    url = url or database_url()
    command.upgrade(alembic_config(url), revision)
    return current_revision(url)


def current_revision(url: str | None = None) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
