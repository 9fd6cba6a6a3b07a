"""Renderers: Decimal exactness, NDJSON framing, table escaping."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paradexctl.output import Output, jsonable, render_json, render_ndjson


def test_decimals_render_as_exact_strings() -> None:
    data = {"size": Decimal("0.0100"), "price": Decimal("97123.50"), "n": 3}
    assert json.loads(render_json(data)) == {"size": "0.0100", "price": "97123.50", "n": 3}


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_decimal_roundtrip_is_exact(value: Decimal) -> None:
    line = next(render_ndjson([{"v": value}]))
    assert Decimal(json.loads(line)["v"]) == value
    assert json.loads(line)["v"] == str(value)


def test_ndjson_is_one_compact_object_per_line() -> None:
    lines = list(render_ndjson([{"a": 1}, {"b": [1, 2]}]))
    assert lines == ['{"a":1}\n', '{"b":[1,2]}\n']


def test_dataclasses_are_rendered_as_objects() -> None:
    @dataclass
    class Row:
        market: str
        size: Decimal

    assert jsonable([Row("BTC-USD-PERP", Decimal("1.5"))]) == [
        {"market": "BTC-USD-PERP", "size": "1.5"}
    ]


def test_table_escapes_rich_markup_from_venue_strings() -> None:
    buf = io.StringIO()
    out = Output("table", stdout=buf, color=False)
    out.emit([{"client_id": "[bold]x[/bold]"}], columns=["client_id"])
    assert "[bold]x[/bold]" in buf.getvalue()


def test_messages_go_to_stderr_and_quiet_suppresses_them() -> None:
    so, se = io.StringIO(), io.StringIO()
    out = Output("json", stdout=so, stderr=se)
    out.info("hello")
    out.emit({"a": 1})
    assert se.getvalue() == "hello\n"
    assert json.loads(so.getvalue()) == {"a": 1}
    se2 = io.StringIO()
    Output("json", stdout=io.StringIO(), stderr=se2, quiet=True).info("hidden")
    assert se2.getvalue() == ""


def _strict_utf8() -> tuple[io.BytesIO, io.TextIOWrapper]:
    raw = io.BytesIO()  # stdout as a real one is: UTF-8, strict
    return raw, io.TextIOWrapper(raw, encoding="utf-8", errors="strict", write_through=True)


def test_a_lone_surrogate_from_the_exchange_is_written_as_its_escape_in_every_format() -> None:
    """``json.loads('"\\ud800"')`` is a str UTF-8 cannot encode; printing it raised
    UnicodeEncodeError (exit 70). Each format writes it escaped, and JSON parses back to the
    same value; the other characters are written as they are."""
    value = json.loads('"a\\ud800b\\u00e9"')
    for fmt in ("json", "ndjson", "table", "csv"):
        raw, stream = _strict_utf8()
        Output(fmt, stdout=stream, color=False).emit([{"client_id": value}], columns=["client_id"])
        text = raw.getvalue().decode("utf-8")
        assert "\\ud800" in text and "é" in text, (fmt, text)
        if fmt in ("json", "ndjson"):
            (row,) = json.loads(text) if fmt == "json" else [json.loads(text)]
            assert row == {"client_id": value}, fmt


# --- --jq ----------------------------------------------------------------------------------


def test_jq_prints_strings_raw_and_the_rest_compact() -> None:
    from paradexctl.output import compile_jq, jq_lines

    rows = [
        {"id": "1", "price": Decimal("0.1"), "n": 3},
        {"id": "2", "price": Decimal("2"), "n": 4},
    ]
    assert list(jq_lines(compile_jq(".[].id"), rows)) == ["1\n", "2\n"]
    assert list(jq_lines(compile_jq(".[0] | {price, n}"), rows)) == ['{"price":"0.1","n":3}\n']
    assert list(jq_lines(compile_jq("map(.n) | add"), rows)) == ["7\n"]


def test_jq_never_rounds_an_integer_a_double_cannot_hold() -> None:
    from paradexctl.output import compile_jq, jq_lines

    seq = 1_796_411_390_421_000_000_002  # a sequence number, far beyond 2**53
    assert list(jq_lines(compile_jq(".seq_no"), {"seq_no": seq})) == [f"{seq}\n"]
    assert list(jq_lines(compile_jq(".t"), {"t": 2**53})) == [f"{2**53}\n"]  # still a number


def test_jq_errors_are_usage_errors() -> None:
    from paradexctl.errors import UsageError
    from paradexctl.output import compile_jq, jq_lines

    with pytest.raises(UsageError) as info:
        compile_jq(".[")
    assert "syntax error" in info.value.message and info.value.exit_code == 2
    with pytest.raises(UsageError) as info:
        list(jq_lines(compile_jq(".foo"), [1]))
    assert "Cannot index array" in info.value.message
