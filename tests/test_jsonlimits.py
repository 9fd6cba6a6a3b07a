"""The nesting limit on JSON from outside (core/jsonlimits.py), and the REST client using it:
a body nested 50,000 levels deep was a RecursionError (exit 70)."""

from __future__ import annotations

import json

import httpx
import pytest

from paradexctl.core.jsonlimits import MAX_JSON_DEPTH, too_deep
from paradexctl.errors import ExchangeUnavailable
from paradexctl.paradex.rest import RestClient, RetryPolicy


@pytest.mark.parametrize(
    ("text", "deep"),
    [
        ("[" * 64 + "]" * 64, False),
        ("[" * 65 + "]" * 65, True),
        ('{"a":' * 65 + "1" + "}" * 65, True),
        (json.dumps({"s": "[" * 500}), False),  # brackets inside a string do not count
        (json.dumps({"s": 'x\\"[[[' * 100}), False),  # nor after an escaped quote
        (json.dumps([[1, 2]] * 1000), False),  # many brackets, shallow
        ("[" * 50_000, True),  # unterminated
        ("", False),
    ],
)
def test_too_deep(text: str, deep: bool) -> None:
    assert MAX_JSON_DEPTH == 64
    assert too_deep(text) is deep


def test_a_rest_body_nested_50000_deep_is_unavailable_not_a_crash() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="[" * 50_000 + "]" * 50_000)

    client = RestClient(
        "https://api.test.invalid/v1",
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(attempts=1, sleep=lambda s: None),
    )
    with pytest.raises(ExchangeUnavailable, match="not JSON"):
        client.get("/markets")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_both_rest_clients_refuse_nan_and_infinity(constant: str) -> None:
    """A body holding a JavaScript constant is not JSON: UnexpectedAnswer (exit 5) naming the
    endpoint, from the sync and the async client alike (the WS side refuses it too)."""
    import asyncio

    from paradexctl.errors import UnexpectedAnswer
    from paradexctl.paradex.rest import AsyncRestClient

    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=f'{{"results": [{{"size": {constant}}}]}}')

    client = RestClient(
        "https://api.test.invalid/v1",
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(attempts=1, sleep=lambda s: None),
    )
    with pytest.raises(UnexpectedAnswer, match=f"GET /fills.*{constant} is not valid JSON"):
        client.get("/fills")

    async def run() -> None:
        rest = AsyncRestClient("https://api.test.invalid/v1",
                               transport=httpx.MockTransport(handler),
                               retry=RetryPolicy(attempts=1, sleep=lambda s: None))  # fmt: skip
        try:
            with pytest.raises(UnexpectedAnswer, match=f"{constant} is not valid JSON"):
                await rest.get("/fills")
        finally:
            await rest.aclose()

    asyncio.run(run())
