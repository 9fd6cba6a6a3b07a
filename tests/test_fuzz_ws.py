"""Every live command against random and hostile WebSocket frames (issue 12).

REST is the shared sim's; the WebSocket is :class:`HostileWs`, one port-0 server for the
module whose behaviour on every connection is the :class:`Script` the hypothesis example set:
the answer to ``auth`` and to each ``subscribe`` (right, an error, nonsense, a close), then a
list of frames (not JSON, JSON that is not JSON-RPC, notifications with wrong-typed, missing,
huge or deeply nested ``params``/``data``, unknown channels, payloads with wrong-typed fields,
control characters and lone surrogates, duplicated and out-of-order orders, frames over the
1 MiB limit, binary frames), then an abrupt close or silence. Each example runs one command
in process: ``stream`` (channel mixes, ``--merged``, ``--explain``, ``--record``) and
``order place --wait open|filled``, ``reconcile`` (orders alone and every entity) and
``smoke``.
Asserted for every example:

* the exit code is a documented one (``EXIT_CODES``), never 70, and no traceback is printed;
* every stdout line of ``stream`` is JSON; an update from the WebSocket carries exactly the
  ``data`` of a frame the server sent (nothing printed as an update that no frame carried);
  the recording, when asked, reads back;
* ``order place --wait``: success only when the target was reached by the exchange's REST
  answer or by a readable frame sent for that very order, printed as that answer/frame;
  a rejection (exit 4) only when a frame closed that order.

``derandomize=True``: the same examples on every run; raise ``EXAMPLES`` locally to search
further.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import io
import json
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import write_profile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from paradexctl.errors import EXIT_CODES
from paradexctl.sim.server import SimServer
from paradexctl.sim.testing import new_account

pytestmark = pytest.mark.e2e

#: examples per command below (x 2 commands = 20); raise locally to search further
EXAMPLES = 10

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    # each example is a CLI run of a few hundred ms against a live sim (too_slow); the
    # module fixture (server, sim account, config home) is shared on purpose: each example
    # sets its own script and reads its own output
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

#: one command run in an example never takes this long unless it hangs
RUN_DEADLINE_S = 120

MARKET = "BTC-USD-PERP"
OID = "$OID"  # in a frame: the id of the order `order place` placed (the server looks it up)
CLOSE = "$CLOSE"  # in a frame list: close the connection abruptly here

# -- the server ---------------------------------------------------------------------------------


@dataclass
class Script:
    auth: str = "ok"  # ok | error | nonsense | close | silent
    subscribe: str = "ok"  # ok | error | nonsense | wrong_channel | close
    frames: list[str | bytes] = field(default_factory=list)
    end: str = "hold"  # hold (until the client leaves) | close
    client_id: str | None = None  # $OID: the order with this client_id (None: a new one)
    known: frozenset[str] = frozenset()  # (the order ids there before the run)
    places: bool = False  # the command places an order ($OID waits for it)
    sent: list[str | bytes] = field(default_factory=list)  # what was sent, $OID replaced

    def __repr__(self) -> str:  # short: a frame may be megabytes
        shown = [
            f[:80] + (f"...<{len(f)} chars>" if len(f) > 80 else "")  # type: ignore[operator]
            for f in self.frames
        ]
        return (f"Script(auth={self.auth!r}, subscribe={self.subscribe!r}, end={self.end!r}, "
                f"frames={shown!r})")  # fmt: skip

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis's printer
        printer.text(repr(self))


class HostileWs:
    """A Paradex-shaped WebSocket (asyncio, in a thread) playing :attr:`script`."""

    def __init__(self, sim: SimServer, address: str) -> None:
        self.sim = sim
        self.address = address
        self.script = Script()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.stopping: asyncio.Event | None = None
        self.port = 0
        self.tasks: set[asyncio.Future[None]] = set()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),))

    async def _main(self) -> None:
        self.stopping = asyncio.Event()
        async with serve(self._handler, "127.0.0.1", 0, max_size=None, compression=None) as srv:
            self.port = srv.sockets[0].getsockname()[1]
            self.ready.set()
            await self.stopping.wait()

    async def _handler(self, conn: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._serve(conn, self.script)

    async def _order_id(self, script: Script) -> str:
        """The id of the order placed with the script's client_id, or of the first order
        placed during the run (waits for it, at most 5 s)."""
        deadline = time.monotonic() + 5
        while script.places and time.monotonic() < deadline:
            with contextlib.suppress(Exception):  # (KeyError, or the dict changed size)
                engine = self.sim.sim.engine
                if script.client_id is not None:
                    return str(engine.find_by_client_id(self.address, script.client_id).id)
                new = [o for o in list(engine.orders.values())
                       if o.account == self.address and o.id not in script.known]  # fmt: skip
                if new:
                    return str(min(new, key=lambda o: o.created_at).id)
            await asyncio.sleep(0.01)
        return "no-such-order"

    async def _reply(self, conn: ServerConnection, msg: dict[str, Any], how: str) -> bool:
        rid = msg.get("id")
        if how == "close":
            await conn.close(1011)
            return False
        if how == "silent":
            return True
        if how == "error":
            body: Any = {"jsonrpc": "2.0", "id": rid, "error": {"code": -32600, "message": "no"}}
        elif how == "nonsense":
            body = {"jsonrpc": "2.0", "id": rid, "result": [1, {"x": None}], "error": "??"}
        elif how == "wrong_channel":
            body = {"jsonrpc": "2.0", "id": rid, "result": {"channel": "bogus"}}
        elif msg.get("method") == "auth":
            body = {"jsonrpc": "2.0", "id": rid, "result": {"node_id": "hostile"}}
        else:
            channel = (msg.get("params") or {}).get("channel")
            body = {"jsonrpc": "2.0", "id": rid, "result": {"channel": channel}}
        await conn.send(json.dumps(body))
        return True

    async def _serve(self, conn: ServerConnection, script: Script) -> None:
        started = False
        async for raw in conn:
            msg = json.loads(raw)
            how = script.auth if msg.get("method") == "auth" else script.subscribe
            if not await self._reply(conn, msg, how):
                return
            if msg.get("method") == "subscribe" and not started:
                # the frames go out while later subscribes are answered (a task: replies
                # to them never wait on the frames)
                started = True
                self.tasks.add(asyncio.ensure_future(self._play(conn, script)))

    async def _play(self, conn: ServerConnection, script: Script) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._frames(conn, script)
            if script.end == "close":
                await conn.close(1011)

    async def _frames(self, conn: ServerConnection, script: Script) -> None:
        oid: str | None = None
        for frame in script.frames:
            if frame == CLOSE:
                await conn.close(1006 if len(script.frames) % 2 else 1000)
                return
            if isinstance(frame, str) and OID in frame:
                if oid is None:
                    oid = await self._order_id(script)
                frame = frame.replace(OID, oid)
            script.sent.append(frame)
            await conn.send(frame)

    def __enter__(self) -> HostileWs:
        self.thread.start()
        assert self.ready.wait(30)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.stopping is not None
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(30)
        self.loop.close()


@dataclass
class Live:
    ws: HostileWs
    work: Path
    address: str
    runs: int = 0

    def __call__(self, script: Script, *args: str) -> tuple[int, str, str]:
        from paradexctl.cli.main import main

        script.known = frozenset(self.ws.sim.sim.engine.orders)
        self.ws.script = script
        # stdout as a real one is: UTF-8, strict (a lone surrogate cannot be written)
        raw = io.BytesIO()
        out = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", write_through=True)
        err = io.StringIO()
        # a command that never returns fails the run loudly (tracebacks of every thread, exit
        # 1) instead of hanging the suite
        faulthandler.dump_traceback_later(RUN_DEADLINE_S, exit=True)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(list(args))
        finally:
            faulthandler.cancel_dump_traceback_later()
        out.flush()
        self.runs += 1
        return code, raw.getvalue().decode("utf-8"), err.getvalue()

    def __repr__(self) -> str:
        return "Live()"


@pytest.fixture(scope="module")
def live(sim_server: SimServer) -> Iterator[Live]:
    sim_server.admin.reset()
    acct = new_account(sim_server.http_url)
    with (
        tempfile.TemporaryDirectory() as tmp,
        pytest.MonkeyPatch.context() as mp,
        HostileWs(sim_server, acct.address) as ws,
    ):
        work = Path(tmp)
        mp.setenv("XDG_CONFIG_HOME", str(work / "config"))
        mp.setenv("XDG_CACHE_HOME", str(work / "cache"))
        mp.setenv("PARADEX_ENV", "local")
        mp.setenv("PARADEX_API_URL", sim_server.http_url)
        mp.setenv("PARADEX_WS_URL", f"ws://127.0.0.1:{ws.port}/v1")
        mp.setenv("PARADEX_ACCOUNT_ADDRESS", acct.address)
        mp.setenv("PARADEX_L2_PRIVATE_KEY", hex(acct.private_key))
        for var in ("PARADEXCTL_PROFILE", "PARADEX_SUBKEY", "PARADEX_KEY_COMMAND"):
            mp.delenv(var, raising=False)
        write_profile(work / "config", retry_base_ms=5, retry_attempts=2, ws_backoff_base_ms=5,
                      ws_backoff_cap_ms=20, ws_stable_after_s=0, ws_open_timeout_s=0.5,
                      ws_subscribe_timeout_s=0.5)  # fmt: skip
        yield Live(ws, work, acct.address)


# -- hostile frames -----------------------------------------------------------------------------

CHANNEL_NAMES = ["orders.ALL", "fills.ALL", "positions", "balance_events", "account",
                 "orders.BTC-USD-PERP", "bogus", "", "orders"]  # fmt: skip
WEIRD_STRINGS = ["", "abc", "-1", "-0", "0", "NaN", "nan", "Infinity", "-inf", "1e999", "1e-999",
                 "1" * 400, "0x10", " 1 ", "1_000", "\u0000", "\x1b[31mred", "\u202e", "\ud800",
                 "\udfff", "é", "\U0001f4a9", "OPEN", "CLOSED", "NEW", "UNTRIGGERED", "FILLED",
                 MARKET, "BUY", "SELL", OID]  # fmt: skip
leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([2**200, -(2**200), 10**400])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.sampled_from(WEIRD_STRINGS)
)
json_value = st.recursive(
    leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                  max_size=4),
    max_leaves=12,
)  # fmt: skip
ORDER_FIELDS = ["id", "account", "market", "side", "type", "size", "remaining_size", "price",
                "status", "client_id", "created_at", "last_updated_at", "seq_no", "cancel_reason",
                "avg_fill_price", "timestamp"]  # fmt: skip


def _good_order(oid: str, ts: int, status: str, remaining: str) -> dict[str, Any]:
    return {"id": oid, "account": "", "market": MARKET, "side": "BUY", "type": "LIMIT",
            "size": "0.010", "remaining_size": remaining, "price": "1000", "status": status,
            "client_id": "", "created_at": 1, "last_updated_at": ts, "seq_no": ts}  # fmt: skip


good_orders = st.builds(
    _good_order,
    st.sampled_from(["o1", "o2", OID]),
    st.integers(1, 10**13),
    st.sampled_from(["NEW", "OPEN", "CLOSED", "UNTRIGGERED"]),
    st.sampled_from(["0.010", "0", "0.005", "0.000"]),
)


@st.composite
def near_orders(draw: st.DrawFn) -> dict[str, Any]:
    """A good order with a few fields made wrong (or dropped)."""
    order: dict[str, Any] = draw(good_orders)
    for name in draw(st.lists(st.sampled_from(ORDER_FIELDS), max_size=3, unique=True)):
        if draw(st.booleans()):
            order.pop(name, None)
        else:
            order[name] = draw(json_value)
    return order


def _position(size: Any, ts: Any) -> dict[str, Any]:
    return {"market": MARKET, "side": "LONG", "size": size, "average_entry_price": "1000",
            "unrealized_pnl": "0", "last_updated_at": ts, "seq_no": ts}  # fmt: skip


def _fill(fid: Any, size: Any) -> dict[str, Any]:
    return {"id": fid, "order_id": "o1", "market": MARKET, "side": "BUY", "size": size,
            "price": "1000", "fee": "0.1", "liquidity": "TAKER", "created_at": 5}  # fmt: skip


payloads = st.one_of(
    good_orders,
    near_orders(),
    st.builds(_position, st.sampled_from(WEIRD_STRINGS) | json_value, st.integers(-5, 10**13)),
    st.builds(_fill, st.sampled_from(["f1", "f2", 7, None, ""]),
              st.sampled_from(WEIRD_STRINGS) | json_value),
    st.dictionaries(st.sampled_from(ORDER_FIELDS), json_value, max_size=6),
    json_value,
)  # fmt: skip


def _note(channel: Any, data: Any) -> str:
    return json.dumps({"jsonrpc": "2.0", "method": "subscription",
                       "params": {"channel": channel, "data": data}})  # fmt: skip


DEEP = _note("orders.ALL", None).replace("null", "[" * 50_000 + "]" * 50_000)
SPECIAL: list[str | bytes] = [
    "", "not json", "{", "[1, 2]", "null", "42", '"str"', "NaN", '{"a": Infinity}',
    '{"jsonrpc":"2.0","method":"subscription"}',
    '{"jsonrpc":"2.0","method":"subscription","params":null}',
    '{"jsonrpc":"2.0","method":"subscription","params":[1,2]}',
    '{"jsonrpc":"2.0","method":"subscription","params":{"channel":5,"data":{}}}',
    '{"jsonrpc":"2.0","method":"subscription","params":{"channel":"orders.ALL"}}',
    '{"jsonrpc":"2.0","method":"subscription","params":{"channel":["orders.ALL"],"data":{}}}',
    '{"jsonrpc":"2.0","method":"subscription","params":{"channel":"orders.ALL","data":1e999}}',
    '{"jsonrpc":"2.0","method":"heartbeat","params":{}}',
    '{"jsonrpc":"2.0","id":999,"result":{}}',
    '{"jsonrpc":"2.0","id":"x","error":{"code":"bad"}}',
    '{"jsonrpc":"2.0","id":null,"error":null}',
    '{"jsonrpc":"1.0","method":5}',
    '{"method":"subscription","params":{"channel":"orders.ALL","data":{"id":"\\ud800"}}}',
    DEEP,
    _note("orders.ALL", {"id": "big", "x": "y" * 200_000}),
    "x" * (2 << 20),  # 2 MiB: over the 1 MiB limit
    b"\xff\xfe binary",
    json.dumps({"jsonrpc": "2.0", "method": "subscription",
                "params": {"channel": "orders.ALL", "data": [{"id": "o1"}] * 100}}),
    CLOSE,
]  # fmt: skip


@st.composite
def frames(draw: st.DrawFn) -> list[str | bytes]:
    out: list[str | bytes] = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.integers(0, 9))
        if kind == 0:
            out.append(draw(st.sampled_from(SPECIAL)))
        elif kind == 1 and out:  # a duplicate of an earlier frame
            out.append(draw(st.sampled_from(out)))
        elif kind == 2:
            out.append(_note(draw(st.sampled_from(CHANNEL_NAMES) | json_value), draw(payloads)))
        else:
            out.append(_note(draw(st.sampled_from(CHANNEL_NAMES[:5])), draw(payloads)))
    if draw(st.integers(0, 5)) == 0 and len(out) > 1:  # out of order
        out.reverse()
    return out


@st.composite
def scripts(draw: st.DrawFn) -> Script:
    hostile_handshake = draw(st.integers(0, 7)) == 0
    return Script(
        auth=draw(st.sampled_from(["error", "nonsense", "close", "silent"]))
        if hostile_handshake else "ok",
        subscribe=draw(st.sampled_from(["ok", "error", "nonsense", "wrong_channel", "close"]))
        if hostile_handshake or draw(st.integers(0, 7)) == 0 else "ok",
        frames=draw(frames()),
        end=draw(st.sampled_from(["hold", "hold", "close"])),
    )  # fmt: skip


# -- the checks ---------------------------------------------------------------------------------


def _check_exit(code: int, err: str) -> None:
    assert code in EXIT_CODES and code != 70, (code, err)
    assert "Traceback" not in err, err


def _strict(text: str | bytes) -> Any:
    """JSON as RFC 8259 has it (no NaN/Infinity); numbers with a fraction or an exponent
    as the strings paradexctl prints them (Decimals as strings)."""

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_float=lambda t: str(Decimal(t)), parse_constant=constant)


def _sent_payloads(script: Script, channel: str | None = None) -> list[Any]:
    """The ``data`` of every notification (on ``channel``) the server sent that parses."""
    out = []
    for frame in script.sent:
        try:
            msg = _strict(frame)
        except (ValueError, RecursionError):
            continue
        params = msg.get("params") if isinstance(msg, dict) else None
        if isinstance(params, dict) and channel in (None, params.get("channel")):
            out.append(params.get("data"))
    return out


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


STREAM_MIXES = [["orders"], ["orders", "fills"], ["positions", "balances", "account"], []]


@FUZZ
@given(
    script=scripts(),
    channels=st.sampled_from(STREAM_MIXES),
    merged=st.booleans(),
    explain=st.booleans(),
    record=st.booleans(),
)
def test_stream_under_hostile_frames(
    live: Live, script: Script, channels: list[str], merged: bool, explain: bool, record: bool
) -> None:
    rec = live.work / f"rec-{live.runs}.ndjson"
    args = ["-o", "ndjson", "stream", *channels, "--duration", "0.3", "--max-reconnects", "1"]
    args += ["--merged"] * merged + ["--explain"] * explain + ["--record", str(rec)] * record
    code, out, err = live(script, *args)
    _check_exit(code, err)
    sent = _sent_payloads(script)
    for line in out.splitlines():
        obj = _strict(line)  # every line is JSON
        if obj.get("type") == "update" and obj.get("source") == "ws":
            assert any(_same(obj["data"], d) for d in sent), (obj, sent)
    if record and rec.exists():
        from paradexctl.core.recording import read_records

        read_records(rec.read_text().splitlines())


def _ws_side_supported(row: dict[str, Any], sent: list[Any]) -> bool:
    """A report row's WebSocket side is a frame's: an order row's WS value is (fields of) a
    payload sent on an orders channel, field by field, for that order id (an unreadable
    row's key may not be one)."""
    ws = row.get("ws")
    if ws is None or ws.get("value") is None or row["entity"] != "orders":
        return True
    value = ws["value"]
    if not isinstance(value, dict):  # an unreadable payload, shown as it came
        return any(_same(value, d) for d in sent)
    return any(
        isinstance(d, dict) and (row["kind"] == "unreadable" or str(d.get("id")) == row["key"])
        and all(_same(d[k], v) or str(d[k]) == str(v) for k, v in value.items() if k in d)
        for d in sent
    )  # fmt: skip


@FUZZ
@given(script=scripts(), entities=st.sampled_from(["orders", "orders,positions,balances,fills"]))
def test_reconcile_under_hostile_frames(live: Live, script: Script, entities: str) -> None:
    code, out, err = live(script, "-o", "json", "reconcile", "--entities", entities,
                          "--window", "0.2", "--grace", "0.05")  # fmt: skip
    _check_exit(code, err)
    # consistent, a mismatch, the feed failed, or the WebSocket refused auth/subscribe
    refused = bool({"error", "nonsense"} & {script.auth, script.subscribe})
    assert code in (0, 1, 5) or (code == 4 and refused), (code, err)
    if code in (4, 5):
        assert out == "", out  # no report: nothing claimed
        return
    report = _strict(out)
    assert report["exit_status"] == code, report
    sent = [d for frame in script.sent for d in _sent_orders(frame)]
    for row in report["rows"]:
        assert _ws_side_supported(row, sent), (row, sent)


def _sent_orders(frame: str | bytes) -> list[Any]:
    try:
        msg = _strict(frame)
    except (ValueError, RecursionError):
        return []
    params = msg.get("params") if isinstance(msg, dict) else None
    channel = params.get("channel") if isinstance(params, dict) else None
    if isinstance(channel, str) and channel.startswith("orders"):
        return [params.get("data")]
    return []


def _wait_frames(draw: st.DrawFn) -> list[str | bytes]:
    """Frames about the order placed ($OID), good and hostile, among other hostile ones."""
    about: list[str | bytes] = [
        _note("orders.ALL", draw(good_orders | near_orders()))
        for _ in range(draw(st.integers(0, 3)))
    ]
    mixed = about + draw(frames())
    return draw(st.permutations(mixed)) if mixed else mixed


@st.composite
def wait_scripts(draw: st.DrawFn) -> Script:
    script = draw(scripts())
    script.frames = _wait_frames(draw)
    return script


def _claims(script: Script, oid: str) -> list[dict[str, Any]]:
    """The readable orders.ALL payloads the server sent for the order ``oid``."""
    return [d for d in _sent_payloads(script) if isinstance(d, dict) and d.get("id") == oid]


@FUZZ
@given(script=wait_scripts(), target=st.sampled_from(["open", "filled"]))
def test_order_place_wait_under_hostile_frames(live: Live, script: Script, target: str) -> None:
    from paradexctl.paradex.orders import is_filled, target_reached

    script.client_id, script.places = f"fz{live.runs}", True
    code, out, err = live(script, "-o", "json", "order", "place", MARKET, "buy", "0.010",
                          "--price", "1000", "--client-id", script.client_id, "--wait", target,
                          "--timeout", "0.6")  # fmt: skip
    _check_exit(code, err)
    exchange = live.ws.sim.sim.engine.find_by_client_id(live.address, script.client_id)
    oid = str(exchange.id)
    claims = _claims(script, oid)
    # the order rests on the exchange (far below the mark): REST says OPEN, never filled
    if code == 0:
        shown = _strict(out)
        order = shown.get("order", shown)
        assert order.get("id") == oid, shown
        if target == "filled":  # only a frame for this order can have said so
            assert is_filled(order), shown
            assert any(_same(order, c) for c in claims), (shown, claims)
        else:
            assert target_reached(order, "open") is True, shown
    elif code == 4:  # rejected after being acknowledged / closed: only a frame said CLOSED
        assert any(c.get("status") == "CLOSED" for c in claims), (err, claims)
    else:
        assert code in (5,), (code, err)  # timed out (the REST state is OPEN)
    if target == "filled" and not any(is_filled(c) for c in claims if isinstance(c, dict)):
        assert code != 0, (out, claims)


def test_stream_never_prints_nan_or_infinity_from_a_frame(live: Live) -> None:
    """A frame holding the JavaScript constants NaN/Infinity (not JSON) was a notification,
    its text kept and printed: a stdout line no JSON parser reads. It is an invalid frame."""
    frames: list[str | bytes] = [_note("orders.ALL", {"id": "n1"}).replace('"n1"', "NaN"),
                                 '{"jsonrpc":"2.0","method":"subscription","params":'
                                 '{"channel":"orders.ALL","data":{"a":Infinity}}}']  # fmt: skip
    code, out, err = live(Script(frames=frames), "-o", "ndjson", "stream", "orders",
                          "--duration", "0.3")  # fmt: skip
    assert code == 0, err
    lines = [_strict(ln) for ln in out.splitlines()]
    assert [ln for ln in lines if ln["type"] == "update"] == []


SMOKE_CHANNEL = f"orders.{MARKET}"  # the one orders channel smoke subscribes to


def _smoke_frames(draw: st.DrawFn) -> list[str | bytes]:
    """Frames about the order smoke places ($OID): OPEN and CLOSED ones among hostile ones."""
    about: list[str | bytes] = [
        _note(draw(st.sampled_from([SMOKE_CHANNEL, SMOKE_CHANNEL, "orders.ALL"])),
              draw(good_orders.map(lambda o: {**o, "id": OID}) | near_orders()))
        for _ in range(draw(st.integers(0, 3)))
    ]  # fmt: skip
    mixed = about + draw(frames())
    return draw(st.permutations(mixed)) if mixed else mixed


@st.composite
def smoke_scripts(draw: st.DrawFn) -> Script:
    script = draw(scripts())
    script.frames, script.places = _smoke_frames(draw), True
    return script


@FUZZ
@given(script=smoke_scripts())
def test_smoke_under_hostile_frames(live: Live, script: Script) -> None:
    """``smoke``: a passed run only when frames for its very order said it was open and then
    closed; its WebSocket step passes only on an OPEN frame for that order on the channel it
    subscribed; whatever the frames, the order it placed is cancelled at the end (nothing of
    it rests on the exchange) and the cleanup step says so."""
    code, out, err = live(script, "-o", "json", "smoke", "--timeout", "0.6", "--window", "0.2",
                          "--grace", "0.05")  # fmt: skip
    _check_exit(code, err)
    assert code in (0, 1), (code, err)
    report = _strict(out)
    steps = {step["step"]: step["status"] for step in report["steps"]}
    assert steps["cleanup"] == "passed", report
    engine = live.ws.sim.sim.engine
    placed = [o for o in list(engine.orders.values())
              if o.account == live.address and o.id not in script.known]  # fmt: skip
    assert all(o.status == "CLOSED" for o in placed), [(o.id, o.status) for o in placed]
    if steps["ws_ack"] == "passed":  # only a frame on its channel for its order said OPEN
        (order,) = placed
        said = [d for d in _sent_payloads(script, SMOKE_CHANNEL)
                if isinstance(d, dict) and d.get("id") == str(order.id)]  # fmt: skip
        assert any(d.get("status") == "OPEN" for d in said), (report, said)
    if code == 0:
        (order,) = placed
        claims = _claims(script, str(order.id))
        assert any(c.get("status") == "CLOSED" for c in claims), (report, claims)
        assert any(c.get("status") in ("NEW", "OPEN") for c in claims), (report, claims)
