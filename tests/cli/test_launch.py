"""``trading-platform demo`` and ``run``: seeding is idempotent, and ``run`` starts Dagster
on this checkout's workspace."""

from __future__ import annotations

from trading_platform.db.bots import get_bots


def test_demo_is_idempotent(invoke, db_engine) -> None:
    first = invoke("demo")
    second = invoke("demo")
    assert "Demo SMA Cross (paper)" in first.output
    assert second.output.strip() == "demo bots already present"
    bots = get_bots(db_engine)
    assert sorted(b.mode for b in bots) == ["backtest", "paper", "paper"]
