"""docs/reference/cli.md documents every command and option of the ``reconcile`` command."""

from __future__ import annotations

import click
import pytest
from examples_support import EXAMPLES

from reconcile.cli._app import cli

PAGE = (EXAMPLES.parent / "docs" / "reference" / "cli.md").read_text()


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_is_documented(command: str) -> None:
    assert f"reconcile {command}" in PAGE


@pytest.mark.parametrize(
    "option",
    sorted(
        {
            opt
            for command in cli.commands.values()
            for param in command.params
            if isinstance(param, click.Option)
            for opt in (*param.opts, *param.secondary_opts)
        }
    ),
)
def test_every_option_is_documented(option: str) -> None:
    assert f"`{option}" in PAGE or f" {option}" in PAGE, option
