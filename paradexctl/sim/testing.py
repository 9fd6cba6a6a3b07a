"""Helpers for tests and benchmarks that talk to a running simulator: key pairs, onboarding,
JWTs and signed order bodies, built with :mod:`paradexctl.signing` the way a real client does.

These are test tools; production clients live in :mod:`paradexctl.paradex`.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from paradexctl import signing

from .app import CHAIN_NAME, norm_hex
from .auth import derive_address

_shared: httpx.Client | None = None


def _client() -> httpx.Client:
    """One shared client (building an httpx client costs ~50 ms: it loads CA certificates)."""
    global _shared
    if _shared is None:
        _shared = httpx.Client(
            timeout=10, verify=False, limits=httpx.Limits(max_keepalive_connections=0)
        )
    return _shared


__all__ = [
    "SimAccount",
    "Trader",
    "auth_headers",
    "login",
    "modify_body",
    "new_account",
    "new_subkey",
    "order_body",
]

_CHAIN = signing.chain_id_felt(CHAIN_NAME)


@dataclass(slots=True)
class SimAccount:
    private_key: int
    public_key: str
    address: str

    def __iter__(self) -> Any:  # (private_key, public_key, address)
        return iter((self.private_key, self.public_key, self.address))


def new_account(
    http_url: str, *, rng: random.Random | None = None, onboard: bool = True
) -> SimAccount:
    """Create a key pair, derive the address, and onboard it (signed) on the simulator."""
    r = rng or random.SystemRandom()
    priv = r.randrange(1, signing.EC_ORDER)
    pub = signing.private_to_public(priv)
    address = derive_address(pub)
    acct = SimAccount(priv, norm_hex(pub), address)
    if onboard:
        h = signing.onboarding_message_hash(_CHAIN, int(address, 16))
        sig = signing.format_signature(*signing.sign(h, priv))
        resp = _client().post(
            f"{http_url}/onboarding",
            headers={
                "PARADEX-ETHEREUM-ACCOUNT": "0x0",
                "PARADEX-STARKNET-ACCOUNT": address,
                "PARADEX-STARKNET-SIGNATURE": sig,
            },
            json={"public_key": acct.public_key},
        )
        resp.raise_for_status()
    return acct


def new_subkey(
    http_url: str,
    account: str,
    *,
    rng: random.Random | None = None,
    register: bool = True,
) -> SimAccount:
    """A fresh key pair acting as a trade-only subkey of the main ``account`` address.

    The result's ``address`` is the *main* account's, so :func:`login`, :func:`auth_headers`,
    :func:`order_body` and :func:`modify_body` sign for the main account with the subkey,
    as a subkey client does. With ``register`` the key is registered through the admin API
    (``POST /_sim/subkeys``; ``http_url`` is the REST URL, ``…/v1``)."""
    r = rng or random.SystemRandom()
    priv = r.randrange(1, signing.EC_ORDER)
    sub = SimAccount(priv, norm_hex(signing.private_to_public(priv)), norm_hex(account))
    if register:
        base = http_url.removesuffix("/").removesuffix("/v1")
        resp = _client().post(
            f"{base}/_sim/subkeys", json={"account": sub.address, "public_key": sub.public_key}
        )
        resp.raise_for_status()
    return sub


def auth_headers(
    acct: SimAccount, *, now_s: int | None = None, expiry_s: int = 3600
) -> dict[str, str]:
    ts = int(time.time()) if now_s is None else now_s
    exp = ts + expiry_s
    h = signing.auth_message_hash(_CHAIN, int(acct.address, 16), ts, exp)
    return {
        "PARADEX-STARKNET-ACCOUNT": acct.address,
        "PARADEX-STARKNET-SIGNATURE": signing.format_signature(*signing.sign(h, acct.private_key)),
        "PARADEX-TIMESTAMP": str(ts),
        "PARADEX-SIGNATURE-EXPIRATION": str(exp),
    }


def login(http_url: str, acct: SimAccount, *, now_s: int | None = None) -> str:
    """``POST /auth/{public_key}``; returns the JWT."""
    resp = _client().post(
        f"{http_url}/auth/{acct.public_key}", headers=auth_headers(acct, now_s=now_s)
    )
    resp.raise_for_status()
    return str(resp.json()["jwt_token"])


def _signed_fields(
    acct: SimAccount,
    market: str,
    side: str,
    order_type: str,
    size: str,
    price: str | None,
    ts: int,
    order_id: str | None,
) -> str:
    signed_price = price if order_type.endswith("LIMIT") and price is not None else "0"
    kwargs: dict[str, Any] = {
        "timestamp_ms": ts,
        "market": market,
        "side": side,
        "order_type": order_type,
        "size": signing.to_chain_int_truncating(Decimal(size)),
        "price": signing.to_chain_int_truncating(Decimal(signed_price)),
    }
    if order_id is None:
        h = signing.order_message_hash(_CHAIN, int(acct.address, 16), **kwargs)
    else:
        h = signing.modify_order_message_hash(
            _CHAIN, int(acct.address, 16), order_id=int(order_id), **kwargs
        )
    return signing.format_signature(*signing.sign(h, acct.private_key))


def order_body(
    acct: SimAccount,
    market: str,
    side: str,
    size: str,
    price: str | None = None,
    *,
    order_type: str | None = None,
    client_id: str = "",
    instruction: str = "GTC",
    flags: list[str] | None = None,
    trigger_price: str | None = None,
    ts: int | None = None,
) -> dict[str, Any]:
    """A signed ``POST /orders`` body (LIMIT if a price is given, else MARKET)."""
    otype = order_type or ("LIMIT" if price is not None else "MARKET")
    ts = int(time.time() * 1000) if ts is None else ts
    body: dict[str, Any] = {
        "market": market,
        "side": side,
        "type": otype,
        "size": size,
        "instruction": instruction,
        "client_id": client_id,
        "signature": _signed_fields(acct, market, side, otype, size, price, ts, None),
        "signature_timestamp": ts,
    }
    if price is not None:
        body["price"] = price
    if flags:
        body["flags"] = flags
    if trigger_price is not None:
        body["trigger_price"] = trigger_price
    return body


def modify_body(
    acct: SimAccount,
    order_id: str,
    market: str,
    side: str,
    size: str,
    price: str,
    *,
    order_type: str = "LIMIT",
    ts: int | None = None,
) -> dict[str, Any]:
    """A signed ``PUT /orders/{id}`` body."""
    ts = int(time.time() * 1000) if ts is None else ts
    return {
        "id": order_id,
        "market": market,
        "side": side,
        "type": order_type,
        "size": size,
        "price": price,
        "signature": _signed_fields(acct, market, side, order_type, size, price, ts, order_id),
        "signature_timestamp": ts,
    }


class Trader:
    """An onboarded, logged-in sim account with an authenticated httpx client (for tests)."""

    def __init__(self, http_url: str) -> None:
        self.acct: SimAccount = new_account(http_url)
        self.jwt = login(http_url, self.acct)
        # verify=False: plain-http loopback; skips loading CA certificates (~50 ms a client)
        self.http = httpx.Client(
            base_url=http_url,
            headers={"Authorization": f"Bearer {self.jwt}"},
            timeout=10,
            verify=False,
        )

    def place(self, *args: Any, **kw: Any) -> httpx.Response:
        """``POST /orders`` with a body signed by this account (see :func:`order_body`)."""
        return self.http.post("/orders", json=order_body(self.acct, *args, **kw))

    def place_ok(self, *args: Any, **kw: Any) -> dict[str, Any]:
        """:meth:`place`, asserting a 201; returns the order."""
        r = self.place(*args, **kw)
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    def close(self) -> None:
        self.http.close()
