"""``trading-platform db``: the schema upgrade is idempotent."""

from __future__ import annotations

from trading_platform.db.migrate import head_revision


def test_db_upgrade_twice(invoke) -> None:
    first = invoke("db", "upgrade")
    second = invoke("db", "upgrade")
    assert first.exit_code == second.exit_code == 0
    assert first.output == second.output == f"database at revision {head_revision()}\n"
