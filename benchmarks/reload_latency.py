"""Time from a config change in ``trading_bots`` to the new run's first heartbeat.

Starts the real daemon (and through it the code server and run workers) in a temporary
DAGSTER_HOME with a sensor interval of 5 s, runs one paper bot, then changes its config with
plain SQL N times; each time it measures until the bot's heartbeat comes from a run with the
new config hash.

Goal (issue 3): median at most 15 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.harness import Platform
from tests.support.waiting import wait_for
from trading_platform.db.status import status_events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=5)
    parser.add_argument("--sensor-interval", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        platform = Platform(
            home,
            f"sqlite:///{home / 'trading.db'}",
            extra_env={"TRADING_SENSOR_INTERVAL_SECONDS": str(args.sensor_interval)},
        )
        platform.start()
        try:
            config = {
                "params": {"fast": 3, "slow": 8},
                "data": {"pace_seconds": 1.0, "history_bars": 20},
                "heartbeat_interval": 1,
            }
            bot_id = platform.insert_bot("bench-reload", config=json.dumps(config))
            wait_for(lambda: platform.bot(bot_id).status == "running", 120, "first start")
            latencies = []
            for change in range(args.changes):
                config["params"]["slow"] = 9 + change
                changed_at = time.time()
                platform.sql(
                    "UPDATE trading_bots SET config = :c WHERE id = :id",
                    c=json.dumps(config),
                    id=bot_id,
                )

                def new_run_heartbeat(slow: int = config["params"]["slow"]) -> bool:
                    runs = platform.active_runs(bot_id)
                    if not runs:
                        return False
                    snapshot = runs[0].run_config["ops"]["run_bot"]["config"]["snapshot"]
                    if snapshot["params"]["slow"] != slow:
                        return False
                    events = status_events(platform.engine, bot_id)
                    started = [
                        e for e in events if e.run_id == runs[0].run_id and e.to_status == "running"
                    ]
                    row = platform.bot(bot_id)
                    return (
                        bool(started)
                        and row.last_heartbeat is not None
                        and (row.last_heartbeat >= started[0].at)
                    )

                wait_for(new_run_heartbeat, 120, "heartbeat of the reloaded run", interval=0.2)
                latencies.append(time.time() - changed_at)
                print(f"change {change + 1}: {latencies[-1]:.1f} s", flush=True)
            print(
                f"reload latency over {len(latencies)} changes (sensor interval "
                f"{args.sensor_interval} s): median {statistics.median(latencies):.1f} s, "
                f"max {max(latencies):.1f} s (goal: median <= 15 s)"
            )
        finally:
            platform.stop()


if __name__ == "__main__":
    main()
