"""``bot_leases``: at most one process trades a bot, whatever Dagster believes.

Dagster's run status is not enough: a run marked CANCELED may still be alive (its code server
gone, a strategy that swallows the interrupt), a second Dagster instance or a reset Dagster
storage may launch a second run of the same bot, and a run started by hand escapes the run
queue's limits.  So a run takes its bot's lease in the bot database before it trades:

- **acquire** is a compare-and-set on the row: it succeeds only when the lease is free (never
  taken, released, revoked) or its holder stopped renewing it for ``ttl_seconds``, and it
  raises ``epoch`` by one.  The epoch is the fencing token: it goes into the run's client
  order ids (``tp-<bot>-<epoch>-<seq>``), so two runs never share an id.
- **renew** (every heartbeat) proves the holder alive; it fails once the lease was taken.
- **fence** runs inside the same transaction as every order write-ahead and fill write: a
  process whose lease was taken or revoked can no longer record, hence no longer send.
- **revoke** is how the sensor stops a run it cancels: the epoch moves on, and the old
  process, alive or not, is fenced off at its next write.

Time is the database's own clock (``CURRENT_TIMESTAMP``), so hosts whose clocks drift agree on
when a lease expired.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trading_platform.db.engine import session_scope
from trading_platform.db.models import BotLease

#: compare-and-set attempts before acquire gives up on a lease that keeps changing hands
_ACQUIRE_ATTEMPTS = 5


class LeaseHeld(Exception):
    """Another live process holds the bot's lease: this run must not trade."""


class LeaseLost(Exception):
    """The lease was taken or revoked: the process stops sending at once and exits."""


@dataclass(frozen=True)
class Lease:
    """A lease this process holds; ``epoch`` is its fencing token."""

    bot_id: int
    epoch: int
    run_id: str

    def check(self, session: Session) -> None:
        """Inside the caller's transaction: raise :class:`LeaseLost` unless this lease still
        holds.  The UPDATE locks the row (PostgreSQL) or the database (SQLite) until the
        caller commits, so a competing acquire or revoke waits for the write it fences."""
        changed = session.execute(
            update(BotLease)
            .where(
                BotLease.bot_id == self.bot_id,
                BotLease.epoch == self.epoch,
                BotLease.holder_run_id == self.run_id,
            )
            .values(epoch=BotLease.epoch)
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            raise LeaseLost(
                f"bot {self.bot_id}: lease epoch {self.epoch} of run {self.run_id} was taken "
                "or revoked; this process stops trading"
            )


def database_now(session: Session) -> dt.datetime:
    """The database's clock, as an aware UTC datetime (SQLite answers text)."""
    value = session.execute(select(func.current_timestamp())).scalar_one()
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


def acquire_lease(
    engine: Engine, bot_id: int, run_id: str, holder: str, ttl_seconds: float
) -> Lease:
    """Take the bot's lease with a new epoch, or raise :class:`LeaseHeld`."""
    for _ in range(_ACQUIRE_ATTEMPTS):
        try:
            lease = _try_acquire(engine, bot_id, run_id, holder, ttl_seconds)
        except IntegrityError:  # another process created the row first: read it again
            continue
        if lease is not None:
            return lease
    raise LeaseHeld(f"bot {bot_id}: its lease kept changing hands; not trading")


def _try_acquire(
    engine: Engine, bot_id: int, run_id: str, holder: str, ttl_seconds: float
) -> Lease | None:
    with session_scope(engine) as session:
        now = database_now(session)
        row = session.get(BotLease, bot_id)
        if row is None:
            session.add(
                BotLease(
                    bot_id=bot_id,
                    epoch=1,
                    holder_run_id=run_id,
                    holder=holder,
                    acquired_at=now,
                    renewed_at=now,
                )
            )
            session.flush()
            return Lease(bot_id, 1, run_id)
        renewed = _aware(row.renewed_at)
        alive = renewed is not None and now - renewed < dt.timedelta(seconds=ttl_seconds)
        if row.holder_run_id is not None and row.holder_run_id != run_id and alive:
            raise LeaseHeld(
                f"bot {bot_id} is traded by run {row.holder_run_id} ({row.holder}), which "
                f"renewed its lease at {renewed:%Y-%m-%d %H:%M:%S} UTC; this run does not trade"
            )
        epoch = row.epoch
        session.expunge(row)
        changed = session.execute(
            update(BotLease)
            .where(BotLease.bot_id == bot_id, BotLease.epoch == epoch)
            .values(
                epoch=epoch + 1,
                holder_run_id=run_id,
                holder=holder,
                acquired_at=now,
                renewed_at=now,
            )
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            return None  # someone else moved the epoch meanwhile: look again
        return Lease(bot_id, epoch + 1, run_id)


def renew_lease(engine: Engine, lease: Lease) -> None:
    """Prove the holder alive; :class:`LeaseLost` if the lease is no longer its own."""
    with session_scope(engine) as session:
        lease.check(session)
        session.execute(
            update(BotLease)
            .where(BotLease.bot_id == lease.bot_id)
            .values(renewed_at=database_now(session))
        )


def release_lease(engine: Engine, lease: Lease) -> bool:
    """Give the lease up at the end of a run (the next run need not wait for it to expire);
    False if it was no longer this run's."""
    with session_scope(engine) as session:
        changed = session.execute(
            update(BotLease)
            .where(
                BotLease.bot_id == lease.bot_id,
                BotLease.epoch == lease.epoch,
                BotLease.holder_run_id == lease.run_id,
            )
            .values(holder_run_id=None, holder=None)
        )
        return changed.rowcount == 1  # type: ignore[attr-defined]


def revoke_lease(engine: Engine, bot_id: int, run_id: str | None = None) -> bool:
    """Fence off the lease's holder (``run_id``'s, or whoever's when None): the epoch moves
    on, the lease is free.  True if a lease was revoked."""
    conditions = [BotLease.bot_id == bot_id, BotLease.holder_run_id.is_not(None)]
    if run_id is not None:
        conditions.append(BotLease.holder_run_id == run_id)
    with session_scope(engine) as session:
        changed = session.execute(
            update(BotLease)
            .where(*conditions)
            .values(epoch=BotLease.epoch + 1, holder_run_id=None, holder=None)
        )
        return changed.rowcount == 1  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Holder:
    bot_id: int
    run_id: str
    #: the process: ``<host> pid <pid> start <ticks>`` (:mod:`trading_platform.processes`)
    process: str | None


def held_leases(engine: Engine) -> list[Holder]:
    """Every lease someone holds."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(BotLease.bot_id, BotLease.holder_run_id, BotLease.holder).where(
                BotLease.holder_run_id.is_not(None)
            )
        ).all()
    return [Holder(bot_id, run_id, process) for bot_id, run_id, process in rows]


def lease_of(engine: Engine, bot_id: int) -> BotLease | None:
    with session_scope(engine) as session:
        row = session.get(BotLease, bot_id)
        if row is not None:
            session.expunge(row)
        return row
