"""Resources the sensor, jobs and assets declare as typed parameters."""

import os
from pathlib import Path

from dagster import ConfigurableResource
from sqlalchemy import Engine

from trading_platform.db.engine import cached_engine, database_url
from trading_platform.orchestration.reconcile import Policy
from trading_platform.strategy_handler import StrategyRegistry, load_registry


class BotDatabase(ConfigurableResource):
    """The bot database. ``url`` comes from ``EnvVar("TRADING_DATABASE_URL")`` when set (it may
    hold a password, so it is never written into run config); otherwise SQLite under
    ``TRADING_HOME``."""

    url: str | None = None

    def engine(self) -> Engine:
        return cached_engine(self.url or database_url())


class PlatformSettings(ConfigurableResource):
    """Restart policy, notification retry backoff and plugin paths (``TRADING_*`` environment
    variables)."""

    strategy_paths: str = ""
    restart_backoff_seconds: float = 10.0
    restart_backoff_max_seconds: float = 300.0
    stale_heartbeat_factor: float = 3.0
    notification_backoff_seconds: float = 5.0

    def policy(self) -> Policy:
        return Policy(
            backoff_seconds=self.restart_backoff_seconds,
            backoff_max_seconds=self.restart_backoff_max_seconds,
            stale_heartbeat_factor=self.stale_heartbeat_factor,
        )

    def registry(self) -> StrategyRegistry:
        paths = [Path(p) for p in self.strategy_paths.split(os.pathsep) if p]
        registry, _report = load_registry(tuple(paths))
        return registry


def settings_from_environment() -> PlatformSettings:
    env = os.environ
    return PlatformSettings(
        strategy_paths=env.get("TRADING_STRATEGY_PATHS", ""),
        restart_backoff_seconds=float(env.get("TRADING_RESTART_BACKOFF_SECONDS", "10")),
        restart_backoff_max_seconds=float(env.get("TRADING_RESTART_BACKOFF_MAX_SECONDS", "300")),
        stale_heartbeat_factor=float(env.get("TRADING_STALE_HEARTBEAT_FACTOR", "3")),
        notification_backoff_seconds=float(env.get("TRADING_NOTIFICATION_BACKOFF_SECONDS", "5")),
    )
