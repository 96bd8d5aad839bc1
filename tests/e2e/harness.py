"""Start the real Dagster processes for end-to-end tests and watch what they do.

The processes are the ones a production deployment runs: a code server
(``dagster code-server start``, which loads ``trading_platform.definitions`` and starts the
run workers) and ``dagster-daemon run`` (sensors, schedules, the run queue and run
monitoring) pointed at it through a workspace file.  ``make run``'s ``dagster dev`` does the
same.  A daemon given the module itself instead (``-w workspace.yaml``) replaces its code
server every 60 seconds, and on two cores three such daemons spent a core re-importing the
platform: the waits that ran out under load did so there.

Everything is started with ``subprocess.Popen`` in a new session, so a test can stop the
whole tree, or ``kill -9`` one process of it.  A wait that runs out reports what the platform
was doing (:meth:`Platform.describe`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from sqlalchemy import Engine, create_engine, text

from tests.support.builders import FAST_PAPER_CONFIG, PLUGINS, insert_bot_sql
from tests.support.waiting import wait_for
from trading_platform.db import make_engine
from trading_platform.db.bots import BotRow, get_bot, get_bots
from trading_platform.db.migrate import upgrade

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
BIN = Path(sys.executable).parent
LOCATION = "trading_platform"
#: schedules the e2e tests do not exercise fire once a year instead of every minute (each
#: firing is a run worker); the browser test module keeps them on and checks them
QUIET_CRON = "0 0 1 1 *"
T = TypeVar("T")

ACTIVE = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


@dataclass
class Platform:
    """A temporary DAGSTER_HOME, a bot database, and the code server and daemon on them."""

    home: Path
    database_url: str
    dagster_postgres: dict[str, str] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    #: keep the platform's own sensor interval and restart backoff (15 s; 10 s doubling to
    #: 300 s) instead of the tests' short ones: for benchmarks that time restarts
    platform_defaults: bool = False
    daemon: subprocess.Popen[bytes] | None = None
    code_server: subprocess.Popen[bytes] | None = None
    process_groups: list[int] = field(default_factory=list)
    #: bots a module keeps running across its tests (all others are disabled after each test)
    keep_running: set[int] = field(default_factory=set)
    engine: Engine = field(init=False)

    def __post_init__(self) -> None:
        self.dagster_home = self.home / "dagster_home"
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        source = "dagster-postgres.yaml" if self.dagster_postgres else "dagster.yaml"
        shutil.copy(REPO_ROOT / "dagster_home" / source, self.dagster_home / "dagster.yaml")
        upgrade(self.database_url)
        self.engine = make_engine(self.database_url)
        self.log_path = self.home / "daemon.log"
        self.code_server_log_path = self.home / "code_server.log"
        # a short path: a Unix socket's name is limited to about 100 bytes
        self.socket = Path("/tmp") / f"tp-e2e-{uuid.uuid4().hex[:12]}.sock"
        self.workspace = self.home / "workspace.yaml"
        self.workspace.write_text(
            "load_from:\n"
            "  - grpc_server:\n"
            f"      socket: {self.socket}\n"
            "      host: localhost\n"
            f"      location_name: {LOCATION}\n"
        )

    def env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("TRADING_", "DAGSTER_"))
        }
        env.update(
            DAGSTER_HOME=str(self.dagster_home),
            TRADING_DATABASE_URL=self.database_url,
            TRADING_HOME=str(self.home / "trading_home"),
            # bots' data files: the test's own dir and the shared sample data, nothing else
            TRADING_DATA_DIRS=os.pathsep.join([str(self.home), str(SHARED_DATA)]),
            TRADING_HEALTH_CRON=QUIET_CRON,
            TRADING_PERFORMANCE_CRON=QUIET_CRON,
            TRADING_PURGE_CRON=QUIET_CRON,
            TRADING_STRATEGY_PATHS=str(PLUGINS),
            NO_PROXY="127.0.0.1,localhost",
            PYTHONUNBUFFERED="1",
        )
        if not self.platform_defaults:
            env.update(
                TRADING_SENSOR_INTERVAL_SECONDS="2",
                TRADING_RESTART_BACKOFF_SECONDS="1",
                TRADING_RESTART_BACKOFF_MAX_SECONDS="4",
                TRADING_NOTIFICATION_BACKOFF_SECONDS="1",
                TRADING_NOTIFICATION_BACKOFF_MAX_SECONDS="4",
                TRADING_ACTIVITY_SUMMARY_SECONDS="4",
            )
        if self.dagster_postgres:
            env.update(self.dagster_postgres)
        env.update(self.extra_env)
        return env

    # -- processes ---------------------------------------------------------------------------
    def _spawn(self, command: list[str], log_path: Path) -> subprocess.Popen[bytes]:
        log = open(log_path, "ab")  # noqa: SIM115 - the child owns it
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.process_groups.append(process.pid)
        return process

    def start(self) -> None:
        """The code server (unless it runs already), then the daemon once the server answers."""
        if self.code_server is None or self.code_server.poll() is not None:
            self.code_server = self._spawn(
                [
                    str(BIN / "dagster"),
                    "code-server",
                    "start",
                    "-m",
                    "trading_platform.definitions",
                    "--location-name",
                    LOCATION,
                    "--socket",
                    str(self.socket),
                    "--log-level",
                    "warning",
                ],
                self.code_server_log_path,
            )
            self.wait_for(self._code_server_answers, 120, "the code server to answer")
        self.daemon = self._spawn(
            [str(BIN / "dagster-daemon"), "run", "-w", str(self.workspace)], self.log_path
        )

    def _code_server_answers(self) -> bool:
        from dagster._grpc.client import DagsterGrpcClient

        if not self.socket.exists():
            return False
        try:
            DagsterGrpcClient(socket=str(self.socket)).ping("ready")
        except Exception:  # noqa: BLE001 - not up yet
            return False
        return True

    def kill_code_server(self) -> None:
        """``kill -9`` of the code server alone: the run workers it started live on."""
        assert self.code_server is not None
        self.code_server.kill()
        self.code_server.wait(timeout=10)
        self.socket.unlink(missing_ok=True)

    def kill_daemon(self) -> None:
        """``kill -9`` of the daemon process alone (the code server and runs live on)."""
        assert self.daemon is not None
        self.daemon.kill()
        self.daemon.wait(timeout=10)
        self.process_groups.remove(self.daemon.pid)

    def stop(self) -> None:
        """Stop every process started and every process they started (run workers)."""
        for pgid in self.process_groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
        for process in (self.daemon, self.code_server):
            if process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=20)
        for pgid in self.process_groups:
            for pid in self.pids_in_group(pgid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.process_groups.clear()
        self.daemon = self.code_server = None
        self.socket.unlink(missing_ok=True)

    @staticmethod
    def pids_in_group(pgid: int) -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    pids.append(int(entry.name))
            except (ProcessLookupError, PermissionError):
                continue
        return pids

    def log_tail(self, lines: int = 80, path: Path | None = None) -> str:
        try:
            text_ = (path or self.log_path).read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text_.splitlines()[-lines:])

    # -- waiting -----------------------------------------------------------------------------
    def wait_for(
        self, condition: Callable[[], T], timeout: float, message: str, interval: float = 0.5
    ) -> T:
        """:func:`~tests.support.waiting.wait_for` that explains a timeout with
        :meth:`describe`."""
        return wait_for(condition, timeout, message, interval, explain=self.describe)

    def describe(self) -> str:
        """What the platform is doing: runs, bots, recent status events, load, logs."""
        lines = [f"--- load average {os.getloadavg()} ---", "--- runs (newest first) ---"]
        now = time.time()
        failures_shown = 0
        with self.instance() as instance:
            for record in instance.get_run_records(limit=25):
                run = record.dagster_run
                started = f"{now - record.start_time:.0f} s ago" if record.start_time else "-"
                ended = f"{now - record.end_time:.0f} s ago" if record.end_time else "-"
                lines.append(
                    f"{run.run_id[:8]} {run.job_name} {run.status.value} bot "
                    f"{run.tags.get('trading/bot_id', '-')} incarnation "
                    f"{run.tags.get('trading/incarnation', '-')} started {started} ended {ended}"
                )
                if not run.is_finished or run.status.value == "CANCELED":
                    # a run stuck STARTING or CANCELING: what Dagster last heard of it
                    for entry in instance.all_logs(run.run_id)[-4:]:
                        lines.append(
                            f"    {dt.datetime.fromtimestamp(entry.timestamp, dt.UTC):%H:%M:%S} "
                            f"{entry.dagster_event_type} {entry.message[:160]!r}"
                        )
                elif run.status.value == "FAILURE" and failures_shown < 2:
                    # why the newest runs failed: the step's or the run's failure message
                    failures_shown += 1
                    for entry in instance.all_logs(run.run_id):
                        event = entry.dagster_event
                        if event is not None and (event.is_step_failure or event.is_job_failure):
                            error = getattr(event.event_specific_data, "error", None)
                            lines.append(f"    {event.event_type_value}: {_cause(error, entry)}")
        lines.append("--- bots ---")
        for bot in get_bots(self.engine):
            beat = bot.last_heartbeat
            age = f"{(dt.datetime.now(dt.UTC) - beat).total_seconds():.0f} s" if beat else "never"
            lines.append(
                f"#{bot.id} {bot.name!r} enabled={bot.enabled} status={bot.status} "
                f"heartbeat {age} ago restarts={bot.restart_count} error={bot.last_error!r}"
            )
        lines.append("--- status events (last 20) ---")
        with self.engine.connect() as connection:
            events = connection.execute(
                text(
                    "SELECT at, bot_id, from_status, to_status, reason FROM bot_status_events"
                    " ORDER BY id DESC LIMIT 20"
                )
            ).all()
        lines += [
            f"{e.at} #{e.bot_id} {e.from_status} -> {e.to_status}: {e.reason}" for e in events
        ]
        lines.append("--- processes ---")
        lines.append(_processes())
        lines.append("--- daemon log (tail, without idle sensor ticks) ---")
        lines.append(
            "\n".join(
                line
                for line in self.log_tail(400).splitlines()
                if "Checking for new runs" not in line and "skipped" not in line
            )[-6000:]
        )
        lines.append("--- code server log (tail) ---")
        lines.append(self.log_tail(20, self.code_server_log_path))
        return "\n".join(lines)

    # -- observing ---------------------------------------------------------------------------
    def instance(self) -> DagsterInstance:
        os.environ["DAGSTER_HOME"] = str(self.dagster_home)
        for key, value in (self.dagster_postgres or {}).items():
            os.environ[key] = value
        return DagsterInstance.from_config(str(self.dagster_home))

    def runs(self, bot_id: int, statuses: list[DagsterRunStatus] | None = None) -> list[Any]:
        with self.instance() as instance:
            return list(
                instance.get_runs(
                    RunsFilter(tags={"trading/bot_id": str(bot_id)}, statuses=statuses or [])
                )
            )

    def active_runs(self, bot_id: int) -> list[Any]:
        return self.runs(bot_id, ACTIVE)

    def sensor_ticks(self) -> int:
        """How many ticks ``trading_bots_sensor`` has completed so far."""
        with self.instance() as instance:
            for state in instance.all_instigator_state():
                if state.instigator_name == "trading_bots_sensor":
                    ticks = instance.get_ticks(
                        state.instigator_origin_id, state.selector_id, limit=100_000
                    )
                    return sum(1 for tick in ticks if tick.status.value in ("SUCCESS", "SKIPPED"))
        return 0

    def wait_for_sensor_ticks(self, count: int, timeout: float = 60) -> None:
        """Let ``count`` more sensor ticks happen: how a test proves nothing else is launched."""
        target = self.sensor_ticks() + count
        self.wait_for(lambda: self.sensor_ticks() >= target, timeout, f"{count} more sensor ticks")

    def run_worker_pid(self, run_id: str) -> int | None:
        """The pid of the process executing ``run_id``, as its bot recorded at start."""
        with self.engine.connect() as connection:
            reason = connection.execute(
                text(
                    "SELECT reason FROM bot_status_events WHERE run_id = :run_id"
                    " AND to_status = 'starting' ORDER BY id"
                ),
                {"run_id": run_id},
            ).scalar()
        match = re.search(r"pid (\d+)", reason or "")
        return int(match[1]) if match else None

    def bot(self, bot_id: int) -> BotRow:
        row = get_bot(self.engine, bot_id)
        assert row is not None, f"bot {bot_id} does not exist"
        return row

    def sql(self, statement: str, **params: Any) -> None:
        with self.engine.begin() as connection:
            connection.execute(text(statement), params)

    def disable_bots(self) -> None:
        """Disable every bot but ``keep_running``: a test's bots never burn the next test's
        CPU.  Their runs stop in the background."""
        with self.engine.begin() as connection:
            ids = connection.execute(text("SELECT id FROM trading_bots WHERE enabled")).scalars()
            for bot_id in set(ids) - self.keep_running:
                connection.execute(
                    text("UPDATE trading_bots SET enabled = false WHERE id = :id"), {"id": bot_id}
                )

    def insert_bot(self, name: str, **columns: Any) -> int:
        """Insert a bot with plain SQL, as an operator would: a paper bot that trades within
        seconds (:data:`~tests.support.builders.FAST_PAPER_CONFIG`) unless ``columns`` say
        otherwise.  A bot with an owner (``user_id``) whose config names a credential set
        gets the owner granted the set, as an operator would (``grant=False``: not)."""
        return insert_bot_sql(self.engine, name, **{"config": FAST_PAPER_CONFIG, **columns})


def postgres_databases(
    base_url: str, prefix: str = "e2e"
) -> tuple[str, dict[str, str], Callable[[], None]]:
    """A fresh PostgreSQL database for the bots and one for Dagster storage, and a cleanup.
    ``prefix`` starts their names (a benchmark's databases are told from the tests')."""
    from sqlalchemy.engine import make_url

    url = make_url(base_url)
    suffix = uuid.uuid4().hex[:10]
    bots_db, dagster_db = f"{prefix}_bots_{suffix}", f"{prefix}_dagster_{suffix}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{bots_db}"'))
        connection.execute(text(f'CREATE DATABASE "{dagster_db}"'))
    env = {
        "DAGSTER_PG_HOST": url.host or "127.0.0.1",
        "DAGSTER_PG_PORT": str(url.port or 5432),
        "DAGSTER_PG_USER": url.username or "postgres",
        "DAGSTER_PG_PASSWORD": url.password or "",
        "DAGSTER_PG_DB": dagster_db,
    }

    def cleanup() -> None:
        with admin.connect() as connection:
            for name in (bots_db, dagster_db):
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url.set(database=bots_db).render_as_string(hide_password=False), env, cleanup


def _processes() -> str:
    """Dagster and bot processes with their state and CPU: a run stuck STARTING shows whether
    its worker exists, and a zombie or a busy code server shows here."""
    try:
        table = subprocess.run(
            ["ps", "-eo", "pid,ppid,stat,etimes,pcpu,rss,args", "--sort=pid"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return f"(ps failed: {exc})"
    lines = table.splitlines()
    keep = [line[:200] for line in lines[1:] if "dagster" in line or "<defunct>" in line]
    return "\n".join(lines[:1] + keep)


def _cause(error: Any, entry: Any) -> str:
    """A failure's messages down its cause chain, and where the deepest one was raised."""
    if error is None:
        return repr(entry.message[:400])
    messages, deepest = [], error
    while error is not None:
        messages.append(error.message.strip()[:300])
        deepest, error = error, error.cause
    return " <- ".join(messages) + " at " + "".join(deepest.stack[-2:]).strip()[-400:]
