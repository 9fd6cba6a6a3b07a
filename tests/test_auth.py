"""paradexctl.paradex.auth: JWT acquisition and cache, metadata cache, address derivation."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import httpx
import pytest
import respx

from paradexctl.config import resolve_settings
from paradexctl.errors import ConfigError, ExchangeRejected
from paradexctl.paradex.auth import (
    JWT_REFRESH_MARGIN_S,
    JwtCache,
    MetaCache,
    Session,
    jwt_expiry,
)
from paradexctl.paradex.rest import RetryPolicy

VECTORS = Path(__file__).resolve().parent / "vectors"
K2 = json.loads((VECTORS / "auth_k2.json").read_text())
PRIV = int(K2["account"]["l2_private_key"], 16)
ADDRESS = K2["account"]["l2_address"]
PUB = K2["account"]["l2_public_key"]
BASE = "https://api.test.invalid/v1"
SYSTEM_CONFIG = {
    "starknet_chain_id": "PRIVATE_SN_POTC_SEPOLIA",
    "paraclear_account_hash": "0x41cb0280ebadaa75f996d8d92c6f265f6d040bb3ba442e5f86a554f1765244e",
    "paraclear_account_proxy_hash": (
        "0x3530cc4759d78042f1b543bf797f5f3d647cde0388c33734cf91b7f7b9314a9"
    ),
}


def make_jwt(exp: int) -> str:
    def part(d: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'ES384'})}.{part({'exp': exp, 'sub': ADDRESS})}.sig"


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def settings(**kw):
    env = {"PARADEX_ENV": "local", "PARADEX_API_URL": BASE, **kw}
    return resolve_settings(environ=env, config={"profiles": {}})


def open_session(router, tmp_path, clock, **kw) -> Session:
    return Session.open(
        settings(**kw),
        lambda: PRIV,
        transport=httpx.MockTransport(router.handler),
        retry=RetryPolicy(attempts=2, sleep=lambda s: None),
        clock=clock,
        cache_root=tmp_path,
    )


@pytest.fixture
def router():
    with respx.mock(base_url=BASE, assert_all_called=False) as r:
        r.get("/system/config").respond(200, json=SYSTEM_CONFIG)
        yield r


def test_jwt_expiry_reads_unverified_exp():
    assert jwt_expiry(make_jwt(1234)) == 1234
    assert jwt_expiry("not-a-jwt") is None
    assert jwt_expiry("a.!!!.c") is None


def test_jwt_cache_margin_and_mode(tmp_path):
    c = JwtCache(tmp_path / "sub" / "jwt.json")
    c.save(make_jwt(1000), now=0)
    assert stat.S_IMODE(c.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(c.path.parent.stat().st_mode) == 0o700
    assert c.load(1000 - JWT_REFRESH_MARGIN_S - 1) is not None
    assert c.load(1000 - JWT_REFRESH_MARGIN_S) is None
    c.path.write_text("{garbage")
    assert c.load(0) is None


def test_jwt_cache_ignores_a_token_obtained_with_another_signing_key(tmp_path):
    """The exchange checks order signatures against the key that authenticated."""
    c = JwtCache(tmp_path / "jwt.json")
    c.save(make_jwt(1000), now=0, signer="0xaa")
    assert c.load(10, "0xaa") is not None
    assert c.load(10, "0xbb") is None
    assert c.load(10) is not None  # a read-only caller (key not loaded) takes it
    c.save(make_jwt(1000), now=0)  # an entry without a signer matches no signing key
    assert c.load(10, "0xaa") is None


def test_a_second_subkey_does_not_sign_orders_under_the_first_ones_jwt(router, tmp_path):
    """Two subkeys of one account share the cache file; the one that signs must own the JWT."""
    from paradexctl.signing import private_to_public

    now = 1735689600
    other_priv = PRIV + 12345
    other_pub = hex(private_to_public(other_priv))
    tok_a, tok_b = make_jwt(now + 300), make_jwt(now + 299)
    auth_a = router.post(f"/auth/{PUB}").respond(200, json={"jwt_token": tok_a})
    auth_b = router.post(f"/auth/{other_pub}").respond(200, json={"jwt_token": tok_b})
    seen = []
    router.get("/account").mock(
        side_effect=lambda req: (
            seen.append(req.headers["authorization"]) or httpx.Response(200, json={})
        )
    )
    env = {"PARADEX_ACCOUNT_ADDRESS": ADDRESS, "PARADEX_SUBKEY": "1"}
    s1 = open_session(router, tmp_path, Clock(now), **env)
    s1.private_key()  # a command that signs loads its key first
    s1.client.get("/account", private=True)
    s2 = Session.open(
        settings(**env),
        lambda: other_priv,
        transport=httpx.MockTransport(router.handler),
        clock=Clock(now + 5),
        cache_root=tmp_path,
    )
    s2.private_key()
    s2.client.get("/account", private=True)
    assert (auth_a.call_count, auth_b.call_count) == (1, 1)
    assert seen == [f"Bearer {tok_a}", f"Bearer {tok_b}"]
    # a read-only command (key never loaded) reuses whatever token the account has cached
    s3 = Session.open(
        settings(**env),
        lambda: (_ for _ in ()).throw(AssertionError("the key was loaded")),
        transport=httpx.MockTransport(router.handler),
        clock=Clock(now + 6),
        cache_root=tmp_path,
    )
    s3.client.get("/account", private=True)
    assert auth_b.call_count == 1 and seen[-1] == f"Bearer {tok_b}"


def test_meta_cache_ttl(tmp_path):
    clock = Clock(100.0)
    m = MetaCache(tmp_path, BASE, clock)
    m.put("markets", [{"symbol": "X"}])
    assert m.get("markets", ttl=10) == [{"symbol": "X"}]
    clock.t = 111.0
    assert m.get("markets", ttl=10) is None
    assert stat.S_IMODE(m.path("markets").stat().st_mode) == 0o600


def test_login_headers_signature_and_cache_reuse_across_sessions(router, tmp_path):
    now = 1735689600
    auth = router.post(f"/auth/{PUB}").respond(200, json={"jwt_token": make_jwt(now + 300)})
    acct = router.get("/account").respond(200, json={"account": ADDRESS})

    s1 = open_session(router, tmp_path, Clock(now), PARADEX_ACCOUNT_ADDRESS=ADDRESS)
    s1.client.get("/account", private=True)
    s1.client.get("/account", private=True)
    assert auth.call_count == 1
    req = auth.calls.last.request
    assert req.headers["PARADEX-STARKNET-ACCOUNT"] == ADDRESS
    assert req.headers["PARADEX-TIMESTAMP"] == str(now)
    assert int(req.headers["PARADEX-SIGNATURE-EXPIRATION"]) == now + 30 * 60
    from paradexctl.signing import (
        auth_message_hash,
        chain_id_felt,
        parse_signature,
        private_to_public,
        verify,
    )

    h = auth_message_hash(chain_id_felt("PRIVATE_SN_POTC_SEPOLIA"), int(ADDRESS, 16), now,
                          now + 1800)  # fmt: skip
    r, s = parse_signature(req.headers["PARADEX-STARKNET-SIGNATURE"])
    assert verify(h, r, s, private_to_public(PRIV))
    assert acct.calls.last.request.headers["authorization"].startswith("Bearer ey")

    # a second process (a new Session) reuses the cached JWT until 60 s before exp
    s2 = open_session(router, tmp_path, Clock(now + 200), PARADEX_ACCOUNT_ADDRESS=ADDRESS)
    s2.client.get("/account", private=True)
    assert auth.call_count == 1
    s3 = open_session(router, tmp_path, Clock(now + 241), PARADEX_ACCOUNT_ADDRESS=ADDRESS)
    s3.client.get("/account", private=True)
    assert auth.call_count == 2
    jwt_files = list(tmp_path.glob("jwt-*.json"))
    assert len(jwt_files) == 1 and stat.S_IMODE(jwt_files[0].stat().st_mode) == 0o600


def test_configured_address_needs_no_key_when_jwt_cached(router, tmp_path):
    now = 1735689600
    router.post(f"/auth/{PUB}").respond(200, json={"jwt_token": make_jwt(now + 300)})
    router.get("/balance").respond(200, json={"results": []})
    open_session(router, tmp_path, Clock(now), PARADEX_ACCOUNT_ADDRESS=ADDRESS).client.get(
        "/balance", private=True
    )

    def no_key() -> int:
        raise AssertionError("the key was loaded")

    s = Session.open(
        settings(PARADEX_ACCOUNT_ADDRESS=ADDRESS),
        no_key,
        transport=httpx.MockTransport(router.handler),
        clock=Clock(now + 10),
        cache_root=tmp_path,
    )
    assert s.client.get("/balance", private=True) == {"results": []}


def test_401_reauths_once(router, tmp_path):
    now = 1735689600
    tokens = iter([make_jwt(now + 300), make_jwt(now + 301)])
    auth = router.post(f"/auth/{PUB}").mock(
        side_effect=lambda req: httpx.Response(200, json={"jwt_token": next(tokens)})
    )
    seen = []

    def account(req):
        seen.append(req.headers["authorization"])
        if len(seen) == 1:
            return httpx.Response(401, json={"message": "missing or malformed jwt"})
        return httpx.Response(200, json={"ok": 1})

    router.get("/account").mock(side_effect=account)
    s = open_session(router, tmp_path, Clock(now), PARADEX_ACCOUNT_ADDRESS=ADDRESS)
    assert s.client.get("/account", private=True) == {"ok": 1}
    assert auth.call_count == 2 and seen[0] != seen[1]


def test_not_onboarded_tells_the_user_what_to_run(router, tmp_path):
    router.post(f"/auth/{PUB}").respond(
        400, json={"error": "NOT_ONBOARDED", "message": "User has never called /onboarding"}
    )
    router.get("/account").respond(200, json={})
    s = open_session(router, tmp_path, Clock(1735689600), PARADEX_ACCOUNT_ADDRESS=ADDRESS)
    with pytest.raises(ExchangeRejected) as ei:
        s.client.get("/account", private=True)
    assert ei.value.code == "NOT_ONBOARDED"
    assert "paradexctl account onboard" in ei.value.message


def test_address_derived_from_key_and_system_config(router, tmp_path):
    s = open_session(router, tmp_path, Clock(0))
    assert s.account_address() == hex(int(ADDRESS, 16))
    # the system config is cached: a second session does not fetch it again
    open_session(router, tmp_path, Clock(1)).account_address()
    assert router.routes[0].call_count == 1


def test_subkey_without_address_is_config_error(router, tmp_path):
    s = open_session(router, tmp_path, Clock(0), PARADEX_SUBKEY="1")
    with pytest.raises(ConfigError) as ei:
        s.account_address()
    assert "subkey" in ei.value.message and ei.value.exit_code == 3


def test_subkey_authenticates_for_the_main_account(router, tmp_path):
    # A trade-only subkey signs for the main account: POST /auth/{subkey's public key} with
    # PARADEX-STARKNET-ACCOUNT = the main account, the signature over the main account's
    # auth message made with the subkey.
    from paradexctl.signing import (
        auth_message_hash,
        chain_id_felt,
        parse_signature,
        private_to_public,
        verify,
    )

    sub_priv = 0x2B7C6E9A1D4F3E5C7A9B0D1E2F3A4B5C6D7E8F9012345678
    sub_pub = hex(int(private_to_public(sub_priv)))
    assert sub_pub != PUB
    now = 1735689600
    auth = router.post(f"/auth/{sub_pub}").respond(200, json={"jwt_token": make_jwt(now + 300)})
    main_auth = router.post(f"/auth/{PUB}").respond(500)
    acct = router.get("/account").respond(200, json={"account": ADDRESS})
    s = Session.open(
        settings(PARADEX_SUBKEY="1", PARADEX_ACCOUNT_ADDRESS=ADDRESS),
        lambda: sub_priv,
        transport=httpx.MockTransport(router.handler),
        retry=RetryPolicy(attempts=1, sleep=lambda s: None),
        clock=Clock(now),
        cache_root=tmp_path,
    )
    assert s.client.get("/account", private=True) == {"account": ADDRESS}
    assert auth.call_count == 1 and main_auth.call_count == 0
    req = auth.calls.last.request
    assert req.headers["PARADEX-STARKNET-ACCOUNT"] == ADDRESS
    chain = chain_id_felt("PRIVATE_SN_POTC_SEPOLIA")
    h = auth_message_hash(chain, int(ADDRESS, 16), now, now + 1800)
    r, sig_s = parse_signature(req.headers["PARADEX-STARKNET-SIGNATURE"])
    assert verify(h, r, sig_s, int(sub_pub, 16))
    assert not verify(h, r, sig_s, int(PUB, 16))
    assert acct.calls.last.request.headers["authorization"].startswith("Bearer ey")
    # no address derivation from the subkey: /system/config was never needed for the account
    assert s.account_address() == ADDRESS
    # orders are then signed with the subkey for the main account
    assert s.private_key() == sub_priv


def test_onboard_posts_signed_request(router, tmp_path):
    onboarding = router.post("/onboarding").respond(200)
    s = open_session(router, tmp_path, Clock(0))
    out = s.onboard()
    req = onboarding.calls.last.request
    assert json.loads(req.content) == {"public_key": PUB}
    assert req.headers["PARADEX-STARKNET-ACCOUNT"] == hex(int(ADDRESS, 16))
    assert req.headers["PARADEX-ETHEREUM-ACCOUNT"] == "0x0"
    assert out["onboarded"] is True


def test_unknown_market_suggests_close_matches(router, tmp_path):
    router.get("/markets").respond(
        200, json={"results": [{"symbol": "BTC-USD-PERP"}, {"symbol": "ETH-USD-PERP"}]}
    )
    s = open_session(router, tmp_path, Clock(0))
    assert s.market("ETH-USD-PERP")["symbol"] == "ETH-USD-PERP"
    with pytest.raises(Exception) as ei:
        s.market("BTC-USD-PREP")
    assert "did you mean BTC-USD-PERP" in str(ei.value)


def test_chain_id_comes_from_system_config_for_local(router, tmp_path):
    s = open_session(router, tmp_path, Clock(0), PARADEX_ACCOUNT_ADDRESS=ADDRESS)
    assert s.chain_id() == "PRIVATE_SN_POTC_SEPOLIA"
    assert router.routes[0].call_count == 1


def test_unwritable_cache_dir_is_not_fatal(router, tmp_path):
    now = 1735689600
    auth = router.post(f"/auth/{PUB}").respond(200, json={"jwt_token": make_jwt(now + 300)})
    router.get("/account").respond(200, json={"ok": 1})
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a directory")
    s = Session.open(
        settings(PARADEX_ACCOUNT_ADDRESS=ADDRESS),
        lambda: PRIV,
        transport=httpx.MockTransport(router.handler),
        clock=Clock(now),
        cache_root=blocked / "cache",
    )
    assert s.client.get("/account", private=True) == {"ok": 1}
    assert s.client.get("/account", private=True) == {"ok": 1}
    assert auth.call_count == 1  # the in-process token is still reused


@pytest.mark.parametrize("exp", ["1e999", '"soon"', "true", "null", "[1]"])
def test_an_unreadable_exp_claim_is_no_expiry_not_a_crash(exp: str) -> None:
    import base64

    from paradexctl.paradex.auth import jwt_expiry

    payload = base64.urlsafe_b64encode(f'{{"exp": {exp}}}'.encode()).decode().rstrip("=")
    assert jwt_expiry(f"e30.{payload}.sig") is None
