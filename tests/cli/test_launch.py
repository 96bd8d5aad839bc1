"""``trading-platform demo`` and ``run``: seeding is idempotent, and ``run`` starts Dagster
on this checkout's workspace."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from trading_platform.cli.launch import REPO_ROOT
from trading_platform.db.bots import get_bots


def test_demo_is_idempotent(invoke, db_engine) -> None:
    first = invoke("demo")
    second = invoke("demo")
    assert "Demo SMA Cross (paper)" in first.output
    assert second.output.strip() == "demo bots already present"
    bots = get_bots(db_engine)
    assert sorted(b.mode for b in bots) == ["backtest", "paper", "paper"]


def test_run_starts_dagster_on_this_checkouts_workspace(
    invoke, database_url, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[tuple[str, list[str], dict[str, str]]] = []
    monkeypatch.setattr(os, "execve", lambda path, args, env: started.append((path, args, env)))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    result = invoke("run", "--no-demo", "--port", "3999")
    assert result.exit_code == 0, result.output
    assert "schema at revision" in result.output and "demo bots" not in result.output
    ((path, args, env),) = started
    assert Path(path).name == "dagster" and args[:2] == [path, "dev"]
    workspace = Path(args[args.index("-w") + 1])
    assert workspace.is_file() and workspace.parent == REPO_ROOT
    assert args[-4:] == ["-h", "127.0.0.1", "-p", "3999"]
    assert env["TRADING_DATABASE_URL"] == database_url
    assert (tmp_path / "dagster_home").is_dir()
