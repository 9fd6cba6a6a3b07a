"""Trade-only subkeys in the simulator, over real loopback sockets: registration through the
admin API, ``POST /auth/{subkey}`` for the main account, orders signed by the subkey, the
refusals (unregistered, forged, unrelated signer, onboarding, a removed subkey), the
WebSocket, and persistence with a state file."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from paradexctl import signing
from paradexctl.signing.curve import y_from_x
from paradexctl.sim.app import ACCOUNT_CLASS_HASH, PROXY_CLASS_HASH, SimOptions, norm_hex
from paradexctl.sim.server import SimServer
from paradexctl.sim.testing import (
    SimAccount,
    auth_headers,
    login,
    modify_body,
    new_account,
    new_subkey,
    order_body,
)

pytestmark = pytest.mark.e2e
BTC = "BTC-USD-PERP"
#: the smallest x that is not the x of a point on the Stark curve
NOT_ON_CURVE = hex(next(x for x in range(1, 100) if y_from_x(x) is None))


def claims(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # type: ignore[no-any-return]


def client(sim: SimServer, jwt: str) -> httpx.Client:
    return httpx.Client(
        base_url=sim.http_url, headers={"Authorization": f"Bearer {jwt}"}, timeout=10, verify=False
    )


def auth(sim: SimServer, signer: SimAccount, path_key: str | None = None) -> httpx.Response:
    """``POST /auth/{path_key or signer's key}`` with headers signed by ``signer``."""
    key = signer.public_key if path_key is None else path_key
    return sim.http.post(f"/auth/{key}", headers=auth_headers(signer))


@pytest.fixture
def main_acct(sim: SimServer) -> SimAccount:
    return new_account(sim.http_url)


# -- registration --------------------------------------------------------------------------


def test_admin_registers_lists_and_removes_subkeys(sim: SimServer, main_acct: SimAccount) -> None:
    sub = new_subkey(sim.http_url, main_acct.address, register=False)
    row = sim.admin.add_subkey(main_acct.address, sub.public_key)
    assert row["account"] == main_acct.address and row["public_key"] == sub.public_key
    assert sim.admin.add_subkey(main_acct.address, sub.public_key) == row  # idempotent
    assert sim.admin.subkeys(main_acct.address) == [row]
    other = new_account(sim.http_url)
    assert sim.admin.subkeys(other.address) == []
    state = sim.admin.state()["accounts"]
    assert state[main_acct.address]["subkeys"] == [sub.public_key]
    assert state[other.address]["subkeys"] == []
    assert sim.admin.remove_subkey(sub.public_key) == row
    assert sim.admin.subkeys() == []
    r = sim.admin.client.delete(f"/subkeys/{sub.public_key}")
    assert r.status_code == 404 and r.json()["error"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("account", "public_key", "status", "code"),
    [
        (None, "sub", 400, "VALIDATION_ERROR"),  # no account
        ("0x1234", "sub", 404, "ACCOUNT_NOT_FOUND"),
        ("main", "nothex", 400, "VALIDATION_ERROR"),
        ("main", NOT_ON_CURVE, 400, "PUBLIC_KEY_INVALID"),
        ("main", "main", 400, "PUBLIC_KEY_INVALID"),  # the account's own key
    ],
)
def test_admin_refuses_bad_registrations(
    sim: SimServer,
    main_acct: SimAccount,
    account: str | None,
    public_key: str,
    status: int,
    code: str,
) -> None:
    sub = new_subkey(sim.http_url, main_acct.address, register=False)
    named = {"main": main_acct.public_key, "sub": sub.public_key}
    body: dict[str, Any] = {"public_key": named.get(public_key, public_key)}
    if account is not None:
        body["account"] = main_acct.address if account == "main" else account
    r = sim.admin.client.post("/subkeys", json=body)
    assert (r.status_code, r.json()["error"]) == (status, code), r.text
    assert sim.admin.subkeys() == []


def test_a_subkey_belongs_to_one_account(sim: SimServer, main_acct: SimAccount) -> None:
    sub = new_subkey(sim.http_url, main_acct.address)
    other = new_account(sim.http_url)
    r = sim.admin.client.post(
        "/subkeys", json={"account": other.address, "public_key": sub.public_key}
    )
    assert r.status_code == 400 and r.json()["error"] == "NOT_UNIQUE"
    # and a registered subkey cannot authenticate for another account
    r = sim.http.post(
        f"/auth/{sub.public_key}",
        headers=auth_headers(SimAccount(sub.private_key, sub.public_key, other.address)),
    )
    assert r.status_code == 401 and r.json()["error"] == "INVALID_SUBKEY"


# -- auth -----------------------------------------------------------------------------------


def test_registered_subkey_authenticates_for_the_main_account(
    sim: SimServer, main_acct: SimAccount
) -> None:
    sub = new_subkey(sim.http_url, main_acct.address)
    r = auth(sim, sub)
    assert r.status_code == 200, r.text
    c = claims(r.json()["jwt_token"])
    assert c["sub"] == main_acct.address and c["subkey"] == sub.public_key
    # the main key's token is not marked
    assert "subkey" not in claims(login(sim.http_url, main_acct))
    with client(sim, r.json()["jwt_token"]) as http:
        account = http.get("/account")
        assert account.status_code == 200 and account.json()["account"] == main_acct.address
        assert http.get("/balance").json()["results"][0]["size"] == "100000"


def test_unregistered_key_gets_invalid_subkey(sim: SimServer, main_acct: SimAccount) -> None:
    stranger = new_subkey(sim.http_url, main_acct.address, register=False)
    r = auth(sim, stranger)
    assert r.status_code == 401
    body = r.json()
    assert body["error"] == "INVALID_SUBKEY" and set(body) == {"error", "message", "data"}


def test_forged_subkey_auth_is_refused(sim: SimServer, main_acct: SimAccount) -> None:
    sub = new_subkey(sim.http_url, main_acct.address)
    forger = new_subkey(sim.http_url, main_acct.address, register=False)
    # the registered subkey in the path, the signature by another key
    r = auth(sim, forger, path_key=sub.public_key)
    assert r.status_code == 401 and r.json()["error"] == "INVALID_STARKNET_SIGNATURE"
    # a subkey's signature on the path-less /auth is checked against the main key
    r = sim.http.post("/auth", headers=auth_headers(sub))
    assert r.status_code == 401 and r.json()["error"] == "INVALID_STARKNET_SIGNATURE"
    # the main key's signature does not authenticate as the subkey either
    r = auth(sim, main_acct, path_key=sub.public_key)
    assert r.status_code == 401 and r.json()["error"] == "INVALID_STARKNET_SIGNATURE"


def test_tampered_subkey_claim_is_refused(sim: SimServer, main_acct: SimAccount) -> None:
    sub = new_subkey(sim.http_url, main_acct.address)
    h, p, s = login(sim.http_url, sub).split(".")
    c = claims(f"{h}.{p}.{s}")
    del c["subkey"]  # pretend to be the main key's token
    p2 = base64.urlsafe_b64encode(json.dumps(c).encode()).rstrip(b"=").decode()
    with client(sim, f"{h}.{p2}.{s}") as http:
        r = http.get("/account")
    assert r.status_code == 401 and "malformed jwt" in r.json()["message"]


# -- orders ---------------------------------------------------------------------------------


def test_orders_signed_by_the_subkey_act_on_the_main_account(
    sim: SimServer, main_acct: SimAccount
) -> None:
    sub = new_subkey(sim.http_url, main_acct.address)
    with client(sim, login(sim.http_url, sub)) as http:
        r = http.post("/orders", json=order_body(sub, BTC, "BUY", "0.01", "90000", client_id="s1"))
        assert r.status_code == 201, r.text
        oid = r.json()["id"]
        assert r.json()["account"] == main_acct.address
        batch = [order_body(sub, BTC, "BUY", "0.01", p) for p in ("89000", "88000")]
        r = http.post("/orders/batch", json=batch)
        assert r.status_code == 201 and len(r.json()["orders"]) == 2, r.text
        r = http.put(f"/orders/{oid}", json=modify_body(sub, oid, BTC, "BUY", "0.01", "90500"))
        assert r.status_code == 200 and r.json()["price"] == "90500", r.text
        assert r.json()["id"] == oid
        assert http.delete(f"/orders/{oid}").status_code == 204
    truth = sim.admin.state()["accounts"][main_acct.address]
    assert sorted(o["price"] for o in truth["open_orders"]) == ["88000", "89000"]
    assert sim.sim.engine.orders[oid].status == "CLOSED"
    # the main key's token sees the same orders
    with client(sim, login(sim.http_url, main_acct)) as http:
        assert len(http.get("/orders").json()["results"]) == 2


def test_order_signed_by_another_key_is_refused(sim: SimServer, main_acct: SimAccount) -> None:
    sub = new_subkey(sim.http_url, main_acct.address)
    other_sub = new_subkey(sim.http_url, main_acct.address)  # registered, but not the signer
    stranger = new_subkey(sim.http_url, main_acct.address, register=False)
    with client(sim, login(sim.http_url, sub)) as http:
        for signer in (stranger, other_sub, main_acct):
            r = http.post("/orders", json=order_body(signer, BTC, "BUY", "0.01", "90000"))
            assert r.status_code == 400 and r.json()["error"] == "INVALID_ORDER_SIGNATURE"
        r = http.post(
            "/orders/batch",
            json=[
                order_body(sub, BTC, "BUY", "0.01", "90000"),
                order_body(stranger, BTC, "BUY", "0.01", "90000"),
            ],
        )
        assert r.status_code == 400 and r.json()["error"] == "INVALID_ORDER_SIGNATURE"
        assert r.json()["data"] == {"index": 1}
    # and a main-key token does not take the subkey's signature
    with client(sim, login(sim.http_url, main_acct)) as http:
        r = http.post("/orders", json=order_body(sub, BTC, "BUY", "0.01", "90000"))
        assert r.status_code == 400 and r.json()["error"] == "INVALID_ORDER_SIGNATURE"
    assert sim.admin.state()["accounts"][main_acct.address]["open_orders"] == []


def test_removed_subkey_loses_auth_and_its_tokens(sim: SimServer, main_acct: SimAccount) -> None:
    sub = new_subkey(sim.http_url, main_acct.address)
    with client(sim, login(sim.http_url, sub)) as http:
        assert http.get("/orders").status_code == 200
        sim.admin.remove_subkey(sub.public_key)
        r = http.get("/orders")
        assert r.status_code == 401 and "subkey is not registered" in r.json()["message"]
        r = http.post("/orders", json=order_body(sub, BTC, "BUY", "0.01", "90000"))
        assert r.status_code == 401
    assert auth(sim, sub).json()["error"] == "INVALID_SUBKEY"


# -- account management -----------------------------------------------------------------------


def test_subkey_cannot_onboard(sim: SimServer, main_acct: SimAccount) -> None:
    sub = new_subkey(sim.http_url, main_acct.address)
    chain = signing.chain_id_felt("PRIVATE_SN_POTC_SEPOLIA")

    def onboard(signer: SimAccount, address: str, **headers: str) -> httpx.Response:
        h = signing.onboarding_message_hash(chain, int(address, 16))
        sig = signing.format_signature(*signing.sign(h, signer.private_key))
        return sim.http.post(
            "/onboarding",
            headers={
                "PARADEX-ETHEREUM-ACCOUNT": "0x0",
                "PARADEX-STARKNET-ACCOUNT": address,
                "PARADEX-STARKNET-SIGNATURE": sig,
                **headers,
            },
            json={"public_key": signer.public_key},
        )

    before = set(sim.admin.state()["accounts"])
    # the subkey's public key, for the main account or for the subkey's own derived address
    sub_own = norm_hex(
        signing.derive_account_address(
            int(sub.public_key, 16), int(ACCOUNT_CLASS_HASH, 16), int(PROXY_CLASS_HASH, 16)
        )
    )
    for address in (main_acct.address, sub_own):
        r = onboard(sub, address)
        assert r.status_code == 403, r.text
        body = r.json()
        assert body["error"] == "INVALID_TOKEN_SCOPE" and "subkey cannot onboard" in body["message"]
    # the main key's own (idempotent) onboarding, carrying a subkey's JWT
    jwt = login(sim.http_url, sub)
    r = onboard(main_acct, main_acct.address, Authorization=f"Bearer {jwt}")
    assert r.status_code == 403 and r.json()["error"] == "INVALID_TOKEN_SCOPE"
    # ... and without it, as before
    assert onboard(main_acct, main_acct.address).status_code == 200
    assert set(sim.admin.state()["accounts"]) == before


# -- WebSocket -------------------------------------------------------------------------------


async def rpc(ws: Any, method: str, params: Any, id: int = 1) -> dict[str, Any]:
    await ws.send(json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": id}))
    while True:
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if reply.get("method") != "subscription":
            return reply  # type: ignore[no-any-return]


def test_ws_auth_with_a_subkey_jwt(sim: SimServer, main_acct: SimAccount) -> None:
    sub = new_subkey(sim.http_url, main_acct.address)
    stranger = new_subkey(sim.http_url, main_acct.address, register=False)
    jwt = login(sim.http_url, sub)

    async def go() -> None:
        async with websockets.connect(sim.ws_url) as ws:
            assert "result" in await rpc(ws, "auth", {"bearer": jwt})
            assert (await rpc(ws, "subscribe", {"channel": "orders.ALL"}))["result"]
            placed = await rpc(
                ws, "order.create", order_body(sub, BTC, "BUY", "0.01", "90000"), id=2
            )
            assert placed["result"]["order"]["account"] == main_acct.address, placed
            note = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert note["params"]["data"]["id"] == placed["result"]["order"]["id"]
            bad = await rpc(
                ws, "order.create", order_body(stranger, BTC, "BUY", "0.01", "90000"), id=3
            )
            assert bad["error"]["code"] == 100 and bad["error"]["data"] == "INVALID_ORDER_SIGNATURE"
            sim.admin.remove_subkey(sub.public_key)
            gone = await rpc(ws, "order.create", order_body(sub, BTC, "BUY", "0.01", "90000"), id=4)
            assert gone["error"]["code"] == 40300
        async with websockets.connect(sim.ws_url) as ws:  # a removed subkey's JWT is refused
            assert (await rpc(ws, "auth", {"bearer": jwt}))["error"]["code"] == 40111

    asyncio.run(go())
    assert len(sim.admin.state()["accounts"][main_acct.address]["open_orders"]) == 1


# -- persistence -----------------------------------------------------------------------------


def test_subkeys_survive_a_restart_with_a_state_file(tmp_path: Path) -> None:
    options = SimOptions(mark_walk_ms=0, warm_tables=None, state_file=tmp_path / "state.json")
    with SimServer(options) as sim:
        main_acct = new_account(sim.http_url)
        sub = new_subkey(sim.http_url, main_acct.address)
    saved = json.loads((tmp_path / "state.json").read_text())
    assert [s["public_key"] for s in saved["subkeys"]] == [sub.public_key]
    with SimServer(options) as sim:
        assert [s["public_key"] for s in sim.admin.subkeys(main_acct.address)] == [sub.public_key]
        with client(sim, login(sim.http_url, sub)) as http:
            r = http.post("/orders", json=order_body(sub, BTC, "BUY", "0.01", "90000"))
            assert r.status_code == 201, r.text
        sim.admin.remove_subkey(sub.public_key)
    with SimServer(options) as sim:
        assert sim.admin.subkeys() == []
        assert auth(sim, sub).json()["error"] == "INVALID_SUBKEY"
