"""One paper bot in a process of its own, as a ``bot_run`` op runs it, without Dagster.

``python -m tests.support.paper_process --url URL --bot-id ID --seconds S --report FILE``
reads the bot's row, validates it as the sensor does, runs a
:class:`~trading_platform.engine.runner.BotRunner` for ``S`` seconds, stops it cleanly and
writes a JSON report: the fills the simulated broker reported (the recorder's count, whether
or not they reached the database), the error the run raised if any, the bot's final status,
and every log record at WARNING or above (a heartbeat that failed on a locked database is
logged, not raised).  Separate processes are what lock a SQLite file against each other;
threads of one process share a connection pool and prove less.

``python -m tests.support.paper_process writer --url URL --seconds S --report FILE`` writes as
the CLI and an operator do while the bots run: desired columns (``set_bot``), operator writes
with their audit row (``operator_write``), and the sensor's read of every bot, in a loop;
it reports its write latencies and failures.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

from trading_platform.config import validate_desired
from trading_platform.db import make_engine
from trading_platform.db.bots import get_bot, get_bots, operator_write, set_bot
from trading_platform.engine.runner import BotRunner
from trading_platform.strategy_handler import load_registry

PLUGINS = Path(__file__).resolve().parent / "plugins"
REPO_ROOT = Path(__file__).resolve().parents[2]


def spawn(
    role: str,
    url: str,
    report: Path,
    seconds: float,
    bot_id: int | None = None,
    stop_file: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start this module as ``role`` (``bot`` or ``writer``); its output goes beside
    ``report`` (``.log``).  A bot with a ``stop_file`` stops when the file appears (at the
    latest after ``seconds``): under load, bot processes start seconds apart, and a bot
    that ran a fixed time from its own start could end before the last one began."""
    command = [sys.executable, "-m", "tests.support.paper_process", role, "--url", url]
    command += ["--seconds", str(seconds), "--report", str(report)]
    if bot_id is not None:
        command += ["--bot-id", str(bot_id)]
    if stop_file is not None:
        command += ["--stop-file", str(stop_file)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    log = open(report.with_suffix(".log"), "wb")  # noqa: SIM115 - the child owns it
    return subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


class Problems(logging.Handler):
    """Keeps every record at WARNING or above, with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f" | {type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        self.records.append(f"{record.levelname} {record.name}: {text}"[:2000])


class WriteTimer:
    """Times every write transaction of an engine, from its ``BEGIN`` to its ``COMMIT``: on
    SQLite that includes the wait for the write lock (the busy timeout's wait)."""

    def __init__(self, engine: Engine) -> None:
        self.latencies: list[float] = []
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)

    def _begin(self, connection: Any) -> None:
        connection.info["began"] = time.monotonic()
        connection.info["wrote"] = False

    def _statement(self, connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            connection.info["wrote"] = True

    def _commit(self, connection: Any) -> None:
        began = connection.info.pop("began", None)
        if began is not None and connection.info.pop("wrote", False):
            self.latencies.append(time.monotonic() - began)


def run_bot(url: str, bot_id: int, seconds: float, stop_file: Path | None = None) -> dict[str, Any]:
    problems = Problems()
    logging.getLogger().addHandler(problems)
    engine = make_engine(url)
    timer = WriteTimer(engine)
    registry, _ = load_registry([PLUGINS])
    row = get_bot(engine, bot_id)
    assert row is not None, f"no bot {bot_id}"
    config = validate_desired(row.name, row.desired(), registry, bot_id=bot_id)
    runner = BotRunner(config, registry, engine, run_id=f"proc-{bot_id}")
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = str(runner.run().status)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            outcome["error"] = f"{type(exc).__name__}: {exc}"
            outcome["traceback"] = traceback.format_exc()

    thread = threading.Thread(target=run, name=f"bot-{bot_id}")
    began = time.monotonic()
    thread.start()
    while thread.is_alive() and time.monotonic() - began < seconds:
        if stop_file is not None and stop_file.exists():
            break
        thread.join(timeout=0.2)
    runner.request_stop()
    thread.join(timeout=60)
    recorder = runner._recorder()
    final = get_bot(engine, bot_id)
    engine.dispose()
    return {
        "bot_id": bot_id,
        "seconds": time.monotonic() - began,
        "alive": thread.is_alive(),
        "fills": getattr(recorder, "_fills", 0) if recorder is not None else 0,
        "bars": runner.bars_seen(),
        "status": final.status if final is not None else None,
        "problems": problems.records,
        "latencies": timer.latencies,
        **outcome,
    }


def write_like_operators(url: str, seconds: float) -> dict[str, Any]:
    """The CLI's and an operator's writes, and the sensor's reads, in a loop."""
    engine = make_engine(url)
    timer = WriteTimer(engine)
    errors: list[str] = []
    deadline = time.monotonic() + seconds
    turn = 0
    while time.monotonic() < deadline:
        ids = [row.id for row in get_bots(engine)]  # the sensor's one query
        for bot_id in ids:
            try:
                if turn % 2:
                    set_bot(engine, bot_id, symbol="BTC/USDT")  # a desired column (same value)
                else:
                    operator_write(
                        engine, bot_id, {"paused": False}, reason="resume", actor="cli:test"
                    )
            except Exception as exc:  # noqa: BLE001 - reported to the test
                errors.append(f"{type(exc).__name__}: {exc}"[:500])
            turn += 1
            time.sleep(0.05)
    engine.dispose()
    return {"writes": turn, "errors": errors, "latencies": timer.latencies}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", nargs="?", choices=["bot", "writer"], default="bot")
    parser.add_argument("--url", required=True)
    parser.add_argument("--bot-id", type=int)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--stop-file", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.role == "writer":
        report = write_like_operators(args.url, args.seconds)
    else:
        report = run_bot(args.url, args.bot_id, args.seconds, args.stop_file)
    args.report.write_text(json.dumps(report))


if __name__ == "__main__":
    main()
