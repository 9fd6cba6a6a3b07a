"""The command line. ``run`` is the console-script entry point.

``paradexctl --version`` is answered before typer is imported: scripts call it to probe the
tool, and it should cost no more than starting Python.
"""

from __future__ import annotations

import sys


def run() -> None:
    if sys.argv[1:] == ["--version"]:
        from paradexctl import __version__

        print(f"paradexctl {__version__}")
        return
    from paradexctl.cli.main import run as _run

    _run()
