"""The suite's xdist work units are what xdist's loadgroup scheduler reads back."""

import re
import subprocess
import sys
from pathlib import Path

from xdist.scheduler.loadgroup import LoadGroupScheduling

from tests.support.xdist_groups import group_name, longest_first


def _unit(test_id: str, group: str) -> str:
    """The work unit xdist makes of a test id to which it appended ``@group``."""
    return LoadGroupScheduling._split_scope(None, f"{test_id}@{group}")  # type: ignore[arg-type]


def test_each_module_and_backend_is_one_unit() -> None:
    sqlite = group_name("tests.e2e.test_bot_lifecycle", "sqlite")
    postgres = group_name("tests.e2e.test_bot_lifecycle", "postgresql")
    first = _unit("tests/e2e/test_bot_lifecycle.py::test_a[sqlite]", sqlite)
    second = _unit("tests/e2e/test_bot_lifecycle.py::test_b[sqlite-delete]", sqlite)
    assert first == second == sqlite
    assert _unit("tests/e2e/test_bot_lifecycle.py::test_a[postgresql]", postgres) == postgres
    other = group_name("tests.e2e.test_exchange_e2e", "sqlite")
    assert _unit("tests/e2e/test_exchange_e2e.py::test_a[sqlite]", other) != sqlite


def test_a_plain_module_is_one_unit() -> None:
    group = group_name("tests.db.test_bots")
    assert _unit("tests/db/test_bots.py::test_x[postgresql]", group) == group


def test_end_to_end_groups_come_first_each_group_together_in_order() -> None:
    groups = ["unit.a", "unit.a", "unit.a", "e2e.x-sqlite", "e2e.x-sqlite", "unit.b"]
    groups += ["e2e.y-pg", "e2e.y-pg", "e2e.y-pg", "e2e.x-pg"]
    is_e2e = [g.startswith("e2e") for g in groups]
    order = longest_first(groups, is_e2e)
    assert sorted(order) == list(range(len(groups)))
    assert [groups[i] for i in order] == [
        "e2e.y-pg", "e2e.y-pg", "e2e.y-pg",
        "e2e.x-sqlite", "e2e.x-sqlite",
        "e2e.x-pg",
        "unit.a", "unit.a", "unit.a",
        "unit.b",
    ]  # fmt: skip
    assert [i for i in order if groups[i] == "unit.a"] == [0, 1, 2]


def test_a_real_xdist_run_keeps_a_module_on_one_worker() -> None:
    """The unit tests above take xdist's word that it appends ``@group`` to test ids; with
    pytest 9.2 it no longer could (pytest reads ids from ``_id``, xdist writes ``_nodeid``),
    every test became its own unit, and each end-to-end module started its platform on every
    worker that drew one of its tests.  So: a real run with two workers, read back."""
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-v",
            "-n",
            "2",
            "--dist",
            "loadgroup",
            "--no-loadscope-reorder",
            "-p",
            "no:cacheprovider",
            "tests/test_config.py",
        ],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    workers = set(re.findall(r"^\[(gw\d+)\] .*PASSED tests/test_config\.py::", run.stdout, re.M))
    passed = len(re.findall(r"PASSED tests/test_config\.py::", run.stdout))
    assert passed > 10, run.stdout[-2000:]
    assert len(workers) == 1, f"one module's tests ran on {sorted(workers)}"
