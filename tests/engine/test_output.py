"""A bot run's output stays bounded however much it logs or prints: the rotating log file and
the capped stdout/stderr that Dagster captures."""

from __future__ import annotations

import io
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from trading_platform.engine.output import OutputLimits, bot_log_path, bounded_output

LIMITS = OutputLimits(file_bytes=20_000, file_backups=2, stream_chars=5_000)


@contextmanager
def worker_streams() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """What the run worker's stdout and stderr (Dagster's capture) receive.  Patched in the
    test's body: pytest puts its own capture back between a fixture and the test."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        yield out, err
    finally:
        sys.stdout, sys.stderr = saved


def log_files(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + "*"))


def test_a_month_of_logging_and_printing_stays_within_the_limits(tmp_path: Path) -> None:
    path = bot_log_path(tmp_path, 7)
    engine_log = logging.getLogger("trading_platform.engine.test_output")
    library_log = logging.getLogger("some_library")

    def bot_thread(thread: int) -> None:
        for bar in range(1_000):
            engine_log.info("bar %s of thread %s", bar, thread)
            if bar % 10 == 0:
                engine_log.warning("stale price on bar %s", bar)
            library_log.info("library chatter %s", bar)  # libraries stay at WARNING
            print(f"strategy print {bar}")

    with worker_streams() as (out, err), bounded_output(path, LIMITS) as returned:
        assert returned == path
        threads = [threading.Thread(target=bot_thread, args=(n,)) for n in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        engine_log.info("the last line")

    files = log_files(path)
    assert [f.name for f in files] == ["bot-7.log", "bot-7.log.1", "bot-7.log.2"]
    # RotatingFileHandler rotates before a record that would pass the limit
    assert all(f.stat().st_size <= LIMITS.file_bytes for f in files)
    assert "the last line" in path.read_text()
    assert "library chatter" not in "".join(f.read_text() for f in files)

    captured = out.getvalue() + err.getvalue()
    notice_room = 200
    assert len(captured) <= LIMITS.stream_chars + notice_room
    assert captured.count("the rest is in") == 1
    assert str(path) in captured
    # before the cap: warnings and prints on the streams, not the INFO lines
    assert "stale price on bar" in err.getvalue()
    assert "strategy print" in out.getvalue()
    assert "bar 1 of thread" not in captured
    # after the cap, prints went to the file (its newest lines)
    assert "strategy print 999" in "".join(f.read_text() for f in files)


def test_everything_is_put_back_afterwards(tmp_path: Path) -> None:
    root, platform = logging.getLogger(), logging.getLogger("trading_platform")
    handlers, level = list(root.handlers), platform.level
    with worker_streams() as (out, err):
        with bounded_output(bot_log_path(tmp_path, 1), LIMITS):
            assert sys.stdout is not out and sys.stderr is not err
        assert sys.stdout is out and sys.stderr is err
    assert root.handlers == handlers and platform.level == level


def test_a_log_file_size_too_small_is_refused_naming_the_variable() -> None:
    with pytest.raises(ValueError, match="TRADING_BOT_LOG_BYTES: expected at least 1024"):
        OutputLimits(file_bytes=10)
