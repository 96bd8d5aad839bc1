"""Soak: N paper bots for a while on PostgreSQL, measuring memory, tick time and growth.

The real platform (:class:`tests.e2e.harness.Platform`: code server, daemon, run workers)
plus a ``dagster-webserver`` process, with PostgreSQL for both the bot database and
Dagster's storage (two fresh databases named ``soak_*`` on ``--postgres-url``, dropped at
the end unless ``--keep``), runs ``--bots`` paper bots (``sma_cross`` on the ``replay``
exchange, one bar per second, each on its own seed) for ``--minutes``.  Timing is the
platform's own: sensor every 15 s, restart backoff, each bot's ``heartbeat_interval`` at its
default 60 s, and the health (every minute), performance (every 5 min) and purge (daily)
schedules running as in production (the end-to-end tests quiet them).

Printed once every bot is running, every minute (one compact line) and at the end:

- **memory**: resident memory (VmRSS from ``/proc``, summed over each process's tree) of
  the bots' run workers (all together and per bot), of other run workers (the schedules'
  jobs) at that moment, of the daemon, the code server (without its run workers) and the
  webserver; and, for information, the proportional set size (PSS, shared buffers split
  between the processes that map them) of the PostgreSQL backends serving the two
  databases.
- **tick time**: ``trading_bots_sensor`` ticks from Dagster's tick history
  (``DagsterInstance.get_ticks``: end - start), p50 and p99 over the window.
- **heartbeat age**: the oldest ``trading_bots.last_heartbeat`` of the enabled bots,
  sampled every ``--sample-seconds``; the maximum seen.
- **growth**: rows and bytes (``pg_total_relation_size``) added to Dagster's
  ``event_logs``, ``runs``, ``run_tags`` and ``job_ticks``, to each table of the bot
  database, and bytes added to the captured compute logs (``$DAGSTER_HOME/storage``) and the
  bots' own logs (``$TRADING_HOME/logs``), per bot-hour (bots x hours of the window; the
  platform's own schedule runs are included, shared out over the bots), then per bot-day and
  for a year of 50 bots.
- **runs and restarts**: active (STARTING/STARTED) runs per bot by the ``trading/bot_id``
  tag (must be exactly 1 at every sample), and the sum of ``restart_count`` (must stay 0).

Goals (issue 13): 50 bots in at most 8 GB in all; heartbeat age never above 3 x
``heartbeat_interval``; a year of 50 bots' storage in at most 10 GB; daemon memory flat
(its RSS at the start and the end, and the slope of a least-squares line through the
per-minute samples, in MB per hour).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dagster import DagsterRunStatus, RunsFilter
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from benchmarks.common import checkout_pythonpath, free_port, production_schedules
from tests.e2e.harness import BIN, Platform, postgres_databases
from trading_platform.config import BotConfig
from trading_platform.orchestration.environment import Timing

MB = 1024 * 1024
GB = 1024**3
DAGSTER_TABLES = ("event_logs", "runs", "run_tags", "job_ticks")
HEARTBEAT_INTERVAL = BotConfig.model_fields["heartbeat_interval"].default
MEMORY_GOAL_GB = 8.0
STORAGE_GOAL_GB = 10.0
#: a bot's own log is rotated at 10 MiB with 3 old files kept (README, "Running for weeks")
BOT_LOG_CAP = 40 * MB
BOT_TAG = "trading/bot_id"
#: what a bot's run may write to its captured stdout/stderr (1 Mi characters, then the log)
STREAM_CAP = 1 * MB


# -- processes ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Process:
    ppid: int
    rss: int
    cmdline: str


def process_table() -> dict[int, Process]:
    """Every process by pid: its parent, VmRSS in bytes and command line."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        ppid = rss = 0
        for line in status.splitlines():
            if line.startswith("PPid:"):
                ppid = int(line.split()[1])
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
        table[int(entry.name)] = Process(ppid, rss, cmdline)
    return table


def tree(table: dict[int, Process], root: int, skip: frozenset[int] = frozenset()) -> set[int]:
    """``root`` and its descendants, without the subtrees of the pids in ``skip``."""
    children: dict[int, list[int]] = {}
    for pid, process in table.items():
        children.setdefault(process.ppid, []).append(pid)
    found: set[int] = set()
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in skip or pid in found or pid not in table:
            continue
        found.add(pid)
        todo.extend(children.get(pid, []))
    return found


def pss(pid: int) -> int:
    """Proportional set size of one process: its private pages plus its share of the pages
    it shares (libraries, PostgreSQL's shared buffers); 0 if it is gone or unreadable."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


@dataclass(frozen=True)
class Size:
    """Resident memory of a set of processes: RSS summed (shared pages counted in each) and
    PSS summed (shared pages split: what the machine really spends)."""

    rss: int = 0
    pss: int = 0

    def __add__(self, other: Size) -> Size:
        return Size(self.rss + other.rss, self.pss + other.pss)


def size(table: dict[int, Process], pids: set[int]) -> Size:
    return Size(sum(table[p].rss for p in pids if p in table), sum(pss(p) for p in pids))


def total(sizes: Any) -> Size:
    result = Size()
    for item in sizes:
        result = result + item
    return result


# -- the platform --------------------------------------------------------------------------
def start_webserver(platform: Platform, port: int) -> Any:
    """``dagster-webserver`` on the platform's workspace, spawned like the daemon (its own
    session, stopped with the platform)."""
    process = platform._spawn(
        [
            str(BIN / "dagster-webserver"),
            "-w",
            str(platform.workspace),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        platform.home / "webserver.log",
    )

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5):
                return True
        except OSError:
            return False

    platform.wait_for(answers, 180, "the webserver to answer")
    return process


def bot_config(seed: int, lookback_bars: int | None = None) -> dict[str, Any]:
    """A paper bot on its own replay market, one bar a second; everything else default
    (``--lookback-bars``: a window that fills within the soak, to see the workers flat)."""
    config: dict[str, Any] = {
        "params": {"fast": 5, "slow": 20},
        "data": {"pace_seconds": 1, "seed": seed},
    }
    if lookback_bars is not None:
        config["live"] = {"lookback_bars": lookback_bars}
    return config


# -- samples -------------------------------------------------------------------------------
@dataclass
class Memory:
    at: float
    bot_workers: dict[int, Size]  # bot id -> its run worker's tree
    other_workers: Size  # the schedules' runs at that moment
    daemon: Size
    code_server: Size  # without the run workers it started
    webserver: Size
    postgres: Size
    postgres_backends: int

    @property
    def workers(self) -> Size:
        return total(self.bot_workers.values())

    @property
    def platform(self) -> Size:
        return total(
            [self.workers, self.other_workers, self.daemon, self.code_server, self.webserver]
        )

    @property
    def in_all(self) -> Size:
        return self.platform + self.postgres


#: how one part of the storage grows and what bounds it (README, "Running for weeks")
@dataclass(frozen=True)
class Model:
    #: "per bot": grows with the number of bots; "platform": the platform's own (schedules,
    #: sensors), measured with the bots of the soak
    scope: str
    #: "time": grows with wall-clock time; "bars": with the bars traded (the soak plays one
    #: bar a second, a ``1m`` bot gets one a minute: a year is 525,600 bars); "bounded": a
    #: row or two per bot updated in place (its size now, for 50 bots)
    driver: str
    #: how many days of it are kept (365: everything in a year)
    days: int
    why: str


BARS_PER_SOAK_DAY = 86_400
BARS_PER_REAL_DAY = 1_440  # a 1m bot
DAGSTER_MODELS = {
    "event_logs of bot runs, fills": Model(
        "per bot", "bars", 365, "an entry per fill, kept while the bot's run lives"
    ),
    "event_logs of bot runs, other": Model(
        "per bot", "time", 365, "summaries every 15 min, incidents: kept while the run lives"
    ),
    "event_logs of other runs": Model(
        "platform", "time", 30, "schedule runs, purged TRADING_RUN_RETENTION_DAYS after they end"
    ),
    "runs + run_tags": Model("platform", "time", 30, "the schedules' runs, purged likewise"),
    "job_ticks": Model("platform", "time", 7, "tick retention: success 7 d, skipped 1 d"),
}
BOT_TABLE_MODELS = {
    "trading_orders": Model("per bot", "bars", 365, "the books: never pruned"),
    "trading_trades": Model("per bot", "bars", 365, "the books: never pruned"),
    "notifications": Model("per bot", "bars", 30, "sent/failed deleted after 30 d"),
    "bot_commands": Model("per bot", "time", 30, "answered deleted after 30 d"),
    "metric_snapshots": Model("per bot", "time", 30, "thinned to one a day after 30 d"),
    "bot_status_events": Model("per bot", "time", 365, "the audit trail: a year"),
}
DEFAULT_MODEL = Model("per bot", "time", 365, "not pruned")
#: a table of a row or two per bot, updated in place: it grows with the bots, not with time
BOUNDED = Model("per bot", "bounded", 0, "rows per bot, updated in place")
for _name in ("trading_positions", "trading_bots", "bot_leases", "users", "credential_grants"):
    BOT_TABLE_MODELS[_name] = BOUNDED
#: the activity entry a bot writes per fill (one line in the event log and in the run's
#: captured stderr): it grows with the trades, the rest of a bot run's entries with time
FILL_ENTRY = "activity=fill "
EVENT_KINDS = {
    "fill": "event_logs of bot runs, fills",
    "bot": "event_logs of bot runs, other",
    "other": "event_logs of other runs",
}


@dataclass
class Storage:
    at: float
    dagster: dict[str, tuple[int, int]]  # part -> (rows, bytes)
    bots: dict[str, tuple[int, int]]  # table -> (rows, bytes)
    compute_logs: dict[str, int]  # "bot runs" / "other runs" -> bytes
    bot_logs: int


@dataclass
class Soak:
    platform: Platform
    webserver: Any
    dagster_engine: Engine
    databases: tuple[str, str]
    bot_ids: list[int]
    heartbeat_max: float = 0.0
    heartbeat_samples: int = 0
    active_min: int = 10**9
    active_max: int = 0
    active_bad: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    # memory
    def worker_pids(self) -> dict[int, int]:
        """bot id -> pid of its STARTED run's worker (as the bot recorded at start)."""
        pids = {}
        with self.platform.instance() as instance:
            runs = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED]))
        for run in runs:
            bot = run.tags.get(BOT_TAG)
            if bot is None:
                continue
            pid = self.platform.run_worker_pid(run.run_id)
            if pid is not None:
                pids[int(bot)] = pid
        return pids

    def memory(self) -> Memory:
        workers = self.worker_pids()
        table = process_table()
        assert self.platform.daemon is not None and self.platform.code_server is not None
        code_root = self.platform.code_server.pid
        # the code server's gRPC process starts each run worker with multiprocessing's
        # spawn; the worker starts Dagster's log capture (tail -F, watch_orphans) itself
        run_roots = frozenset(
            pid for pid in tree(table, code_root) if "multiprocessing.spawn" in table[pid].cmdline
        )
        bot_workers = {bot: size(table, tree(table, pid)) for bot, pid in workers.items()}
        others = total(size(table, tree(table, pid)) for pid in run_roots - set(workers.values()))
        backends = {
            pid
            for pid, process in table.items()
            if process.cmdline.startswith("postgres: ")
            and any(f" {db} " in process.cmdline for db in self.databases)
        }
        return Memory(
            at=time.time(),
            bot_workers=bot_workers,
            other_workers=others,
            daemon=size(table, tree(table, self.platform.daemon.pid)),
            code_server=size(table, tree(table, code_root, skip=run_roots)),
            webserver=size(table, tree(table, self.webserver.pid)),
            postgres=size(table, backends),
            postgres_backends=len(backends),
        )

    # storage
    def storage(self) -> Storage:
        dagster: dict[str, tuple[int, int]] = {}
        with self.dagster_engine.connect() as connection:

            def relation(name: str) -> tuple[int, int]:
                rows = connection.execute(text(f"SELECT count(*) FROM {name}")).scalar()
                size_ = connection.execute(
                    text("SELECT pg_total_relation_size(CAST(:t AS regclass))"), {"t": name}
                ).scalar()
                return int(rows or 0), int(size_ or 0)

            # event_logs' growth is shared out later by the length of the events added for
            # each kind of run (a run's events stay with it); here: rows and text per kind
            dagster["event_logs"] = relation("event_logs")
            split = connection.execute(
                text(
                    "SELECT CASE WHEN r.pipeline_name <> 'bot_run' OR r.run_id IS NULL"
                    " THEN 'other' WHEN e.event LIKE :fill THEN 'fill' ELSE 'bot' END,"
                    " count(*), coalesce(sum(length(e.event)), 0)"
                    " FROM event_logs e LEFT JOIN runs r ON r.run_id = e.run_id GROUP BY 1"
                ),
                {"fill": f"%{FILL_ENTRY}%"},
            ).all()
            for kind, count, length in split:
                dagster[EVENT_KINDS[kind]] = (int(count), int(length))
            for key in DAGSTER_MODELS:
                dagster.setdefault(key, (0, 0))
            runs, tags = relation("runs"), relation("run_tags")
            dagster["runs + run_tags"] = (runs[0] + tags[0], runs[1] + tags[1])
            dagster["job_ticks"] = relation("job_ticks")
            bot_runs = set(
                connection.execute(
                    text("SELECT run_id FROM runs WHERE pipeline_name = 'bot_run'")
                ).scalars()
            )
        bots: dict[str, tuple[int, int]] = {}
        with self.platform.engine.connect() as connection:
            names = connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            ).scalars()
            for name in sorted(names):
                count = connection.execute(text(f'SELECT count(*) FROM "{name}"')).scalar()
                found = connection.execute(
                    text("SELECT pg_total_relation_size(CAST(:t AS regclass))"), {"t": name}
                ).scalar()
                bots[name] = (int(count or 0), int(found or 0))
        compute = {"bot runs, fills": 0, "bot runs, other": 0, "other runs": 0}
        storage_dir = self.platform.dagster_home / "storage"
        if storage_dir.exists():
            for entry in storage_dir.iterdir():
                if entry.name not in bot_runs:
                    compute["other runs"] += du(entry)
                    continue
                for path in entry.rglob("*"):
                    if path.is_file():
                        for line in path.read_bytes().splitlines(keepends=True):
                            kind = "fills" if FILL_ENTRY.encode() in line else "other"
                            compute[f"bot runs, {kind}"] += len(line)
        return Storage(
            at=time.time(),
            dagster=dagster,
            bots=bots,
            compute_logs=compute,
            bot_logs=du(self.platform.home / "trading_home" / "logs"),
        )

    # runs, restarts, heartbeats
    def active_runs(self) -> Counter[int]:
        with self.platform.instance() as instance:
            runs = instance.get_runs(
                RunsFilter(statuses=[DagsterRunStatus.STARTING, DagsterRunStatus.STARTED])
            )
        counts: Counter[int] = Counter({bot: 0 for bot in self.bot_ids})
        for run in runs:
            if BOT_TAG in run.tags:
                counts[int(run.tags[BOT_TAG])] += 1
        return counts

    def check_active(self) -> Counter[int]:
        counts = self.active_runs()
        self.active_min = min(self.active_min, min(counts.values()))
        self.active_max = max(self.active_max, max(counts.values()))
        bad = {bot: n for bot, n in counts.items() if n != 1}
        if bad:
            self.active_bad.append(f"{time.strftime('%H:%M:%S')} {bad}")
        return counts

    def restarts(self) -> int:
        with self.platform.engine.connect() as connection:
            value = connection.execute(
                text("SELECT coalesce(sum(restart_count), 0) FROM trading_bots")
            ).scalar()
        return int(value or 0)

    def heartbeat_age(self) -> float:
        """Seconds since the oldest heartbeat of an enabled bot (inf: one never beat)."""
        with self.platform.engine.connect() as connection:
            beats = list(
                connection.execute(
                    text("SELECT last_heartbeat FROM trading_bots WHERE enabled")
                ).scalars()
            )
        now = dt.datetime.now(dt.UTC)
        ages = [
            float("inf")
            if beat is None
            else (now - (beat if beat.tzinfo else beat.replace(tzinfo=dt.UTC))).total_seconds()
            for beat in beats
        ]
        return max(ages, default=0.0)

    def sample_heartbeats(self, every: float) -> None:
        while not self.stop.wait(every):
            try:
                age = self.heartbeat_age()
            except Exception as exc:  # noqa: BLE001 - a lost sample is printed, not fatal
                print(f"  (heartbeat sample failed: {exc})", flush=True)
                continue
            self.heartbeat_max = max(self.heartbeat_max, age)
            self.heartbeat_samples += 1

    def tick_seconds(self, after: float) -> list[float]:
        """Durations of the ``trading_bots_sensor`` ticks that started after ``after``, from
        Dagster's tick history."""
        with self.platform.instance() as instance:
            for state in instance.all_instigator_state():
                if state.instigator_name == "trading_bots_sensor":
                    ticks = instance.get_ticks(
                        state.instigator_origin_id, state.selector_id, after=after
                    )
                    return [
                        tick.end_timestamp - tick.timestamp
                        for tick in ticks
                        if tick.end_timestamp is not None
                    ]
        return []


def du(path: Path) -> int:
    """Bytes in the files under ``path``."""
    found = 0
    for directory, _, files in os.walk(path):
        for name in files:
            try:
                found += (Path(directory) / name).stat().st_size
            except FileNotFoundError:
                continue
    return found


# -- figures -------------------------------------------------------------------------------
def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def slope_per_hour(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (time in s, value) samples, in value per hour."""
    if len(samples) < 2:
        return float("nan")
    xs = [t for t, _ in samples]
    ys = [v for _, v in samples]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    return sxy / sxx * 3600 if sxx else float("nan")


def mb(value: float) -> str:
    return f"{value / MB:,.0f} MB"


def both(value: Size) -> str:
    return f"{mb(value.rss)} (PSS {mb(value.pss)})"


def memory_text(m: Memory) -> str:
    per_bot = [s.rss for s in m.bot_workers.values()]
    per = f"median {mb(statistics.median(per_bot))}, max {mb(max(per_bot))}" if per_bot else "n/a"
    count = max(1, len(per_bot))
    return (
        f"RSS (PSS): bot run workers {len(per_bot)}: {both(m.workers)}, per bot {per} RSS, "
        f"{mb(m.workers.pss / count)} PSS; other run workers {both(m.other_workers)}; daemon "
        f"{both(m.daemon)}; code server {both(m.code_server)}; webserver {both(m.webserver)}; "
        f"PostgreSQL backends of the two databases ({m.postgres_backends}) {both(m.postgres)}; "
        f"in all {m.in_all.rss / GB:.2f} GB (PSS {m.in_all.pss / GB:.2f} GB)"
    )


def pass_fail(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def year_of_50(model: Model, per_bot_day: float, platform_day: float) -> float:
    """Bytes kept after a year of 50 bots (1m bars) by a part growing at the soak's rate."""
    daily = per_bot_day * 50 if model.scope == "per bot" else platform_day
    if model.driver == "bars":
        daily *= BARS_PER_REAL_DAY / BARS_PER_SOAK_DAY
    return daily * min(365, model.days)


def growth_report(start: Storage, end: Storage, bots: int) -> float:
    """Print the growth per bot-hour and bot-day and the projection for a year of 50 bots
    (each part by its model); returns the projection in GB."""
    hours = (end.at - start.at) / 3600
    bot_hours = bots * hours
    year: dict[str, float] = {}
    print(
        f"growth over {bot_hours:.2f} bot-hours ({bots} bots x {hours * 60:.1f} min); rows and "
        "bytes per bot-hour | per bot-day | kept after a year of 50 bots, and why:"
    )

    def part(
        name: str, rows: int, size_: int, model: Model, cap: float | None = None, now: int = 0
    ) -> None:
        per_bot_day = size_ / bot_hours * 24
        if model.driver == "bounded":  # its size now, for 50 bots
            kept = now * 50 / bots
        else:
            kept = year_of_50(model, per_bot_day, size_ / hours * 24)
        if cap is not None:
            kept = min(kept, cap)
        year[name] = kept
        bars = " (1m bars)" if model.driver == "bars" else ""
        print(
            f"    {name:<26} {rows / bot_hours:>9,.1f} rows {size_ / bot_hours / 1024:>8,.1f} KiB"
            f" | {rows / bot_hours * 24:>8,.0f} rows {per_bot_day / MB:>7,.2f} MB | "
            f"{kept / GB:>6.2f} GB: {model.why}, {model.scope}{bars}"
        )

    def delta(
        a: dict[str, tuple[int, int]], b: dict[str, tuple[int, int]], key: str
    ) -> tuple[int, int]:
        first = a.get(key, (0, 0))
        return b[key][0] - first[0], b[key][1] - first[1]

    print("  Dagster storage (PostgreSQL):")
    _, event_bytes = delta(start.dagster, end.dagster, "event_logs")
    kinds = EVENT_KINDS.values()
    event_text = sum(delta(start.dagster, end.dagster, k)[1] for k in kinds) or 1
    for name, model in DAGSTER_MODELS.items():
        rows, size_ = delta(start.dagster, end.dagster, name)
        if name in kinds:  # the table's growth in the share of the text added
            size_ = round(event_bytes * size_ / event_text)
        part(name, rows, size_, model)
    print("  bot database (PostgreSQL; rows added x pg_total_relation_size per row at the end):")
    for name in sorted(end.bots):
        rows, size_ = delta(start.bots, end.bots, name)
        if rows > 0:
            # a few hundred rows grow a table by whole pages of the heap and of each index:
            # the rows added at the table's average footprint per row are steadier
            count, now = end.bots[name]
            size_ = round(rows * now / count)
        if rows or size_:
            model = BOT_TABLE_MODELS.get(name, DEFAULT_MODEL)
            part(name, rows, size_, model, now=end.bots[name][1])
    print("  files:")

    def grown(kind: str) -> int:
        return end.compute_logs[kind] - start.compute_logs[kind]

    # Dagster's console lines of the activity entries go to sys.stderr as it is at each
    # write (coloredlogs' StandardErrorHandler), so the run's stream cap holds them too
    part(
        "compute logs of bot runs, fills",
        0,
        grown("bot runs, fills"),
        Model("per bot", "bars", 365, "Dagster's line per fill entry, kept while the run lives"),
    )
    part(
        "compute logs of bot runs, other",
        0,
        grown("bot runs, other"),
        Model("per bot", "time", 365, "summaries, incidents: kept while the run lives"),
    )
    captured = ("compute logs of bot runs, fills", "compute logs of bot runs, other")
    uncapped = sum(year[k] for k in captured)
    if uncapped > 50 * STREAM_CAP:
        for key in captured:
            year[key] *= 50 * STREAM_CAP / uncapped
        print(f"    (compute logs of bot runs at their cap: {50 * STREAM_CAP / GB:.2f} GB)")
    part(
        "compute logs of other runs",
        0,
        grown("other runs"),
        Model("platform", "time", 30, "purged with their runs"),
    )
    logs = end.bot_logs - start.bot_logs
    part(
        "bots' own logs",
        0,
        logs,
        Model("per bot", "time", 365, "rotated, at most 40 MiB a bot"),
        cap=50 * BOT_LOG_CAP,
    )
    in_all = sum(year.values())
    print(
        f"  a year of 50 bots: {in_all / GB:.2f} GB in all (bots' own logs at most "
        f"{BOT_LOG_CAP / MB:.0f} MiB a bot, a run's captured output at most 1 Mi characters; "
        "the parts driven by bars scaled from the soak's 1 bar/s to a 1m bot's 1 bar/min)"
    )
    return in_all / GB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bots", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "TRADING_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
        ),
        help="the server the two fresh databases are made on",
    )
    parser.add_argument("--sample-seconds", type=float, default=5.0)
    parser.add_argument(
        "--lookback-bars",
        type=int,
        help="the bots' live.lookback_bars (default: the platform's, 10,000 bars)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases and the home")
    parser.add_argument("--json", type=Path, help="write the raw samples to this file")
    args = parser.parse_args()
    began = time.time()
    database_url, dagster_env, cleanup = postgres_databases(args.postgres_url, prefix="soak")
    home = Path(tempfile.mkdtemp(prefix="soak-"))
    production = Timing()
    env = {"PYTHONPATH": checkout_pythonpath(), **production_schedules()}
    platform = Platform(
        home, database_url, dagster_postgres=dagster_env, extra_env=env, platform_defaults=True
    )
    dagster_db = dagster_env["DAGSTER_PG_DB"]
    dagster_engine = create_engine(make_url(args.postgres_url).set(database=dagster_db))
    bots_db = make_url(database_url).database or ""
    soak: Soak | None = None
    sampler: threading.Thread | None = None
    try:
        platform.start()
        webserver = start_webserver(platform, free_port())
        ids = [
            platform.insert_bot(f"soak-{n}", config=bot_config(n + 1, args.lookback_bars))
            for n in range(args.bots)
        ]
        soak = Soak(platform, webserver, dagster_engine, (bots_db, dagster_db), ids)
        print(
            f"soak: {args.bots} paper bots (sma_cross on replay, 1 bar/s, heartbeat_interval "
            f"{HEARTBEAT_INTERVAL} s), {args.minutes:g} min, PostgreSQL {bots_db} + "
            f"{dagster_db}, home {home}; platform defaults (sensor 15 s); schedules health "
            f"'{production.health_cron}', performance '{production.performance_cron}', purge "
            f"'{production.purge_cron}'",
            flush=True,
        )
        platform.wait_for(
            lambda: all(platform.bot(b).status == "running" for b in ids),
            120 + 6 * args.bots,
            f"{args.bots} bots running",
            interval=2,
        )
        ready = time.time()
        print(f"all {args.bots} bots running {ready - began:.0f} s after the start", flush=True)
        start_storage, start_memory = soak.storage(), soak.memory()
        start_restarts = soak.restarts()
        counts = soak.check_active()
        print(f"[start] memory {memory_text(start_memory)}")
        print(
            f"[start] active runs per bot: {dict(Counter(counts.values()))} (runs: bots); "
            f"restarts {start_restarts}; load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        sampler = threading.Thread(
            target=soak.sample_heartbeats, args=(args.sample_seconds,), daemon=True
        )
        sampler.start()
        memories = [start_memory]
        end_at = ready + args.minutes * 60
        minute = 0
        while time.time() < end_at:
            minute += 1
            next_at = min(end_at, ready + 60 * minute)
            while time.time() < next_at:
                time.sleep(min(1.0, max(0.0, next_at - time.time())))
            try:
                m = soak.memory()
                memories.append(m)
                counts = soak.check_active()
                ticks = soak.tick_seconds(next_at - 60)
                n = len(m.bot_workers)
                print(
                    f"[{(m.at - ready) / 60:4.1f} min] RSS: bots {mb(m.workers.rss)} "
                    f"({mb(m.workers.rss / max(1, n))}/bot, {n}), other runs "
                    f"{mb(m.other_workers.rss)}, daemon {mb(m.daemon.rss)}, code "
                    f"{mb(m.code_server.rss)}, web {mb(m.webserver.rss)}, pg "
                    f"{mb(m.postgres.rss)} ({m.postgres_backends} connections); "
                    f"in all {m.in_all.rss / GB:.2f} GB (PSS {m.in_all.pss / GB:.2f}); sensor "
                    f"{len(ticks)} ticks p50 {quantile(ticks, 0.5):.2f} s max "
                    f"{max(ticks, default=float('nan')):.2f} s; heartbeat max "
                    f"{soak.heartbeat_max:.0f} s; runs/bot {min(counts.values())}.."
                    f"{max(counts.values())}; restarts {soak.restarts()}; load "
                    f"{os.getloadavg()[0]:.1f}",
                    flush=True,
                )
            except Exception as exc:  # noqa: BLE001 - a lost sample is printed, not fatal
                print(f"  (sample at minute {minute} failed: {exc!r:.300})", flush=True)
        soak.stop.set()
        end_storage = soak.storage()
        ticks = soak.tick_seconds(ready)
        restarts = soak.restarts()
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "bots": args.bots,
                        "ready": ready,
                        "storage": [asdict(start_storage), asdict(end_storage)],
                        "memories": [asdict(m) for m in memories],
                        "ticks": ticks,
                        "heartbeat_max": soak.heartbeat_max,
                        "active": [soak.active_min, soak.active_max, soak.active_bad],
                        "restarts": [start_restarts, restarts],
                    },
                    indent=1,
                )
            )
        report(args.bots, soak, memories, ticks, start_restarts, restarts, ready)
        year_gb = growth_report(start_storage, end_storage, args.bots)
        goals(args.bots, soak, memories, year_gb, restarts)
        print(f"{(time.time() - began) / 60:.1f} min in all")
    finally:
        if soak is not None:
            soak.stop.set()
        if sampler is not None:
            sampler.join(timeout=10)
        platform.stop()
        platform.engine.dispose()
        dagster_engine.dispose()
        if args.keep:
            print(f"kept: databases {bots_db}, {dagster_db}; home {home}")
        else:
            cleanup()
            shutil.rmtree(home, ignore_errors=True)


def report(
    bots: int,
    soak: Soak,
    memories: list[Memory],
    ticks: list[float],
    start_restarts: int,
    restarts: int,
    ready: float,
) -> None:
    first, last = memories[0], memories[-1]
    print()
    print(f"=== soak: {bots} bots, {(last.at - ready) / 60:.1f} min after all ran")
    print(f"[start] memory {memory_text(first)}")
    print(f"[end]   memory {memory_text(last)}")
    for name in ("daemon", "code_server", "webserver"):
        slope = slope_per_hour([(m.at, getattr(m, name).rss / MB) for m in memories])
        print(
            f"{name.replace('_', ' ')}: RSS {mb(getattr(first, name).rss)} -> "
            f"{mb(getattr(last, name).rss)}, slope {slope:+.1f} MB/h over {len(memories)} "
            "samples"
        )
    per_bot = [(m.at, m.workers.rss / MB / max(1, len(m.bot_workers))) for m in memories]
    second_half = per_bot[len(per_bot) // 2 :]
    print(
        f"bot run worker, per bot: slope {slope_per_hour(per_bot):+.1f} MB/h, over the second "
        f"half {slope_per_hour(second_half):+.1f} MB/h (RSS {per_bot[0][1]:.1f} -> "
        f"{per_bot[-1][1]:.1f} MB)"
    )
    print(
        f"trading_bots_sensor: {len(ticks)} ticks, p50 {quantile(ticks, 0.5):.2f} s, p99 "
        f"{quantile(ticks, 0.99):.2f} s, max {max(ticks, default=float('nan')):.2f} s"
    )
    print(f"heartbeat age: max {soak.heartbeat_max:.1f} s over {soak.heartbeat_samples} samples")
    print(
        f"active runs per bot: min {soak.active_min}, max {soak.active_max} over "
        f"{len(memories)} samples; samples off: {soak.active_bad[:5] or 'none'}"
    )
    print(f"restarts (sum of restart_count): {start_restarts} -> {restarts}")
    with soak.platform.engine.connect() as connection:
        limit = connection.execute(text("SHOW max_connections")).scalar()
    connections = max(m.postgres_backends for m in memories)
    print(
        f"PostgreSQL connections to the two databases: at most {connections} "
        f"({connections / bots:.1f} per bot); the server's max_connections: {limit}"
    )


def goals(bots: int, soak: Soak, memories: list[Memory], year_gb: float, restarts: int) -> None:
    peak_rss = max(m.in_all.rss for m in memories)
    peak_pss = max(m.in_all.pss for m in memories)
    last = memories[-1]
    count = max(1, len(last.bot_workers))
    # a run with fewer bots is judged on the memory 50 would take at its per-bot figure
    more = 50 - bots
    rss50 = (peak_rss + more * last.workers.rss / count) / GB
    pss50 = (peak_pss + more * last.workers.pss / count) / GB
    scaled = "" if bots == 50 else f" (scaled from {bots} bots by the per-bot figure)"
    print()
    print(
        f"goal memory, 50 bots <= {MEMORY_GOAL_GB:g} GB in all{scaled}: peak RSS {rss50:.2f} GB "
        f"{pass_fail(rss50 <= MEMORY_GOAL_GB)}; peak PSS {pss50:.2f} GB "
        f"{pass_fail(pss50 <= MEMORY_GOAL_GB)}"
    )
    limit = 3 * HEARTBEAT_INTERVAL
    print(
        f"goal heartbeat age <= 3 x {HEARTBEAT_INTERVAL} s: max {soak.heartbeat_max:.1f} s "
        + pass_fail(soak.heartbeat_max <= limit)
    )
    print(
        f"goal storage, a year of 50 bots <= {STORAGE_GOAL_GB:g} GB: {year_gb:.2f} GB "
        + pass_fail(year_gb <= STORAGE_GOAL_GB)
    )
    print(
        f"goal exactly 1 active run per bot: min {soak.active_min}, max {soak.active_max} "
        + pass_fail(soak.active_min == 1 and soak.active_max == 1)
    )
    print(f"goal no restart: {restarts} " + pass_fail(restarts == 0))
    slope = slope_per_hour([(m.at, m.daemon.rss / MB) for m in memories])
    print(
        f"daemon memory: RSS {mb(memories[0].daemon.rss)} at the start, {mb(last.daemon.rss)} "
        f"at the end, slope {slope:+.1f} MB/h"
    )


if __name__ == "__main__":
    main()
