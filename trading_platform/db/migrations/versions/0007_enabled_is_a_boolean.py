"""trading_bots.enabled holds 0 or 1 on SQLite (a CHECK constraint)

SQLite keeps whatever a client writes: ``UPDATE trading_bots SET enabled = 'false'`` stored
the text, and SQLAlchemy read any text as True, so a bot its owner meant to stop kept
trading.  The sensor now marks such a row ``error`` (never enabled); this CHECK makes the
database refuse the write in the first place, so the owner hears of the mistake at once.

PostgreSQL: nothing to do.  ``enabled`` is a ``boolean`` column there, which refuses text
that is not a boolean by itself (and ``boolean IN (0, 1)`` would not even type-check).

SQLite cannot add a constraint to a table: the table is rebuilt (Alembic's batch mode),
keeping its AUTOINCREMENT (migration 0003).  A rebuild copies the rows, and SQLite then
restarts the id counter at the highest id copied; the counter of before is put back, so an
id deleted before this migration is still never handed out again.

Existing rows whose ``enabled`` is anything but 0 or 1 (NULL, ``'false'``, ``'yes'``, 2)
would make the rebuild fail: they are set to 0 first, i.e. **disabled**.  Disabled is the
safe reading of a value nobody can tell the meaning of; the sensor already refused to run
those bots (status ``error``), and the owner enables them again with a real boolean.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONSTRAINT = "ck_trading_bots_enabled"


def _id_counter(bind: sa.Connection) -> int:
    """The highest id AUTOINCREMENT has handed out (0 before any)."""
    seq = bind.execute(
        sa.text("SELECT seq FROM sqlite_sequence WHERE name = 'trading_bots'")
    ).scalar()
    return int(seq or 0)


def _restore_id_counter(bind: sa.Connection, seq: int) -> None:
    bind.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = 'trading_bots'"))
    bind.execute(
        sa.text(
            "INSERT INTO sqlite_sequence (name, seq) VALUES ('trading_bots', "
            "(SELECT MAX(:seq, COALESCE(MAX(id), 0)) FROM trading_bots))"
        ),
        {"seq": seq},
    )


def _rebuild(check: bool) -> None:
    bind = op.get_bind()
    seq = _id_counter(bind)
    with op.batch_alter_table(
        "trading_bots", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ) as batch:
        if check:
            batch.create_check_constraint(CONSTRAINT, "enabled IN (0, 1)")
        else:
            batch.drop_constraint(CONSTRAINT, type_="check")
    _restore_id_counter(bind, seq)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("UPDATE trading_bots SET enabled = 0 WHERE enabled IS NULL OR enabled NOT IN (0, 1)")
    _rebuild(check=True)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _rebuild(check=False)
