"""The root group: its help names every command, and an operator error (a bad option, a
database without the schema) is one clear line, not a traceback."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from trading_platform.cli import cli


def test_a_database_without_the_schema_is_a_clear_error(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = CliRunner().invoke(cli, ["--database-url", url, "bots", "list"])
    assert result.exit_code == 1
    assert "has no platform tables" in result.output and "db upgrade" in result.output
    assert "Traceback" not in result.output


#: every command under the root, with the words its description in ``--help`` starts with
COMMANDS = {
    "backtest": "Backtest a strategy",
    "bots": "Add, list, change and remove bots",
    "credentials": "Grant, revoke and list which users may use",
    "db": "Create or upgrade the bot database schema",
    "demo": "Create the demo user and demo bots",
    "run": "Start the platform",
    "strategies": "List the strategy plugins",
    "users": "Add, list and change users",
}


def test_help_lists_every_command_group_with_its_description() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0, result.output
    listed = result.output.split("Commands:\n", 1)[1].splitlines()
    described = dict(line.split(None, 1) for line in listed if line.strip())
    assert set(described) == set(COMMANDS)
    for name, words in COMMANDS.items():
        assert described[name].startswith(words), (name, described[name])


@pytest.mark.parametrize(
    ("group", "subcommands"),
    [
        ("db", ["upgrade"]),
        (
            "bots",
            ["add", "list", "show", "enable", "disable", "set", "delete"]
            + ["pause", "resume", "reload", "forceexit", "commands"],
        ),
        ("users", ["add", "list", "set"]),
        ("credentials", ["grant", "revoke", "list"]),
        ("strategies", ["list"]),
    ],
)
def test_each_group_help_describes_it_and_its_commands(group, subcommands) -> None:
    result = CliRunner().invoke(cli, [group, "--help"])
    assert result.exit_code == 0, result.output
    assert COMMANDS[group] in result.output
    listed = result.output.split("Commands:\n", 1)[1].split()
    assert set(subcommands) <= set(listed)


def test_a_configuration_error_is_one_line_on_stderr(database_url) -> None:
    result = CliRunner().invoke(
        cli, ["--database-url", database_url, "bots", "add", "x", "--strategy", "nope"]
    )
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: strategy: unknown strategy 'nope'")
    assert result.stderr.count("\n") == 1
