"""RestClient unit tests: MockTransport / respx handlers, no sockets, instant sleeps."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest
import respx

from paradexctl.errors import ExchangeRejected, ExchangeUnavailable
from paradexctl.paradex.rest import (
    OutcomeUncertain,
    RestClient,
    RetryPolicy,
    redact_headers,
    redact_text,
)

BASE = "https://api.test.invalid/v1"


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def policy(sleeps: Sleeps, attempts: int = 4, now: float = 1_700_000_000.0) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, base=0.5, cap=4.0, sleep=sleeps, rng=lambda: 1.0,
                       clock=lambda: now)  # fmt: skip


def client_for(handler, sleeps: Sleeps | None = None, **kw) -> RestClient:
    return RestClient(
        BASE,
        transport=httpx.MockTransport(handler),
        retry=policy(sleeps if sleeps is not None else Sleeps()),
        **kw,
    )


class FakeAuth:
    def __init__(self) -> None:
        self.n = 0
        self.invalidated = 0

    def authorization(self, client: RestClient) -> str:
        self.n += 1
        return f"Bearer eyJhbGciOiJFUzM4NCJ9.eyJleHAiOjF9.sig{self.n}"

    def invalidate(self) -> None:
        self.invalidated += 1


def test_get_returns_json_with_decimals_never_floats():
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text='{"results": [{"x": 1.10, "n": 3, "s": "0.0100"}]}')

    body = client_for(handler).get("/markets")
    row = body["results"][0]
    assert row["x"] == Decimal("1.10") and isinstance(row["x"], Decimal)
    assert row["n"] == 3 and row["s"] == "0.0100"


def test_get_retries_5xx_with_full_jitter_backoff_then_succeeds():
    calls = []

    def handler(req):
        calls.append(req)
        if len(calls) < 3:
            return httpx.Response(503, json={"error": "SERVICE_UNAVAILABLE", "message": "busy"})
        return httpx.Response(200, json={"ok": True})

    sleeps = Sleeps()
    assert client_for(handler, sleeps).get("/system/state") == {"ok": True}
    assert len(calls) == 3
    # rng() = 1.0, so the delays are the full envelope: base * 2**n
    assert sleeps == [0.5, 1.0]


def test_full_jitter_uses_rng_and_cap():
    p = RetryPolicy(base=1.0, cap=3.0, rng=lambda: 0.5)
    assert [p.backoff(n) for n in range(4)] == [0.5, 1.0, 1.5, 1.5]


def test_get_5xx_budget_exhausted_is_exit_5():
    calls = []

    def handler(req):
        calls.append(1)
        return httpx.Response(502, text="bad gateway")

    with pytest.raises(ExchangeUnavailable) as ei:
        client_for(handler).get("/markets")
    assert ei.value.exit_code == 5
    assert len(calls) == 4
    assert "4 attempts" in ei.value.message and "HTTP 502" in ei.value.message


def test_get_network_error_retried_then_exit_5():
    calls = []

    def handler(req):
        calls.append(1)
        raise httpx.ReadTimeout("timed out", request=req)

    with pytest.raises(ExchangeUnavailable) as ei:
        client_for(handler).get("/bbo/BTC-USD-PERP")
    assert len(calls) == 4
    assert not isinstance(ei.value, OutcomeUncertain)
    assert "ReadTimeout" in ei.value.message


def test_429_honours_retry_after():
    calls = []

    def handler(req):
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(429, headers={"Retry-After": "2"})
        return httpx.Response(200, json={})

    sleeps = Sleeps()
    client_for(handler, sleeps).get("/markets")
    assert len(calls) == 2
    assert sleeps == [pytest.approx(2.1)]  # 2 s + rng() * 0.1 jitter


def test_429_honours_x_ratelimit_reset_as_unix_seconds():
    def handler(req):
        if not handler.done:
            handler.done = True
            return httpx.Response(429, headers={"X-RateLimit-Reset": "1700000003"})
        return httpx.Response(200, json={})

    handler.done = False
    sleeps = Sleeps()
    client_for(handler, sleeps).get("/markets")  # clock() = 1_700_000_000
    assert sleeps == [pytest.approx(3.1)]


def test_429_wait_is_capped():
    p = RetryPolicy(max_wait=5.0, rng=lambda: 0.0, clock=lambda: 0.0)
    assert p.rate_limit_wait({"retry-after": "600"}, 0) == 5.0


def test_429_on_post_is_retried_because_it_was_not_processed():
    calls = []

    def handler(req):
        calls.append(json.loads(req.content))
        if len(calls) == 1:
            return httpx.Response(429, headers={"Retry-After": "0"})
        return httpx.Response(201, json={"id": "1", "status": "NEW"})

    c = client_for(handler, auth=FakeAuth())
    assert c.post("/orders", {"client_id": "a"})["id"] == "1"
    assert len(calls) == 2


def test_429_budget_exhausted_is_exit_5():
    def handler(req):
        return httpx.Response(429, headers={"Retry-After": "0"})

    with pytest.raises(ExchangeUnavailable) as ei:
        client_for(handler).get("/markets")
    assert "429" in ei.value.message


def test_error_body_becomes_exchange_rejected_with_code_and_message():
    def handler(req):
        return httpx.Response(
            400, json={"error": "MARKET_NOT_FOUND", "message": "no such market", "data": None}
        )

    with pytest.raises(ExchangeRejected) as ei:
        client_for(handler).get("/markets", {"market": "X"})
    err = ei.value
    assert err.exit_code == 4 and err.code == "MARKET_NOT_FOUND" and err.status == 400
    assert "no such market" in err.message


def test_4xx_is_not_retried():
    calls = []

    def handler(req):
        calls.append(1)
        return httpx.Response(400, json={"error": "VALIDATION_ERROR", "message": "bad"})

    with pytest.raises(ExchangeRejected):
        client_for(handler).get("/x")
    assert calls == [1]


def test_post_5xx_is_uncertain_and_never_resent():
    calls = []

    def handler(req):
        calls.append(1)
        return httpx.Response(500, json={"error": "INTERNAL_ERROR", "message": "oops"})

    with pytest.raises(OutcomeUncertain) as ei:
        client_for(handler, auth=FakeAuth()).post("/orders", {"client_id": "c"})
    assert calls == [1]
    assert ei.value.exit_code == 5


@pytest.mark.parametrize(
    "exc", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError]
)
def test_post_after_send_failure_is_uncertain(exc):
    calls = []

    def handler(req):
        calls.append(1)
        raise exc("boom", request=req)

    with pytest.raises(OutcomeUncertain):
        client_for(handler, auth=FakeAuth()).post("/orders", {"client_id": "c"})
    assert calls == [1]


def test_post_connect_error_is_retried_because_nothing_was_sent():
    calls = []

    def handler(req):
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ConnectError("refused", request=req)
        return httpx.Response(201, json={"id": "9"})

    assert client_for(handler, auth=FakeAuth()).post("/orders", {})["id"] == "9"
    assert len(calls) == 2


def test_401_triggers_one_reauth_and_one_retry():
    seen = []

    def handler(req):
        seen.append(req.headers["authorization"])
        if len(seen) == 1:
            return httpx.Response(401, json={"message": "missing or malformed jwt: expired"})
        return httpx.Response(200, json={"account": "0x1"})

    auth = FakeAuth()
    assert client_for(handler, auth=auth).get("/account", private=True) == {"account": "0x1"}
    assert auth.invalidated == 1
    assert len(seen) == 2 and seen[0] != seen[1]


def test_second_401_is_rejected_not_looped():
    calls = []

    def handler(req):
        calls.append(1)
        return httpx.Response(401, json={"message": "missing or malformed jwt"})

    auth = FakeAuth()
    with pytest.raises(ExchangeRejected) as ei:
        client_for(handler, auth=auth).get("/account", private=True)
    assert len(calls) == 2 and auth.invalidated == 1
    assert ei.value.code == "UNAUTHORIZED" and ei.value.status == 401


def test_delete_with_json_body_for_batch_cancel():
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.delete("/orders/batch").respond(200, json={"results": []})
        c = RestClient(BASE, transport=httpx.MockTransport(router.handler), auth=FakeAuth())
        c.delete("/orders/batch", body={"order_ids": ["1", "2"]})
    sent = route.calls.last.request
    assert json.loads(sent.content) == {"order_ids": ["1", "2"]}
    assert sent.headers["content-type"] == "application/json"


def test_params_none_are_dropped_and_204_is_none():
    with respx.mock(base_url=BASE) as router:
        route = router.delete("/orders").respond(204)
        c = RestClient(BASE, transport=httpx.MockTransport(router.handler), auth=FakeAuth())
        assert c.delete("/orders", params={"market": None}) is None
    assert route.calls.last.request.url.query == b""


def test_pagination_follows_cursor_to_limit():
    pages = {
        None: {"results": [{"i": 1}, {"i": 2}], "next": "c1"},
        "c1": {"results": [{"i": 3}, {"i": 4}], "next": "c2"},
        "c2": {"results": [{"i": 5}], "next": None},
    }
    seen = []

    def handler(req):
        cursor = req.url.params.get("cursor")
        seen.append((cursor, req.url.params.get("page_size")))
        return httpx.Response(200, json=pages[cursor])

    c = client_for(handler, auth=FakeAuth())
    assert [r["i"] for r in c.get_paginated("/fills", limit=3, page_size=2)] == [1, 2, 3]
    assert seen == [(None, "2"), ("c1", "1")]
    seen.clear()
    assert [r["i"] for r in c.get_paginated("/fills", page_size=2)] == [1, 2, 3, 4, 5]


def test_verbose_trace_redacts_authorization_signatures_and_jwts():
    jwt = "eyJhbGciOiJFUzM4NCJ9.eyJzdWIiOiIweDEifQ.c2lnbmF0dXJl"

    def handler(req):
        return httpx.Response(200, json={"jwt_token": jwt, "echo": jwt})

    lines: list[str] = []
    c = client_for(handler, auth=FakeAuth(), trace=lines.append)
    c.request(
        "POST",
        "/orders",
        json_body={"signature": '["123","456"]', "market": "BTC-USD-PERP"},
        headers={"PARADEX-STARKNET-SIGNATURE": '["123","456"]'},
        private=True,
    )
    text = "\n".join(lines)
    assert "BTC-USD-PERP" in text  # the trace is useful
    assert jwt not in text and "eyJhbGci" not in text
    assert '"123"' not in text and "456" not in text
    assert "Bearer ***" in text


def test_redaction_helpers():
    assert redact_headers({"Authorization": "Bearer abc"})["Authorization"] == "Bearer ***"
    assert (
        redact_headers({"PARADEX-STARKNET-SIGNATURE": "x"})["PARADEX-STARKNET-SIGNATURE"] == "***"
    )
    assert (
        redact_text('{"signature": "[\\"1\\",\\"2\\"]", "a": 1}') == '{"signature": "***", "a": 1}'
    )
    assert redact_text('{"signature":["1","2"]}') == '{"signature":"***"}'


def test_exchange_error_message_does_not_leak_jwt():
    jwt = "eyJhbGciOiJFUzM4NCJ9.eyJzdWIiOiIweDEifQ.c2lnbmF0dXJl"

    def handler(req):
        return httpx.Response(403, text=f"forbidden for {jwt}")

    with pytest.raises(ExchangeRejected) as ei:
        client_for(handler).get("/x")
    assert jwt not in ei.value.message


def test_redaction_keeps_ordinary_fields():
    text = '{"token": "USDC", "signature_timestamp": 17, "size": "1"}'
    assert redact_text(text) == text


def test_429_x_ratelimit_reset_in_milliseconds_and_garbage_are_sane():
    p = RetryPolicy(max_wait=30.0, rng=lambda: 0.0, clock=lambda: 1_700_000_000.0)
    # a millisecond timestamp is read as such, not as a date 50,000 years away
    assert p.rate_limit_wait({"x-ratelimit-reset": "1700000003500"}, 0) == pytest.approx(3.5)
    assert p.rate_limit_wait({"x-ratelimit-reset": "1700000003"}, 0) == pytest.approx(3.0)
    assert p.rate_limit_wait({"x-ratelimit-reset": "2"}, 0) == pytest.approx(2.0)  # a delta
    assert p.rate_limit_wait({"x-ratelimit-reset": "99999999999999999999"}, 0) == 30.0
    assert p.rate_limit_wait({"x-ratelimit-reset": "1600000000000"}, 0) == 0.0  # past
    # non-finite values fall back to the exponential backoff
    assert p.rate_limit_wait({"x-ratelimit-reset": "nan"}, 2) == pytest.approx(p.base * 4)
    assert p.rate_limit_wait({"retry-after": "inf"}, 1) == pytest.approx(p.base * 2)


def test_redaction_masks_an_opaque_api_token_but_not_a_token_name():
    text = '{"api_token": {"name": "cron"}, "token": "opaque0123456789abcdef", "x": 1}'
    assert redact_text(text) == '{"api_token": {"name": "cron"}, "token": "***", "x": 1}'
    assert redact_text('{"token": "USDC"}') == '{"token": "USDC"}'
