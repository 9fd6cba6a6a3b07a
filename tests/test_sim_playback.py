"""``sim --playback``: a live ``reconcile --record`` and ``stream --record`` against the sim,
played back by a playback sim (``paradexctl.sim.playback``), give the same outputs to the same
commands run against the playback (docs/sim.md, "Playback").

Normalised before comparing (they must differ between two runs): wall-clock times the client
takes itself (keys ending ``_at`` outside the exchange's payloads, see :func:`normalise`), and
nothing else.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import write_profile

from paradexctl.cli.main import main
from paradexctl.sim.app import SimOptions
from paradexctl.sim.playback import Recording
from paradexctl.sim.server import SimServer
from paradexctl.sim.testing import login, new_account, order_body

pytestmark = pytest.mark.e2e

BTC = "BTC-USD-PERP"
#: keys whose values the client takes from its own wall clock
WALL_KEYS = frozenset({"boundary_at", "received_at", "rest_lookup_at", "started_at",
                       "snapshot1_boundary_at", "snapshot2_boundary_at", "since", "at",
                       "window_start_at", "window_end_at", "end_at", "generated_at", "ts",
                       "url", "node_id"})  # fmt: skip
# ``url`` (the port) and ``node_id`` (``paradexctl-sim-playback``) name the server played to


def normalise(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("<wall>" if k in WALL_KEYS else normalise(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


def cli(capsys: Any, *args: str, on_mark: Any = None) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args), on_mark=on_mark)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def point_at(monkeypatch: pytest.MonkeyPatch, server: SimServer) -> None:
    """Point the CLI at ``server`` with a key of its own (onboarded there)."""
    acct = new_account(server.http_url)
    monkeypatch.setenv("PARADEX_API_URL", server.http_url)
    monkeypatch.setenv("PARADEX_WS_URL", server.ws_url)
    monkeypatch.setenv("PARADEX_L2_PRIVATE_KEY", hex(acct.private_key))
    monkeypatch.delenv("PARADEX_ACCOUNT_ADDRESS", raising=False)


@pytest.fixture
def live(sim, sim_cli_env) -> Any:
    write_profile(Path(os.environ["XDG_CONFIG_HOME"]), ws_backoff_base_ms=20)
    acct = new_account(sim.http_url)
    jwt = login(sim.http_url, acct)
    http = httpx.Client(base_url=sim.http_url, headers={"Authorization": f"Bearer {jwt}"},
                        timeout=10)  # fmt: skip

    def place(side: str, price: str) -> None:
        r = http.post("/orders", json=order_body(acct, BTC, side, "0.010", price))
        assert r.status_code == 201, r.text

    place("BUY", "30000")
    place("SELL", "90000")  # crosses the book: a fill and a position
    sim_cli_env.setenv("PARADEX_L2_PRIVATE_KEY", hex(acct.private_key))
    yield sim_cli_env, place
    http.close()


def test_reconcile_against_playback_equals_live(live, sim, capsys, tmp_path):
    env, place = live
    rec = tmp_path / "live.ndjson"
    args = ("-o", "json", "reconcile", "--window", "0.6", "--grace", "0.3")

    def trade(mark: str) -> None:  # WS traffic inside the window
        if mark == "window_start":
            place("BUY", "31000")
            place("SELL", "90000")

    code, out, err = cli(capsys, *args, "--record", str(rec), on_mark=trade)
    assert code in (0, 1), err
    assert oct(rec.stat().st_mode & 0o777) == "0o600"
    recording = Recording.load(rec)
    assert recording.answers and recording.frames  # REST answers and WS frames to play
    with SimServer(SimOptions(seed=2, mark_walk_ms=0, warm_tables=None),
                   playback=recording, speed=1.0) as play:  # fmt: skip
        point_at(env, play)
        code2, out2, err2 = cli(capsys, *args)
        assert play.playback is not None and play.playback.frames_sent == len(recording.frames)
    assert code2 == code, err2
    assert normalise(json.loads(out2)) == normalise(json.loads(out))


def test_stream_against_playback_equals_live(live, sim, capsys, tmp_path):
    env, place = live
    rec = tmp_path / "stream.ndjson"
    args = ("-o", "ndjson", "stream", "--duration", "2")

    def trade() -> None:  # WS traffic to record
        deadline = time.monotonic() + 20
        # after the stream's first resync (its mark is in the recording): the frames then
        # follow every REST answer, in the live run and, by the playback's order, in the replay
        while not (rec.exists() and '"name":"resynced"' in rec.read_text()):
            assert time.monotonic() < deadline, "the stream never resynced"
            time.sleep(0.01)
        place("BUY", "31000")
        place("SELL", "90000")

    trader = threading.Thread(target=trade)
    trader.start()
    try:
        code, out, err = cli(capsys, *args, "--record", str(rec))
    finally:
        trader.join(30)
    assert code == 0, err
    recording = Recording.load(rec)
    with SimServer(SimOptions(seed=3, mark_walk_ms=0, warm_tables=None),
                   playback=recording, speed=1) as play:  # fmt: skip
        point_at(env, play)
        code2, out2, err2 = cli(capsys, *args)
    assert code2 == 0, err2
    lines = [normalise(json.loads(x)) for x in out.splitlines()]
    lines2 = [normalise(json.loads(x)) for x in out2.splitlines()]
    assert lines2 == lines
    assert sum(1 for x in lines if x.get("kind") == "order") >= 2, lines  # the traded orders


def test_playback_needs_a_valid_looking_jwt(tmp_path):
    rec = tmp_path / "r.ndjson"
    rec.write_text('{"v":1,"type":"rest","endpoint":"positions","boundary_at":1,'
                   '"received_at":2,"data":{"results":[{"market":"BTC-USD-PERP","size":"1.5"}]}}\n')  # fmt: skip
    with SimServer(SimOptions(seed=1, mark_walk_ms=0, warm_tables=None),
                   playback=Recording.load(rec), speed=0) as play:  # fmt: skip
        assert play.http.get("/positions").status_code == 401
        r = play.http.get("/positions", headers={"Authorization": "Bearer a.b.c"})
        assert r.status_code == 200
        assert r.json() == {"results": [{"market": "BTC-USD-PERP", "size": "1.5"}]}
        assert play.http.get("/system/config").status_code == 200  # the sim behind answers


def test_rest_answer_is_the_nearest_earlier_and_never_goes_back():
    lines = [
        '{"v":1,"type":"rest","endpoint":"orders","boundary_at":100,"received_at":101,'
        '"data":{"results":[{"id":"a"}]}}',
        '{"v":1,"type":"rest","endpoint":"orders","boundary_at":200,"received_at":201,'
        '"data":{"results":[]}}',
        '{"v":1,"type":"rest","endpoint":"fills","boundary_at":100,"received_at":101,'
        '"params":{"start_at":5},"data":{"results":[]}}',
    ]
    rec = Recording.from_lines(lines)
    first = rec.answer("orders", {}, 150)
    assert first is not None and first.boundary_at == 100  # nearest earlier
    second = rec.answer("orders", {}, 150)  # the client is faster than the recording
    assert second is not None and second.boundary_at == 200
    assert rec.answer("orders", {"market": "BTC-USD-PERP"}, 300) is None  # other params
    assert rec.answer("fills", {"start_at": 999}, 0) is not None  # time params ignored


def test_an_unreadable_recording_is_exit_2(capsys, tmp_path):
    bad = tmp_path / "bad.ndjson"
    bad.write_text("{not json\n")
    for path in (bad, tmp_path / "missing.ndjson"):
        code, _out, err = cli(capsys, "sim", "--port", "0", "--playback", str(path))
        assert code == 2, err
        assert "--playback" in err and "Traceback" not in err
