"""How many bot processes one SQLite bot database serves: write latency and lock errors.

For each K in ``--bots`` (default 20 40 80): a fresh SQLite file, K ``flip_flop`` paper bots
on the replay market (a fill every bar or two, a bar every ``--pace`` seconds, a heartbeat
every second), each its own process (``tests/support/paper_process.py``, the runner a
``bot_run`` op runs, without Dagster), plus one process writing as the CLI and operators do,
for ``--seconds``.  Printed per K:

- **write latency**: every write transaction of the bot processes, from its BEGIN to its
  COMMIT (on SQLite that includes the wait for the write lock), p50 / p99 / max;
- **locked**: lock errors that reached anything: a process's error, a log line at WARNING or
  above, a status event, or a failed operator write, that mentions ``locked``;
- **fills**: the fills the simulated brokers reported against the ``trading_trades`` rows;
- **heartbeat age**: the oldest heartbeat among the bots, sampled every second once all
  beat (the sensor presumes a run hung after 60 s at the least);
- the load average at the end (on 2 cores the bots' own CPU, not SQLite, is what saturates
  first).

Run it with ``flock /work/notes/heavy.lock .venv/bin/python benchmarks/sqlite_writers.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

from tests.support.builders import PLUGINS, add_bot_config
from tests.support.paper_process import spawn
from trading_platform.db import make_engine
from trading_platform.db.bots import get_bots
from trading_platform.db.migrate import upgrade
from trading_platform.strategy_handler import load_registry


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(bots: int, seconds: float, pace: float, home: Path) -> dict[str, Any]:
    url = f"sqlite:///{home / 'trading.db'}"
    upgrade(url)
    engine = make_engine(url)
    registry, _ = load_registry([PLUGINS])
    config = {"params": {"hold": 1}, "heartbeat_interval": 1}
    ids = [
        add_bot_config(
            engine,
            registry,
            f"bench-{n}",
            strategy="flip_flop",
            config={**config, "data": {"pace_seconds": pace, "history_bars": 5, "seed": n}},
        ).bot_id
        for n in range(bots)
    ]
    began = time.time()
    processes = {i: spawn("bot", url, home / f"bot-{i}.json", seconds, i) for i in ids}
    all_beating = None
    worst_age = 0.0
    writer = None
    while any(p.poll() is None for p in processes.values()):
        rows = get_bots(engine)
        beats = [b.last_heartbeat for b in rows]
        if all_beating is None and all(beats):
            all_beating = time.time()
            writer = spawn("writer", url, home / "writer.json", seconds / 2)
        if all_beating is not None and all(p.poll() is None for p in processes.values()):
            now = dt.datetime.now(dt.UTC)
            worst_age = max([worst_age, *((now - b).total_seconds() for b in beats if b)])
        time.sleep(1.0)
    if writer is not None:
        writer.wait(timeout=120)
    load = os.getloadavg()[0]
    latencies: list[float] = []
    locked: list[str] = []
    reported = errors = 0
    for bot_id in ids:
        report = json.loads((home / f"bot-{bot_id}.json").read_text())
        latencies += report["latencies"]
        reported += report["fills"]
        if "error" in report:
            errors += 1
        for line in [report.get("error", ""), *report["problems"]]:
            if "locked" in line.lower():
                locked.append(line)
    writes = 0
    if writer is not None:
        written = json.loads((home / "writer.json").read_text())
        writes = written["writes"]
        locked += [e for e in written["errors"] if "locked" in e.lower()]
    with engine.connect() as connection:
        recorded = connection.execute(text("SELECT count(*) FROM trading_trades")).scalar_one()
        locked += [
            str(reason)
            for reason in connection.execute(
                text("SELECT reason FROM bot_status_events WHERE lower(reason) LIKE '%locked%'")
            ).scalars()
        ]
    engine.dispose()
    return {
        "bots": bots,
        "start": (all_beating - began) if all_beating else None,
        "transactions": len(latencies),
        "p50": percentile(latencies, 0.50) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
        "max": max(latencies, default=float("nan")) * 1000,
        "locked": len(locked),
        "locked_examples": locked[:3],
        "errors": errors,
        "reported": reported,
        "recorded": recorded,
        "heartbeat_age": worst_age,
        "operator_writes": writes,
        "load": load,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bots", type=int, nargs="+", default=[20, 40, 80])
    parser.add_argument("--seconds", type=float, default=60.0, help="each bot process runs this")
    parser.add_argument("--pace", type=float, default=1.0, help="seconds per replay bar")
    args = parser.parse_args()
    print(
        f"sqlite_writers: flip_flop paper bots (hold 1, a bar every {args.pace} s, heartbeat "
        f"1 s), each its own process, {args.seconds:.0f} s each, one SQLite file "
        f"(WAL, busy timeout 30 s), one operator process writing; {os.cpu_count()} cores",
        flush=True,
    )
    for bots in args.bots:
        with tempfile.TemporaryDirectory(prefix="sqlite-writers-") as tmp:
            r = run(bots, args.seconds, args.pace, Path(tmp))
        start = f"{r['start']:.0f} s" if r["start"] is not None else "never"
        print(
            f"K={r['bots']:3d}: write latency p50 {r['p50']:.1f} ms, p99 {r['p99']:.0f} ms, "
            f"max {r['max']:.0f} ms over {r['transactions']} transactions; locked errors "
            f"{r['locked']}, runs failed {r['errors']}; fills reported {r['reported']} / "
            f"recorded {r['recorded']}; oldest heartbeat {r['heartbeat_age']:.1f} s; all "
            f"beating after {start}; operator writes {r['operator_writes']}; load {r['load']:.1f}",
            flush=True,
        )
        for example in r["locked_examples"]:
            print(f"    {example[:300]}")


if __name__ == "__main__":
    main()
