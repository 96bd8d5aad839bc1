"""operator control: admins, paused bots, reloads, a command table, who did what

Operators act on bots from Telegram and from the CLI (``bots pause | resume | forceexit |
reload``), and every action is audited:

- ``users.is_admin``: an admin sees and commands every bot; any other user only their own.
  ``users.created_at`` takes a database default, so ``INSERT INTO users (username) VALUES
  ('alice')`` works from any SQL client (it failed before: the platform filled it in).
- ``trading_bots.paused`` (desired): no new entries while true, exits still allowed.  A
  running bot reads it with every heartbeat; it is not part of the config hash, so pausing
  never restarts a bot.
- ``trading_bots.reload_requests`` (desired): ``reload`` adds one; it is part of the config
  hash, so the sensor restarts the run with the same config through its config-change path.
- ``bot_commands``: actions a running bot must perform itself (``forceexit``).  The bot run
  claims pending rows at every heartbeat and writes the result back; ``idempotency_key``
  (e.g. a Telegram update id) keeps a re-delivered request from creating a second command.
- ``bot_status_events.actor``: who caused the row (``telegram:alice``, ``cli:root``); NULL
  for the platform's own transitions.  ``bot_id`` may be NULL for an audited command that
  concerns no single bot (``/help``, or a chat nobody is known by), and ``at`` takes a
  database default.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trading_platform.db.types import UtcDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("CURRENT_TIMESTAMP")


def _add_flag(table: str, column: str, constraint: str) -> None:
    """A boolean that SQLite, too, keeps to 0 or 1 (see migration 0007): SQLite takes a
    column CHECK in ``ADD COLUMN``, which spares a table rebuild."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN {column} BOOLEAN NOT NULL DEFAULT 0 "
            f"CONSTRAINT {constraint} CHECK ({column} IN (0, 1))"
        )
    else:
        op.add_column(
            table,
            sa.Column(column, sa.Boolean(), nullable=False, server_default=sa.text("false")),
        )


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.alter_column(
            "created_at", existing_type=UtcDateTime(timezone=True), server_default=NOW
        )
    _add_flag("users", "is_admin", "ck_users_is_admin")
    _add_flag("trading_bots", "paused", "ck_trading_bots_paused")
    op.add_column(
        "trading_bots",
        sa.Column("reload_requests", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    with op.batch_alter_table("bot_status_events") as batch:
        batch.alter_column("bot_id", existing_type=sa.Integer(), nullable=True)
        batch.alter_column("at", existing_type=UtcDateTime(timezone=True), server_default=NOW)
        batch.add_column(sa.Column("actor", sa.Text(), nullable=True))
    op.create_table(
        "bot_commands",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "bot_id",
            sa.Integer(),
            sa.ForeignKey("trading_bots.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("command", sa.String(20), nullable=False),
        sa.Column("requested_by", sa.Text(), nullable=True),
        sa.Column("requested_at", UtcDateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("status", sa.String(10), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("done_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("idempotency_key", sa.String(100), nullable=True, unique=True),
        sa.Column("reply_chat_id", sa.String(64), nullable=True),
        sa.Column("answered_at", UtcDateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_bot_commands_bot_status", "bot_commands", ["bot_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_bot_commands_bot_status", table_name="bot_commands")
    op.drop_table("bot_commands")
    op.execute("DELETE FROM bot_status_events WHERE bot_id IS NULL")
    with op.batch_alter_table("bot_status_events") as batch:
        batch.drop_column("actor")
        batch.alter_column("at", existing_type=UtcDateTime(timezone=True), server_default=None)
        batch.alter_column("bot_id", existing_type=sa.Integer(), nullable=False)
    # plain DROP COLUMN (SQLite 3.35+): a batch rebuild would reset trading_bots' id counter
    for table, column in (
        ("trading_bots", "reload_requests"),
        ("trading_bots", "paused"),
        ("users", "is_admin"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    with op.batch_alter_table("users") as batch:
        batch.alter_column(
            "created_at", existing_type=UtcDateTime(timezone=True), server_default=None
        )
