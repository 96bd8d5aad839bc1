"""The xdist work unit ("group") of a test: its module, or its module and backend."""

from __future__ import annotations


def group_name(module: str, backend: str | None = None) -> str:
    """Neither "]" nor "@" may appear: xdist's loadgroup reads the group after the last "@"
    of a test's id, and only when no "]" follows it (else the test is a unit of its own)."""
    return module if backend is None else f"{module}-{backend}"


def longest_first(groups: list[str], is_e2e: list[bool]) -> list[int]:
    """The order to run tests in (indices into the collected items) so that xdist hands out
    the longest work units first: each end-to-end group (minutes each) before any unit-test
    module (seconds), larger groups first within each kind, every group's tests together and
    in their collected order.  Run with ``--no-loadscope-reorder``, else xdist re-sorts units
    by test count alone and a long end-to-end group can start last and set the wall time."""
    size: dict[str, int] = {}
    first: dict[str, int] = {}
    for index, group in enumerate(groups):
        size[group] = size.get(group, 0) + 1
        first.setdefault(group, index)
    e2e_groups = {group for group, e2e in zip(groups, is_e2e, strict=True) if e2e}

    def key(index: int) -> tuple[bool, int, int, int]:
        group = groups[index]
        return (group not in e2e_groups, -size[group], first[group], index)

    return sorted(range(len(groups)), key=key)
