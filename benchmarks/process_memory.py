"""Memory of the daemon and the code server over time, and whether Python or C holds it.

The soak (``soak.py``) found the code server's resident memory growing by tens of MB an
hour, with or without bots.  This benchmark runs the real platform
(:class:`tests.e2e.harness.Platform`: code server and daemon with the platform's own sensor
interval, the health, performance and purge schedules as in production) with ``--bots``
paper bots (default none) for ``--minutes``, with ``memprobe/sitecustomize.py`` in every
process it starts, and prints for the daemon, for the code server's gRPC process
(``dagster api grpc``, where the definitions live) and for each bot's run worker
(``--lookback-bars`` as in ``soak.py``): resident memory, Python's allocated blocks and
tracked objects at the start and the end, each with the slope of a least-squares line over
the samples after ``--warmup`` minutes (per hour).  RSS growing while blocks and objects
stay flat is memory held below Python (gRPC's C core, the C allocator); growing blocks are
Python objects kept alive.  ``--trace`` adds tracemalloc's top allocation sites (slow: for
diagnosis, not figures).

The gRPC version is whatever the interpreter running this script has installed: run it with
another virtual environment's ``python`` to compare versions.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import checkout_pythonpath, production_schedules
from benchmarks.soak import bot_config, slope_per_hour
from tests.e2e.harness import Platform, postgres_databases

PROBE = Path(__file__).resolve().parent / "memprobe"
MB = 1024 * 1024


def read_probe(path: Path) -> tuple[str, list[dict[str, Any]]]:
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return (lines[0]["cmdline"] if lines else ""), lines[1:]


def role(cmdline: str) -> str | None:
    if "dagster-daemon" in cmdline and " run" in cmdline:
        return "daemon"
    if " api grpc" in cmdline:
        return "code server (gRPC process)"
    if "code-server start" in cmdline:
        return "code server (proxy process)"
    if "multiprocessing.spawn" in cmdline or "execute_run" in cmdline:
        return "run worker"  # the code server starts each run in a process of its own
    return None


def describe(name: str, samples: list[dict[str, Any]], warmup_at: float) -> str:
    late = [s for s in samples if s["t"] >= warmup_at] or samples

    def line(key: str, scale: float, unit: str) -> str:
        first, last = samples[0][key] / scale, samples[-1][key] / scale
        slope = slope_per_hour([(s["t"], s[key] / scale) for s in late])
        return f"{key} {first:,.1f} -> {last:,.1f} {unit} ({slope:+,.1f} {unit}/h)"

    parts = [line("rss", MB, "MB"), line("blocks", 1000, "k"), line("objects", 1000, "k")]
    threads = samples[-1]["threads"]
    return f"{name}: " + "; ".join(parts) + f"; threads {threads} ({len(samples)} samples)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0, help="minutes left out of slopes")
    parser.add_argument("--seconds", type=float, default=20.0, help="between two samples")
    parser.add_argument("--bots", type=int, default=0)
    parser.add_argument("--sqlite", action="store_true", help="SQLite for both databases")
    parser.add_argument(
        "--lookback-bars", type=int, help="the bots' live.lookback_bars (as in soak.py)"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "TRADING_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--trace", action="store_true", help="tracemalloc's top sites (slow)")
    parser.add_argument("--types", action="store_true", help="the object types that grew most")
    parser.add_argument(
        "--chain",
        metavar="MODULE.QUALNAME",
        default="",
        help="print what keeps the newest object of this type alive",
    )
    parser.add_argument(
        "--collect",
        action="store_true",
        help="a full garbage collection in each process before each sample",
    )
    parser.add_argument(
        "--quiet-schedules", action="store_true", help="schedules once a year: sensors alone"
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for every process (e.g. MALLOC_ARENA_MAX=2)",
    )
    args = parser.parse_args()
    import grpc

    home = Path(tempfile.mkdtemp(prefix="procmem-"))
    probe_dir = home / "probe"
    env = {
        "PYTHONPATH": checkout_pythonpath(PROBE),
        "TRADING_MEMPROBE_DIR": str(probe_dir),
        "TRADING_MEMPROBE_SECONDS": str(args.seconds),
        "TRADING_MEMPROBE_TRACE": "1" if args.trace else "0",
        "TRADING_MEMPROBE_TYPES": "1" if args.types else "0",
        "TRADING_MEMPROBE_BASELINE": str(args.warmup * 60),
        "TRADING_MEMPROBE_CHAIN": args.chain,
        "TRADING_MEMPROBE_COLLECT": "1" if args.collect else "0",
    }
    if not args.quiet_schedules:  # quiet: the harness's once-a-year schedules
        env.update(production_schedules())
    env.update(item.split("=", 1) for item in args.env)
    if args.sqlite:
        database_url, dagster_env = f"sqlite:///{home / 'bots.db'}", None
        cleanup = None
    else:
        database_url, dagster_env, cleanup = postgres_databases(args.postgres_url, "procmem")
    platform = Platform(
        home, database_url, dagster_postgres=dagster_env, extra_env=env, platform_defaults=True
    )
    storage = "SQLite" if args.sqlite else "PostgreSQL"
    print(
        f"process_memory: {args.bots} bots, {args.minutes:g} min, {storage}, grpcio "
        f"{grpc.__version__}, Python {sys.version.split()[0]}, env {args.env}, home {home}",
        flush=True,
    )
    try:
        platform.start()
        for n in range(args.bots):
            platform.insert_bot(f"mem-{n}", config=bot_config(n + 1, args.lookback_bars))
        began = time.time()
        time.sleep(args.minutes * 60)
    finally:
        platform.stop()
        if cleanup is not None:
            cleanup()
    warmup_at = began + args.warmup * 60
    for path in sorted(probe_dir.glob("*.jsonl")):
        cmdline, samples = read_probe(path)
        name = role(cmdline)
        if name is None or len(samples) < 2:
            continue
        if name == "run worker":
            name = f"run worker {path.stem}"
        print(describe(name, samples, warmup_at))
        if args.types and samples[-1].get("types"):
            print("  object types grown most since the warm-up (count):")
            for name, count in samples[-1]["types"]:
                print(f"    {count:+,} {name}")
        if args.chain and samples[-1].get("chain"):
            print(f"  what keeps the newest {args.chain} alive:")
            for entry in samples[-1]["chain"]:
                print(f"    <- {entry}")
        if args.trace and samples[-1].get("top"):
            print("  grown most since the first sample (tracemalloc):")
            for entry in samples[-1]["top"]:
                print(f"    {entry}")


if __name__ == "__main__":
    main()
