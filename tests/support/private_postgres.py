"""A private PostgreSQL 15 cluster a test may stop and restart at will.

The shared server on 5432 serves other tests at the same time, so a database-fault test
never touches it: it creates its own cluster in a temporary directory (``initdb``), trust
authentication, listening on 127.0.0.1 on a free port with its Unix socket in the same
directory, and stops and starts it with ``pg_ctl``.  ``pg_ctl restart`` on this cluster is
what Debian's ``pg_ctlcluster 15 main restart`` does to a packaged cluster (a fast shutdown,
which ends every connection, then a start), so a test of :meth:`PrivatePostgres.restart` is a
test of the operator's restart.

PostgreSQL refuses to run as root, and the tests run as root: every command runs as the
``postgres`` user (``runuser -u postgres``) on a directory that user owns.  Where the
binaries or the user are missing, :func:`require_private_postgres` skips with the reason.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from trading_platform.db import make_engine
from trading_platform.db.migrate import upgrade

BIN = Path(os.environ.get("TRADING_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
USER = "postgres"


def missing_reason() -> str | None:
    """Why a private cluster cannot be made here, or None when it can."""
    for tool in ("initdb", "pg_ctl", "postgres"):
        if not (BIN / tool).exists():
            return f"PostgreSQL 15 binaries not found ({BIN / tool} is missing)"
    try:
        pwd.getpwnam(USER)
    except KeyError:
        return f"no {USER!r} user to run a private PostgreSQL cluster as"
    if os.geteuid() != 0 and pwd.getpwuid(os.geteuid()).pw_name != USER:
        return "a private PostgreSQL cluster needs root (runuser) or the postgres user"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "runuser is missing: cannot run PostgreSQL as the postgres user"
    return None


def require_private_postgres() -> None:
    """Skip the calling test with the reason a private cluster cannot be made."""
    reason = missing_reason()
    if reason is not None:
        pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivatePostgres:
    """One PostgreSQL cluster in a temporary directory, owned by the ``postgres`` user."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="tp-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = _free_port()
        self.running = False
        try:
            self._create()
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def _create(self) -> None:
        entry = pwd.getpwnam(USER)
        os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self._run(
            BIN / "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )
        conf = (
            "listen_addresses = '127.0.0.1'\n"
            f"port = {self.port}\n"
            f"unix_socket_directories = '{self.dir}'\n"
            "max_connections = 300\n"
            "fsync = off\n"
            "synchronous_commit = off\n"
            "full_page_writes = off\n"
        )
        with open(self.data / "postgresql.conf", "a") as handle:
            handle.write(conf)

    def _run(self, *command: object, timeout: float = 60) -> None:
        args = [str(part) for part in command]
        if os.geteuid() == 0:
            args = ["runuser", "-u", USER, "--", *args]
        subprocess.run(args, check=True, capture_output=True, timeout=timeout, cwd=self.dir)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        self._run(BIN / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "start")
        self.running = True

    def stop(self) -> None:
        """A fast shutdown: every open connection is ended, as in an operator's restart."""
        self._run(BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "60", "stop")
        self.running = False

    def restart(self) -> None:
        """``pg_ctl restart``: the private cluster's ``pg_ctlcluster … restart``."""
        self._run(BIN / "pg_ctl", "-D", self.data, "-l", self.log, "-m", "fast", "-w", "restart")
        self.running = True

    @contextlib.contextmanager
    def outage(self, seconds: float) -> Iterator[None]:
        """Stop the server, keep it down ``seconds`` (the body runs meanwhile, and may take
        longer), then start it again, even when the body raised."""
        self.stop()
        down_until = time.monotonic() + seconds
        try:
            yield
        finally:
            remaining = down_until - time.monotonic()
            if remaining > 0:
                time.sleep(remaining)
            self.start()

    def close(self) -> None:
        """Stop the cluster (whatever state it is in) and remove its directory."""
        try:
            if self.running or (self.data / "postmaster.pid").exists():
                self._run(BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        except (subprocess.SubprocessError, OSError):
            pass
        finally:
            self.running = False
            shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started private cluster, always stopped and removed afterwards (skips the test
    where one cannot be made)."""
    require_private_postgres()
    cluster = PrivatePostgres()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def private_cluster() -> Iterator[PrivatePostgres]:
    """One private cluster per test module (``pytest_plugins`` in ``tests/conftest.py``
    makes it a fixture everywhere): creating one takes a few seconds, and each test leaves it
    running."""
    with private_postgres() as cluster:
        yield cluster


@pytest.fixture
def private_database(private_cluster: PrivatePostgres) -> Iterator[Engine]:
    """The bot schema on the module's private cluster, and an engine on it."""
    url = private_cluster.url()
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()
