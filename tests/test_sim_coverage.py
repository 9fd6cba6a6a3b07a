"""The sim's coverage of the official SDK's API surface: every REST endpoint and WebSocket
channel of paradex-py 0.8.2 (``tests/data/sdk_surface.json``, checked in so that no SDK is
needed) is either served (the route table, :func:`paradexctl.sim.app.served`) or listed as not
served with a reason (:mod:`paradexctl.sim.coverage`), never both; and docs/sim.md's list is
the generated one."""

from __future__ import annotations

import json
import re
from pathlib import Path

from paradexctl.sim.app import served
from paradexctl.sim.coverage import NOT_SERVED, WS_CHANNELS, WS_METHODS

DATA = Path(__file__).parent / "data" / "sdk_surface.json"


def _shape(path: str) -> str:
    """A path with its parameters' names erased (``/orders/{order_id}`` → ``/orders/{}``)."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def sdk() -> dict[str, list]:  # type: ignore[type-arg]
    return json.loads(DATA.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_the_checked_in_sdk_surface_is_68_endpoints_and_17_channels() -> None:
    data = sdk()
    assert len({(m, p) for m, p in data["rest"]}) == len(data["rest"]) == 68
    assert len(set(data["ws_channels"])) == len(data["ws_channels"]) == 17


def test_every_sdk_endpoint_is_served_or_listed_as_not_served_never_both() -> None:
    rest = {(m, _shape(p)) for m, p in sdk()["rest"]}
    on = {(m, _shape(p)) for m, p, cat in served() if cat not in ("ws", "admin")}
    off = {(m, _shape(p)) for m, p, _why in NOT_SERVED}
    assert len(off) == len(NOT_SERVED)
    assert not on & off, "listed as not served but served"
    assert rest - on - off == set(), "SDK endpoints neither served nor listed"
    assert off - rest == set(), "not-served entries the SDK does not call"
    assert len(rest & on) == 40
    assert all(why.startswith(("not yet", "out of scope")) for _m, _p, why in NOT_SERVED)


def test_every_sdk_channel_is_in_the_channel_table() -> None:
    assert sorted(c for c, _on, _note in WS_CHANNELS) == sorted(sdk()["ws_channels"])
    assert sum(on for _c, on, _note in WS_CHANNELS) == 7


def test_served_channels_are_the_ones_the_websocket_accepts() -> None:
    from paradexctl.sim.app import SimApp

    app = SimApp()
    for channel, on, _note in WS_CHANNELS:
        name = channel.replace("{market}", "BTC-USD-PERP")
        name = re.sub(r"\{[^}]*\}", "x", name)
        assert app._channel_ok(name)[0] is on, channel
        if "{market}" in channel and on:
            assert app._channel_ok(channel.replace("{market}", "ALL"))[0]
    assert "order.cancel_on_disconnect" in WS_METHODS


def test_docs_sim_md_lists_the_generated_coverage() -> None:
    text = (Path(__file__).parents[1] / "docs" / "sim.md").read_text(encoding="utf-8")
    for method, path, _why in NOT_SERVED:
        assert f"`{method} {path}`" in text
    for method, path, cat in served():
        if cat not in ("ws", "admin"):
            assert f"`{method} {path}`" in text
