"""Which process holds a bot, and whether it still exists: the sensor notices a killed run
worker in one tick instead of waiting for its heartbeat to go stale.

A run records itself in its bot's lease as ``<host> pid <pid> start <ticks>``, the start being
the process's start time in clock ticks since boot (``/proc/<pid>/stat``), so a pid the system
handed to another process since is not mistaken for the worker.  Only a process on the same
host can be checked: the default run launcher starts run workers beside the code server that
evaluates the sensor; on any other host the answer is "unknown" and the heartbeat decides.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

_HOLDER = re.compile(r"^(?P<host>\S+) pid (?P<pid>\d+)(?: start (?P<start>\d+))?$")
_PROC = Path("/proc")


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name, or None if it is gone."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return text.rsplit(")", 1)[1].split()


def _start_ticks(pid: int) -> str | None:
    fields = _stat(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


def this_process() -> str:
    """How a run names itself in its bot's lease."""
    pid = os.getpid()
    start = _start_ticks(pid)
    suffix = f" start {start}" if start is not None else ""
    return f"{socket.gethostname()} pid {pid}{suffix}"


def process_gone(holder: str | None) -> bool:
    """True only when ``holder`` names a process on this host that no longer exists (or has
    exited and waits to be reaped); False when it lives or cannot be checked from here."""
    match = _HOLDER.match(holder or "")
    if match is None or match["host"] != socket.gethostname():
        return False
    pid = int(match["pid"])
    if not _PROC.is_dir():  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    fields = _stat(pid)
    if fields is None or fields[0] == "Z":
        return True
    return match["start"] is not None and fields[19] != match["start"]
