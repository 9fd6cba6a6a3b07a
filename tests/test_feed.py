"""The live feed (``paradexctl/paradex/feed.py``): one ordered stream of recording records,
and every consumer deciding the same on it live and on its recording.

* the resync's records: one boundary before the first call, the lookups by id after the
  listings were applied (so they see the absences the listings left);
* ``stream``: its lines from the live sim equal the lines of its recording replayed
  through the same consumer (the recording holds every record the feed yielded);
* ``order place --wait`` (:class:`~paradexctl.paradex.orders.OrderWatch`): the same
  outcome from the live sim and from the recorded records.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest
from live_pump import IdleWs, Pump, SyncRest, delays_from, session_jwt

from paradexctl.config import resolve_settings
from paradexctl.core.recording import Mark, Meta, Record, RestSnapshot, read_records
from paradexctl.errors import ExchangeUnavailable
from paradexctl.paradex.auth import Session
from paradexctl.paradex.feed import LiveFeed
from paradexctl.paradex.orders import OrderWatch
from paradexctl.paradex.recordfile import RecordingWriter
from paradexctl.sim.server import SimServer
from paradexctl.sim.testing import login, new_account, order_body

MARKET = "BTC-USD-PERP"


def _order(oid: str, status: str, ts: int) -> dict[str, Any]:
    return {
        "id": oid, "market": MARKET, "side": "BUY", "type": "LIMIT", "size": "1",
        "remaining_size": "1", "price": "100", "status": status, "last_updated_at": ts,
        "seq_no": ts, "client_id": "",
    }  # fmt: skip


class TableRest:
    """Async GETs from a table, logging (path, time) of each call."""

    def __init__(self, answers: dict[str, Any], clock: Any) -> None:
        self.answers, self.clock, self.calls = answers, clock, []

    async def get(self, path: str, params: Any = None, *, private: bool = False) -> Any:
        self.calls.append((path, self.clock()))
        return self.answers.get(path)

    async def get_paginated(self, path: str, params: Any = None, **kw: Any) -> list[Any]:
        self.calls.append((path, self.clock()))
        return []


def test_a_resync_is_one_boundary_then_listings_then_lookups_of_what_they_left_unconfirmed() -> (
    None
):
    now = [1000]

    def clock() -> int:
        now[0] += 10
        return now[0]

    pending: list[list[str]] = []
    rest = TableRest({"/orders": {"results": []}, "/orders/B": _order("B", "CLOSED", 5)}, clock)
    feed = LiveFeed("ws://unused", rest=rest, jwt=None, channels=("orders",), wall_ms=clock,
                    ws_factory=IdleWs, pending_orders=lambda: pending[-1] if pending else [])  # fmt: skip
    got: list[Record] = []

    async def main() -> None:
        async def consume() -> None:
            async for rec in feed.records():
                got.append(rec)
                if type(rec) is RestSnapshot and rec.endpoint == "orders":
                    pending.append(["B"])  # the consumer's state: B absent from the listing

        task = asyncio.ensure_future(consume())
        assert await feed.resync() is True
        feed.stop("done")
        await asyncio.wait_for(task, 5)

    asyncio.run(main())
    assert [type(r).__name__ for r in got] == ["Mark", "RestSnapshot", "RestSnapshot", "Mark"]
    start, listing, lookup, end = got
    assert isinstance(start, Mark) and start.name == "resync"
    assert isinstance(end, Mark) and end.name == "resynced" and "failed" not in end.fields
    assert isinstance(listing, RestSnapshot) and isinstance(lookup, RestSnapshot)
    boundary = start.fields["boundary_at"]
    assert listing.boundary_at == boundary and boundary < min(t for _, t in rest.calls)
    assert lookup.endpoint == "order" and lookup.params == {"order_id": "B"}


# --- live and replayed: the same decisions -----------------------------------------------------


@pytest.fixture
def account(sim: SimServer, tmp_path: Path) -> Any:
    acct = new_account(sim.http_url)
    settings = resolve_settings(
        env="local", api_url=sim.http_url, ws_url=sim.ws_url, account_address=acct.address,
        environ={}, config={},
    )  # fmt: skip
    session = Session.open(settings, lambda: acct.private_key, cache_root=tmp_path / "cache")
    jwt = login(sim.http_url, acct)
    import httpx

    http = httpx.Client(base_url=sim.http_url, timeout=10)

    def place(size: str, price: str | None = None) -> dict[str, Any]:
        r = http.post("/orders", json=order_body(acct, MARKET, "BUY", size, price),
                      headers={"Authorization": f"Bearer {jwt}"})  # fmt: skip
        assert r.status_code == 201, r.text
        return dict(r.json())

    def cancel(order_id: str) -> None:
        r = http.delete(f"/orders/{order_id}", headers={"Authorization": f"Bearer {jwt}"})
        assert r.status_code < 300, r.text

    try:
        yield session, place, cancel
    finally:
        http.close()
        session.close()


async def _until(cond: Any, what: str, limit: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not cond():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


def test_stream_lines_live_equal_the_lines_of_its_recording_replayed(
    sim: SimServer, account: Any
) -> None:
    session, place, cancel = account
    sim.admin.faults(ws_duplicate_rate=0.5)
    for explain, merged in ((True, False), (False, True)):
        buf = io.BytesIO()
        record = RecordingWriter(buf, "memory")
        live: list[dict[str, Any]] = []
        pump = Pump(
            sim.ws_url, rest=session.client, jwt=session_jwt(session), emit=live.append,
            explain=explain, merged=merged, record=record,
            ws_options={"stale_after": 5.0, "stable_after": 0.0,
                        "reconnect_delays": delays_from([0.01])},
        )  # fmt: skip

        async def main(pump: Pump = pump, live: list[dict[str, Any]] = live) -> None:
            task = asyncio.ensure_future(pump.run())
            try:
                await _until(lambda: any(ln["type"] == "resynced" for ln in live), "a resync")
                resting = await asyncio.to_thread(place, "0.01", "1000")
                await asyncio.to_thread(place, "0.01")  # fills
                await asyncio.to_thread(sim.admin.disconnect)
                await asyncio.to_thread(cancel, resting["id"])
                await _until(lambda: sum(ln["type"] == "resynced" for ln in live) >= 2, "resync")
            finally:
                pump.stop()
                await asyncio.wait_for(task, 10)

        asyncio.run(main())
        record.flush()
        text = buf.getvalue().decode()
        records = [r for r in read_records(text.splitlines()) if type(r) is not Meta]
        replayed: list[dict[str, Any]] = []
        again = Pump("ws://unused", rest=None, jwt=None, emit=replayed.append,
                     explain=explain, merged=merged)  # fmt: skip
        asyncio.run(again.replay(records))
        assert any(ln["type"] == "update" for ln in live)
        assert replayed == live
        assert again.state.snapshot() == pump.state.snapshot()


class _Replay:
    """A feed that yields recorded records (for a consumer written against LiveFeed)."""

    url = "ws://replay"
    live = True
    ws_error = None

    def __init__(self, records: Iterable[Record]) -> None:
        self._records = list(records)
        self._stop = asyncio.Event()

    async def records(self) -> AsyncIterator[Record]:
        for r in self._records:
            yield r
            await asyncio.sleep(0)
        await self._stop.wait()

    async def wait_subscribed(self) -> None:
        return None

    async def lookup(self, order_id: str) -> None:
        return None

    def stop(self, reason: str = "") -> None:
        self._stop.set()


def test_order_wait_decides_the_same_live_and_on_its_recorded_records(
    sim: SimServer, account: Any
) -> None:
    session, place, cancel = account
    got: list[Record] = []

    async def live() -> Any:
        feed = LiveFeed(sim.ws_url, rest=SyncRest(session.client), jwt=session_jwt(session),
                        channels=("orders",), resync=False, ws_required=False)  # fmt: skip
        inner = feed.records

        async def tee() -> AsyncIterator[Record]:
            async for r in inner():
                got.append(r)
                yield r

        feed.records = tee  # type: ignore[method-assign]
        async with OrderWatch(feed, rest_fast=0.02, rest_slow=0.05) as watch:
            assert await watch.ready(10)
            placed = await asyncio.to_thread(place, "0.01", "1000")
            opened = await watch.wait(placed, "open", 10)
            canceller = asyncio.ensure_future(asyncio.to_thread(cancel, placed["id"]))
            closed = await watch.wait(opened[0], "closed", 10)
            await canceller
            return placed, opened, closed

    placed, opened, closed = asyncio.run(live())
    assert closed[0]["status"] == "CLOSED"

    async def replay() -> Any:
        async with OrderWatch(_Replay(got)) as watch:
            o = await watch.wait(placed, "open", 10)
            c = await watch.wait(o[0], "closed", 10)
            return o, c

    assert asyncio.run(replay()) == (opened, closed)
    assert json.dumps(closed[0], sort_keys=True)  # plain JSON


# --- the end of the iteration: a REST answer nobody takes ----------------------------------------


class _ClosingWs(IdleWs):
    """A WebSocket that closes for good at once (as after its last reconnect)."""

    async def run(self) -> None:
        from paradexctl.paradex import ws as wsmod

        self.queue.put_nowait(wsmod.Closed(None, 1))


class _SlowRest(TableRest):
    async def get(self, path: str, params: Any = None, *, private: bool = False) -> Any:
        await asyncio.sleep(0.05)  # the WebSocket closes while this call is in flight
        return await super().get(path, params, private=private)


@pytest.mark.parametrize("started", [True, False])
def test_a_rest_answer_after_the_iteration_ended_fails_instead_of_waiting_for_ever(
    started: bool,
) -> None:
    """The WebSocket closed for good (the iteration returns) while reconcile's snapshot was
    in flight: its answer was handed to a queue nobody reads any more and ``fetch`` waited on
    it for ever (reconcile hung). It fails now: in flight, or called after the end."""
    rest = _SlowRest({"/orders": {"results": []}}, lambda: 0)
    feed = LiveFeed("ws://unused", rest=rest, jwt=None, channels=("orders",),
                    ws_factory=_ClosingWs)  # fmt: skip

    async def main() -> tuple[list[Record], BaseException | None]:
        got: list[Record] = []

        async def consume() -> None:
            async for rec in feed.records():
                got.append(rec)

        task = asyncio.ensure_future(consume())
        if not started:
            await asyncio.wait_for(task, 5)
        try:
            await asyncio.wait_for(feed.fetch("orders", "/orders", {}), 5)
        except Exception as exc:  # the error is what is asserted
            error: BaseException | None = exc
        else:
            error = None
        await asyncio.wait_for(task, 5)
        return got, error

    got, error = asyncio.run(main())
    assert isinstance(error, ExchangeUnavailable), repr(error)
    assert "the live feed ended (closed) before a REST answer was taken" in error.message
    assert not any(type(r) is RestSnapshot for r in got)
