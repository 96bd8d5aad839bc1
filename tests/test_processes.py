"""Which process holds a bot (processes.py): a worker that is gone is told from one that
lives, one on another host, or a pid the system gave to another process since."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from trading_platform.processes import process_gone, this_process

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc (Linux)")


def _holder_of(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as stat:
        start = stat.read().rsplit(")", 1)[1].split()[19]
    return f"{socket.gethostname()} pid {pid} start {start}"


def test_this_process_lives() -> None:
    holder = this_process()
    assert holder.startswith(f"{socket.gethostname()} pid {os.getpid()} start ")
    assert not process_gone(holder)


def test_a_killed_process_is_gone() -> None:
    child = subprocess.Popen(["sleep", "30"])
    holder = _holder_of(child.pid)
    assert not process_gone(holder)
    child.kill()
    child.wait(timeout=10)
    assert process_gone(holder)


def test_a_pid_given_to_another_process_is_not_the_holder() -> None:
    holder = f"{socket.gethostname()} pid {os.getpid()} start 1"
    assert process_gone(holder)


@pytest.mark.parametrize(
    "holder",
    ["elsewhere.example pid 1 start 5", "not a holder", "", None],
)
def test_what_cannot_be_checked_from_here_is_never_called_gone(holder) -> None:
    assert not process_gone(holder)
