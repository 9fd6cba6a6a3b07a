"""Hostile WebSocket frames end to end (issue 11): ``stream`` and ``reconcile`` run in process
against the sim's REST and a port-0 WebSocket server that sends a frame nested 50,000 levels
deep, then an oversize frame. Before the fix the deep frame ended both with exit 5 (maximum
recursion depth)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from stderr_text import stderr_text
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from paradexctl.cli.main import main
from paradexctl.sim.testing import new_account

pytestmark = pytest.mark.e2e

DEEP = (
    '{"jsonrpc":"2.0","method":"subscription","params":{"channel":"orders.ALL","data":'
    + ("[" * 50_000 + "]" * 50_000)
    + "}}"
)


def _order(n: int, address: str) -> str:
    data = {"id": f"o{n}", "account": address, "market": "BTC-USD-PERP", "side": "BUY",
            "type": "LIMIT", "size": "0.010", "remaining_size": "0.010", "price": "30000",
            "status": "OPEN", "client_id": f"c{n}", "created_at": 1, "last_updated_at": n,
            "seq_no": n}  # fmt: skip
    return json.dumps({"jsonrpc": "2.0", "method": "subscription",
                       "params": {"channel": "orders.ALL", "data": data}})  # fmt: skip


class HostileServer:
    """Answers auth and subscribe, then sends: a deep frame, an order, an oversize frame."""

    def __init__(self, address: str, *, oversize: bool) -> None:
        self.address = address
        self.oversize = oversize
        self.connections = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.stopping: asyncio.Event | None = None
        self.port = 0
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),))

    async def _handler(self, conn: ServerConnection) -> None:
        self.connections += 1
        n = self.connections
        with contextlib.suppress(ConnectionClosed):
            await self._serve(conn, n)

    async def _serve(self, conn: ServerConnection, n: int) -> None:
        async for raw in conn:
            msg = json.loads(raw)
            result = {"node_id": "h"} if msg["method"] == "auth" else {"channel": "orders.ALL"}
            await conn.send(json.dumps({"jsonrpc": "2.0", "result": result, "id": msg["id"]}))
            if msg["method"] == "subscribe":
                await conn.send(DEEP)
                await conn.send(_order(n, self.address))
                if self.oversize:
                    await conn.send("x" * (2 << 20))  # 2 MiB: over the 1 MiB limit

    async def _main(self) -> None:
        self.stopping = asyncio.Event()
        async with serve(self._handler, "127.0.0.1", 0, max_size=None) as server:
            self.port = server.sockets[0].getsockname()[1]
            self.ready.set()
            await self.stopping.wait()

    def __enter__(self) -> HostileServer:
        self.thread.start()
        assert self.ready.wait(30)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.stopping is not None
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(30)
        self.loop.close()


@pytest.fixture(params=[True], ids=["oversize"])
def hostile(request: Any, sim: Any, sim_cli_env: pytest.MonkeyPatch) -> Iterator[HostileServer]:
    acct = new_account(sim.http_url)
    sim_cli_env.setenv("PARADEX_ACCOUNT_ADDRESS", acct.address)
    sim_cli_env.setenv("PARADEX_L2_PRIVATE_KEY", hex(acct.private_key))
    with HostileServer(acct.address, oversize=request.param) as server:
        sim_cli_env.setenv("PARADEX_WS_URL", f"ws://127.0.0.1:{server.port}/v1")
        yield server


def test_stream_skips_a_deep_frame_and_names_an_oversize_one(hostile: Any, capsys: Any) -> None:
    # it ends by giving up after one reconnect (--duration is only a safety net)
    code = main(["-v", "-o", "ndjson", "stream", "orders", "--duration", "120",
                 "--max-reconnects", "1"])  # fmt: skip
    cap = capsys.readouterr()
    lines = [json.loads(ln) for ln in cap.out.splitlines()]
    assert "recursion" not in cap.err  # (-v prints the final error's traceback)
    updates = [ln for ln in lines if ln["type"] == "update"]
    assert updates and updates[0]["key"] == "o1"  # the order after the deep frame arrived
    gone = [ln for ln in lines if ln["type"] == "disconnected"]
    assert gone and gone[0]["reason"] == "frame_too_large size_limit=1048576"
    assert gone[0]["code"] == 1009
    # the stream reconnected (with backoff) and gave up after --max-reconnects 1: exit 5
    # naming the oversize frame, not a silent reconnect loop
    assert code == 5, cap.err
    assert "gave up after 1 reconnect(s) (last: frame_too_large size_limit=1048576)" in cap.err
    (counters,) = [ln for ln in stderr_text(cap.err).splitlines() if "stream: counters" in ln]
    ws = json.loads(counters.split("counters ", 1)[1])["ws"]
    assert ws["invalid"] >= 1 and ws["frames_too_large"] >= 1


@pytest.mark.parametrize("hostile", [False], ids=["deep-only"], indirect=True)
def test_reconcile_skips_a_deep_frame(hostile: Any, capsys: Any) -> None:
    code = main(["-q", "-o", "json", "reconcile", "--window", "0.3", "--grace", "0.1"])
    cap = capsys.readouterr()
    assert "recursion" not in cap.err and "Traceback" not in cap.err
    assert code in (0, 1), cap.err  # a report, whatever it says; not exit 5
    assert json.loads(cap.out)["exit_status"] == code
