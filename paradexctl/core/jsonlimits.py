"""Limits on JSON text from outside (WS frames, recording lines), checked before it is parsed.

Python's ``json`` decoder recurses once per nesting level, so one frame nested 50,000 levels
deep raises :class:`RecursionError` (not :class:`ValueError`) from the parser, and data nested
a few hundred levels deep can still exhaust the stack of any later recursive code (an
encoder, a printer). Nothing the exchange sends is nested more than a handful of levels, so
text nested deeper than :data:`MAX_JSON_DEPTH` is refused as invalid before it is parsed.

Python's decoder also reads the JavaScript constants ``NaN``, ``Infinity`` and ``-Infinity``,
which are not JSON (RFC 8259) and no amount of money: every parser of text from outside (REST
bodies, WS frames, recording lines) passes :func:`reject_constant` as ``parse_constant``, so a
text holding one is invalid JSON (a ``ValueError``, like any other syntax error).
"""

from __future__ import annotations

import re

__all__ = ["MAX_JSON_DEPTH", "json_depth", "reject_constant", "too_deep"]

#: The deepest nesting of arrays and objects accepted (a Paradex notification is about 6 deep).
MAX_JSON_DEPTH = 64

# A string literal from its opening quote to its closing one, or to the end of the text (so an
# unterminated string is consumed once and the scan stays linear); possessive: no backtracking.
_STRING = re.compile(rb'"(?:[^"\\]++|\\.|\\\Z)*+(?:"|\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")


def json_depth(raw: bytes | str, limit: int = MAX_JSON_DEPTH) -> int:
    """The nesting depth of arrays/objects in the JSON ``raw`` outside strings, counted up to
    ``limit + 1`` (so a text nested 50,000 deep costs no more than one nested ``limit + 1``).

    Text with at most ``limit`` opening brackets cannot be deeper, so ordinary frames cost two
    ``count`` calls at C speed; only text with many brackets is scanned. Malformed text gives a
    best-effort answer (the parser rejects it).
    """
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if data.count(b"[") + data.count(b"{") <= limit:
        return 0
    depth = deepest = 0
    for c in _STRING.sub(b"", data).translate(None, _NOT_BRACKETS):
        if c in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        else:
            depth -= 1
    return deepest


def too_deep(text: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when the JSON ``text`` nests arrays/objects more than ``limit`` levels deep
    (brackets inside strings do not count)."""
    return json_depth(text, limit) > limit


def reject_constant(name: str) -> object:
    """``parse_constant`` for :func:`json.loads`: ``NaN``, ``Infinity`` and ``-Infinity`` are
    not JSON; raises ``ValueError`` (the text is invalid JSON)."""
    raise ValueError(f"{name} is not valid JSON")
