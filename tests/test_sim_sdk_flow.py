"""The official SDK's (paradex-py) construction and first-use call sequence, replayed with
plain httpx over real loopback sockets, as listed in ``paradex-api.md`` §6.1: system config →
auth → NOT_ONBOARDED → onboarding → auth → JWT with ``exp`` → a private call → a refresh when
``now > exp - 30 s``; plus the ``server_derive_address`` variant and the WebSocket start-up.

Every response is checked for the shape the SDK parses (§6.3, §6.4): the SDK itself cannot be
installed here, so this is the contract it relies on."""

from __future__ import annotations

import asyncio
import base64
import json
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import websockets

from paradexctl import signing
from paradexctl.sim.server import SimServer

pytestmark = pytest.mark.e2e

SDK_HEADERS = {"User-Agent": "paradex-py/0.8.2 (test)", "Content-Type": "application/json"}
L1_ADDRESS = "0x1234567890abcdef1234567890abcdef12345678"
CONFIG_REQUIRED = {
    "starknet_gateway_url", "starknet_fullnode_rpc_url", "starknet_chain_id",
    "block_explorer_url", "paraclear_address", "paraclear_decimals",
    "paraclear_account_proxy_hash", "paraclear_account_hash", "oracle_address",
    "bridged_tokens", "l1_core_contract_address", "l1_operator_address", "l1_chain_id",
    "liquidation_fee",
}  # fmt: skip
ACCOUNT_SUMMARY = {
    "account": str, "initial_margin_requirement": str, "maintenance_margin_requirement": str,
    "account_value": str, "total_collateral": str, "free_collateral": str,
    "margin_cushion": str, "settlement_asset": str, "updated_at": int, "status": str,
    "seq_no": int,
}  # fmt: skip


def claims(token: str) -> dict[str, Any]:
    parts = token.split(".")
    assert len(parts) == 3
    p = parts[1]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))  # type: ignore[no-any-return]


def assert_api_error(r: httpx.Response, code: str) -> None:
    """The SDK's ApiError: a JSON object, string ``error`` and ``message``, ``data`` object/null."""
    body = r.json()
    assert isinstance(body, dict) and set(body) == {"error", "message", "data"}, body
    assert body["error"] == code and isinstance(body["message"], str)
    assert body["data"] is None or isinstance(body["data"], dict)


class SdkLikeClient:
    """What ``Paradex(env, l1_address=…, l2_private_key=…, api_base_url=…)`` does over HTTP."""

    def __init__(self, sim: SimServer, private_key: int) -> None:
        self.sim = sim
        self.http = httpx.Client(base_url=sim.http_url, headers=SDK_HEADERS, verify=False)
        self.calls: list[str] = []
        self.priv = private_key
        self.pub = signing.private_to_public(private_key)
        self.jwt: str | None = None
        self.exp = 0

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        self.calls.append(f"{method} {path.split('?')[0]}")
        return self.http.request(method, path, **kw)

    def load_config(self) -> None:
        r = self.request("GET", "/system/config")
        assert r.status_code == 200
        cfg = r.json()
        assert CONFIG_REQUIRED <= set(cfg)
        assert cfg["starknet_chain_id"] in (
            "PRIVATE_SN_POTC_SEPOLIA", "PRIVATE_SN_PARACLEAR_MAINNET",
            "SN_SEPOLIA", "SN_MAIN",
        )  # fmt: skip
        assert isinstance(cfg["paraclear_decimals"], int)
        self.chain = signing.chain_id_felt(cfg["starknet_chain_id"])
        # the SDK derives the address locally from the config's class hashes
        self.address = hex(
            signing.derive_account_address(
                self.pub,
                int(cfg["paraclear_account_hash"], 16),
                int(cfg["paraclear_account_proxy_hash"], 16),
            )
        )

    def auth(self, now_s: int | None = None) -> httpx.Response:
        ts = int(time.time()) if now_s is None else now_s
        exp = ts + 24 * 3600  # the SDK signs for 24 h
        h = signing.auth_message_hash(self.chain, int(self.address, 16), ts, exp)
        headers = {
            "PARADEX-STARKNET-ACCOUNT": self.address,
            "PARADEX-STARKNET-SIGNATURE": signing.format_signature(*signing.sign(h, self.priv)),
            "PARADEX-TIMESTAMP": str(ts),
            "PARADEX-SIGNATURE-EXPIRATION": str(exp),
        }
        r = self.request("POST", f"/auth/{hex(self.pub)}", headers=headers)
        if r.status_code == 200:
            body = r.json()
            assert set(body) == {"jwt_token"} and isinstance(body["jwt_token"], str)
            self.jwt = body["jwt_token"]
            c = claims(self.jwt)
            assert isinstance(c["exp"], int) and c["sub"] == self.address
            self.exp = c["exp"]
        return r

    def onboard(self) -> httpx.Response:
        h = signing.onboarding_message_hash(self.chain, int(self.address, 16))
        headers = {
            "PARADEX-ETHEREUM-ACCOUNT": L1_ADDRESS,
            "PARADEX-STARKNET-ACCOUNT": self.address,
            "PARADEX-STARKNET-SIGNATURE": signing.format_signature(*signing.sign(h, self.priv)),
        }
        return self.request(
            "POST", "/onboarding", headers=headers, json={"public_key": hex(self.pub)}
        )

    def init_account(self) -> None:
        """``init_account``: auth; on NOT_ONBOARDED, onboard and auth again."""
        r = self.auth()
        if r.status_code >= 300:
            assert_api_error(r, "NOT_ONBOARDED")
            assert r.json()["message"] == "User has never called /onboarding endpoint"
            o = self.onboard()
            assert o.status_code == 200 and o.content == b""  # the SDK returns None
            r = self.auth()
        assert r.status_code == 200, r.text

    def private(self, method: str, path: str, sim_now_s: int) -> httpx.Response:
        """A private call; refreshes the JWT first when ``now > exp - 30 s`` (SDK rule)."""
        if sim_now_s > self.exp - 30:
            assert self.auth().status_code == 200
        return self.request(method, path, headers={"Authorization": f"Bearer {self.jwt}"})


@pytest.fixture
def sdk_client(sim: SimServer) -> Iterator[Callable[[int], SdkLikeClient]]:
    made: list[SdkLikeClient] = []

    def make(seed: int) -> SdkLikeClient:
        made.append(SdkLikeClient(sim, random.Random(seed).randrange(1, 2**240)))
        return made[-1]

    yield make
    for c in made:
        c.http.close()


def sim_now_s(sim: SimServer) -> int:
    return int(sim.http.get("/system/time").json()["server_time"]) // 1000


def test_sdk_construction_onboarding_and_refresh_sequence(sim: SimServer, sdk_client: Any) -> None:
    client = sdk_client(11)
    client.load_config()
    client.init_account()
    assert client.calls == [
        "GET /system/config",
        f"POST /auth/{hex(client.pub)}",
        "POST /onboarding",
        f"POST /auth/{hex(client.pub)}",
    ]
    assert client.jwt is not None
    first_jwt, first_exp = client.jwt, client.exp
    c = claims(first_jwt)
    assert c["exp"] - c["iat"] == 300 and c["exp"] > time.time()

    # fetch_account_summary: every AccountSummary field with its type
    r = client.private("GET", "/account", sim_now_s(sim))
    assert r.status_code == 200
    summary = r.json()
    assert {k: type(v) for k, v in summary.items()} == ACCOUNT_SUMMARY
    assert summary["account"] == client.address and summary["account_value"] == "100000"
    assert client.calls[-1] == "GET /account"  # no refresh yet

    # 280 s later the token is within 30 s of expiry: the SDK re-authenticates first
    sim.admin.advance_time(280_000)
    n = len(client.calls)
    r = client.private("GET", "/balance", sim_now_s(sim))
    assert client.calls[n:] == [f"POST /auth/{hex(client.pub)}", "GET /balance"]
    assert r.status_code == 200 and r.json()["results"][0]["size"] == "100000"
    assert client.jwt != first_jwt and client.exp > first_exp

    # past the first token's exp: it is refused with the middleware's message-only body,
    # the refreshed one still works
    sim.admin.advance_time(30_000)
    old = client.http.get("/account", headers={"Authorization": f"Bearer {first_jwt}"})
    assert old.status_code == 401
    assert set(old.json()) == {"message"}
    assert old.json()["message"].startswith("missing or malformed jwt: token is expired")
    assert client.private("GET", "/positions", sim_now_s(sim)).json() == {"results": []}


def test_sdk_server_derive_address_sequence(sim: SimServer, sdk_client: Any) -> None:
    client = sdk_client(12)
    client.load_config()
    q = {"account_signer_type": "starknet", "public_key": hex(client.pub)}
    r = client.request("GET", "/onboarding", params=q)
    body = r.json()
    assert set(body) == {"account_signer_type", "address", "exists", "derivation_info"}
    assert body["address"] == client.address and body["exists"] is False
    assert client.onboard().status_code == 200
    assert client.auth().status_code == 200
    again = client.request("GET", "/onboarding", params=q).json()
    assert again["exists"] is True
    assert client.calls == [
        "GET /system/config",
        "GET /onboarding",
        "POST /onboarding",
        f"POST /auth/{hex(client.pub)}",
        "GET /onboarding",
    ]


def test_sdk_websocket_start_up(sim: SimServer, sdk_client: Any) -> None:
    """``ws_client.connect()``: upgrade with the Authorization header and the SDK's user
    agent, then ``auth`` immediately followed by ``subscribe`` frames (integer ids)."""
    client = sdk_client(13)
    client.load_config()
    client.init_account()

    async def go() -> None:
        async with websockets.connect(
            sim.ws_url,
            additional_headers={"Authorization": f"Bearer {client.jwt}"},
            user_agent_header=SDK_HEADERS["User-Agent"],
        ) as ws:
            frames = [
                {"jsonrpc": "2.0", "method": "auth", "params": {"bearer": client.jwt}, "id": 0},
                {
                    "jsonrpc": "2.0",
                    "method": "subscribe",
                    "params": {"channel": "account"},
                    "id": 1,
                },
                {
                    "jsonrpc": "2.0",
                    "method": "subscribe",
                    "params": {"channel": "orders.ALL"},
                    "id": 2,
                },
            ]
            for f in frames:
                await ws.send(json.dumps(f))
            replies = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in frames]
            assert [r["id"] for r in replies] == [0, 1, 2]
            assert all(isinstance(r["result"], dict) for r in replies)
            assert [r["result"].get("channel") for r in replies[1:]] == ["account", "orders.ALL"]

    asyncio.run(go())
