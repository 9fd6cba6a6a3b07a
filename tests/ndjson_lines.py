"""A reader for the NDJSON stdout of a ``paradexctl`` subprocess (shared by the stream tests).

A thread reads the lines so that a test never stalls on a partly filled pipe buffer; the test
waits for the line it needs, with a deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

#: the tests' time unit in seconds (scaled up on a slow machine with PARADEXCTL_TEST_MS)
MS = float(os.environ.get("PARADEXCTL_TEST_MS", "0.001"))


class Lines:
    """NDJSON lines of a subprocess's stdout, read by a thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.q: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        assert proc.stdout is not None
        stdout = proc.stdout

        def pump() -> None:
            with contextlib.suppress(ValueError, OSError):
                for raw in stdout:
                    self.q.put(json.loads(raw))
            self.q.put(None)  # end of output

        self.thread = threading.Thread(target=pump, daemon=True)
        self.thread.start()

    def first(
        self, cond: Callable[[dict[str, Any]], bool], what: str, limit_s: float
    ) -> list[dict[str, Any]]:
        """The lines up to and including the first that ``cond`` accepts; AssertionError
        naming ``what`` at the deadline or at the end of the output."""
        deadline = time.monotonic() + limit_s
        got: list[dict[str, Any]] = []
        while True:
            try:
                line = self.q.get(timeout=max(deadline - time.monotonic(), 0.001))
            except queue.Empty:
                line = None
            if line is None:
                raise AssertionError(f"no {what}; got {[ln['type'] for ln in self.seen]}")
            got.append(line)
            self.seen.append(line)
            if cond(line):
                return got

    def until(self, want: str, limit_ms: float) -> list[dict[str, Any]]:
        """The lines up to the first whose ``type`` is ``want`` (``limit_ms`` in units of
        :data:`MS`)."""
        return self.first(lambda ln: ln["type"] == want, f"{want!r} line", limit_ms * MS)
