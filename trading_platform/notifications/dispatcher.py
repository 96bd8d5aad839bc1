"""Send what the outbox holds, retrying with backoff, never twice.

Each pending row due now is claimed (``attempts`` + 1 and ``next_attempt_at`` pushed out in
the same transaction), then sent, then marked ``sent``; a transient failure schedules the
next attempt (``retry_after`` from Telegram when given, else exponential backoff) and a
message that keeps failing, or fails permanently, ends ``failed`` with the reason.
Claiming first means two dispatchers never send the same row at once: the claim is a
compare-and-set on the row (see :func:`_take`), on SQLite as on PostgreSQL.

Messages reach each recipient in the order they were written: a row waits while an older
pending row of the same user and channel is backing off (so a SELL never overtakes its BUY
after an outage).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import Engine, exists, select, update
from sqlalchemy.orm import Session, aliased

from trading_platform.contract import Channel, NotificationStatus, Priority
from trading_platform.db.engine import session_scope
from trading_platform.db.models import Notification, User
from trading_platform.db.types import utcnow
from trading_platform.notifications.senders import PermanentError, Sender, TransientError

MAX_ATTEMPTS = 8
BACKOFF_SECONDS = 5.0
BACKOFF_MAX_SECONDS = 600.0
CLAIM_SECONDS = 120.0
#: the longest ``last_error`` written: enough for the type and the gist of the message
REASON_CHARS = 200
#: the more urgent first; Priority lists its members from the most urgent down
PRIORITY_ORDER = {priority: rank for rank, priority in enumerate(Priority)}


@dataclass
class DispatchReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0
    reasons: list[str] = field(default_factory=list)


def backoff(
    attempts: int, start: float = BACKOFF_SECONDS, longest: float = BACKOFF_MAX_SECONDS
) -> float:
    return min(start * 2 ** max(attempts - 1, 0), longest)


def _claim(engine: Engine, now: dt.datetime, limit: int) -> list[tuple[int, str, str, str, int]]:
    older = aliased(Notification)
    waits_for_older = exists().where(
        older.user_id == Notification.user_id,
        older.channel == Notification.channel,
        older.status == NotificationStatus.PENDING,
        older.id < Notification.id,
        older.next_attempt_at > now,
    )
    with session_scope(engine) as session:
        rows = session.execute(
            select(
                Notification.id,
                Notification.channel,
                Notification.text,
                Notification.priority,
                Notification.attempts,
                User.telegram_user_id,
                User.email,
            )
            .join(User, User.id == Notification.user_id, isouter=True)
            .where(
                Notification.status == NotificationStatus.PENDING,
                Notification.next_attempt_at <= now,
                ~waits_for_older,
            )
            .order_by(Notification.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=Notification)
        ).all()
        claimed = []
        for row in sorted(rows, key=lambda r: (PRIORITY_ORDER.get(r.priority, 9), r.id)):
            if not _take(session, row.id, row.attempts, now):
                continue  # another dispatcher claimed it after our read
            address = row.telegram_user_id if row.channel == Channel.TELEGRAM else row.email
            claimed.append((row.id, row.channel, address or "", row.text, row.attempts + 1))
        return claimed


def _take(session: Session, notification_id: int, attempts: int, now: dt.datetime) -> bool:
    """Claim one row read as due with ``attempts``: a compare-and-set, true if it was ours.

    The ``UPDATE`` repeats what the read saw (still pending, still due, ``attempts``
    unchanged), so of the dispatchers that read the row one wins and the others match
    nothing.  PostgreSQL's ``FOR UPDATE SKIP LOCKED`` already hides a claimed row from the
    others' read; SQLite ignores it and takes no lock for a read, so there every dispatcher
    read the same rows and each sent them.  The first ``UPDATE`` takes SQLite's write lock
    for the rest of the claim, so the later ones see every claim committed before it."""
    taken = session.execute(
        update(Notification)
        .where(
            Notification.id == notification_id,
            Notification.status == NotificationStatus.PENDING,
            Notification.attempts == attempts,
            Notification.next_attempt_at <= now,
        )
        .values(
            attempts=attempts + 1,
            next_attempt_at=now + dt.timedelta(seconds=CLAIM_SECONDS),
        )
    )
    return bool(taken.rowcount)  # type: ignore[attr-defined]


def _finish(engine: Engine, notification_id: int, **values: object) -> None:
    with session_scope(engine) as session:
        session.execute(
            update(Notification).where(Notification.id == notification_id).values(**values)
        )


def failure_reason(exc: BaseException) -> str:
    """What ``last_error`` keeps of an error: its type and message, cut to
    :data:`REASON_CHARS`.  Senders keep their secrets out of their exceptions (the Telegram
    sender takes its token out of every one), so the text can be stored and logged."""
    return f"{type(exc).__name__}: {exc}"[:REASON_CHARS]


def _fail(engine: Engine, notification_id: int, reason: str, report: DispatchReport) -> None:
    reason = reason[:REASON_CHARS]
    _finish(engine, notification_id, status=NotificationStatus.FAILED, last_error=reason)
    report.failed += 1
    report.reasons.append(reason)


def _retry_or_give_up(
    engine: Engine,
    notification_id: int,
    attempts: int,
    exc: TransientError,
    report: DispatchReport,
    max_attempts: int,
    backoff_seconds: float,
    backoff_max_seconds: float,
) -> None:
    """A transient failure: try again later (``retry_after`` when the server gave one, else
    exponential backoff), or fail for good after ``max_attempts``."""
    if attempts >= max_attempts:
        _fail(engine, notification_id, f"gave up after {attempts} attempts: {exc}", report)
        return
    delay = (
        exc.retry_after
        if exc.retry_after is not None
        else backoff(attempts, backoff_seconds, backoff_max_seconds)
    )
    _finish(
        engine,
        notification_id,
        last_error=str(exc)[:REASON_CHARS],
        next_attempt_at=utcnow() + dt.timedelta(seconds=delay),
    )
    report.retried += 1
    report.reasons.append(str(exc)[:REASON_CHARS])


def dispatch_pending(
    engine: Engine,
    senders: Mapping[str, Sender],
    *,
    now: dt.datetime | None = None,
    limit: int = 100,
    max_attempts: int = MAX_ATTEMPTS,
    backoff_seconds: float = BACKOFF_SECONDS,
    backoff_max_seconds: float = BACKOFF_MAX_SECONDS,
) -> DispatchReport:
    """One pass over the due messages; returns what happened.

    No message stops the others: whatever one send raises is settled on that row (retried
    when transient, else ``failed`` with :func:`failure_reason`) and the pass goes on.  An
    error left to escape would leave the row claimed, to be claimed again and abort every
    pass after it, while the messages claimed beside it waited for nothing."""
    now = now or utcnow()
    report = DispatchReport()
    paused: set[str] = set()
    for notification_id, channel, address, text, attempts in _claim(engine, now, limit):
        if channel in paused:
            # the channel failed earlier in this pass: release the claim, keep the order
            _finish(engine, notification_id, attempts=attempts - 1, next_attempt_at=now)
            report.skipped += 1
            continue
        sender = senders.get(channel)
        if sender is None or not address:
            reason = (
                f"no {channel} sender configured"
                if sender is None
                else f"the user has no {channel} address"
            )
            _fail(engine, notification_id, reason, report)
            continue
        try:
            sender.send(address, text)
        except TransientError as exc:
            _retry_or_give_up(
                engine,
                notification_id,
                attempts,
                exc,
                report,
                max_attempts,
                backoff_seconds,
                backoff_max_seconds,
            )
            paused.add(channel)
            continue
        except PermanentError as exc:
            _fail(engine, notification_id, str(exc), report)
            continue
        except Exception as exc:  # noqa: BLE001 - bad data in one message, not the channel
            _fail(engine, notification_id, failure_reason(exc), report)
            continue
        _finish(
            engine,
            notification_id,
            status=NotificationStatus.SENT,
            sent_at=utcnow(),
            last_error=None,
        )
        report.sent += 1
    return report
