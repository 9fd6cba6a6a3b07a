"""The command line. ``run`` is the console-script entry point.

``paradexctl --version`` is answered before typer is imported: scripts call it to probe the
tool, and it should cost no more than starting Python.
"""

from __future__ import annotations

import sys


def run() -> None:
    if sys.argv[1:] == ["--version"]:
        from paradexctl import __version__

        try:
            print(f"paradexctl {__version__}", flush=True)
        except BrokenPipeError:  # `paradexctl --version | true`: a closed pipe is not an error
            from paradexctl.output import silence_stdout

            silence_stdout()
        return
    from paradexctl.cli.main import run as _run

    _run()
