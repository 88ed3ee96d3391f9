"""Every option of every command says what it does in `--help`."""
from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from pipeline.cli import COMMANDS, cli


def all_commands() -> list[tuple[str, click.Command]]:
    ctx = click.Context(cli)
    found = [(name, cli.get_command(ctx, name)) for name in cli.list_commands(ctx)]
    assert all(command is not None for _, command in found)
    return found  # type: ignore[return-value]


def test_every_option_has_help_text() -> None:
    missing = [f"aoai-ft {name} {'/'.join(param.opts)}"
               for name, command in all_commands() for param in command.params
               if isinstance(param, click.Option) and not (param.help or "").strip()]
    assert missing == []


def test_every_command_is_walked() -> None:
    assert {name for name, _ in all_commands()} == set(COMMANDS) and len(COMMANDS) >= 14


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_shows_each_options_text(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    command = cli.get_command(click.Context(cli), name)
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            first_words = " ".join((param.help or "").split()[:3])
            assert first_words and first_words in " ".join(result.output.split()), (name, param.opts)
