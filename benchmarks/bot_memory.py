"""Resident memory of paper bots' run workers: one bot, then 20 at once.

Starts the real daemon in a temporary DAGSTER_HOME, launches paper bots on the replay
exchange, waits until each is running and has traded for a while, then reads VmRSS of every
run worker process from /proc.

Goal (issue 3): at most 200 MB per bot.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.harness import Platform
from tests.support.waiting import wait_for


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(platform: Platform, count: int, offset: int, settle_seconds: float) -> list[float]:
    ids = [platform.insert_bot(f"bench-mem-{offset + i}") for i in range(count)]
    wait_for(
        lambda: all(platform.bot(bot_id).status == "running" for bot_id in ids),
        60 + 10 * count,
        f"{count} bots running",
        interval=1,
    )
    deadline = time.monotonic() + settle_seconds
    wait_for(lambda: time.monotonic() >= deadline, settle_seconds + 5, "bots trading a while")
    sizes = []
    for bot_id in ids:
        (run,) = platform.active_runs(bot_id)
        pid = platform.run_worker_pid(run.run_id)
        assert pid is not None, f"no run worker for bot {bot_id}"
        sizes.append(rss_mb(pid))
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--many", type=int, default=20)
    parser.add_argument("--settle", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        platform = Platform(home, f"sqlite:///{home / 'trading.db'}")
        platform.start()
        try:
            (single,) = measure(platform, 1, 0, args.settle)
            print(f"1 paper bot: run worker RSS {single:.0f} MB")
            many = measure(platform, args.many - 1, 1, args.settle)
            many = [single, *many]
            print(
                f"{len(many)} paper bots at once: RSS per run worker median "
                f"{statistics.median(many):.0f} MB, max {max(many):.0f} MB, "
                f"total {sum(many):.0f} MB (goal: <= 200 MB per bot)"
            )
        finally:
            platform.stop()


if __name__ == "__main__":
    main()
