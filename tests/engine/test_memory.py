"""A long-running bot's memory stays bounded (engine/memory.py) and its trading does not change.

Each case runs the same bars through backtrader twice, bar by bar as a live run does (no
preload): once as backtrader keeps everything, once with :class:`BoundedMemory`.  The
strategy must see the same values (prices far back, indicators, an operation on lines) and
place the same orders with the same fills, while the bounded run's lines, orders and trades
stay within their window however many bars pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import backtrader as bt
import pytest
from sqlalchemy import Engine

from tests.support.books import assert_books_agree
from tests.support.builders import PLUGINS, add_bot_config, add_emulator_bot
from tests.support.exchange_emulator import Emulator, serve_emulator_account
from tests.support.running import RunnerThread
from tests.support.waiting import wait_for
from trading_platform.db import make_engine
from trading_platform.db.bots import get_bot
from trading_platform.db.migrate import upgrade
from trading_platform.db.trades import bot_trades
from trading_platform.db.users import ensure_user
from trading_platform.engine import memory
from trading_platform.engine.memory import (
    BeyondTheWindow,
    BoundedMemory,
    bound_lines,
)
from trading_platform.engine.recorder import MemorySink, TradeRecorder
from trading_platform.engine.runner import BotRunner
from trading_platform.feeds.demo_data import generate_ohlcv
from trading_platform.feeds.history import pandas_feed
from trading_platform.strategy_handler import (
    PlatformStrategy,
    StrategyParams,
    StrategyRegistry,
    load_registry,
)

API_KEY, SECRET = "test-api-key-CCCC3333", "test-secret-DDDD4444"

BARS = 3_000
WINDOW = 200
KEEP = 20


class Churner(bt.Strategy):
    """Trades every few bars and reads what a real strategy reads: a price ``WINDOW - 1``
    bars back, a long SMA, a crossover of two SMAs and an operation on lines."""

    params = (("seen", None), ("slow", 150))

    def __init__(self) -> None:
        self.fast = bt.indicators.SMA(self.data.close, period=10)
        self.slow = bt.indicators.SMA(self.data.close, period=self.p.slow)
        self.cross = bt.indicators.CrossOver(self.fast, self.slow)
        self.spread = self.data.high - self.data.low
        self.held = 0
        self.parked: bt.Order | None = None
        self.last_placed: bt.Order | None = None

    def next(self) -> None:
        far = self.data.close[-(WINDOW - 1)] if len(self.data) >= WINDOW else None
        self.p.seen.append(
            (self.data.close[0], far, self.slow[0], self.cross[0], self.spread[0], self.fast[-5])
        )
        if not self.position:
            self.last_placed = self.buy(size=0.01)
            self.held = 0
        else:
            self.held += 1
            if self.held >= 2:
                self.last_placed = self.sell(size=0.01)
        if self.parked is not None:
            self.cancel(self.parked)
            self.parked = None
        elif len(self.data) % 7 == 0:  # an order that does not fill, cancelled a bar later
            self.parked = self.buy(size=0.01, exectype=bt.Order.Limit, price=1.0)


@dataclass
class Run:
    seen: list[tuple[Any, ...]] = field(default_factory=list)
    sink: MemorySink = field(default_factory=MemorySink)
    strategy: Any = None


def _run(bars: int, bounded: bool, slow: int = 150) -> Run:
    run = Run()
    cerebro = bt.Cerebro(stdstats=False, preload=False, runonce=False)
    cerebro.adddata(pandas_feed(generate_ohlcv(bars=bars, seed=3), "1h"))
    cerebro.broker.setcash(1_000_000.0)
    cerebro.addstrategy(Churner, seen=run.seen, slow=slow)
    cerebro.addanalyzer(TradeRecorder, sink=run.sink, equity_window=WINDOW if bounded else None)
    if bounded:
        cerebro.addanalyzer(BoundedMemory, lookback_bars=WINDOW, keep_finished=KEEP)
    (run.strategy,) = cerebro.run()
    return run


@pytest.fixture(scope="module")
def unbounded() -> Run:
    return _run(BARS, bounded=False)


@pytest.fixture(scope="module")
def bounded() -> Run:
    return _run(BARS, bounded=True)


def test_the_strategy_sees_and_does_the_same(unbounded: Run, bounded: Run) -> None:
    assert len(bounded.seen) == len(unbounded.seen) > BARS - 200
    assert bounded.seen == unbounded.seen
    assert [(f.side, f.amount, f.price, f.executed_at) for f in bounded.sink.fills] == [
        (f.side, f.amount, f.price, f.executed_at) for f in unbounded.sink.fills
    ]
    assert len(bounded.sink.fills) > 10 * KEEP
    assert [t.pnl for t in bounded.sink.trades] == [t.pnl for t in unbounded.sink.trades]


def test_lines_keep_their_window(unbounded: Run, bounded: Run) -> None:
    data = bounded.strategy.data
    assert len(data) == len(unbounded.strategy.data) == BARS  # backtrader still counts them
    for line in (data.close, bounded.strategy.slow.lines.sma, bounded.strategy.cross.lines[0]):
        assert line.buflen() <= WINDOW, line.buflen()
    assert unbounded.strategy.data.close.buflen() == BARS
    recorder = bounded.strategy.analyzers.traderecorder
    assert recorder.bars == BARS
    assert len(recorder.equity_values) == WINDOW


def test_finished_orders_and_trades_are_forgotten(unbounded: Run, bounded: Run) -> None:
    strategy, broker = bounded.strategy, bounded.strategy.broker
    assert len(unbounded.strategy._orders) > 10 * KEEP  # what would have grown
    assert len(unbounded.strategy.broker.orders) > 10 * KEEP
    assert len(strategy._orders) <= 2 * KEEP
    assert len(broker.orders) <= 2 * KEEP
    for notes in (broker._ocos, broker._ocol, broker._pchildren):
        assert len(notes) <= 3 * KEEP, len(notes)
    (trades,) = strategy._trades[strategy.data].values()
    assert len(trades) <= 2 * KEEP
    # the newest are the ones kept: the last order placed is still there
    assert strategy.last_placed in broker.orders


def test_an_indicator_longer_than_the_window_keeps_its_period() -> None:
    slow = 2 * WINDOW
    full = _run(1_000, bounded=False, slow=slow)
    cut = _run(1_000, bounded=True, slow=slow)
    assert [seen[2] for seen in cut.seen] == [seen[2] for seen in full.seen]
    assert cut.strategy.data.close.buflen() == slow + 1


def test_a_preloaded_feed_is_left_whole() -> None:
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(pandas_feed(generate_ohlcv(bars=300, seed=3), "1h"))
    cerebro.addstrategy(bt.Strategy)
    (strategy,) = cerebro.run()
    assert bound_lines(strategy, WINDOW) is None
    assert strategy.data.close.buflen() == 300


@pytest.fixture
def plugins() -> StrategyRegistry:
    return load_registry([PLUGINS])[0]


#: finished orders and trades a real run here keeps (the product keeps 20): a few orders
#: are enough to see the lists cut
RUN_KEEPS = 1


@pytest.fixture(autouse=True)
def _keep_few(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "KEEP_FINISHED", RUN_KEEPS)


@pytest.fixture
def bot_database(tmp_path: Path) -> Iterator[Engine]:
    """SQLite alone: what these runs measure is their own memory, not their database (the
    books on PostgreSQL are the exchange and end-to-end tests' concern)."""
    url = f"sqlite:///{tmp_path / 'trading.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def _running_strategy(bot: RunnerThread) -> Any:
    cerebro = bot.runner._cerebro
    assert cerebro is not None
    return cerebro.runningstrats[0]


#: read from another thread while the bot runs: the lists are cut once a bar, and a bar's
#: notifications (a few per order) and a trade may have arrived since
A_BARS_NOTIFICATIONS = 10
A_BARS_TRADES = 1
#: the most a run's trade list holds
TRADES_HELD = 2 * RUN_KEEPS + A_BARS_TRADES


def _assert_bounded(bot: RunnerThread, window: int) -> Any:
    strategy = _running_strategy(bot)
    assert strategy.data.close.buflen() <= window + 1
    assert len(bot.runner.bar_times()) == window
    assert len(strategy._orders) <= 2 * RUN_KEEPS + A_BARS_NOTIFICATIONS
    for by_tradeid in strategy._trades.values():
        for trades in by_tradeid.values():
            assert len(trades) <= TRADES_HELD
    return strategy


@pytest.mark.long
def test_a_paper_bot_forgets_what_it_recorded_and_keeps_its_window(bot_database, plugins) -> None:
    """A real paper run on the replay venue: every fill is in the database, while the run
    keeps only its window of bars and its newest finished orders and trades."""
    config = add_bot_config(
        bot_database,
        plugins,
        "forgetful",
        strategy="flip_flop",
        config={
            "params": {"hold": 1},
            "data": {"pace_seconds": 0.002, "history_bars": 20, "seed": 5},
            "live": {"lookback_bars": 100},
            "risk": {"stake": 0.01},
            "broker": {"cash": 10_000_000},
        },
    )
    bot = RunnerThread(BotRunner(config, plugins, bot_database, run_id="run-forgetful"))
    try:
        wait_for(lambda: bot.runner.bars_seen() >= 400, 120, "400 bars")
        strategy = _assert_bounded(bot, 100)
        assert len(strategy.broker.orders) <= 2 * RUN_KEEPS + A_BARS_NOTIFICATIONS
    finally:
        bot.stop()
    assert bot.error is None
    fills = bot_trades(bot_database, config.bot_id)
    assert len(fills) > 10 * RUN_KEEPS  # far more than the run kept, all recorded
    assert len({fill.fill_id for fill in fills}) == len(fills)


@pytest.fixture
def emulator(monkeypatch) -> Iterator[Emulator]:
    yield from serve_emulator_account(monkeypatch, API_KEY, SECRET)


@pytest.mark.long
def test_a_live_bot_forgets_its_orders_and_its_books_still_agree(
    emulator, bot_database, plugins
) -> None:
    """The live broker through ccxt on the emulator: the strategy's notifications and trades
    are cut while orders go out every other bar; every order and fill is in the books once,
    the same as at the exchange."""
    owner = ensure_user(bot_database, "trader", email="trader@example.test")
    config = add_emulator_bot(
        bot_database,
        plugins,
        "forgetful-live",
        user_id=owner,
        params={"hold": 1},
        data={"history_bars": 110},
        live={"lookback_bars": 100},
    )
    bot = RunnerThread(BotRunner(config, plugins, bot_database, run_id="run-1", incarnation=1))
    trades = emulator.accounts[API_KEY].trades
    try:
        # more round trips than the trade list holds, each order notified at least twice
        # (accepted, completed): without the cuts both lists would be over their bound
        round_trips = TRADES_HELD + 1
        wait_for(lambda: len(trades) >= 2 * round_trips, 90, f"{round_trips} round trips")
        _assert_bounded(bot, 100)
    finally:
        bot.stop()
    assert bot.error is None
    assert_books_agree(emulator, API_KEY, bot_database, config.bot_id)


class LooksTooFar(PlatformStrategy):
    """Reads the close 150 bars back: fine in a backtest; in a 100-bar window, a negative
    deque index that would quietly answer with the bar 50 back."""

    name = "looks_too_far"

    class Params(StrategyParams):
        pass

    def next(self) -> None:
        if len(self.data) > 150:
            self.data.close[-150]


def test_reading_beyond_the_window_fails_the_run_naming_the_setting(bot_database) -> None:
    registry = StrategyRegistry()
    registry.register(LooksTooFar)
    config = add_bot_config(
        bot_database,
        registry,
        "far-sighted",
        strategy="looks_too_far",
        config={
            "data": {"pace_seconds": 0.002, "history_bars": 20},
            "live": {"lookback_bars": 100},
        },
    )
    with pytest.raises(BeyondTheWindow, match="older than its window of 100 bars"):
        BotRunner(config, registry, bot_database, run_id="run-far").run()
    row = get_bot(bot_database, config.bot_id)
    assert row.status == "error"
    assert "keep live.lookback_bars bars of every line" in row.last_error
