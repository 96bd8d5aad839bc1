"""One running platform (daemon + code server) per test module and backend.

SQLite always; PostgreSQL for both the bot database and Dagster storage when
``TRADING_TEST_POSTGRES_URL`` is set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.e2e.harness import Platform, postgres_databases

POSTGRES_URL = os.environ.get("TRADING_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])
#: modules whose subject is not storage run on one backend: PostgreSQL, the production
#: choice, when CI provides it.  Their storage logic (outbox claims, command claims, audit
#: rows) is unit-tested on both; a platform per backend costs the suite minutes on two cores.
ONE_BACKEND = ["postgresql"] if POSTGRES_URL else ["sqlite"]


@pytest.fixture(autouse=True)
def _isolated_home() -> None:
    """The e2e platform sets its own environment for the Dagster processes."""


@pytest.fixture(autouse=True)
def _disable_bots_after_each_test(platform: Platform) -> Iterator[None]:
    """A module shares one platform: the bots a test started are disabled when it ends, so
    they never compete with the next test's bots for the two cores."""
    yield
    platform.disable_bots()


def _platform(
    request: pytest.FixtureRequest,
    tmp_path_factory,
    backend: str | None = None,
    **extra_env: str,
) -> Iterator[Platform]:
    """A started platform on ``backend`` (default: the fixture's parameter)."""
    home = tmp_path_factory.mktemp("platform")
    cleanup = None
    if (backend or request.param) == "postgresql":
        assert POSTGRES_URL is not None
        database_url, dagster_env, cleanup = postgres_databases(POSTGRES_URL)
        platform = Platform(home, database_url, dagster_postgres=dagster_env, extra_env=extra_env)
    else:
        platform = Platform(home, f"sqlite:///{home / 'trading.db'}", extra_env=extra_env)
    platform.start()
    try:
        yield platform
    finally:
        platform.stop()
        platform.engine.dispose()
        if request.node.session.testsfailed:
            print(f"--- daemon log ({platform.log_path}) ---\n{platform.log_tail(200)}")
            print(
                f"--- code server log ({platform.code_server_log_path}) ---\n"
                f"{platform.log_tail(100, platform.code_server_log_path)}"
            )
        if cleanup is not None:
            cleanup()


@pytest.fixture(scope="module", params=BACKENDS)
def platform(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Platform]:
    yield from _platform(request, tmp_path_factory)
