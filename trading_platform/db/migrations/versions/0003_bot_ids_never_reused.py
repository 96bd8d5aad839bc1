"""trading_bots ids are never reused on SQLite (AUTOINCREMENT)

Orders, trades, positions, status events, snapshots and Dagster's run history name a bot by
its id.  Without AUTOINCREMENT, SQLite gives the id of a deleted newest row to the next
insert, and that new bot would inherit the deleted one's position, cash and history.
PostgreSQL's sequences never reuse an id: nothing to do there.  On SQLite the counter starts
above every bot id any table still names, so an id deleted before this migration is not
handed out either.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 02:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

#: the tables that name a bot by ``bot_id``
_BOT_ID_TABLES = (
    "trading_orders",
    "trading_trades",
    "trading_positions",
    "bot_status_events",
    "metric_snapshots",
    "notifications",
)

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _recreate(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "trading_bots",
        recreate="always",
        table_kwargs={"sqlite_autoincrement": autoincrement},
    ):
        pass


def upgrade() -> None:
    _recreate(True)
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    highest = max(
        bind.execute(sa.text(f"SELECT COALESCE(MAX({column}), 0) FROM {table}")).scalar_one()
        for table, column in [("trading_bots", "id"), *((t, "bot_id") for t in _BOT_ID_TABLES)]
    )
    bind.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = 'trading_bots'"))
    bind.execute(
        sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('trading_bots', :seq)"),
        {"seq": highest},
    )


def downgrade() -> None:
    _recreate(False)
