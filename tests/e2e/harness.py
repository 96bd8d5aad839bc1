"""Start the real Dagster processes for end-to-end tests and watch what they do.

``dagster-daemon run -w workspace.yaml`` runs the sensor daemon, the run queue and run
monitoring, and starts the code server for the workspace itself; bot runs are run workers
started by that code server.  Everything is started with ``subprocess.Popen`` in a new
session, so the test can stop the whole tree, or ``kill -9`` one process of it.
"""

from __future__ import annotations

import contextlib
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

from trading_platform.db import make_engine, services
from trading_platform.db.migrate import upgrade

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
T = TypeVar("T")


class Timeout(AssertionError):
    pass


def wait_for(condition: Callable[[], T], timeout: float, message: str, interval: float = 0.5) -> T:
    """Poll ``condition`` until it returns something truthy; fail with ``message`` at deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise Timeout(f"timed out after {timeout:.0f} s waiting for: {message} (last: {last!r})")


ACTIVE = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


@dataclass
class Platform:
    """A temporary DAGSTER_HOME, a bot database, and the daemon running on them."""

    home: Path
    database_url: str
    dagster_postgres: dict[str, str] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    daemon: subprocess.Popen[bytes] | None = None
    process_groups: list[int] = field(default_factory=list)
    engine: Engine = field(init=False)

    def __post_init__(self) -> None:
        self.dagster_home = self.home / "dagster_home"
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        source = "dagster-postgres.yaml" if self.dagster_postgres else "dagster.yaml"
        shutil.copy(REPO_ROOT / "dagster_home" / source, self.dagster_home / "dagster.yaml")
        upgrade(self.database_url)
        self.engine = make_engine(self.database_url)
        self.log_path = self.home / "daemon.log"

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
            TRADING_SENSOR_INTERVAL_SECONDS="2",
            TRADING_RESTART_BACKOFF_SECONDS="1",
            TRADING_RESTART_BACKOFF_MAX_SECONDS="4",
            TRADING_NOTIFICATION_BACKOFF_SECONDS="1",
            TRADING_STRATEGY_PATHS=str(REPO_ROOT / "tests" / "e2e" / "plugins"),
            NO_PROXY="127.0.0.1,localhost",
            PYTHONUNBUFFERED="1",
        )
        if self.dagster_postgres:
            env.update(self.dagster_postgres)
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.daemon = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", str(REPO_ROOT / "workspace.yaml")],
            cwd=REPO_ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.process_groups.append(self.daemon.pid)

    def kill_daemon(self) -> None:
        """``kill -9`` of the daemon process alone (its code server and runs live on)."""
        assert self.daemon is not None
        self.daemon.kill()
        self.daemon.wait(timeout=10)

    def stop(self) -> None:
        """Stop every daemon started and every process they started (code servers, runs)."""
        for pgid in self.process_groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
        if self.daemon is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.daemon.wait(timeout=20)
        for pgid in self.process_groups:
            for pid in self.pids_in_group(pgid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.process_groups.clear()
        self.daemon = None

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

    def log_tail(self, lines: int = 80) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

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
        wait_for(lambda: self.sensor_ticks() >= target, timeout, f"{count} more sensor ticks")

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

    def bot(self, bot_id: int) -> services.BotRow:
        row = services.get_bot(self.engine, bot_id)
        assert row is not None, f"bot {bot_id} does not exist"
        return row

    def sql(self, statement: str, **params: Any) -> None:
        with self.engine.begin() as connection:
            connection.execute(text(statement), params)

    def insert_bot(self, name: str, **columns: Any) -> int:
        """Insert a bot with plain SQL, as an operator would."""
        values = {
            "enabled": True,
            "strategy": "sma_cross",
            "mode": "paper",
            "exchange": "replay",
            "symbol": "BTC/USDT",
            "timeframe": "1m",
            "config": (
                '{"params": {"fast": 3, "slow": 8}, "data": {"pace_seconds": 0.5,'
                ' "history_bars": 20, "seed": 3}, "heartbeat_interval": 2}'
            ),
        }
        values.update(columns)
        names = ", ".join(["name", *values])
        placeholders = ", ".join([":name", *(f":{key}" for key in values)])
        with self.engine.begin() as connection:
            connection.execute(
                text(f"INSERT INTO trading_bots ({names}) VALUES ({placeholders})"),
                {"name": name, **values},
            )
            return connection.execute(
                text("SELECT id FROM trading_bots WHERE name = :name"), {"name": name}
            ).scalar_one()


def postgres_databases(base_url: str) -> tuple[str, dict[str, str], Callable[[], None]]:
    """A fresh PostgreSQL database for the bots and one for Dagster storage, and a cleanup."""
    from sqlalchemy.engine import make_url

    url = make_url(base_url)
    suffix = uuid.uuid4().hex[:10]
    bots_db, dagster_db = f"e2e_bots_{suffix}", f"e2e_dagster_{suffix}"
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
