"""credential_grants: which user may trade with which credential set

A bot's config names a credential set (``"credentials": "BINANCE_MAIN"``) whose keys the
process that trades reads from the environment.  Until now any row could name any set, so a
user's bot could trade another user's account.  A set is now usable only by a bot whose
owner (``trading_bots.user_id``) holds a grant for it (``trading-platform credentials
grant``); a bot with no owner may use none.  Names are stored upper case, as the
environment variables spell them (``binance_main`` reads the same keys as ``BINANCE_MAIN``).

No grant is created for existing bots: an operator grants each set on purpose.  Until then
a live bot naming a set is marked ``error`` with the command that grants it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trading_platform.db.types import UtcDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "credential_grants",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column(
            "granted_at",
            UtcDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column("granted_by", sa.Text(), nullable=True),
        sa.UniqueConstraint("user_id", "name", name="uq_credential_grants_user_name"),
    )


def downgrade() -> None:
    op.drop_table("credential_grants")
