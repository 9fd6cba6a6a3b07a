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


# --- tables that fit --------------------------------------------------------------------------


def test_fit_columns_cuts_ids_first_then_hides_low_priority_columns() -> None:
    from paradexctl.output import MIN_ID, fit_columns

    columns = ["id", "market", "side", "status", "cancel_reason", "created_at"]
    cells = [["1796415184494000000000000002", "BTC-USD-PERP", "BUY", "OPEN", "", "20:20:33"]]
    keep, cut = fit_columns(columns, cells, 200)
    assert (keep, cut) == ([0, 1, 2, 3, 4, 5], {})  # all of it fits
    keep, cut = fit_columns(columns, cells, 70)
    assert keep == [0, 1, 2, 3, 5] and MIN_ID <= cut[0] < 28  # cut id, cancel_reason hidden
    keep, cut = fit_columns(columns, cells, 10)
    assert len(keep) == 2 and cut == {0: MIN_ID}  # never fewer than two columns
    wide_detail = [["smoke", "failed", "x" * 300]]
    keep, _ = fit_columns(["step", "status", "detail"], wide_detail, 60)
    assert keep == [0, 1, 2]  # a detail folds, it is never hidden


def test_a_cut_id_keeps_its_start_and_end_around_the_marker() -> None:
    from paradexctl.output import _shorten

    assert _shorten("1796415184494000000000000002", 14) == "1796415…000002"
    assert len(_shorten("1796415184494000000000000002", 14)) == 14
    assert _shorten("short", 14) == "short" and _shorten("abc", None) == "abc"


def test_human_times_today_and_otherwise_in_ms_or_ns() -> None:
    from datetime import UTC, datetime

    from paradexctl.output import human_time

    today = datetime(2026, 12, 4, 20, 0, tzinfo=UTC)
    ms = int(datetime(2026, 12, 4, 12, 3, 41, tzinfo=UTC).timestamp() * 1000)
    assert human_time(ms, utc=True, today=today) == "12:03:41"
    assert human_time(str(ms * 1_000_000), utc=True, today=today) == "12:03:41"  # ns
    assert human_time(ms - 86_400_000, utc=True, today=today) == "2026-12-03 12:03"
    for not_a_time in (None, True, 5, "abc", "12345", 1.5, [ms]):
        assert human_time(not_a_time, utc=True, today=today) is None


def test_tables_say_yes_no_and_right_align_numbers_but_not_ids() -> None:
    buf = io.StringIO()
    out = Output("table", stdout=buf, stderr=io.StringIO(), color=False)
    out.emit([{"id": "17", "open": True, "size": "0.01"}, {"id": "18", "open": False, "size": "10"}],
             columns=["id", "open", "size"])  # fmt: skip
    lines = buf.getvalue().splitlines()
    row1 = next(ln for ln in lines if "17" in ln)
    assert "yes" in row1 and row1.index("17") < row1.index("yes")
    row2 = next(ln for ln in lines if "18" in ln)
    assert row2.rstrip().endswith("10 │") and "no" in row2  # right-aligned number
    assert row2.split("│")[1].startswith(" 18")  # an id stays left-aligned


def test_fitting_gives_room_back_to_ids_keeps_report_columns_and_measures_wide_characters() -> None:
    from paradexctl.output import fit_columns, human_time

    oid = "1796415184494000000000000002"
    cells = [[oid, "OPEN", "X" * 40]]
    keep, cut = fit_columns(["id", "status", "cancel_reason"], cells, 41)
    assert (keep, cut) == ([0, 1], {})  # hiding cancel_reason freed room for the whole id
    keep, cut = fit_columns(["id", "status", "cancel_reason"], cells, 40)
    assert cut == {0: 27}  # one character short: cut, by as little as it takes
    keep, _ = fit_columns(
        ["check", "status", "ms", "detail"], [["config", "ok", "1", "x" * 90]], 40
    )
    assert "status" in [["check", "status", "ms", "detail"][i] for i in keep]
    wide = [["価格価格価格価格価格", "x", "y"]]  # 10 characters, 20 cells on screen
    keep, _ = fit_columns(["名前", "b", "c"], wide, 25)
    assert keep == [0, 1]  # measured in cells (counted in characters all three would fit)
    assert human_time("¹²³⁴⁵⁶⁷⁸⁹⁰¹²³", utc=True) is None  # not ASCII digits: not a time
