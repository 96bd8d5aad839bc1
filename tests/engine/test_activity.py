"""The activity reporter without a bot: the entries' shape, their bounds, the summary's
cadence."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

import pytest

from tests.support.builders import add_bot
from trading_platform.engine.activity import (
    INCIDENTS_PER_WINDOW,
    Activity,
    ActivityLog,
    format_activity,
    parse_activity,
)
from trading_platform.exchanges.ledger import ExchangeFill, OrderLedger


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def entries(self) -> list[dict[str, str]]:
        return [parse_activity(r.getMessage()) for r in self.records]


@pytest.fixture
def capture() -> tuple[logging.Logger, Capture]:
    logger = logging.Logger("activity-test", level=logging.DEBUG)
    handler = Capture()
    logger.addHandler(handler)
    return logger, handler


def test_an_entry_is_key_value_text_that_parses_back_exactly() -> None:
    reason = 'feed "binance" down: timeout=10 s\nretrying'
    message = format_activity(
        "feed_down", {"bot": 7, "reason": reason, "pnl": None, "final": True, "x": 0.1}
    )
    assert message.startswith("activity=feed_down bot=7 reason=")
    assert "\n" not in message  # one line, whatever the text held
    assert parse_activity(message) == {
        "activity": "feed_down",
        "bot": "7",
        "reason": reason,
        "pnl": "",
        "final": "yes",
        "x": "0.1",
    }
    assert parse_activity("bot 7 started") == {}


def test_a_fill_shows_the_exchanges_decimals_exactly(capture) -> None:
    logger, handler = capture
    activity = ActivityLog(7, logger=logger)
    activity.fill(
        side="buy",
        amount=Decimal("0.00100000"),
        price=Decimal("45000.51"),
        fee=Decimal("0.045"),
        order="tp-7-3-1",
        fill_id="991",
    )
    (entry,) = handler.entries()
    assert entry["activity"] == "fill" and entry["bot"] == "7"
    assert (entry["amount"], entry["price"], entry["fee"]) == ("0.00100000", "45000.51", "0.045")
    assert (entry["order"], entry["fill"], entry["pnl"]) == ("tp-7-3-1", "991", "")
    (record,) = handler.records
    assert record.activity == "fill" and record.bot_id == 7  # type: ignore[attr-defined]


def test_incidents_of_one_kind_are_capped_per_window_and_counted_in_the_summary(
    capture,
) -> None:
    logger, handler = capture
    clock = Clock()
    activity = ActivityLog(7, summary_seconds=60, clock=clock, logger=logger)
    for bar in range(200):  # a strategy asking for an order on every bar, refused each time
        activity.incident(Activity.REFUSAL, f"order refused on bar {bar}")
    activity.incident(Activity.FEED_DOWN, "timeout")  # another kind has its own budget
    for n in range(30):  # fills and status changes are never left out
        activity.fill(side="buy", amount=1, price=2, fee=0, order=f"o-{n}")
    activity.status("starting", "running", "paper trading")
    kinds = [e["activity"] for e in handler.entries()]
    assert kinds.count("refusal") == INCIDENTS_PER_WINDOW
    assert kinds.count("feed_down") == 1 and kinds.count("fill") == 30
    assert kinds.count("status") == 1
    clock.now += 60
    activity.summary(bars=500, position=0.5, equity=10_100.0)
    summary = handler.entries()[-1]
    assert summary["activity"] == "summary"
    assert summary["suppressed"] == f"refusal:{200 - INCIDENTS_PER_WINDOW}"
    assert (summary["fills"], summary["bars"], summary["new_bars"]) == ("30", "500", "500")
    # a new window: the budget starts again
    activity.incident(Activity.REFUSAL, "refused again")
    assert handler.entries()[-1]["activity"] == "refusal"


def test_the_summary_is_due_every_window_and_counts_since_the_previous_one(capture) -> None:
    logger, handler = capture
    clock = Clock()
    activity = ActivityLog(7, summary_seconds=300, clock=clock, logger=logger)
    assert not activity.summary_due()
    clock.now += 299.9
    assert not activity.summary_due()
    clock.now += 0.1
    assert activity.summary_due()
    activity.fill(side="buy", amount=1, price=2, fee=0, order="o-1")
    activity.summary(bars=100, position=1.0, equity=None)
    assert not activity.summary_due()
    clock.now += 300
    activity.summary(bars=160, position=0.0, equity=9_990.5, final=True)
    first, second = (e for e in handler.entries() if e["activity"] == "summary")
    assert (first["fills"], first["new_bars"], first["equity"]) == ("1", "100", "")
    assert (second["fills"], second["new_bars"], second["bars"]) == ("0", "60", "160")
    assert (second["final"], second["window_s"], second["equity"]) == ("yes", "300", "9990.5")


def test_levels_say_what_needs_a_look(capture) -> None:
    logger, handler = capture
    activity = ActivityLog(7, logger=logger)
    activity.status("running", "error", "run failed")
    activity.incident(Activity.DRIFT, "position differs")
    activity.incident(Activity.LEASE_LOST, "lease taken")
    activity.incident(Activity.FEED_UP, "recovered")
    levels = [r.levelno for r in handler.records]
    assert levels == [logging.ERROR, logging.WARNING, logging.ERROR, logging.INFO]


def test_a_live_fill_is_one_entry_when_recorded_and_none_when_seen_again(
    db_engine, capture
) -> None:
    """The order ledger of a live bot reports each exchange fill it records, once, with the
    exchange's exact decimals (a fill seen again on the next poll writes nothing)."""
    logger, handler = capture
    bot_id = add_bot(db_engine, "live-ledger")
    ledger = OrderLedger(
        db_engine, bot_id, "run-l", "BTC/USDT", activity=ActivityLog(bot_id, logger=logger)
    )
    fill = ExchangeFill(
        fill_id="t-1",
        exchange_order_id="e-1",
        price=Decimal("45000.10"),
        amount=Decimal("0.00120000"),
        fee=Decimal("0.054"),
        fee_currency="USDT",
        at=dt.datetime(2026, 1, 2, 3, 4, 5),
    )
    for _poll in range(2):
        ledger.record_fill(
            "tp-1-1-1",
            "buy",
            fill,
            fee_in_quote=Decimal("0.054"),
            pnl=None,
            entry_logic="x",
            exit_logic=None,
        )
    (entry,) = handler.entries()
    assert (entry["activity"], entry["order"], entry["fill"]) == ("fill", "tp-1-1-1", "t-1")
    assert (entry["amount"], entry["price"]) == ("0.00120000", "45000.10")
