"""Hostile REST answers (issue 12): nothing lost, nothing doubled, never exit 70.

Each answer below was reproduced against ``paradexctl sim`` behind a fault proxy; here a
respx-mocked exchange (:mod:`tests.hostile_exchange`) gives it to the in-process CLI.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hostile_exchange import HostileCli, hostile_cli

PLACE = ("order", "place", "BTC-USD-PERP", "buy", "0.01", "--price", "90000")


@pytest.fixture
def cli() -> Iterator[HostileCli]:
    with hostile_cli() as c:
        yield c


def _rows(out: str) -> list[dict]:
    return json.loads(out)


# -- 1. a batch 201 that does not account for every order ------------------------------------


@pytest.mark.parametrize("body", ["{}", "null", '{"orders": "abc"}', "[1]", '"x"'])
def test_batch_201_without_the_orders_list_looks_every_order_up(cli, body):
    cli.exchange.script("POST", "/orders/batch", 201, body)  # processed, then garbage
    code, out, err = cli("-o", "json", "order", "place", "--batch", cli.batch_file(3),
                         "--chunk-size", "2")  # fmt: skip
    assert code == 0, err
    rows = _rows(out)
    assert [r["outcome"] for r in rows] == ["recovered"] * 3
    assert "rejected" not in out
    assert cli.exchange.count("POST", "/orders/batch") == 2  # the later chunk was sent
    assert len(cli.exchange.orders) == 3  # nothing doubled


@pytest.mark.parametrize("body", ["{}", '{"orders": "abc"}', "[1]"])
def test_batch_201_not_accounting_and_order_absent_is_unknown_exit_6(cli, body):
    cli.exchange.script("POST", "/orders/batch", 201, body, process=False)
    code, out, err = cli("-o", "json", "order", "place", "--batch", cli.batch_file(2))
    assert code == 6, err
    assert [r["outcome"] for r in _rows(out)] == ["unknown", "unknown"]
    assert "NOT re-sent" in out and "does not account for this order" in out
    assert cli.exchange.count("POST", "/orders/batch") == 1


def test_batch_errors_that_account_for_the_missing_order_are_rejections(cli):
    # no order placed, one readable error: the answer accounts for the row
    cli.exchange.script(
        "POST", "/orders/batch", 201,
        json.dumps({"orders": [], "errors": [{"error": "NOT_ENOUGH_MARGIN", "message": "no"}]}),
        process=False,
    )  # fmt: skip
    code, out, _ = cli("-o", "json", "order", "place", "--batch", cli.batch_file(1))
    assert code == 4
    assert _rows(out)[0]["outcome"] == "rejected"
    assert _rows(out)[0]["error"].startswith("NOT_ENOUGH_MARGIN")


def test_batch_errors_that_do_not_add_up_leave_the_rows_uncertain(cli):
    # two orders missing from "orders", one error: which one it names is unknowable
    cli.exchange.script(
        "POST", "/orders/batch", 201,
        json.dumps({"orders": [], "errors": [{"error": "X", "message": "y"}]}),
    )  # fmt: skip
    code, out, err = cli("-o", "json", "order", "place", "--batch", cli.batch_file(2))
    assert code == 0, err
    assert [r["outcome"] for r in _rows(out)] == ["recovered", "recovered"]


# -- 2. a 401 after the order was processed ------------------------------------------------------


def test_401_after_processing_is_looked_up_not_resent(cli):
    cli.exchange.script("POST", "/orders", 401, '{"message": "jwt expired"}', times=1)
    code, out, err = cli("-o", "json", *PLACE)
    assert code == 0, err
    assert json.loads(out)["outcome"] == "recovered"
    assert cli.exchange.count("POST", "/orders") == 1
    assert len(cli.exchange.orders) == 1
    assert cli.exchange.count("POST", r"/auth/0x[0-9a-f]+") == 2  # re-authenticated


def test_401_before_processing_is_sent_again_once_the_lookup_finds_nothing(cli):
    cli.exchange.script(
        "POST", "/orders", 401, '{"message": "jwt expired"}', process=False, times=1
    )
    code, out, err = cli("-o", "json", *PLACE)
    assert code == 0, err
    assert json.loads(out)["outcome"] == "acknowledged"
    assert cli.exchange.count("POST", "/orders") == 2
    assert len(cli.exchange.orders) == 1


def test_batch_401_after_processing_is_looked_up_not_resent(cli):
    cli.exchange.script("POST", "/orders/batch", 401, '{"message": "jwt expired"}', times=1)
    code, out, err = cli("-o", "json", "order", "place", "--batch", cli.batch_file(2))
    assert code == 0, err
    assert [r["outcome"] for r in _rows(out)] == ["recovered", "recovered"]
    assert cli.exchange.count("POST", "/orders/batch") == 1
    assert len(cli.exchange.orders) == 2


def test_batch_401_before_processing_is_sent_again(cli):
    cli.exchange.script(
        "POST", "/orders/batch", 401, '{"message": "jwt expired"}', process=False, times=1
    )
    code, out, err = cli("-o", "json", "order", "place", "--batch", cli.batch_file(2))
    assert code == 0, err
    assert [r["outcome"] for r in _rows(out)] == ["acknowledged", "acknowledged"]
    assert cli.exchange.count("POST", "/orders/batch") == 2
    assert len(cli.exchange.orders) == 2


# -- 3. non-object bodies: exit 5 naming the endpoint, never 70 --------------------------------

READS = [
    (("markets",), "GET", "/markets"),
    (("markets", "BTC-USD-PERP"), "GET", "/markets"),
    (("orders", "list"), "GET", "/orders"),
    (("orders", "list", "--history"), "GET", "/orders-history"),
    (("positions",), "GET", "/positions"),
    (("balances",), "GET", "/balance"),
    (("fills",), "GET", "/fills"),
    (("account",), "GET", "/account"),
    (("bbo", "BTC-USD-PERP"), "GET", "/bbo/BTC-USD-PERP"),
    (("order", "get", "1001"), "GET", "/orders/1001"),
    (("order", "get", "--client-id", "c1"), "GET", "/orders-history"),
    (PLACE, "GET", "/markets"),
    (("order", "place", "BTC-USD-PERP", "buy", "0.01", "--type", "market"), "GET", "/markets"),
]


@pytest.mark.parametrize("body", ['"abc"', "[1, 2]", "[]", "null", "12", '{"results": "x"}',
                                  '{"results": [1]}', "[" * 5000 + "]" * 5000])  # fmt: skip
@pytest.mark.parametrize(("args", "method", "path"), READS, ids=lambda v: " ".join(v)
                         if isinstance(v, tuple) else None)  # fmt: skip
def test_wrong_shape_is_an_unexpected_answer_exit_5(cli, args, method, path, body):
    if path == "/account" and body.startswith("{"):
        pytest.skip("an object is the shape /account needs")
    if path in ("/bbo/BTC-USD-PERP", "/orders/1001") and body.startswith("{"):
        pytest.skip("an object is the shape this endpoint needs")
    cli.exchange.script(method, path, 200, body)
    code, out, err = cli(*args)
    assert code == 5, err
    assert "unexpected answer" in err and "internal error" not in err
    shown = path if path != "/orders/1001" else "/orders/{id}"
    assert shown.split("/")[1] in err
    assert out == ""


def test_unexpected_answer_message_names_request_and_shape(cli):
    cli.exchange.script("GET", "/fills", 200, '"abc"')
    code, _, err = cli("fills")
    assert code == 5
    assert (
        "the exchange sent an unexpected answer to GET /fills: expected an object with a "
        "'results' list of objects, got a string" in err
    )
    code, _, err = cli("-o", "json", "fills")
    assert json.loads(err)["error"] == "unexpected_answer"
    assert json.loads(err)["details"]["request"] == "GET /fills"


def test_a_page_with_an_unusable_next_cursor_is_unexpected(cli):
    cli.exchange.script("GET", "/fills", 200, '{"results": [{"id": "1"}], "next": [1]}')
    code, _, err = cli("fills")
    assert code == 5 and "'next' a list" in err


# -- 4. cancel-all reports what happened ------------------------------------------------------


@pytest.mark.parametrize("listing", ['"garbage"', "[1]", '{"results": 5}'])
def test_cancel_all_with_a_garbage_listing_says_the_count_is_unknown(cli, listing):
    code, _, _ = cli("order", "place", "--batch", cli.batch_file(2))
    assert code == 0
    cli.exchange.script("GET", "/orders", 200, listing)
    code, out, err = cli("-o", "json", "order", "cancel-all")
    assert code == 0, err
    assert "not known" in err and "GET /orders" in err
    assert "0 open order(s)" not in err
    assert cli.exchange.count("DELETE", "/orders") == 1
    assert all(o["status"] == "CLOSED" for o in cli.exchange.orders.values())
    assert json.loads(out) == []


def test_cancel_all_reports_the_delete_answer_when_it_lists_orders(cli):
    cli.exchange.script(
        "DELETE", "/orders", 200,
        json.dumps({"results": [{"id": "7", "client_id": "c", "market": "BTC-USD-PERP",
                                 "status": "ALREADY_CLOSED"}]}),
    )  # fmt: skip
    code, out, err = cli("-o", "json", "order", "cancel-all")
    assert code == 0, err
    assert json.loads(out) == [
        {"id": "7", "client_id": "c", "market": "BTC-USD-PERP", "status": "ALREADY_CLOSED"}
    ]
    assert "reports 1 order(s)" in err


def test_cancel_all_with_a_readable_listing_counts_the_orders_open_before(cli):
    cli("order", "place", "--batch", cli.batch_file(2))
    code, out, err = cli("-o", "json", "order", "cancel-all")
    assert code == 0
    assert len(json.loads(out)) == 2 and "2 open order(s) queued for cancellation" in err


# -- 5. a 201 whose id is not an order id ------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    ['{"id": 5, "status": "NEW"}', '{"id": ["a"], "status": "NEW"}', '{"id": "5"}',
     '{"id": "5", "status": "NEW", "client_id": "someone-else"}', '"ok"', "[]"],
)  # fmt: skip
def test_201_that_is_not_this_orders_object_is_looked_up(cli, body):
    cli.exchange.script("POST", "/orders", 201, body)
    code, out, err = cli("-o", "json", *PLACE)
    assert code == 0, err
    result = json.loads(out)
    assert result["outcome"] == "recovered"
    assert result["order_id"] == next(iter(cli.exchange.orders))
    assert "['a']" not in err and "is None" not in err
    assert cli.exchange.count("POST", "/orders") == 1


def test_201_not_accounting_and_order_absent_exits_6(cli):
    cli.exchange.script("POST", "/orders", 201, '{"id": 5}', process=False)
    code, out, err = cli(*PLACE)
    assert code == 6
    assert "NOT re-sent" in err and out == ""


def test_401_on_a_cancel_reauthenticates_and_sends_it_again(cli):
    # cancelling twice has the effect of cancelling once: only a POST is held back
    cli("order", "place", "--batch", cli.batch_file(1))
    cli.exchange.script("DELETE", "/orders", 401, '{"message": "jwt expired"}', times=1)
    code, out, err = cli("-o", "json", "order", "cancel-all")
    assert code == 0, err
    assert cli.exchange.count("DELETE", "/orders") == 2
    assert len(json.loads(out)) == 1


# -- the REST layer itself ---------------------------------------------------------------------


class _Auth:
    def __init__(self) -> None:
        self.invalidated = 0

    def authorization(self, client) -> str:
        return f"Bearer t{self.invalidated}"

    def invalidate(self) -> None:
        self.invalidated += 1


def test_rest_401_on_a_post_reauthenticates_but_does_not_resend():
    import httpx

    from paradexctl.paradex.rest import RefusedAfterSend, RestClient

    calls = []

    def handler(req):
        calls.append(req.headers["authorization"])
        return httpx.Response(401, json={"message": "jwt expired"})

    auth = _Auth()
    client = RestClient("http://x/v1", transport=httpx.MockTransport(handler), auth=auth)
    with pytest.raises(RefusedAfterSend) as ei:
        client.post("/orders", {"client_id": "a"})
    assert calls == ["Bearer t0"] and auth.invalidated == 1
    assert ei.value.exit_code == 5 and "401" in ei.value.message


@pytest.mark.parametrize(
    ("body", "got"),
    [
        ("abc", "got a string"),
        ([1], "got a list of 1 item(s)"),
        (None, "got null (or no body)"),
        ({}, "got an object without 'results'"),
        ({"results": {}}, "got 'results' an object"),
        ({"results": [{}, 2]}, "got item 1 a number"),
    ],
)
def test_expect_rows_names_request_expected_shape_and_what_came(body, got):
    from paradexctl.errors import UnexpectedAnswer
    from paradexctl.paradex.rest import expect_rows

    with pytest.raises(UnexpectedAnswer) as ei:
        expect_rows(body, "GET /positions")
    assert ei.value.message == (
        "the exchange sent an unexpected answer to GET /positions: expected an object with a "
        f"'results' list of objects, {got}"
    )
    assert ei.value.exit_code == 5 and ei.value.kind == "unexpected_answer"
    assert expect_rows({"results": [{"a": 1}]}, "GET /x") == [{"a": 1}]


# -- NaN / Infinity in a REST body ---------------------------------------------------------------

NAN_BODIES = ['{"results": [{"symbol": "BTC-USD-PERP", "mark_price": NaN}]}',
              '{"results": [{"symbol": "BTC-USD-PERP", "size": Infinity}]}',
              '{"results": [{"symbol": "BTC-USD-PERP", "size": -Infinity}]}']  # fmt: skip


@pytest.mark.parametrize("body", NAN_BODIES)
@pytest.mark.parametrize(("args", "path"), [(("markets",), "/markets"),
                                            (("positions",), "/positions"),
                                            (("fills",), "/fills")])  # fmt: skip
def test_nan_or_infinity_in_a_rest_body_is_an_unexpected_answer_exit_5(cli, args, path, body):
    """Python's json reads NaN/Infinity (not JSON); the REST client took them as values and
    printed them (``markets`` showed a mark price of NaN, exit 0). Like a WS frame holding
    one, the body is not JSON: an unexpected answer naming the endpoint, exit 5."""
    cli.exchange.script("GET", path, 200, body)
    code, out, err = cli("-o", "json", *args)
    assert code == 5, (code, out, err)
    assert f"unexpected answer to GET {path}" in err and "not valid JSON" in err, err
    assert out == ""


def test_nan_in_an_order_201_is_looked_up_not_trusted(cli):
    """A POST answered with a non-JSON body (NaN) has an unknown outcome: looked up by
    client_id, never re-sent, never read as the order."""
    cli.exchange.script("POST", "/orders", 201, '{"id": "1", "status": "NEW", "size": NaN}')
    code, out, err = cli("-o", "json", *PLACE)
    assert code == 0, err
    assert json.loads(out)["outcome"] == "recovered"
    assert cli.exchange.count("POST", "/orders") == 1
