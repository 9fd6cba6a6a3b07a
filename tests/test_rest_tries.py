"""One set of retry rules under both REST clients: the one-shot ``RestClient`` and the live
feed's ``AsyncRestClient`` decide the same for the same answers (the same result or error, the
same number of tries, the same re-authentication)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from paradexctl.errors import ExchangeRejected, ExchangeUnavailable, UnexpectedAnswer
from paradexctl.paradex.rest import AsyncRestClient, RestClient, RetryPolicy

OK = (200, b'{"results": []}')
SCRIPTS: list[tuple[str, list[Any], Any]] = [
    ("ok", [OK], {"results": []}),
    ("5xx then ok", [(503, b"{}"), (502, b"{}"), OK], {"results": []}),
    ("429 then ok", [(429, b"{}"), OK], {"results": []}),
    ("reset then ok", [httpx.ReadError("reset"), OK], {"results": []}),
    ("401 once then ok", [(401, b'{"error":"INVALID_TOKEN"}'), OK], {"results": []}),
    ("401 twice", [(401, b"{}"), (401, b"{}")], ExchangeRejected),
    ("always 5xx", [(500, b"{}")] * 3, ExchangeUnavailable),
    ("not JSON", [(200, b"<html>")], UnexpectedAnswer),
    ("4xx", [(400, b'{"error":"VALIDATION_ERROR","message":"no"}')], ExchangeRejected),
    ("empty", [(204, b"")], None),
]


class _Auth:
    def __init__(self) -> None:
        self.n = 0

    def authorization(self, client: Any) -> str:
        return f"Bearer t{self.n}"

    def invalidate(self) -> None:
        self.n += 1


def _handler(script: list[Any], seen: list[str]) -> Any:
    answers = iter(script)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization", ""))
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        return httpx.Response(status, content=body)

    return handle


def _policy() -> RetryPolicy:
    return RetryPolicy(attempts=3, sleep=lambda s: None, rng=lambda: 0.0)


def _sync(script: list[Any]) -> tuple[Any, list[str]]:
    seen: list[str] = []
    client = RestClient(
        "http://ex.invalid/v1",
        auth=_Auth(),
        transport=httpx.MockTransport(_handler(script, seen)),
        retry=_policy(),
    )
    try:
        return client.get("/orders", private=True), seen
    except Exception as err:
        return type(err), seen
    finally:
        client.close()


def _async(script: list[Any]) -> tuple[Any, list[str]]:
    seen: list[str] = []
    auth = _Auth()

    async def authorize(refresh: bool) -> str:
        if refresh:
            auth.invalidate()
        return auth.authorization(None)

    async def pause(seconds: float) -> None:
        return None

    async def main() -> Any:
        client = AsyncRestClient(
            "http://ex.invalid/v1",
            authorize=authorize,
            transport=httpx.MockTransport(_handler(script, seen)),
            retry=_policy(),
            sleep=pause,
        )
        try:
            return await client.get("/orders", private=True)
        except Exception as err:
            return type(err)
        finally:
            await client.aclose()

    return asyncio.run(main()), seen


@pytest.mark.parametrize(
    ("script", "expected"), [(s, e) for _, s, e in SCRIPTS], ids=[n for n, _, _ in SCRIPTS]
)
def test_both_clients_decide_the_same(script: list[Any], expected: Any) -> None:
    sync_result, sync_seen = _sync(script)
    async_result, async_seen = _async(script)
    if isinstance(expected, type):
        assert sync_result is expected or issubclass(sync_result, expected)
    else:
        assert sync_result == expected
    assert async_result == sync_result
    assert async_seen == sync_seen  # the same tries, with the same (fresh) tokens
