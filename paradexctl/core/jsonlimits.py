"""Limits on JSON text from outside (WS frames, recording lines), checked before it is parsed.

Python's ``json`` decoder recurses once per nesting level, so one frame nested 50,000 levels
deep raises :class:`RecursionError` (not :class:`ValueError`) from the parser, and data nested
a few hundred levels deep can still exhaust the stack of any later recursive code (an
encoder, a printer). Nothing the exchange sends is nested more than a handful of levels, so
text nested deeper than :data:`MAX_JSON_DEPTH` is refused as invalid before it is parsed.
"""

from __future__ import annotations

import re

__all__ = ["MAX_JSON_DEPTH", "too_deep"]

#: The deepest nesting of arrays and objects accepted (a Paradex notification is about 6 deep).
MAX_JSON_DEPTH = 64

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when the JSON ``text`` nests arrays/objects more than ``limit`` levels deep.

    Brackets inside strings do not count. Text with at most ``limit`` opening brackets
    cannot be too deep, so ordinary frames cost two ``str.count`` calls; only text with many
    brackets is scanned. Malformed text gives a best-effort answer (the parser rejects it).
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for m in _BRACKET.finditer(_STRING.sub("", text) if '"' in text else text):
        if m.group() in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False
