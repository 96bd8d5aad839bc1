"""bot_leases: one trader per bot, fenced by an epoch; trading_orders.last_sent_at

A run must hold its bot's lease to trade.  Taking the lease raises ``epoch`` by one (a
compare-and-set in the database, never in a sensor cursor), the run's client order ids carry
that epoch, and every write-ahead and fill checks it in the same transaction.  The epoch of
each existing bot starts above every incarnation its client ids (``tp-<bot>-<n>-<seq>``)
already used, so no new id can equal an old one.

``last_sent_at`` is when the order was last handed to the network: the exchange's receive
window, after which "not found" means "never arrived", counts from there.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 04:30:00
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trading_platform.db.types import UtcDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CLIENT_ID = re.compile(r"^tp-(\d+)-(\d+)-\d+$")


def _highest_incarnations(bind: sa.Connection) -> dict[int, int]:
    highest: dict[int, int] = {}
    rows = bind.execute(sa.text("SELECT client_order_id FROM trading_orders"))
    for (client_id,) in rows:
        match = _CLIENT_ID.match(client_id or "")
        if match:
            bot_id, incarnation = int(match[1]), int(match[2])
            highest[bot_id] = max(highest.get(bot_id, 0), incarnation)
    return highest


def upgrade() -> None:
    leases = op.create_table(
        "bot_leases",
        sa.Column("bot_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("holder_run_id", sa.String(64), nullable=True),
        sa.Column("holder", sa.String(200), nullable=True),
        sa.Column("acquired_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("renewed_at", UtcDateTime(timezone=True), nullable=True),
    )
    with op.batch_alter_table("trading_orders") as batch:
        batch.add_column(sa.Column("last_sent_at", UtcDateTime(timezone=True), nullable=True))
    rows = [
        {"bot_id": bot_id, "epoch": epoch}
        for bot_id, epoch in sorted(_highest_incarnations(op.get_bind()).items())
    ]
    if rows:
        op.bulk_insert(leases, rows)


def downgrade() -> None:
    with op.batch_alter_table("trading_orders") as batch:
        batch.drop_column("last_sent_at")
    op.drop_table("bot_leases")
