"""The sim's account-management and extra read endpoints (``sim/rest_account.py``), over
real loopback sockets: shapes and error codes of the account profile, sub-accounts, subkeys
over REST, klines, the insurance fund and the portfolio-margin config; and Paradex's 404 shape
for an endpoint the SDK calls that the sim does not serve."""

from __future__ import annotations

import time
from decimal import Decimal

import httpx
import pytest

from paradexctl.sim.coverage import NOT_SERVED
from paradexctl.sim.server import SimServer
from paradexctl.sim.testing import (
    SimAccount,
    auth_headers,
    login,
    new_account,
    new_subkey,
    order_body,
)

pytestmark = pytest.mark.e2e
BTC = "BTC-USD-PERP"


def client(sim: SimServer, jwt: str) -> httpx.Client:
    return httpx.Client(
        base_url=sim.http_url, headers={"Authorization": f"Bearer {jwt}"}, timeout=10, verify=False
    )


@pytest.fixture
def acct(sim: SimServer) -> SimAccount:
    return new_account(sim.http_url)


@pytest.fixture
def http(sim: SimServer, acct: SimAccount) -> httpx.Client:
    with client(sim, login(sim.http_url, acct)) as c:
        yield c  # type: ignore[misc]


def test_profile_and_subaccounts(sim: SimServer, http: httpx.Client) -> None:
    r = http.get("/account/profile")
    assert r.status_code == 200
    body = r.json()
    assert body["username"] == "" and body["size_currency_display"] == "BASE"
    assert body["nfts"] == [] and body["market_max_slippage"] == {}
    assert body["notifications"]["fills"] is False and body["referral"] is None
    assert http.get("/account/subaccounts").json() == {"results": []}
    for path in ("/account/profile", "/account/subaccounts", "/account/keys/subkeys"):
        r = sim.http.get(path)  # no JWT
        assert r.status_code == 401 and "message" in r.json() and "error" not in r.json()


def test_subkeys_register_list_get_revoke_over_rest(
    sim: SimServer, acct: SimAccount, http: httpx.Client
) -> None:
    sub = new_subkey(sim.http_url, acct.address, register=False)
    assert http.get("/account/keys/subkeys").json() == {"results": []}
    # not yet registered: its auth is refused
    r = sim.http.post(f"/auth/{sub.public_key}", headers=auth_headers(sub))
    assert r.status_code == 401 and r.json()["error"] == "INVALID_SUBKEY"
    r = http.post("/account/keys/subkeys", json={"public_key": sub.public_key, "name": "bot"})
    assert r.status_code == 204 and r.content == b""
    assert http.get("/account/keys/subkeys").json()["results"][0]["name"] == "bot"
    r = http.put(f"/account/keys/subkeys/{sub.public_key}", json={"name": "bot 2"})
    assert r.status_code == 200 and r.json()["name"] == "bot 2"
    rows = http.get("/account/keys/subkeys").json()["results"]
    assert [row["public_key"] for row in rows] == [sub.public_key]
    row = rows[0]
    assert row["account_id"] == acct.address and row["state"] == "active"
    assert isinstance(row["created_at"], int) and isinstance(row["id"], int)
    assert http.get(f"/account/keys/subkeys/{sub.public_key}").json() == row
    assert sim.admin.subkeys(acct.address)[0]["public_key"] == sub.public_key
    # the subkey authenticates now, and cannot manage subkeys with its JWT
    sub_jwt = login(sim.http_url, sub)
    with client(sim, sub_jwt) as sc:
        assert sc.get("/account/keys/subkeys").status_code == 200  # reading is allowed
        r = sc.delete(f"/account/keys/subkeys/{sub.public_key}")
        assert r.status_code == 403 and r.json()["error"] == "INVALID_TOKEN_SCOPE"
        other = new_subkey(sim.http_url, acct.address, register=False)
        r = sc.post("/account/keys/subkeys", json={"public_key": other.public_key, "name": "x"})
        assert r.status_code == 403 and r.json()["error"] == "INVALID_TOKEN_SCOPE"
        r = sc.put(f"/account/keys/subkeys/{sub.public_key}", json={"name": "mine"})
        assert r.status_code == 403 and r.json()["error"] == "INVALID_TOKEN_SCOPE"
    r = http.delete(f"/account/keys/subkeys/{sub.public_key}")
    assert r.status_code == 200 and r.json() == {"public_key": sub.public_key}
    assert http.get("/account/keys/subkeys").json() == {"results": []}
    with client(sim, sub_jwt) as sc:  # revoked at once
        assert sc.get("/account").status_code == 401
    r = http.get(f"/account/keys/subkeys/{sub.public_key}")
    assert r.status_code == 404 and r.json()["error"] == "NOT_FOUND"


def test_subkey_errors(sim: SimServer, acct: SimAccount, http: httpx.Client) -> None:
    def err(r: httpx.Response) -> tuple[int, str]:
        return r.status_code, r.json()["error"]

    def post(**body: str) -> tuple[int, str]:
        return err(http.post("/account/keys/subkeys", json=body))

    sub = new_subkey(sim.http_url, acct.address, register=False)
    pk = sub.public_key
    assert post() == (400, "VALIDATION_ERROR")
    assert post(public_key=pk) == (400, "VALIDATION_ERROR")  # name is required
    assert post(public_key=pk, name=" ") == (400, "VALIDATION_ERROR")
    assert post(public_key=pk, name="n" * 65) == (400, "VALIDATION_ERROR")
    assert post(public_key="zz", name="n") == (400, "PUBLIC_KEY_INVALID")
    assert post(public_key=pk, name="n", state="pending") == (400, "VALIDATION_ERROR")
    assert post(public_key=acct.public_key, name="n") == (400, "PUBLIC_KEY_INVALID")
    other = new_account(sim.http_url)
    theirs = new_subkey(sim.http_url, other.address)
    assert post(public_key=theirs.public_key, name="n") == (400, "NOT_UNIQUE")
    assert http.get("/account/keys/subkeys").json() == {"results": []}  # nothing registered
    r = http.post("/account/keys/subkeys", json={"public_key": pk, "name": "n" * 64})
    assert r.status_code == 204
    assert err(http.put(f"/account/keys/subkeys/{pk}", json={"name": ""})) == (
        400,
        "VALIDATION_ERROR",
    )
    assert err(http.put(f"/account/keys/subkeys/{pk}", json=["x"])) == (400, "VALIDATION_ERROR")
    # another account's subkey is not found from this one, nor is a bad key
    assert err(http.get(f"/account/keys/subkeys/{theirs.public_key}")) == (404, "NOT_FOUND")
    assert err(http.delete(f"/account/keys/subkeys/{theirs.public_key}")) == (404, "NOT_FOUND")
    put = http.put(f"/account/keys/subkeys/{theirs.public_key}", json={"name": "n"})
    assert err(put) == (404, "NOT_FOUND")
    assert err(http.get("/account/keys/subkeys/nothex")) == (400, "PUBLIC_KEY_INVALID")
    assert sim.admin.subkeys(other.address)[0]["public_key"] == theirs.public_key


def test_klines_from_trades(sim: SimServer, acct: SimAccount, http: httpx.Client) -> None:
    before = int(sim.http.get("/system/time").json()["server_time"])
    for size in ("0.010", "0.020", "0.030"):
        r = http.post("/orders", json=order_body(acct, BTC, "BUY", size))
        assert r.status_code == 201
    deadline = time.monotonic() + 10
    while True:  # the fills are in the engine once the orders are; REST trades are not stale
        trades = sim.http.get("/trades", params={"market": BTC}).json()["results"]
        if sum(Decimal(t["size"]) for t in trades) >= Decimal("0.060"):
            break
        assert time.monotonic() < deadline, trades
    start, end = before - 120_000, before + 600_000
    r = sim.http.get(
        "/markets/klines",
        params={"symbol": BTC, "resolution": "1", "start_at": start, "end_at": end},
    )
    assert r.status_code == 200
    rows = r.json()["results"]
    assert rows
    in_range = [t for t in trades if start <= t["created_at"] <= end]
    assert sum(Decimal(row[5]) for row in rows) == sum(Decimal(t["size"]) for t in in_range)
    prices = [Decimal(t["price"]) for t in in_range]
    assert min(Decimal(row[3]) for row in rows) == min(prices)
    assert max(Decimal(row[2]) for row in rows) == max(prices)
    for row in rows:
        t0, o, h, lo, c, _v = row
        assert isinstance(t0, int) and t0 % 60_000 == 0
        assert Decimal(lo) <= Decimal(o) <= Decimal(h) and Decimal(lo) <= Decimal(c) <= Decimal(h)
    assert [row[0] for row in rows] == sorted(row[0] for row in rows)
    # a window before the trades has no candle
    r = sim.http.get(
        "/markets/klines",
        params={"symbol": BTC, "resolution": "60", "start_at": 0, "end_at": 3_600_000},
    )
    assert r.json() == {"results": []}


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"resolution": "1", "start_at": "0", "end_at": "1"}, 400, "VALIDATION_ERROR"),
        ({"symbol": BTC, "start_at": "0", "end_at": "1"}, 400, "VALIDATION_ERROR"),
        ({"symbol": "X-USD-PERP", "resolution": "1", "start_at": "0", "end_at": "1"}, 404,
         "MARKET_NOT_FOUND"),
        ({"symbol": BTC, "resolution": "2", "start_at": "0", "end_at": "1"}, 400,
         "INVALID_REQUEST_PARAMETER"),
        ({"symbol": BTC, "resolution": "x", "start_at": "0", "end_at": "1"}, 400,
         "INVALID_REQUEST_PARAMETER"),
        ({"symbol": BTC, "resolution": "1", "start_at": "5", "end_at": "1"}, 400,
         "INVALID_REQUEST_PARAMETER"),
        ({"symbol": BTC, "resolution": "1", "start_at": "0", "end_at": "1", "price_kind": "x"},
         400, "INVALID_REQUEST_PARAMETER"),
        ({"symbol": BTC, "resolution": "1", "start_at": "0", "end_at": str(10**12)}, 400,
         "INVALID_REQUEST_PARAMETER"),
    ],
)  # fmt: skip
def test_klines_errors(sim: SimServer, params: dict[str, str], status: int, code: str) -> None:
    r = sim.http.get("/markets/klines", params=params)
    assert r.status_code == status and r.json()["error"] == code
    assert set(r.json()) == {"error", "message", "data"}


def test_insurance_and_portfolio_margin_config(sim: SimServer) -> None:
    ins = sim.http.get("/insurance").json()
    assert ins["settlement_asset"] == "USDC" and isinstance(ins["updated_at"], int)
    assert Decimal(ins["account_value"]) == 0 and ins["account"].startswith("0x")
    assert sim.http.get("/system/portfolio-margin-config").json() == {"results": []}


@pytest.mark.parametrize(("method", "path", "why"), NOT_SERVED)
def test_not_served_endpoints_answer_paradex_404(
    sim: SimServer, http: httpx.Client, method: str, path: str, why: str
) -> None:
    url = sim.http_url.removesuffix("/v1") + path.replace("{", "").replace("}", "")
    r = http.request(method, url, json={} if method in ("POST", "PUT") else None)
    assert set(r.json()) == {"error", "message", "data"}
    if path == "/v1/account/keys/subkeys/activate":  # the path of a served {public_key} route
        assert (r.status_code, r.json()["error"]) == (405, "REQUEST_NOT_ALLOWED")
        assert r.headers["allow"] == "DELETE, GET, HEAD, PUT"
        return
    assert (r.status_code, r.json()["error"]) == (404, "NOT_FOUND"), (method, path)


def test_a_subkey_name_survives_a_saved_state_and_old_states_load() -> None:
    from paradexctl.sim.exchange import Exchange, SimConfig

    cfg = SimConfig(mark_walk_ms=0)
    ex = Exchange(cfg, now_ms=1_000)
    ex.onboard("0x1234", "0xabc", 1_000)
    ex.register_subkey("0xabc", "0x5678", 2_000, "bot")
    ex.register_subkey("0xabc", "0x5678", 3_000)  # no name given: keeps it
    state = ex.to_state()
    assert Exchange.from_state(state, cfg).subkeys["0x5678"].name == "bot"
    for d in state["subkeys"]:
        del d["name"]  # a state written before names
    assert Exchange.from_state(state, cfg).subkeys["0x5678"].name == ""


def test_subkey_changes_over_rest_are_saved_with_state(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Registering, renaming and revoking a subkey over REST marks the state for saving, as
    the admin API does: ``--state`` holds the change soon after, not only at shutdown."""
    import json

    from paradexctl.sim.app import SimOptions

    path = tmp_path / "state.json"

    def saved_subkeys() -> dict[str, str]:
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return {d["public_key"]: d.get("name", "") for d in state.get("subkeys", [])}

    def until(cond, what: str) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + 20
        while not cond():
            assert time.monotonic() < deadline, f"the state file never showed {what}"
            time.sleep(0.05)

    opts = SimOptions(seed=5, mark_walk_ms=0, warm_tables=None, state_file=path)
    with SimServer(opts) as sim:
        acct = new_account(sim.http_url)
        sub = new_subkey(sim.http_url, acct.address, register=False)
        with client(sim, login(sim.http_url, acct)) as http:
            r = http.post("/account/keys/subkeys", json={"public_key": sub.public_key, "name": "a"})
            assert r.status_code == 204
            until(lambda: saved_subkeys().get(sub.public_key) == "a", "the registered subkey")
            r = http.put(f"/account/keys/subkeys/{sub.public_key}", json={"name": "b"})
            assert r.status_code == 200
            until(lambda: saved_subkeys().get(sub.public_key) == "b", "the renamed subkey")
            assert http.delete(f"/account/keys/subkeys/{sub.public_key}").status_code == 200
            until(lambda: sub.public_key not in saved_subkeys(), "the revoked subkey gone")
