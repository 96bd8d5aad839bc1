"""The age rule for orders (feeds/staleness.py): a bar is tradable until the grace after its
close, on the exchange's clock."""

from __future__ import annotations

import datetime as dt

import pytest

from trading_platform.feeds.bars import Bar
from trading_platform.feeds.queue_feed import QueueFeed
from trading_platform.feeds.staleness import (
    Freshness,
    default_grace_seconds,
    is_stale,
    stale_bar_reason,
    tradable_until,
)

OPEN = dt.datetime(2026, 1, 1, 12, 0)
OPEN_S = OPEN.replace(tzinfo=dt.UTC).timestamp()


def test_a_bar_is_tradable_until_the_grace_after_its_close() -> None:
    # a 1m bar opened at 12:00 closed at 12:01; grace 6 s
    assert tradable_until(OPEN_S, 60, 6) == OPEN_S + 66
    assert not is_stale(OPEN_S, 60, 6, now_s=OPEN_S + 61)  # just closed
    assert not is_stale(OPEN_S, 60, 6, now_s=OPEN_S + 66)  # the last instant
    assert is_stale(OPEN_S, 60, 6, now_s=OPEN_S + 66.001)
    # a daily candle hours after its close is history, not a price to trade on
    assert is_stale(OPEN_S, 86_400, 60, now_s=OPEN_S + 86_400 + 5 * 3_600)


@pytest.mark.parametrize(
    ("timeframe_s", "grace_s"),
    [(1, 2.0), (60, 6.0), (300, 30.0), (3_600, 60.0), (86_400, 60.0)],
)
def test_default_grace_is_a_tenth_of_the_timeframe_within_2_to_60_s(timeframe_s, grace_s) -> None:
    assert default_grace_seconds(timeframe_s) == grace_s


def _feed_on(bar_time: dt.datetime, rule: Freshness | None) -> QueueFeed:
    feed = QueueFeed(freshness=rule)
    feed.start()
    feed.bars.put(Bar(bar_time, 1.0, 1.0, 1.0, 1.0, 1.0))
    feed.forward()
    assert feed._load()
    return feed


def test_the_current_bar_of_a_feed_is_judged_by_the_exchange_clock() -> None:
    now = {"s": OPEN_S + 63}
    notes: list[str] = []
    rule = Freshness(60, 6, clock=lambda: now["s"], on_stale=notes.append)
    feed = _feed_on(OPEN, rule)
    assert stale_bar_reason(feed) is None and notes == []
    now["s"] = OPEN_S + 130
    why = stale_bar_reason(feed)
    assert why is not None and "closed 70.0 s ago" in why and "until 6 s after" in why
    assert notes == [f"order refused, stale price: {why}"]


def test_feeds_without_a_rule_or_a_bar_are_not_judged_by_age() -> None:
    assert stale_bar_reason(None) is None
    assert stale_bar_reason(_feed_on(dt.datetime(2000, 1, 1), None)) is None
    empty = QueueFeed(freshness=Freshness(60, 6, clock=lambda: 4e9))
    empty.start()
    assert stale_bar_reason(empty) is None


def test_a_failing_audit_note_never_reaches_the_broker() -> None:
    def broken(_why: str) -> None:
        raise RuntimeError("database is locked")

    rule = Freshness(60, 6, clock=lambda: OPEN_S + 1_000, on_stale=broken)
    assert stale_bar_reason(_feed_on(OPEN, rule)) is not None
