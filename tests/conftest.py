"""Shared fixtures.

``database_url`` runs a test on SQLite always and on PostgreSQL too when
``TRADING_TEST_POSTGRES_URL`` is set (CI sets it): each PostgreSQL test gets a fresh schema
in that database, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support.xdist_groups import group_name, longest_first
from trading_platform.db import make_engine
from trading_platform.db.migrate import upgrade

#: fixtures of a private PostgreSQL cluster a test may stop (``private_cluster``, ...)
pytest_plugins = ["tests.support.private_postgres"]

POSTGRES_URL = os.environ.get("TRADING_TEST_POSTGRES_URL")
REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

_BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the user's ~/.trading_platform or their TRADING_DATABASE_URL; data files
    may come from the test's tmp dir and the shared sample data (``TRADING_DATA_DIRS``)."""
    monkeypatch.setenv("TRADING_HOME", str(tmp_path / "trading_home"))
    monkeypatch.setenv("TRADING_DATA_DIRS", os.pathsep.join([str(tmp_path), str(SHARED_DATA)]))
    monkeypatch.delenv("TRADING_DATABASE_URL", raising=False)
    monkeypatch.delenv("TRADING_STRATEGY_PATHS", raising=False)


def _postgres_schema_url(base_url: str) -> Iterator[str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=_BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty bot database: SQLite file, and PostgreSQL schema when configured."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'trading.db'}"
        upgrade(url)
        yield url
        return
    assert POSTGRES_URL is not None
    for url in _postgres_schema_url(POSTGRES_URL):
        upgrade(url)
        yield url


@pytest.fixture
def db_engine(database_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present (it exists on the development machines only)")
    return SHARED_DATA


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Work units for ``pytest-xdist --dist loadgroup``: every test of a module shares its
    module-scoped fixtures, so a module is one unit, except that an end-to-end module is
    one unit per backend (each backend starts its own platform), so the SQLite and
    PostgreSQL halves of the slowest modules run on different workers at once.  The items
    are then ordered longest unit first (:func:`~tests.support.xdist_groups.longest_first`)."""
    groups, e2e = [], []
    for item in items:
        module = item.module.__name__ if item.module is not None else item.nodeid
        callspec = getattr(item, "callspec", None)
        backend = None
        is_e2e = item.get_closest_marker("e2e") is not None
        if is_e2e and callspec is not None:
            backend = callspec.params.get("backend") or callspec.params.get("platform")
        group = group_name(module, backend)
        item.add_marker(pytest.mark.xdist_group(group))
        groups.append(group)
        # a long test of real processes starts with the end-to-end units, not last
        e2e.append(is_e2e or item.get_closest_marker("long") is not None)
    items[:] = [items[index] for index in longest_first(groups, e2e)]
