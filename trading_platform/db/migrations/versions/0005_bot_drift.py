"""trading_bots.drift: a running live bot's position or open orders differ from the exchange's

Written by the bot when its periodic reconciliation finds a difference (with the time and
what differs); it blocks new positions until cleared by the operator
(``trading-platform bots ack-drift``) or by a restart.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("trading_bots") as batch:
        batch.add_column(sa.Column("drift", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trading_bots") as batch:
        batch.drop_column("drift")
