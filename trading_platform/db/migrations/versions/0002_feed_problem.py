"""trading_bots.feed_problem: the heartbeat reports a failing live data feed

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 18:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("trading_bots") as batch:
        batch.add_column(sa.Column("feed_problem", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trading_bots") as batch:
        batch.drop_column("feed_problem")
