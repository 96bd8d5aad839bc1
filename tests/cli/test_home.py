"""One default home for ``make run`` and the CLI: in a fresh shell (no TRADING_HOME, no
TRADING_DATABASE_URL) ``trading-platform bots list`` reads the database ``make run`` made."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from trading_platform.cli import cli
from trading_platform.db.engine import database_url

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's shell with nothing exported: HOME is a temporary directory."""
    home = tmp_path / "user"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("TRADING_HOME", "TRADING_DATABASE_URL", "TRADING_DATA_DIRS", "DAGSTER_HOME"):
        monkeypatch.delenv(name, raising=False)
    return home


def test_the_makefile_leaves_the_homes_to_the_cli(fresh_shell: Path) -> None:
    """``make run`` is ``trading-platform run`` with the environment it was given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADING_", "DAGSTER_"))}
    shown = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-n",
            "--eval",
            "$(info homes: [$(TRADING_HOME)] [$(DAGSTER_HOME)])",
            "run",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "homes: [] []" in shown, shown
    assert "trading-platform run" in shown


def test_the_cli_default_is_the_users_trading_platform_directory(fresh_shell: Path) -> None:
    assert database_url() == f"sqlite:///{fresh_shell / '.trading_platform' / 'trading.db'}"


def test_after_make_run_bots_list_works_in_a_fresh_shell(
    fresh_shell: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[dict[str, str]] = []
    monkeypatch.setattr(os, "execve", lambda _path, _args, env: started.append(env))
    ran = CliRunner().invoke(cli, ["run"])  # what `make run` runs
    assert ran.exit_code == 0, ran.output
    home = fresh_shell / ".trading_platform"
    assert started[0]["TRADING_DATABASE_URL"] == f"sqlite:///{home / 'trading.db'}"
    listed = CliRunner().invoke(cli, ["bots", "list"])  # the README's next command
    assert listed.exit_code == 0, listed.output
    assert "Demo SMA Cross (paper)" in listed.output
    # the README's backtest example reads the demo file `run` wrote
    assert (home / "demo" / "BTC-USDT-1d.csv").is_file()
