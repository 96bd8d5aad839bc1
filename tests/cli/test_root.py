"""The root group: a database without the schema is one clear line, not a traceback."""

from __future__ import annotations

from click.testing import CliRunner

from trading_platform.cli import cli


def test_a_database_without_the_schema_is_a_clear_error(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = CliRunner().invoke(cli, ["--database-url", url, "bots", "list"])
    assert result.exit_code == 1
    assert "has no platform tables" in result.output and "db upgrade" in result.output
    assert "Traceback" not in result.output
