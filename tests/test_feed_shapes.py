"""The live feed's REST snapshots are shape-checked like every one-shot command's answers: a
wrong shape is "the exchange sent an unexpected answer" (exit 5) naming the endpoint, never an
AttributeError (exit 70) inside ``stream fills`` or reconcile's ``/fills`` listing."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from paradexctl.errors import UnexpectedAnswer
from paradexctl.paradex.feed import LiveFeed
from paradexctl.paradex.rest import AsyncRestClient

HOSTILE = ["[1, 2]", '"x"', "null", "{}", '{"results": "abc"}', '{"results": [1]}', "7"]


def _client(body: str) -> AsyncRestClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body.encode(), headers={"content-type": "text/json"})

    async def authorize(refresh: bool) -> str:
        return "Bearer t"

    return AsyncRestClient(
        "http://ex.invalid/v1", authorize=authorize, transport=httpx.MockTransport(handler)
    )


def _fetch(body: str, endpoint: str, path: str, params: dict[str, Any]) -> Any:
    async def main() -> Any:
        rest = _client(body)
        feed = LiveFeed(None, rest=rest, jwt=None, channels=("orders",))
        try:
            return await feed.fetch(endpoint, path, params)
        finally:
            await rest.aclose()

    return asyncio.run(main())


@pytest.mark.parametrize("body", HOSTILE)
def test_a_paginated_listing_of_any_other_shape_is_an_unexpected_answer(body: str) -> None:
    async def main() -> None:
        rest = _client(body)
        try:
            await rest.get_paginated("/fills", {"start_at": 0})
        finally:
            await rest.aclose()

    with pytest.raises(UnexpectedAnswer, match="GET /fills") as err:
        asyncio.run(main())
    assert err.value.exit_code == 5


@pytest.mark.parametrize("body", HOSTILE)
@pytest.mark.parametrize(
    ("endpoint", "path", "params"),
    [
        ("fills", "/fills", {"start_at": 0}),
        ("orders", "/orders", {}),
        ("positions", "/positions", {}),
        ("balance", "/balance", {}),
    ],
)
def test_a_resync_listing_of_another_shape_is_an_unexpected_answer(
    body: str, endpoint: str, path: str, params: dict[str, Any]
) -> None:
    with pytest.raises(UnexpectedAnswer, match=f"GET {path}"):
        _fetch(body, endpoint, path, params)


@pytest.mark.parametrize("body", ["[1, 2]", '"x"', "null", "7"])
@pytest.mark.parametrize(
    ("endpoint", "path", "params"),
    [("order", "/orders/5", {"order_id": "5"}), ("account", "/account", {})],
)
def test_a_single_object_answer_of_another_shape_is_an_unexpected_answer(
    body: str, endpoint: str, path: str, params: dict[str, Any]
) -> None:
    with pytest.raises(UnexpectedAnswer, match=f"GET {path}"):
        _fetch(body, endpoint, path, params)


def test_the_async_page_walker_follows_cursors_like_the_sync_one() -> None:
    pages = {
        None: {"results": [{"id": "1"}, {"id": "2"}], "next": "c2"},
        "c2": {"results": [{"id": "3"}], "next": None},
    }
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(dict(request.url.params))
        return httpx.Response(200, json=pages[request.url.params.get("cursor")])

    async def main() -> list[Any]:
        rest = AsyncRestClient("http://ex.invalid/v1", transport=httpx.MockTransport(handler))
        try:
            return await rest.get_paginated("/fills", {"start_at": 0}, private=False)
        finally:
            await rest.aclose()

    assert [r["id"] for r in asyncio.run(main())] == ["1", "2", "3"]
    assert [p.get("cursor") for p in seen] == [None, "c2"]
