"""``paradexctl stream`` through the real CLI: bad frames counted (``-v``) and never fatal,
and a fresh JWT across a real reconnect after the old one expired on the exchange."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import default_sigint, write_profile
from ndjson_lines import Lines

from paradexctl.sim.server import SimServer
from paradexctl.sim.testing import SimAccount, new_account

MARKET = "BTC-USD-PERP"


def _env(http_url: str, ws_url: str, acct: SimAccount, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PARADEX", "XDG_"))}
    env.pop("PYTHONTRACEMALLOC", None)
    env.update(
        XDG_CONFIG_HOME=str(tmp / "config"),
        XDG_CACHE_HOME=str(tmp / "cache"),
        PARADEX_ENV="local",
        PARADEX_API_URL=http_url,
        PARADEX_WS_URL=ws_url,
        PARADEX_ACCOUNT_ADDRESS=acct.address,
        PARADEX_L2_PRIVATE_KEY=hex(acct.private_key),
        PYTHONUNBUFFERED="1",
    )
    write_profile(tmp / "config", ws_backoff_base_ms=20, ws_backoff_cap_ms=100,
                  ws_stable_after_s=0)  # fmt: skip
    return env


def _order(oid: str, ts: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": oid, "market": MARKET, "side": "BUY", "type": "LIMIT", "size": "0.01",
        "remaining_size": "0.01", "price": "1000", "status": "OPEN", "last_updated_at": ts,
        "seq_no": ts, "client_id": "", **extra,
    }  # fmt: skip


def _notification(data: Any, channel: str = "orders.ALL") -> str:
    return json.dumps(
        {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}},
        separators=(",", ":"),
    )


class _Scripted:
    """A Paradex-shaped WebSocket (in a thread): answers auth and every subscribe, then sends
    ``frames`` in order and stays open until the client leaves."""

    def __init__(self, frames: list[str]) -> None:
        from websockets.sync.server import serve

        self.frames = frames
        self.sent = threading.Event()
        self.server = serve(self._handler, "127.0.0.1", 0, compression=None)
        self.url = f"ws://127.0.0.1:{self.server.socket.getsockname()[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _handler(self, conn: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        with contextlib.suppress(ConnectionClosed):
            pending_subs = None
            while pending_subs != 0:
                msg = json.loads(conn.recv())
                if msg["method"] == "auth":
                    result: dict[str, Any] = {"node_id": "scripted"}
                else:
                    result = {"channel": msg["params"]["channel"]}
                    pending_subs = (pending_subs or 1) - 1
                conn.send(json.dumps({"jsonrpc": "2.0", "result": result, "id": msg["id"]}))
            for frame in self.frames:
                conn.send(frame)
            self.sent.set()
            conn.recv()  # until the client leaves

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


# --- bad frames: counted, traced with -v, never fatal ----------------------------------------


def _counters(stderr: str) -> tuple[dict[str, int], dict[str, int]]:
    """The ``-v`` counters line printed at exit: ``stream: counters {"pump":…,"ws":…}``."""
    (line,) = [ln for ln in stderr.splitlines() if ln.startswith("stream: counters ")]
    counters = json.loads(line.removeprefix("stream: counters "))
    return counters["pump"], counters["ws"]


BAD_FRAMES = [
    "this is {not json",  # invalid: not JSON
    "[1, 2, 3]",  # invalid: not a JSON object
    '{"jsonrpc":"2.0","method":"heartbeat","params":{"n":1}}',  # unknown method
    '{"jsonrpc":"2.0","id":999,"result":{}}',  # unknown: a reply to no request of ours
    _notification(_order("101", 1000)),  # valid
    _notification({"id": "102", "status": "WEIRD"}),  # malformed payload
    _notification(_order("104", 1000), channel="bogus.ALL"),  # a channel never subscribed
    _notification(_order("103", 1001)),  # valid, after all of them
]


@pytest.mark.e2e
def test_cli_counts_bad_frames_reports_them_with_v_and_keeps_streaming(
    sim: SimServer, tmp_path: Path
) -> None:
    acct = new_account(sim.http_url)
    runs = {}
    for verbose in (True, False):
        server = _Scripted(BAD_FRAMES)
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "paradexctl", *(["-v"] if verbose else []), "stream",
                 "orders", "--count", "3", "-o", "ndjson"],
                env=_env(sim.http_url, server.url, acct, tmp_path), capture_output=True,
                text=True, timeout=60,
            )  # fmt: skip
        finally:
            server.close()
        assert proc.returncode == 0, proc.stderr
        runs[verbose] = proc

    for proc in runs.values():
        lines = [json.loads(x) for x in proc.stdout.splitlines()]
        assert [ln["type"] for ln in lines[:2]] == ["connected", "subscribed"]
        updates = [ln for ln in lines if ln["type"] == "update"]
        # both valid orders, and the malformed one as received (no kind: nothing applied);
        # the frame of a channel never subscribed is not an update of this stream
        assert [u["data"]["id"] for u in updates] == ["101", "102", "103"]
        assert [u.get("kind") for u in updates] == ["order", None, "order"]
        assert {u["channel"] for u in updates} == {"orders"}
        assert updates[2]["data"] == _order("103", 1001)

    quiet = runs[False].stderr
    assert quiet == ""  # counted silently without -v
    # with -o ndjson every stderr line is a JSON object with a type (issue 17, item 7)
    traces = [json.loads(x) for x in runs[True].stderr.splitlines()]
    assert {t["type"] for t in traces} == {"trace"}
    err = "\n".join(t["message"] for t in traces)
    assert "Traceback" not in err
    assert "ws< invalid frame (not JSON: Expecting value: line 1 column 1 (char 0)): " \
        "this is {not json" in err  # fmt: skip
    assert "ws< invalid frame (not a JSON object): [1, 2, 3]" in err
    assert 'ws< unknown frame: {"jsonrpc": "2.0", "method": "heartbeat"' in err
    assert 'ws< unknown frame: {"jsonrpc": "2.0", "id": 999, "result": {}}' in err
    assert "ws< malformed orders.ALL payload: order: field 'status' must be one of" in err
    assert "ws< notification on a channel not subscribed: bogus.ALL" in err
    pump, ws = _counters(err)
    assert ws["invalid"] == 2 and ws["unknown"] == 2 and ws["notifications"] == 4
    assert ws["connections"] == 1 and ws["reconnects"] == 0  # never fatal, not even a reconnect
    assert pump["frames"] == 4 and pump["malformed"] == 1 and pump["unknown_channel"] == 1
    assert pump["accepted"] == 2


def test_a_notification_on_a_channel_not_subscribed_is_counted_not_applied() -> None:
    """Paradex names the subscribed channel in every notification (``paradex-api.md``):
    a frame of another channel, even one the state manager could read, is not data of this
    stream: not applied, not emitted, not recorded, in every mode."""
    import io

    from live_pump import Pump

    from paradexctl.core.recording import WsFrame, read_records
    from paradexctl.paradex.recordfile import RecordingWriter
    from paradexctl.paradex.ws import Notification

    position = {"market": MARKET, "size": "1", "last_updated_at": 5, "seq_no": 5}
    for merged in (False, True):
        lines: list[dict[str, Any]] = []
        traced: list[str] = []
        buf = io.BytesIO()
        record = RecordingWriter(buf, "memory")
        pump = Pump(
            "ws://unused", rest=None, jwt=None, emit=lines.append, channels=("orders",),
            merged=merged, explain=True, record=record, trace=traced.append,
        )  # fmt: skip
        pump.apply([Notification("positions", position, 10)])
        pump.apply([Notification("orders.ETH-USD-PERP", _order("7", 5), 11)])
        pump.apply([Notification("orders.ALL", _order("8", 5), 12)])
        assert [ln["key"] for ln in lines] == ["8"]
        assert pump.state.positions == {} and set(pump.state.orders) == {"8"}
        record.flush()
        recorded = read_records(buf.getvalue().decode().splitlines())
        frames = [r for r in recorded if type(r) is WsFrame]
        assert [r.channel for r in frames] == ["orders.ALL"]
        assert pump.stats["unknown_channel"] == 2 and pump.stats["frames"] == 3
        assert traced == [
            "ws< notification on a channel not subscribed: positions",
            "ws< notification on a channel not subscribed: orders.ETH-USD-PERP",
        ]


# --- a fresh JWT across a real reconnect -----------------------------------------------------


def _cached_jwt(cache: Path) -> tuple[str, int]:
    """The JWT in paradexctl's cache and its ``exp``."""
    from paradexctl.paradex.auth import jwt_expiry

    (path,) = cache.rglob("jwt-*.json")
    token = json.loads(path.read_text())["jwt"]
    exp = jwt_expiry(token)
    assert exp is not None
    return token, exp


@pytest.mark.e2e
@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("lifetime_s", "advance_s", "refused"),
    [
        # within a minute of its expiry on our clock: renewed before it is used again
        (62, 70, False),
        # still fresh on our clock, expired on the exchange's: refused once, then renewed
        (120, 130, True),
    ],
    ids=["renewed-near-expiry", "renewed-after-refusal"],
)
def test_cli_stream_reconnects_with_a_fresh_jwt_after_the_old_one_expired(
    tmp_path: Path, lifetime_s: int, advance_s: int, refused: bool
) -> None:
    import time

    import httpx

    from paradexctl.sim.app import SimOptions
    from paradexctl.sim.testing import login, order_body

    opts = SimOptions(seed=3, mark_walk_ms=0, warm_tables=None, jwt_lifetime_s=lifetime_s)
    with SimServer(opts) as sim:
        acct = new_account(sim.http_url)
        env = _env(sim.http_url, sim.ws_url, acct, tmp_path)
        proc = subprocess.Popen(
            [sys.executable, "-m", "paradexctl", "-v", "stream", "orders", "-o", "ndjson",
             "--stale-after", "30"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint,
        )  # fmt: skip
        out = Lines(proc)
        try:
            first = out.first(lambda ln: ln["type"] == "resynced", "first resync", 60.0)[-1]
            assert "failed" not in first
            old_jwt, old_exp = _cached_jwt(tmp_path / "cache")
            if not refused:
                # our clock reaches the renewal margin (exp - 60 s) of the first token
                time.sleep(max(old_exp - 60 - time.time(), 0) + 0.2)
            sim.admin.advance_time(advance_s * 1000)  # the first token is now expired
            assert sim.admin.disconnect() == 1
            sub = out.first(
                lambda ln: ln["type"] == "subscribed" and ln["attempt"] > 0, "resubscription", 60.0
            )[-1]
            assert sub["channels"] == ["orders.ALL"]
            again = out.first(lambda ln: ln["type"] == "resynced", "resync after reconnect", 60.0)[
                -1
            ]
            assert "failed" not in again, again
            new_jwt, new_exp = _cached_jwt(tmp_path / "cache")
            assert new_jwt != old_jwt
            assert new_exp >= old_exp + advance_s  # issued at the exchange's advanced time
            # the stream keeps delivering: an order placed now shows up
            with httpx.Client(base_url=sim.http_url, timeout=10) as http:
                token = login(sim.http_url, acct)
                r = http.post(
                    "/orders", json=order_body(acct, MARKET, "BUY", "0.01", "1000"),
                    headers={"Authorization": f"Bearer {token}"},
                )  # fmt: skip
                assert r.status_code == 201, r.text
                oid = r.json()["id"]
            upd = out.first(
                lambda ln: ln["type"] == "update" and ln["key"] == oid,
                "the new order's update",
                60.0,
            )[-1]
            assert upd["channel"] == "orders" and upd["source"] == "ws"
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            err = proc.stderr.read() if proc.stderr else ""
            for f in (proc.stdout, proc.stderr):
                if f is not None:
                    f.close()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert old_jwt not in err and new_jwt not in err  # -v never shows a token
    assert not any(old_jwt in json.dumps(ln) or new_jwt in json.dumps(ln) for ln in out.seen)

    # lifecycle: the forced disconnect, then (when refused) one failed auth, then back
    gone = [ln["reason"] for ln in out.seen if ln["type"] == "disconnected"]
    assert gone[0] == "connection closed (code 1012)"
    refusals = [r for r in gone if "40111" in r]
    assert len(refusals) == (1 if refused else 0), gone
    assert len(gone) == 1 + len(refusals)
    assert sub["attempt"] == len(gone)

    # the -v trace, one block per connection: which token each `auth` used
    blocks = err.split("ws> connect ")[1:]
    assert len(blocks) == len(gone) + 1
    logins = [b.count("> POST ") for b in blocks]  # POST /auth: a new JWT from the exchange
    assert all("/auth/0x" in ln for b in blocks for ln in b.splitlines() if "> POST " in ln)
    assert all("ws> {auth id=1 bearer=***}" in b for b in blocks)
    ok = blocks[-1]
    assert ok.index("> POST ") < ok.index("ws> {auth")  # renewed before this auth
    if refused:
        # the token still fresh on our clock was tried first, refused, then renewed
        assert logins == [1, 0, 1]
    else:
        # renewed because it was within a minute of its expiry: no refusal needed
        assert logins == [1, 1]
