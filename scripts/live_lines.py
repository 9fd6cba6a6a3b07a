#!/usr/bin/env python3
"""Count the lines of the code that wires live sessions (issue 11: at most half of ~3,400).

    python scripts/live_lines.py            # a table per file, three counts
    python scripts/live_lines.py --max N    # exit 1 when the code lines exceed N
    python scripts/live_lines.py --rev R    # the same count at git revision R (e.g. before
                                            # the feed: 1210730^)

The wiring is: ``paradexctl/paradex/feed.py``, ``stream.py``, ``collect.py``, ``smoke.py``,
and the live part of ``orders.py`` (its ``# -- late rejections and --wait`` section:
``OrderWatch`` and the helpers above it, up to the next ``# -- `` section). Any other module
under ``paradexctl/paradex/`` that imports the feed is counted too (so wiring cannot hide in a
new file), and so is any thread there that runs its own event loop (it must be none).

Three counts per file:

* ``physical``: every line;
* ``code``: lines that are not blank and not only a comment;
* ``logic``: ``code`` without docstring lines (a string expression that is the first
  statement of a module, class or function).
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "paradexctl" / "paradex"
FILES = ("feed.py", "stream.py", "collect.py", "smoke.py")
ORDERS_SECTION = "# -- late rejections and --wait"
#: a thread running its own event loop
OWN_LOOP = re.compile(r"new_event_loop|run_until_complete|threading\.Thread|Thread\(")


def _span(text: str, name: str) -> tuple[int, int]:
    """1-based first and last line of the part of ``name`` that is counted."""
    lines = text.splitlines()
    if name != "orders.py":
        return 1, len(lines)
    starts = [i for i, line in enumerate(lines) if line.startswith(ORDERS_SECTION)]
    if len(starts) != 1:
        raise SystemExit(f"orders.py: expected one {ORDERS_SECTION!r} line, found {len(starts)}")
    start = starts[0]
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i].startswith("# -- ")), len(lines)
    )
    return start + 1, end  # the next section's marker is not counted


def _docstring_lines(tree: ast.AST) -> set[int]:
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                end = body[0].end_lineno or body[0].lineno
                out.update(range(body[0].lineno, end + 1))
    return out


def _comment_only(text: str) -> set[int]:
    """Lines whose only token is a comment."""
    code: set[int] = set()
    comments: set[int] = set()
    skip = {tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT:
            comments.add(tok.start[0])
        elif tok.type not in skip:
            code.update(range(tok.start[0], tok.end[0] + 1))
    return comments - code


def _read(path: Path, rev: str | None) -> str | None:
    """The text of ``path`` (at git revision ``rev``); None when it does not exist."""
    if rev is None:
        return path.read_text() if path.exists() else None
    rel = path.relative_to(ROOT).as_posix()
    done = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:{rel}"], capture_output=True, text=True
    )
    return done.stdout if done.returncode == 0 else None


def _listing(rev: str | None) -> list[Path]:
    if rev is None:
        return sorted(PKG.glob("*.py"))
    out = subprocess.run(
        ["git", "-C", str(ROOT), "ls-tree", "--name-only", rev, "paradexctl/paradex/"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return sorted(ROOT / n for n in out.split() if n.endswith(".py"))


def count(path: Path, text: str) -> dict[str, int]:
    first, last = _span(text, path.name)
    lines = text.splitlines()
    comment_only = _comment_only(text)
    docs = _docstring_lines(ast.parse(text))
    numbers = range(first, last + 1)
    code = [n for n in numbers if lines[n - 1].strip() and n not in comment_only]
    return {
        "physical": len(numbers),
        "code": len(code),
        "logic": len([n for n in code if n not in docs]),
    }


def wiring_files(rev: str | None) -> dict[Path, str]:
    """``{path: text}`` of the wiring files that exist (at ``rev``)."""
    files: dict[Path, str] = {}
    for path in [PKG / name for name in FILES] + [PKG / "orders.py"]:
        text = _read(path, rev)
        if text is not None:
            files[path] = text
    for other in _listing(rev):
        if other in files:
            continue
        text = _read(other, rev)
        if text is None:
            continue
        if "paradexctl.paradex.feed" in text or "from paradexctl.paradex import feed" in text:
            files[other] = text  # it wires a live session too
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max", type=int, help="exit 1 when the total code lines exceed this")
    parser.add_argument("--rev", help="count at this git revision instead of the work tree")
    args = parser.parse_args()
    total = {"physical": 0, "code": 0, "logic": 0}
    print(f"{'file':<40} {'physical':>8} {'code':>6} {'logic':>6}")
    own_loops: list[str] = []
    for path, text in wiring_files(args.rev).items():
        c = count(path, text)
        for k in total:
            total[k] += c[k]
        label = str(path.relative_to(ROOT))
        if path.name == "orders.py":
            first, last = _span(text, "orders.py")
            label += f" ({first}-{last})"
        print(f"{label:<40} {c['physical']:>8} {c['code']:>6} {c['logic']:>6}")
        for n, line in enumerate(text.splitlines(), 1):
            if OWN_LOOP.search(line):
                own_loops.append(f"{label}:{n}: {line.strip()}")
    print(f"{'total':<40} {total['physical']:>8} {total['code']:>6} {total['logic']:>6}")
    if own_loops:
        print("threads (none may run its own event loop):\n  " + "\n  ".join(own_loops))
    over = args.max is not None and total["code"] > args.max
    if over:
        print(f"over the limit: {total['code']} code lines > {args.max}")
    return 1 if own_loops or over else 0


if __name__ == "__main__":
    sys.exit(main())
