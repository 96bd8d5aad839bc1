"""A venue: where a live bot's bars come from and where its orders go.

There is one assembly path for paper and live bots (:class:`~trading_platform.engine.runner.
BotRunner`): the runner asks a venue for its feed and broker, builds Cerebro, lets the venue
put back what the previous run left, starts the bars and runs.  What differs per venue
stays inside it: the ``replay`` exchange and CSV files
(:class:`~trading_platform.engine.replay_venue.ReplayVenue`), and real exchanges through ccxt,
with a simulated or a real broker (:class:`~trading_platform.exchanges.venue.ExchangeVenue`).
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from typing import Protocol

import backtrader as bt
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from trading_platform.config import BotConfig
from trading_platform.engine.activity import Activity, ActivityLog
from trading_platform.feeds.queue_feed import QueueFeed
from trading_platform.notifications.messages import Message


class RunServices(Protocol):
    """What a venue may ask of the run it serves (the runner provides it)."""

    config: BotConfig
    database: Engine
    bot_id: int
    run_id: str
    #: the epoch of the run's lease: it goes into every client order id
    incarnation: int
    #: set when the run must stop: a venue waiting on the network gives up at once
    stop_requested: threading.Event

    def fence(self, session: Session) -> None:
        """The run's lease check, for every order and fill the venue writes (raises
        :class:`~trading_platform.db.leases.LeaseLost` once the lease was taken)."""

    def note(self, reason: str, kind: Activity = Activity.INCIDENT) -> None:
        """An audit row in ``bot_status_events`` that keeps the bot's status, and an
        activity entry of ``kind``."""

    #: what the run reports of itself (fills, refusals: :mod:`~trading_platform.engine.
    #: activity`)
    activity: ActivityLog

    def report_feed_problem(self, problem: str | None) -> None:
        """Why the data feed is failing (every heartbeat writes it), None once it works."""

    def notify_error(self, message: Message, dedupe_key: str) -> None:
        """Tell the owner, if the bot's ``notifications.error_notifications`` allows."""


class Venue(Protocol):
    """See the module docstring; the runner calls the methods in this order."""

    #: what the bot is doing, for its ``running`` status ("paper trading on replay data")
    description: str
    #: False when the broker records each exchange fill itself (live trading)
    records_fills: bool

    def failures(self) -> AbstractContextManager[None]:
        """Wraps the whole run: turns the venue's own exceptions into the engine's
        (:class:`~trading_platform.engine.errors.FatalBotError` for what a restart cannot
        fix), with no secret in their text."""
        ...

    def connect(self) -> tuple[QueueFeed, bt.BrokerBase]:
        """The feed (warm with history) and the broker; may wait on the network."""
        ...

    def restore(self, cerebro: bt.Cerebro) -> bool:
        """Put back what the previous run of the bot left, before the first bar.  True when
        the broker holds that state now (so the run records it at once), False when it is
        applied as Cerebro starts."""
        ...

    def start(self) -> None:
        """Bars begin to flow."""
        ...

    def stop(self) -> None:
        """Bars stop; called however the run ends."""
        ...
