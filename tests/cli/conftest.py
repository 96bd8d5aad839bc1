"""The CLI tests' runner: every command against a fresh, migrated bot database."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner, Result

from trading_platform.cli import cli


@pytest.fixture
def invoke(database_url: str) -> Callable[..., Result]:
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(cli, ["--database-url", database_url, *args])

    return run
