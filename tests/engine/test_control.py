"""An operator's control of a running paper bot (engine/control.py) on the replay venue,
through a real BotRunner and the actions of trading_platform.control: a paused bot refuses
entries (also a strategy's own ``self.buy()``) but still exits; a force exit closes the
position at the next bar and writes the result; commands a dead run took are finished from
the order it left, never placed again."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import Field

from tests.support.builders import add_bot_config
from tests.support.running import RunnerThread
from tests.support.waiting import wait_for
from trading_platform.control import actions
from trading_platform.control.operators import Operator
from trading_platform.db import commands
from trading_platform.db.bots import get_bot
from trading_platform.db.orders import write_ahead_order
from trading_platform.db.positions import get_position
from trading_platform.db.status import status_events
from trading_platform.db.trades import bot_trades
from trading_platform.engine.runner import BotRunner
from trading_platform.strategy_handler import PlatformStrategy, StrategyParams, StrategyRegistry

ADMIN = Operator(None, "root", True, "cli")

#: a bar every 0.1 s after 20 bars of history, a heartbeat (and control poll) every second
FAST = {"data": {"pace_seconds": 0.1, "history_bars": 20, "seed": 5}, "heartbeat_interval": 1}


class DirectTrader(PlatformStrategy):
    """Buys with backtrader's own ``self.buy()`` whenever flat (not ``enter_long``: the
    gate must hold for any strategy), sells after ``hold`` bars (0: never)."""

    name = "direct_trader"

    class Params(StrategyParams):
        hold: int = Field(3, ge=0, description="bars to hold (0: never sell)")

    def __init__(self) -> None:
        super().__init__()
        self.held = 0
        self.order = None

    def notify_order(self, order) -> None:  # type: ignore[no-untyped-def]
        if self.order is not None and order.ref == self.order.ref and not order.alive():
            self.order = None

    def next(self) -> None:
        if self.order is not None:
            return
        if not self.position:
            self.held = 0
            self.order = self.buy(logic="direct")
            return
        self.held += 1
        if self.p.hold and self.held >= self.p.hold:
            self.order = self.sell(size=self.position.size, logic="out")


@pytest.fixture
def registry() -> StrategyRegistry:
    registry = StrategyRegistry()
    registry.register(DirectTrader)
    return registry


def _bot(db_engine, registry, name: str, hold: int) -> RunnerThread:  # type: ignore[no-untyped-def]
    config = add_bot_config(
        db_engine,
        registry,
        name,
        strategy="direct_trader",
        # cash enough for 0.5 BTC at any price the wall-clock-paced market may show
        config={
            "params": {"hold": hold},
            **FAST,
            "risk": {"stake": 0.5},
            "broker": {"cash": 10_000_000},
        },
    )
    runner = BotRunner(config, registry, db_engine, run_id=f"run-{name}", incarnation=1)
    return RunnerThread(runner)


def _sides(db_engine, bot_id: int) -> list[str]:
    return [trade.side for trade in bot_trades(db_engine, bot_id)]


def _paused_refusals(db_engine, bot_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.reason for e in status_events(db_engine, bot_id) if "entry refused" in e.reason]


def test_a_paused_bot_refuses_entries_once_audited_but_still_exits(db_engine, registry) -> None:
    bot = _bot(db_engine, registry, "paused", hold=3)
    bot_id = bot.runner.bot_id
    try:
        wait_for(lambda: "buy" in _sides(db_engine, bot_id), 30, "a first entry")
        wait_for(lambda: get_bot(db_engine, bot_id).status == "running", 10, "running")
        (result,) = actions.pause(db_engine, ADMIN, "paused")
        assert result.ok and result.text.startswith("paused")
        control = bot.runner.control
        assert control is not None
        wait_for(lambda: control.paused, 10, "the bot reading the pause")
        # an exit goes out while paused; after it the bot stays flat
        wait_for(lambda: get_position(db_engine, bot_id, "BTC/USDT").size == 0, 30, "flat")
        buys = _sides(db_engine, bot_id).count("buy")
        bars = bot.runner.bars_seen()
        wait_for(lambda: bot.runner.bars_seen() >= bars + 15, 30, "15 more bars while paused")
        assert _sides(db_engine, bot_id).count("buy") == buys, "a paused bot entered"
        refused = [e for e in status_events(db_engine, bot_id) if "entry refused" in e.reason]
        assert len(refused) == 1, "a refused entry is audited once per pause, not per bar"
        assert refused[0].from_status == refused[0].to_status == "running"

        (result,) = actions.resume(db_engine, ADMIN, str(bot_id))
        assert result.ok
        wait_for(lambda: _sides(db_engine, bot_id).count("buy") > buys, 30, "entries again")
    finally:
        bot.stop()
    assert bot.error is None
    audit = [(e.actor, e.reason) for e in status_events(db_engine, bot_id) if e.actor]
    assert audit == [
        ("cli:root", "pause: paused: no new entries, exits still allowed"),
        ("cli:root", "resume: resumed: new entries allowed again"),
    ]


def test_a_bot_paused_before_its_run_starts_never_enters(db_engine, registry) -> None:
    """``paused`` is desired state: a run that starts (or restarts) paused must hold it from
    its first bar, not from its first control poll (every 5 s at a minute's heartbeat)."""
    config = add_bot_config(
        db_engine,
        registry,
        "born-paused",
        strategy="direct_trader",
        config={
            **FAST,
            "heartbeat_interval": 60,
            "risk": {"stake": 0.5},
            "broker": {"cash": 10_000_000},
        },
    )
    (result,) = actions.pause(db_engine, ADMIN, "born-paused")
    assert result.ok
    bot_id = config.bot_id or 0
    bot = RunnerThread(BotRunner(config, registry, db_engine, run_id="run-bp", incarnation=1))
    try:
        # the strategy tries to enter on its first live bar: refused, or (the defect) a buy
        wait_for(
            lambda: _sides(db_engine, bot_id) or _paused_refusals(db_engine, bot_id),
            30,
            "a first entry, refused or not",
        )
    finally:
        bot.stop()
    assert bot.error is None
    assert _sides(db_engine, bot_id) == [], "a bot paused before it started entered"
    assert len(_paused_refusals(db_engine, bot_id)) == 1


def test_force_exit_closes_a_paper_position_at_the_next_bar(db_engine, registry) -> None:
    bot = _bot(db_engine, registry, "held", hold=0)  # buys once, never sells by itself
    bot_id = bot.runner.bot_id
    try:
        wait_for(lambda: _sides(db_engine, bot_id) == ["buy"], 30, "the entry")
        wait_for(lambda: get_bot(db_engine, bot_id).status == "running", 10, "running")
        actions.pause(db_engine, ADMIN, "held")  # keep it flat after the exit
        wait_for(lambda: bot.runner.control and bot.runner.control.paused, 10, "paused")
        (result,) = actions.force_exit(db_engine, ADMIN, "held")
        assert result.ok and result.command_id is not None
        command = actions.wait_for_command(db_engine, result.command_id, 20)
        assert command.status == "done", command
        assert command.run_id == "run-held" and command.done_at is not None
        assert command.result is not None
        assert command.result.startswith("closed 0.5 BTC/USDT at market (average ")
        assert f"order tp-{bot_id}-1-2" in command.result
        sell = bot_trades(db_engine, bot_id)[-1]
        assert (sell.side, sell.exit_logic, sell.entry_logic) == ("sell", "forceexit", "direct")
        assert get_position(db_engine, bot_id, "BTC/USDT").size == 0

        (again,) = actions.force_exit(db_engine, ADMIN, "held")  # nothing left to close
        flat = actions.wait_for_command(db_engine, again.command_id or 0, 20)
        assert (flat.status, flat.result) == ("done", "no open position")
    finally:
        bot.stop()
    assert bot.error is None
    results = [
        (e.actor, e.reason)
        for e in status_events(db_engine, bot_id)
        if e.reason.startswith("forceexit command")
    ]
    assert results[0][0] == "cli:root"
    assert results[0][1].startswith(f"forceexit command {command.id} done: closed 0.5 BTC/USDT")
    assert results[1] == ("cli:root", f"forceexit command {flat.id} done: no open position")


def test_commands_a_dead_run_took_are_finished_from_its_orders_never_placed_again(
    db_engine, registry
) -> None:
    """The run that takes the bot over finishes what its predecessor took: from the
    predecessor's force-exit order when there is one, as failed (nothing sent) when the
    predecessor died before writing one ahead."""
    bot = _bot(db_engine, registry, "heir", hold=0)
    bot_id = bot.runner.bot_id
    bot.stop()  # a first run made the bot's state; now two commands of a "dead" run
    sent, _ = commands.enqueue(db_engine, bot_id, "forceexit", "telegram:alice")
    lost, _ = commands.enqueue(db_engine, bot_id, "forceexit", "cli:root")
    assert commands.claim(db_engine, bot_id, "run-dead") == [
        commands.get_command(db_engine, sent.id),
        commands.get_command(db_engine, lost.id),
    ]
    # run-dead sent the first one's order (written ahead, filled), then died
    write_ahead_order(
        db_engine,
        bot_id=bot_id,
        run_id="run-dead",
        client_order_id=f"tp-{bot_id}-7-3",
        side="sell",
        type="market",
        amount=Decimal("0.5"),
        status="closed",
        filled=Decimal("0.5"),
        average=Decimal("101.25"),
        logic="forceexit",
    )
    commands.finish(
        db_engine, lost.id, commands.CommandStatus.DONE, "no open position", taken_by="run-dead"
    )
    heir = RunnerThread(
        BotRunner(bot.runner.config, registry, db_engine, run_id="run-heir", incarnation=2)
    )
    try:
        wait_for(lambda: get_bot(db_engine, bot_id).status == "running", 30, "the heir running")
    finally:
        heir.stop()
    finished = commands.get_command(db_engine, sent.id)
    assert finished is not None and finished.status == "done" and finished.run_id == "run-heir"
    assert finished.result is not None and f"order tp-{bot_id}-7-3" in finished.result
    assert "placed by run run-dead" in finished.result

    # a command taken by a run that died before writing any order ahead: failed, not re-sent
    orphan, _ = commands.enqueue(db_engine, bot_id, "forceexit", "cli:root")
    commands.claim(db_engine, bot_id, "run-gone")
    sells = _sides(db_engine, bot_id).count("sell")
    third = RunnerThread(
        BotRunner(bot.runner.config, registry, db_engine, run_id="run-third", incarnation=3)
    )
    try:
        wait_for(lambda: get_bot(db_engine, bot_id).status == "running", 30, "the third running")
    finally:
        third.stop()
    failed = commands.get_command(db_engine, orphan.id)
    assert failed is not None and failed.status == "failed"
    assert failed.result is not None and "nothing was sent" in failed.result
    assert _sides(db_engine, bot_id).count("sell") == sells, "a dead run's command was re-sent"
