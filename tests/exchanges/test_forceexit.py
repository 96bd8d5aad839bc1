"""A live bot's force exit on the exchange emulator, through the real ccxt client and the
live broker (no Dagster): the close order goes out once, written ahead with a client order
id; when its answer is lost and the run ends before learning it, the run that takes the bot
over finishes the command from the order's fate at the exchange and never sends a second
one."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from tests.support.books import assert_books_agree
from tests.support.builders import PLUGINS, add_emulator_bot
from tests.support.exchange_emulator import Emulator, serve_emulator_account
from tests.support.running import RunnerThread
from tests.support.waiting import wait_for
from trading_platform.config import BotConfig
from trading_platform.control import actions
from trading_platform.control.operators import Operator
from trading_platform.db import commands
from trading_platform.db.bots import get_bot
from trading_platform.db.orders import bot_orders
from trading_platform.db.status import status_events
from trading_platform.db.users import ensure_user
from trading_platform.engine.runner import BotRunner
from trading_platform.strategy_handler import load_registry

API_KEY, SECRET = "test-api-key-CCCC3333", "test-secret-DDDD4444"


@pytest.fixture
def emulator(monkeypatch) -> Iterator[Emulator]:  # type: ignore[no-untyped-def]
    yield from serve_emulator_account(monkeypatch, API_KEY, SECRET)


def _holder(db_engine) -> tuple[BotConfig, Operator]:  # type: ignore[no-untyped-def]
    """A live ``flip_flop`` bot that buys 0.01 BTC once and holds it, and its owner as the
    operator (a user may command their own bots)."""
    registry = load_registry([PLUGINS])[0]
    owner = ensure_user(db_engine, "trader")
    config = add_emulator_bot(
        db_engine, registry, "holder", user_id=owner, params={"hold": 100_000}
    )
    return config, Operator(owner, "trader", False, "telegram")


def _run(config: BotConfig, db_engine, incarnation: int) -> RunnerThread:  # type: ignore[no-untyped-def]
    registry = load_registry([PLUGINS])[0]
    return RunnerThread(
        BotRunner(config, registry, db_engine, run_id=f"run-{incarnation}", incarnation=incarnation)
    )


def _holding(emulator: Emulator, db_engine, bot_id: int) -> None:  # type: ignore[no-untyped-def]
    def explain() -> str:
        events = [f"{e.to_status}: {e.reason}" for e in status_events(db_engine, bot_id)]
        orders = [(o.client_order_id, o.status) for o in bot_orders(db_engine, bot_id)]
        return f"events: {events}\norders: {orders}"

    wait_for(
        lambda: len(emulator.accounts[API_KEY].trades) == 1,
        30,
        "the entry filled",
        explain=explain,
    )
    wait_for(lambda: get_bot(db_engine, bot_id).status == "running", 10, "running")


def _pause(bot: RunnerThread, db_engine, owner: Operator) -> None:  # type: ignore[no-untyped-def]
    """A force exit does not pause (README): the strategy, flat again, would enter on its
    next bar; the documented way to stay flat is to pause first."""
    (paused,) = actions.pause(db_engine, owner, "holder")
    assert paused.ok, paused
    wait_for(lambda: bot.runner.control and bot.runner.control.paused, 10, "the bot paused")


def test_live_force_exit_sells_the_position_once(emulator, db_engine) -> None:
    config, owner = _holder(db_engine)
    assert config.bot_id is not None
    bot = _run(config, db_engine, 1)
    try:
        _holding(emulator, db_engine, config.bot_id)
        _pause(bot, db_engine, owner)
        (result,) = actions.force_exit(db_engine, owner, "holder", idempotency_key="tg:1")
        (repeat,) = actions.force_exit(db_engine, owner, "holder", idempotency_key="tg:1")
        assert repeat.command_id == result.command_id, "a repeated update made a second command"
        command = actions.wait_for_command(db_engine, result.command_id or 0, 20)
    finally:
        bot.stop()
    assert bot.error is None
    assert command.status == "done", command
    assert emulator.order_posts == 2  # the entry, and one close
    close = bot_orders(db_engine, config.bot_id)[-1]
    assert (close.side, close.type, close.logic, close.status) == (
        "sell",
        "market",
        "forceexit",
        "closed",
    )
    # the whole position: the 0.01 bought, less the fee the exchange took in BTC
    entry = emulator.accounts[API_KEY].trades[0]
    assert entry["commissionAsset"] == "BTC"
    assert close.filled == close.amount == Decimal(entry["qty"]) - Decimal(entry["commission"])
    assert command.result == (
        f"closed {close.filled.normalize():f} BTC/USDT at market "
        f"(average {close.average.normalize():f}), order {close.client_order_id}"
    )
    assert emulator.accounts[API_KEY].balances.get("BTC", 0) == 0
    assert_books_agree(emulator, API_KEY, db_engine, config.bot_id)


def test_lost_answer_then_restart_finishes_the_command_without_a_second_order(
    emulator, db_engine
) -> None:
    config, owner = _holder(db_engine)
    assert config.bot_id is not None
    first = _run(config, db_engine, 1)
    try:
        _holding(emulator, db_engine, config.bot_id)
        _pause(first, db_engine, owner)  # and the run that takes over starts paused
        # the exchange executes the close, its answer is lost, and it goes dark
        emulator.order_faults.append("lost")
        emulator.on_lost_answer = lambda: setattr(emulator, "reachable", False)
        (result,) = actions.force_exit(db_engine, owner, str(config.bot_id))
        wait_for(
            lambda: [o.status for o in bot_orders(db_engine, config.bot_id)][-1:] == ["unknown"],
            30,
            "the close order left unknown",
        )
    finally:
        first.runner.request_stop()  # the run ends without ever learning the answer
        emulator.reachable = True
        first.thread.join(timeout=20)
    assert emulator.order_posts == 2
    taken = commands.get_command(db_engine, result.command_id or 0)
    assert taken is not None and (taken.status, taken.run_id) == ("taken", "run-1")

    second = _run(config, db_engine, 2)
    try:
        command = actions.wait_for_command(db_engine, result.command_id or 0, 30)
    finally:
        second.stop()
    assert emulator.order_posts == 2, "the force exit was sent a second time"
    assert command.status == "done" and command.run_id == "run-2", command
    close = bot_orders(db_engine, config.bot_id)[-1]
    assert close.status == "closed" and close.logic == "forceexit"
    assert command.result is not None and f"order {close.client_order_id}" in command.result
    assert "placed by run run-1" in command.result
    assert_books_agree(emulator, API_KEY, db_engine, config.bot_id)
