"""``paradexctl completion {bash,zsh,fish}``: print a shell completion script."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

COMPLETE_VAR = "_PARADEXCTL_COMPLETE"


class Shell(StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def completion_script(shell: str) -> str:
    """The completion script for ``shell`` (the same text as ``completions/paradexctl.<shell>``)."""
    from typer._completion_shared import get_completion_script
    from typer.completion import completion_init  # type: ignore[attr-defined]

    completion_init()
    script = get_completion_script(prog_name="paradexctl", complete_var=COMPLETE_VAR, shell=shell)
    return script.rstrip("\n") + "\n"


def register(app: typer.Typer) -> None:
    @app.command("completion")
    def completion(
        shell: Annotated[Shell, typer.Argument(help="bash, zsh or fish.")],
    ) -> None:
        """Print the completion script for SHELL.

        Install, for example: paradexctl completion bash > ~/.local/share/bash-completion/completions/paradexctl
        """
        print(completion_script(shell.value), end="")
