"""What every operator error from the CLI must look like."""

from __future__ import annotations

from click.testing import Result


def expect_error(result: Result, *fragments: str) -> None:
    """Exit status 1, no traceback, and every fragment in the one-line message."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for fragment in fragments:
        assert fragment in result.output
