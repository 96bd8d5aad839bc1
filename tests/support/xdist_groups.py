"""The xdist work unit ("group") of a test: its module, or its module and backend."""

from __future__ import annotations


def group_name(module: str, backend: str | None = None) -> str:
    """Neither "]" nor "@" may appear: xdist's loadgroup reads the group after the last "@"
    of a test's id, and only when no "]" follows it (else the test is a unit of its own)."""
    return module if backend is None else f"{module}-{backend}"
