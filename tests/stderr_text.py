"""The text of a ``paradexctl`` stderr: with an explicit ``-o json``/``ndjson`` every stderr
line is a JSON object with a ``type`` (issue 17, item 7); tests that read the ``-v`` traces
or messages as text get each line's ``message`` back (other lines as they are)."""

from __future__ import annotations

import json


def stderr_text(err: str) -> str:
    out = []
    for line in err.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            out.append(line)
            continue
        if isinstance(obj, dict) and obj.get("type") in ("trace", "info", "warning"):
            out.append(str(obj.get("message", "")))
        else:
            out.append(line)
    return "\n".join(out) + ("\n" if err.endswith("\n") else "")
