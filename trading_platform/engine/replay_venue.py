"""Paper trading offline: the generated ``replay`` market, or a CSV file, served live.

The market is a function of the wall clock (see :mod:`trading_platform.feeds.replay`), the
broker is backtrader's simulated one, and a restarted bot continues with the cash and
position its previous run saved.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager

import backtrader as bt

from trading_platform.config import BotConfig
from trading_platform.engine.paper import PaperBroker, restore_paper_state
from trading_platform.engine.venue import RunServices
from trading_platform.feeds.queue_feed import QueueFeed
from trading_platform.feeds.replay import ReplayMarket, ReplayPublisher, replay_feed


def market_for(config: BotConfig) -> ReplayMarket:
    """The bot's file (``csv``) or the generated demo series (``replay``), paced live."""
    data = config.data
    if config.exchange == "csv":
        # imported here: pandas (with pyarrow) costs ~60 MB, which replay bots never need
        from trading_platform.feeds.files import load_ohlcv

        assert data.path is not None  # validation requires a file for csv
        frame = load_ohlcv(data.path, data.start, data.end)
        return ReplayMarket(
            frame[["open", "high", "low", "close", "volume"]].to_numpy(), data.pace_seconds
        )
    return ReplayMarket.generated(
        bars=data.bars,
        seed=data.seed,
        start_price=data.start_price,
        pace_seconds=data.pace_seconds,
    )


class ReplayVenue:
    """A :class:`~trading_platform.engine.venue.Venue` for ``replay`` and ``csv`` bots."""

    description = "paper trading on replay data"
    records_fills = True

    def __init__(self, run: RunServices) -> None:
        self.run = run
        self._publisher: ReplayPublisher | None = None

    def failures(self) -> AbstractContextManager[None]:
        return contextlib.nullcontext()

    def connect(self) -> tuple[QueueFeed, bt.BrokerBase]:
        config = self.run.config
        feed, self._publisher = replay_feed(market_for(config), config.data.history_bars)
        return feed, PaperBroker(feed=feed, activity=self.run.activity)

    def restore(self, cerebro: bt.Cerebro) -> bool:
        restore_paper_state(cerebro, self.run.database, self.run.bot_id, self.run.config.symbol)
        return False

    def start(self) -> None:
        assert self._publisher is not None, "connect first"
        self._publisher.start()

    def stop(self) -> None:
        if self._publisher is not None:
            self._publisher.stop()
