"""JWTs (issue, verify) and the chain's constants; account addresses in ``norm_hex`` form.
The routes that use them (onboarding, ``POST /auth``) are in :mod:`.rest_public`; the
bearer check every private route runs is :meth:`.core.SimCore._bearer`."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from .common import (
    FLAT_JSON_DEPTH,
    _b64url,
    _b64url_dec,
)
from .exchange import Rejected
from .limits import decode_json

CHAIN_NAME = "PRIVATE_SN_POTC_SEPOLIA"
ACCOUNT_CLASS_HASH = "0x41cb0280ebadaa75f996d8d92c6f265f6d040bb3ba442e5f86a554f1765244e"
PROXY_CLASS_HASH = "0x3530cc4759d78042f1b543bf797f5f3d647cde0388c33734cf91b7f7b9314a9"


def norm_hex(value: str | int) -> str:
    """``0x``-prefixed lower-case hex without leading zeros; ``ValueError`` if not hex."""
    n = value if isinstance(value, int) else int(str(value).strip(), 16)
    if n < 0:
        raise ValueError("negative")
    return hex(n)


def derive_address(public_key: str | int) -> str:
    """The account address Paradex derives from a Stark public key (its account and proxy
    class hashes); ``ValueError`` (a :class:`~paradexctl.signing.SigningError`) when the key
    is not a valid one."""
    from paradexctl import signing

    pub = public_key if isinstance(public_key, int) else int(public_key, 16)
    return norm_hex(
        signing.derive_account_address(pub, int(ACCOUNT_CLASS_HASH, 16), int(PROXY_CLASS_HASH, 16))
    )


#: an API token's lifetime bounds (``CreateToken.expiry_duration``: 1 min to 1 year)
API_TOKEN_MIN_S = 60
API_TOKEN_MAX_S = 365 * 86_400
#: the ``token_type`` values taken (``ApiToken.kind``); every one is read-only in the sim
API_TOKEN_KINDS = ("api_key", "jwt")


@dataclass(slots=True)
class ApiToken:
    """A long-lived API token (``POST /account/tokens``): a JWT with scope ``read`` and this
    ``lookup_id``, good for GET calls and WebSocket subscriptions of ``account``. Times are
    ns since the epoch, as the published ``ApiToken`` model has them."""

    lookup_id: str
    token_id: str
    account: str
    name: str
    kind: str
    created_at: int  # ns
    expiry_at: int  # ns
    revoked_at: int = 0  # ns; 0: not revoked

    def to_json(self) -> dict[str, Any]:
        """The published ``ApiToken`` fields: never the token itself."""
        return {
            "allowed_cidrs": [],
            "created_at": self.created_at,
            "expiry_at": self.expiry_at,
            "kind": self.kind,
            "last_updated_at": self.revoked_at or self.created_at,
            "lookup_id": self.lookup_id,
            "name": self.name,
            "revoked_at": self.revoked_at,
            "token_id": self.token_id,
        }


def public_key_param(value: str) -> str:
    """:func:`norm_hex` of a request's ``public_key``: 400 ``PUBLIC_KEY_INVALID`` when it is
    not hex."""
    try:
        return norm_hex(value)
    except ValueError:
        raise Rejected("PUBLIC_KEY_INVALID", "public_key must be a hex string") from None


class JwtError(Exception):
    pass


class Jwt:
    """HS256 JWTs signed with a per-process secret, so forged tokens are refused."""

    def __init__(self, secret: bytes | None = None) -> None:
        self.secret = secret or secrets.token_bytes(32)

    def issue(self, sub: str, now_s: int, lifetime_s: int, **extra: Any) -> str:
        header = {"alg": "HS256", "typ": "JWT"}
        claims = {"typ": "at+JWT", "exp": now_s + lifetime_s, "iat": now_s, "iss": "paradexctl sim"}
        claims["sub"] = sub
        claims.update(extra)
        h = _b64url(json.dumps(header, separators=(",", ":")).encode())
        p = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        sig = hmac.new(self.secret, f"{h}.{p}".encode(), hashlib.sha256).digest()
        return f"{h}.{p}.{_b64url(sig)}"

    def verify(self, token: str, now_ms: int) -> dict[str, Any]:
        parts = token.split(".")
        if len(parts) != 3:
            raise JwtError("token contains an invalid number of segments")
        try:
            header = decode_json(_b64url_dec(parts[0]), FLAT_JSON_DEPTH)
            claims = decode_json(_b64url_dec(parts[1]), FLAT_JSON_DEPTH)
            sig = _b64url_dec(parts[2])
        except (ValueError, UnicodeDecodeError):
            raise JwtError("token is malformed") from None
        if not isinstance(header, dict) or header.get("alg") != "HS256":
            raise JwtError("signing method is invalid")
        good = hmac.new(self.secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(sig, good):
            raise JwtError("signature is invalid")
        if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int):
            raise JwtError("token has no exp claim")
        over = now_ms - claims["exp"] * 1000
        if over >= 0:
            raise JwtError(f"token is expired by {over / 1000:.3f}s")
        return claims
