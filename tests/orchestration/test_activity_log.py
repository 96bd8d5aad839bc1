"""The bridge from a bot's activity to its run's log, without Dagster: a real paper bot on the
replay market (SQLite and PostgreSQL), its entries written by the waiting thread, one per
fill and status change, a summary per window, none per bar."""

from __future__ import annotations

import logging
import threading

from tests.support.builders import add_bot_config
from tests.support.waiting import wait_for
from trading_platform.db.status import status_events
from trading_platform.db.trades import bot_trades
from trading_platform.engine.activity import ACTIVITY_LOGGER, ActivityLog, parse_activity
from trading_platform.engine.runner import BotRunner
from trading_platform.orchestration.activity_log import EventLogBridge
from trading_platform.strategy_handler import load_registry


class RunLog(logging.Handler):
    """Stands in for ``context.log``: what was written, and by which thread."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.written.append((threading.current_thread().name, record.getMessage()))

    def entries(self) -> list[dict[str, str]]:
        return [parse_activity(message) for _thread, message in self.written]


def _run_log() -> tuple[logging.Logger, RunLog]:
    logger = logging.Logger("run-log", level=logging.DEBUG)
    handler = RunLog()
    logger.addHandler(handler)
    return logger, handler


def test_a_paper_bots_activity_reaches_the_run_log_from_the_waiting_thread(db_engine) -> None:
    registry, _ = load_registry()
    config = add_bot_config(
        db_engine,
        registry,
        "activity-paper",
        config={
            "params": {"fast": 3, "slow": 8},
            "data": {"pace_seconds": 0.05, "history_bars": 20, "seed": 4},
            "heartbeat_interval": 1,
        },
    )
    runner = BotRunner(config, registry, db_engine, run_id="run-act", summary_seconds=2)
    target, run_log = _run_log()
    bridge = EventLogBridge(config.bot_id)
    # an entry of another bot in the same process stays out of this run's log
    ActivityLog(config.bot_id + 1).status("stopped", "starting", "another bot")

    def op() -> None:
        with bridge.attached():
            try:
                runner.run_until_interrupted(on_wait=lambda: bridge.drain(target))
            finally:
                bridge.drain(target)

    waiting = threading.Thread(target=op, name="op-thread")
    waiting.start()
    try:
        wait_for(lambda: len(bot_trades(db_engine, config.bot_id)) >= 3, 60, "trades")
        wait_for(
            lambda: sum(e.get("activity") == "summary" for e in run_log.entries()) >= 2,
            30,
            "two periodic summaries",
        )
    finally:
        runner.request_stop()
        waiting.join(timeout=30)
    assert not waiting.is_alive()

    entries = run_log.entries()
    assert all(e.get("bot") == str(config.bot_id) for e in entries), entries
    assert {thread for thread, _ in run_log.written} == {"op-thread"}
    trades = bot_trades(db_engine, config.bot_id)
    fills = [e for e in entries if e["activity"] == "fill"]
    assert [(f["side"], f["price"]) for f in fills] == [
        (t.side, str(float(t.price))) for t in trades
    ]
    transitions = [(e["from"], e["to"]) for e in entries if e["activity"] == "status"]
    audited = [(e.from_status, e.to_status) for e in status_events(db_engine, config.bot_id)]
    assert (
        transitions
        == audited
        == [
            ("stopped", "starting"),
            ("starting", "running"),
            ("running", "stopped"),
        ]
    )
    summaries = [e for e in entries if e["activity"] == "summary"]
    assert summaries[-1]["final"] == "yes"
    assert sum(int(s["fills"]) for s in summaries) == len(trades)
    bars_seen = int(summaries[-1]["bars"])
    assert sum(int(s["new_bars"]) for s in summaries) == bars_seen
    # bounded: history-bar refusals are capped, and nothing is written per bar
    assert len(entries) < bars_seen / 2, (len(entries), bars_seen)
    assert logging.getLogger(ACTIVITY_LOGGER).level == logging.NOTSET  # put back


def test_an_interrupt_in_the_waiting_thread_still_logs_the_clean_stop(db_engine) -> None:
    """Dagster's cancel arrives in the op's thread (here: a KeyboardInterrupt raised from
    ``on_wait``); the bot stops cleanly and its last entries are written afterwards."""
    registry, _ = load_registry()
    config = add_bot_config(
        db_engine,
        registry,
        "activity-cancel",
        config={"data": {"pace_seconds": 0.05, "history_bars": 20}, "heartbeat_interval": 1},
    )
    runner = BotRunner(config, registry, db_engine, run_id="run-cancel")
    target, run_log = _run_log()
    bridge = EventLogBridge(config.bot_id)
    interrupted: list[BaseException] = []

    def on_wait() -> None:
        bridge.drain(target)
        if runner.current_status == "running":
            raise KeyboardInterrupt

    def op() -> None:
        with bridge.attached():
            try:
                runner.run_until_interrupted(on_wait=on_wait)
            except KeyboardInterrupt as exc:
                interrupted.append(exc)
            finally:
                bridge.drain(target)

    waiting = threading.Thread(target=op, name="op-thread")
    waiting.start()
    waiting.join(timeout=60)
    assert not waiting.is_alive() and interrupted
    entries = run_log.entries()
    statuses = [e["to"] for e in entries if e["activity"] == "status"]
    assert statuses == ["starting", "running", "stopping", "stopped"]
    # the run's last summary, once the bot stopped trading
    stopping = next(i for i, e in enumerate(entries) if e.get("to") == "stopping")
    finals = [i for i, e in enumerate(entries) if e.get("final") == "yes"]
    assert len(finals) == 1 and finals[0] > stopping


class FailingLog(logging.Logger):
    def log(self, level, msg, *args, **kwargs) -> None:  # type: ignore[no-untyped-def, override]
        raise OSError("event log storage unavailable")


def test_a_failing_run_log_drops_the_entry_and_never_raises() -> None:
    bridge = EventLogBridge(7)
    with bridge.attached():
        ActivityLog(7).status("stopped", "starting", "run started")
    assert bridge.pending() == 1
    assert bridge.drain(FailingLog("failing")) == 0
    assert bridge.pending() == 0


def test_a_full_queue_counts_what_it_dropped_and_says_so() -> None:
    bridge = EventLogBridge(7, capacity=5)
    target, run_log = _run_log()
    with bridge.attached():
        activity = ActivityLog(7)
        for n in range(12):
            activity.fill(side="buy", amount=1, price=2, fee=0, order=f"o-{n}")
        assert bridge.drain(target) == 6
    entries = run_log.entries()
    assert [e["order"] for e in entries[:5]] == [f"o-{n}" for n in range(5)]
    assert entries[5]["activity"] == "incident"
    assert entries[5]["reason"] == "7 activity entries dropped: the queue was full"
