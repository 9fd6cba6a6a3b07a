"""The one table of faults (``paradexctl.sim.faults.FAULTS``) and what follows from it: the
``Faults`` config, the ``sim`` command's flags, the admin API's keys, the docs; and the one
route table the app serves."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import httpx
import typer
from typer.main import get_command

from paradexctl.cli import sim as sim_cli
from paradexctl.sim.app import ROUTE_TABLES, SimOptions, create_app, served
from paradexctl.sim.faults import FAULTS, FaultConfig, Faults

DOCS = Path(__file__).resolve().parent.parent / "docs" / "sim.md"


def _sim_options() -> dict[str, Any]:
    """The ``sim`` command's options by their long flag."""
    app = typer.Typer()
    sim_cli.register(app)
    cmd = get_command(app)
    return {o: p for p in cmd.params for o in p.opts if o.startswith("--")}


def test_fault_config_has_the_table_fields_types_and_defaults() -> None:
    declared = [(f.name, f.type, f.default) for f in dataclasses.fields(FaultConfig)]
    assert declared == [(s.name, s.type.__name__, s.default) for s in FAULTS]
    assert dataclasses.asdict(FaultConfig()) == {s.name: s.default for s in FAULTS}


def test_every_flagged_fault_is_a_sim_option_with_its_metavar_help_and_default() -> None:
    options = _sim_options()
    for spec in FAULTS:
        if spec.flag is None:
            continue
        opt = options[spec.flag]
        assert opt.name == spec.name  # the value reaches FaultConfig under the fault's name
        assert opt.default == spec.default and opt.help == spec.flag_help
        assert opt.metavar == spec.metavar
    # and no fault flag exists outside the table: the fault options are exactly the table's
    fault_flags = {o for o, p in options.items() if p.name in {s.name for s in FAULTS}}
    assert fault_flags == {s.flag for s in FAULTS if s.flag is not None}
    # the CLI-only faults are the run-time ones (documented as such)
    assert {s.name for s in FAULTS if s.flag is None} == {"ws_silence_s", "ws_mutate_orders"}


def test_a_fault_flag_reaches_the_fault_config(monkeypatch: Any) -> None:
    seen: list[SimOptions] = []

    def fake_serve(options: SimOptions, host: str, port: int, on_ready: Any) -> None:
        seen.append(options)

    monkeypatch.setattr("paradexctl.sim.server.serve", fake_serve)
    from paradexctl.cli.main import main

    args = ["--rest-5xx", "3", "--ws-disconnect-every", "2.5", "--timeout-hold", "4"]
    assert main(["sim", "--port", "0", "--verify-workers", "0", *args]) == 0
    (options,) = seen
    assert options.faults.rest_5xx == 3 and options.faults.ws_disconnect_every_s == 2.5
    assert options.faults.timeout_hold_s == 4.0 and options.faults.rest_429 == 0


def test_the_admin_api_takes_and_shows_exactly_the_table_fields() -> None:
    app = create_app(SimOptions(mark_walk_ms=0, warm_tables=None))

    async def go() -> None:
        t = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=t, base_url="http://127.0.0.1:8787") as c:
            shown = (await c.get("/_sim/faults")).json()
            assert set(shown) - {"refusing_for_ms", "injected"} == {s.admin_field for s in FAULTS}
            for spec in FAULTS:
                value = 599 if spec.name == "rest_5xx_status" else spec.type(0)
                r = await c.post("/_sim/faults", json={spec.admin_field: value})
                assert r.status_code == 200 and r.json()[spec.admin_field] == value, spec.name
            r = await c.post("/_sim/faults", json={"not_a_fault": 1})
            assert r.status_code == 400 and "not_a_fault" in r.json()["message"]

    asyncio.run(go())


def test_faults_take_the_table_names_only() -> None:
    f = Faults()
    f.update({s.name: s.default for s in FAULTS}, 0)
    assert dataclasses.asdict(f.config) == {s.name: s.default for s in FAULTS}


def test_every_fault_and_flag_is_documented() -> None:
    text = DOCS.read_text()
    for spec in FAULTS:
        assert f"`{spec.name}`" in text, spec.name
        if spec.flag is not None:
            assert f"`{spec.flag}" in text, spec.flag


def test_the_route_table_is_what_is_served() -> None:
    app = create_app(SimOptions(mark_walk_ms=0, warm_tables=None))
    rows = served()
    assert len(app.routes) == sum(len(t) for t in ROUTE_TABLES)
    assert [getattr(r, "path", None) for r in app.routes] == [s[0] for t in ROUTE_TABLES for s in t]
    assert ("POST", "/_sim/faults", "admin") in rows and ("WS", "/v1", "ws") in rows
    assert ("GET", "/v1/orders/{order_id}", "private") in rows
    assert len(set(rows)) == len(rows)  # a method and path is served once
    # /orders/batch is matched before /orders/{order_id}
    paths = [(m, p) for m, p, _c in rows]
    assert paths.index(("DELETE", "/v1/orders/batch")) < paths.index(
        ("DELETE", "/v1/orders/{order_id}")
    )
