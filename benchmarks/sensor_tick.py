"""Evaluation time of ``trading_bots_sensor`` with N unchanged running bots.

Builds a SQLite bot database with N enabled paper bots, a Dagster instance (SQLite, in a
temporary DAGSTER_HOME) holding one STARTED ``bot_run`` run per bot with the matching config
hash, and a cursor from a first tick; then times further ticks, which find nothing to do.

Goal (issue 3): at most 0.5 s for 1,000 bots and 3 s for 10,000.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from dagster import DagsterInstance, DagsterRun, DagsterRunStatus, build_sensor_context
from sqlalchemy import insert

from trading_platform.db import make_engine
from trading_platform.db.bots import get_bots
from trading_platform.db.migrate import upgrade
from trading_platform.db.models import TradingBot
from trading_platform.orchestration.reconcile import BotMemory, Launch, run_key
from trading_platform.orchestration.resources import BotDatabase, PlatformSettings
from trading_platform.orchestration.runs import run_tags
from trading_platform.orchestration.sensors import trading_bots_sensor, validate_row
from trading_platform.strategy_handler import load_registry

CONFIG = {"params": {"fast": 5, "slow": 20}, "data": {"pace_seconds": 1.0}}


def build(count: int, home: Path):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{home / 'trading.db'}"
    upgrade(url)
    engine = make_engine(url)
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as connection:
        connection.execute(
            insert(TradingBot),
            [
                dict(
                    name=f"bot-{i}",
                    enabled=True,
                    strategy="sma_cross",
                    mode="paper",
                    exchange="replay",
                    symbol="BTC/USDT",
                    timeframe="1m",
                    config=CONFIG,
                    status="running",
                    last_heartbeat=now,
                )
                for i in range(count)
            ],
        )
    registry, _ = load_registry()
    (home / "dagster").mkdir()
    instance = DagsterInstance.local_temp(str(home / "dagster"))
    memory = {}
    for row in get_bots(engine):
        desired_hash, config = validate_row(row, registry)
        launch = Launch(row.id, config, 1, run_key(row.id, desired_hash, 1), False)
        instance.add_run(
            DagsterRun(
                job_name="bot_run",
                run_id=str(uuid.uuid4()),
                status=DagsterRunStatus.STARTED,
                tags=run_tags(launch),
            )
        )
        memory[str(row.id)] = BotMemory(
            config_hash=desired_hash, incarnation=1, launched_key=launch.run_key
        ).to_json()
    return url, instance, json.dumps(memory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bots", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--ticks", type=int, default=5)
    args = parser.parse_args()
    for count in args.bots:
        with tempfile.TemporaryDirectory() as tmp:
            url, instance, cursor = build(count, Path(tmp))
            resources = {
                "bot_database": BotDatabase(url=url),
                "platform_settings": PlatformSettings(),
            }
            times = []
            for tick in range(args.ticks + 1):
                context = build_sensor_context(
                    instance=instance, cursor=cursor, resources=resources
                )
                started = time.perf_counter()
                result = trading_bots_sensor(context)
                elapsed = time.perf_counter() - started
                if result.run_requests:
                    raise SystemExit(f"unexpected launches: {len(result.run_requests)}")
                cursor = result.cursor
                if tick:  # the first tick fills the in-process validation cache
                    times.append(elapsed)
                else:
                    cold = elapsed
            instance.dispose()
            print(
                f"{count:>6,} unchanged bots: median {statistics.median(times):.3f} s, "
                f"max {max(times):.3f} s over {len(times)} ticks; first tick after a code "
                f"server start (validation cache cold): {cold:.3f} s"
            )


if __name__ == "__main__":
    main()
