"""Authentication, on-disk caches and the per-invocation :class:`Session`.

* JWTs come from ``POST /auth/{public_key}`` with the ``PARADEX-*`` headers (a signature over
  the ``Request`` typed data, timestamp in seconds, expiration now + 30 min). They are cached
  per profile + environment + API URL + account under ``cache_dir()`` (files mode 0600) and
  reused across invocations until 60 s before the token's ``exp`` (read from the payload,
  never verified: the exchange verifies it). A 401 makes the REST client call
  :meth:`Authenticator.invalidate` and retry once.
* ``/system/config`` (1 h) and ``/markets`` (5 min) are cached in the same directory.
* The account address is the configured one, or is derived from the key with the class hashes
  in ``/system/config``. A subkey cannot derive its main account's address (ConfigError).

The private key is loaded lazily (a cached JWT and a configured address make private queries
need no key at all) and never written anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paradexctl.config import Settings, cache_dir, write_private_file
from paradexctl.errors import ConfigError, ExchangeRejected, UnexpectedAnswer, UsageError
from paradexctl.paradex.rest import RestClient, expect_object, expect_rows

__all__ = [
    "JWT_REFRESH_MARGIN_S",
    "MARKETS_TTL_S",
    "SIGNATURE_EXPIRATION_S",
    "SYSTEM_CONFIG_TTL_S",
    "Authenticator",
    "JwtCache",
    "MetaCache",
    "Session",
    "jwt_expiry",
    "normalize_address",
]

JWT_REFRESH_MARGIN_S = 60
SIGNATURE_EXPIRATION_S = 30 * 60
SYSTEM_CONFIG_TTL_S = 3600
MARKETS_TTL_S = 300

ONBOARD_HINT = "this account is not onboarded yet; run 'paradexctl account onboard' first"


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def normalize_address(address: str) -> str:
    """``0x`` + lowercase hex without leading zeros; UsageError when not hex."""
    try:
        return hex(int(address, 16))
    except (TypeError, ValueError):
        raise ConfigError(f"account address {address!r} is not a hex number") from None


def jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT (unverified); ``{}`` when unreadable."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (IndexError, ValueError, TypeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def jwt_expiry(token: str) -> int | None:
    """The ``exp`` claim of a JWT (unverified), or None when absent or unreadable."""
    exp = jwt_claims(token).get("exp")
    if isinstance(exp, bool) or not isinstance(exp, (int, float, str)):
        return None
    try:
        return int(exp)
    except (ValueError, OverflowError):  # "x", inf, nan
        return None


class JwtCache:
    """One JWT in a 0600 JSON file. Corrupt or unreadable files count as empty."""

    def __init__(self, path: Path | Callable[[], Path]) -> None:
        self._path = path

    @property
    def path(self) -> Path:
        """Resolved on first use (deriving the account address may need the key)."""
        if callable(self._path):
            self._path = self._path()
        return self._path

    def load(self, now: float, signer: str | None = None) -> str | None:
        """The cached JWT unless it expires within the refresh margin. With ``signer`` (the
        public key that will sign orders), a token obtained with another key is ignored: the
        exchange verifies order signatures against the key that authenticated."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            token = data["jwt"]
            exp = int(data["exp"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not isinstance(token, str) or now >= exp - JWT_REFRESH_MARGIN_S:
            return None
        if signer is not None and data.get("signer") != signer:
            return None
        return token

    def save(self, token: str, now: float, signer: str | None = None) -> None:
        # a token without exp is assumed to live 4 minutes (the exchange issues 5)
        exp = jwt_expiry(token) or int(now) + 240
        entry: dict[str, Any] = {"jwt": token, "exp": exp}
        if signer is not None:
            entry["signer"] = signer  # a public key: not a secret
        try:
            write_private_file(self.path, json.dumps(entry))
        except OSError:
            pass  # an unwritable cache directory only costs a login per invocation

    def clear(self) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass


class MetaCache:
    """Public exchange metadata cached as JSON files with a time-to-live."""

    def __init__(self, directory: Path, api_url: str, clock: Callable[[], float]) -> None:
        self.directory = directory
        self.tag = _digest(api_url)
        self.clock = clock

    def path(self, name: str) -> Path:
        return self.directory / f"{name}-{self.tag}.json"

    def get(self, name: str, ttl: float) -> Any | None:
        try:
            data = json.loads(self.path(name).read_text(encoding="utf-8"))
            if self.clock() - float(data["fetched_at"]) > ttl:
                return None
            return data["value"]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, name: str, value: Any) -> None:
        try:
            write_private_file(
                self.path(name),
                json.dumps({"fetched_at": self.clock(), "value": value}, default=str),
            )
        except OSError:
            pass  # a read-only cache directory only costs speed


def _sig_header(r: int, s: int) -> str:
    from paradexctl.signing import format_signature

    return format_signature(r, s)


class TokenAuth:
    """A read-only API token as the REST client's ``Auth``: sent as it is, never renewed.

    :attr:`read_only` makes the REST client refuse every private write before sending it
    (:class:`~paradexctl.errors.ConfigError`, exit 3)."""

    read_only = True

    def __init__(
        self,
        load: Callable[[], str],
        clock: Callable[[], float] = time.time,
        expected_account: str | None = None,
    ) -> None:
        self._load = load
        self._clock = clock
        #: the configured account_address: a token naming another account is refused
        self._expected = expected_account
        self._token: str | None = None
        #: always 0: a token is not obtained by a login
        self.logins = 0

    def token(self) -> str:
        """The token; ConfigError (exit 3) when its own ``exp`` says it has expired (the
        exchange would refuse it: nothing is sent)."""
        if self._token is None:
            token = self._load()
            if self._expected is not None:
                self._check_account(token, normalize_address(self._expected))
            self._token = token
        exp = jwt_expiry(self._token)
        if exp is not None and self._clock() >= exp:
            import datetime as _dt

            when = _dt.datetime.fromtimestamp(exp, _dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            raise ConfigError(
                f"the API token expired at {when}: create a new one with 'paradexctl auth "
                "tokens create --read-only --save-to FILE' (nothing was sent)"
            )
        return self._token

    def authorization(self, client: RestClient) -> str:
        return f"Bearer {self.token()}"

    def invalidate(self) -> None:
        """Nothing to renew: a token the exchange refuses stays refused (revoked, expired)."""

    @staticmethod
    def _named_account(token: str) -> str | None:
        """The account the token's ``sub`` claim names (unverified); None for an opaque token
        or one naming no readable account."""
        sub = jwt_claims(token).get("sub")
        if not isinstance(sub, str) or not sub:
            return None
        try:
            return normalize_address(sub)
        except ConfigError:
            return None

    @classmethod
    def _check_account(cls, token: str, account: str) -> None:
        """ConfigError when the token names another account than the configured one: every
        read would be the token's account's, whatever the configuration says."""
        named = cls._named_account(token)
        if named is not None and named != account:
            raise ConfigError(
                f"the API token is for account {named}, but account_address is {account}: "
                "remove account_address or use that account's token"
            )

    def subject(self) -> str:
        """The account the token names (its ``sub`` claim, unverified).

        Raises:
            ConfigError: the token is no JWT naming an account; set account_address.
        """
        named = self._named_account(self.token())
        if named is None:
            raise ConfigError(
                "the API token names no account: set PARADEX_ACCOUNT_ADDRESS or "
                "'paradexctl config set account_address 0x...'"
            )
        return named


class Authenticator:
    """Obtains and caches JWTs for one account; implements the REST client's ``Auth``."""

    read_only = False

    def __init__(
        self,
        *,
        cache: JwtCache,
        account: Callable[[], str],
        private_key: Callable[[], int],
        chain_id: Callable[[], str],
        clock: Callable[[], float] = time.time,
        loaded_public_key: Callable[[], int | None] = lambda: None,
    ) -> None:
        self.cache = cache
        self._account = account
        self._private_key = private_key
        self._chain_id = chain_id
        #: the public key if the private key is already loaded (a command that signs), else
        #: None: a read-only command takes any cached token of the account, without the key
        self._loaded_public_key = loaded_public_key
        self.clock = clock
        self._token: str | None = None
        #: how many times a JWT was requested from the exchange in this process
        self.logins = 0

    def authorization(self, client: RestClient) -> str:
        now = self.clock()
        token = self._token
        if token is not None:
            exp = jwt_expiry(token)
            if exp is not None and now >= exp - JWT_REFRESH_MARGIN_S:
                token = None
        if token is None:
            pub = self._loaded_public_key()
            token = self.cache.load(now, None if pub is None else hex(pub))
        if token is None:
            token = self.login(client)
        self._token = token
        return f"Bearer {token}"

    def invalidate(self) -> None:
        self._token = None
        self.cache.clear()

    def login(self, client: RestClient) -> str:
        """``POST /auth/{public_key}``; caches and returns the JWT."""
        from paradexctl.signing import auth_message_hash, chain_id_felt, private_to_public, sign

        priv = self._private_key()
        pub = private_to_public(priv)
        account = self._account()
        now = int(self.clock())
        expiration = now + SIGNATURE_EXPIRATION_S
        msg = auth_message_hash(chain_id_felt(self._chain_id()), int(account, 16), now, expiration)
        r, s = sign(msg, priv)
        headers = {
            "PARADEX-STARKNET-ACCOUNT": account,
            "PARADEX-STARKNET-SIGNATURE": _sig_header(r, s),
            "PARADEX-TIMESTAMP": str(now),
            "PARADEX-SIGNATURE-EXPIRATION": str(expiration),
        }
        try:
            body = client.request(
                "POST", f"/auth/{hex(pub)}", headers=headers, private=False, idempotent=True
            )
        except ExchangeRejected as err:
            if err.code == "NOT_ONBOARDED":
                raise ExchangeRejected(
                    f"{ONBOARD_HINT} (exchange said: NOT_ONBOARDED)",
                    code=err.code,
                    status=err.status,
                ) from None
            raise
        token = (body or {}).get("jwt_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise ExchangeRejected(
                "the exchange's /auth answer carries no jwt_token", code="BAD_AUTH_RESPONSE"
            )
        self.logins += 1
        self.cache.save(token, self.clock(), hex(pub))
        return token


@dataclass
class Session:
    """Everything a command needs to talk to the exchange for one settings resolution.

    Build with :meth:`open`; use :attr:`client` for requests. Lazily loads the key, the
    system config (cached 1 h) and markets (cached 5 min).
    """

    settings: Settings
    client: RestClient
    meta: MetaCache
    key_loader: Callable[[], int]
    clock: Callable[[], float] = time.time
    authenticator: Authenticator | TokenAuth | None = None
    _key: int | None = field(default=None, repr=False)
    _account: str | None = None
    _markets: dict[str, dict[str, Any]] | None = None

    @classmethod
    def open(
        cls,
        settings: Settings,
        key_loader: Callable[[], int],
        *,
        transport: Any = None,
        trace: Callable[[str], None] | None = None,
        retry: Any = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        cache_root: Path | None = None,
        token_loader: Callable[[], str] | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> Session:
        """A session for ``settings``. With no key configured and a token source, the
        token (``token_loader``) authenticates: reads only (:class:`TokenAuth`)."""
        root = cache_root if cache_root is not None else cache_dir()
        client = RestClient(
            settings.api_url,
            transport=transport,
            timeout=timeout,
            retry=retry,
            trace=trace,
            progress=progress,
        )
        session = cls(
            settings=settings,
            client=client,
            meta=MetaCache(root, settings.api_url, clock),
            key_loader=key_loader,
            clock=clock,
        )
        if settings.credential == "read-only token" and token_loader is not None:
            session.authenticator = client.auth = TokenAuth(
                token_loader, clock, expected_account=settings.account_address
            )
            return session
        session.authenticator = Authenticator(
            cache=JwtCache(lambda: root / session._jwt_file_name()),
            account=session.account_address,
            private_key=session.private_key,
            chain_id=session.chain_id,
            clock=clock,
            loaded_public_key=session.loaded_public_key,
        )
        client.auth = session.authenticator
        return session

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _jwt_file_name(self) -> str:
        s = self.settings
        # the account is part of the key; when it must be derived, derive it now
        account = self.account_address()
        safe_profile = "".join(c if c.isalnum() or c in "-_" else "_" for c in s.profile)
        # a subkey's JWT is not the main key's: the exchange verifies order signatures
        # against the key that authenticated, so the two must not share a cache entry
        parts = (s.api_url, account, "subkey") if s.subkey else (s.api_url, account)
        return f"jwt-{safe_profile}-{s.env}-{_digest(*parts)}.json"

    # -- credentials ------------------------------------------------------------------------

    def private_key(self) -> int:
        if self._key is None:
            self._key = self.key_loader()
        return self._key

    def public_key(self) -> int:
        from paradexctl.signing import private_to_public

        return int(private_to_public(self.private_key()))

    def loaded_public_key(self) -> int | None:
        """The public key if the private key has been loaded in this process, else None."""
        return None if self._key is None else self.public_key()

    def account_address(self) -> str:
        if self._account is None:
            if self.settings.account_address:
                self._account = normalize_address(self.settings.account_address)
            elif isinstance(self.authenticator, TokenAuth):
                self._account = self.authenticator.subject()
            elif self.settings.subkey:
                raise ConfigError(
                    "a subkey cannot derive its account address: set the main account's "
                    "address with PARADEX_ACCOUNT_ADDRESS or 'paradexctl config set "
                    "account_address 0x...'"
                )
            else:
                self._account = self._derive_address()
        return self._account

    def prove_authenticated(self) -> str:
        """A private read (``GET /account``) with the session's credential: proof that the
        exchange accepts it (a cached JWT may no longer be). Returns the JWT (or token) the
        read went with.

        Raises:
            ParadexctlError: the credential cannot be loaded or is refused, or the read failed.
        """
        auth = self.authenticator
        if auth is None:  # pragma: no cover - every CLI session has one
            raise ConfigError("no credential: nothing to authenticate with")
        expect_object(self.client.get("/account", private=True), "GET /account")
        return auth.authorization(self.client).split(" ", 1)[1]

    def _derive_address(self) -> str:
        from paradexctl.signing import derive_account_address

        public_key = self.public_key()  # a missing key is a ConfigError before any request
        cfg = self.system_config()
        account_hash = cfg.get("paraclear_account_hash")
        proxy_hash = cfg.get("paraclear_account_proxy_hash")
        if not account_hash or not proxy_hash:
            raise ConfigError(
                "cannot derive the account address: /system/config has no account class "
                "hashes; set account_address in the profile"
            )
        try:
            hashes = int(str(account_hash), 16), int(str(proxy_hash), 16)
        except ValueError:
            raise ConfigError(
                "cannot derive the account address: /system/config's account class hashes "
                "are not hex; set account_address in the profile"
            ) from None
        address = derive_account_address(public_key, *hashes)
        return hex(int(address)) if not isinstance(address, str) else normalize_address(address)

    def chain_id(self) -> str:
        """The Starknet chain id (short string) from /system/config, else the environment's."""
        cached = self.meta.get("system-config", SYSTEM_CONFIG_TTL_S)
        if cached is None and self.settings.env in ("prod", "testnet", "nightly"):
            # the well-known environments: no request needed
            return self.settings.chain_id
        cfg = cached if cached is not None else self.system_config()
        chain = cfg.get("starknet_chain_id") if isinstance(cfg, dict) else None
        return str(chain) if chain else self.settings.chain_id

    # -- cached metadata --------------------------------------------------------------------

    def system_config(self) -> dict[str, Any]:
        cfg = self.meta.get("system-config", SYSTEM_CONFIG_TTL_S)
        if cfg is None:
            cfg = expect_object(self.client.get("/system/config"), "GET /system/config")
            self.meta.put("system-config", cfg)
        return dict(cfg)

    def markets(self, *, refresh: bool = False) -> dict[str, dict[str, Any]]:
        """All markets by symbol (cached 5 min)."""
        if self._markets is not None and not refresh:
            return self._markets
        rows = None if refresh else self.meta.get("markets", MARKETS_TTL_S)
        if rows is None:
            rows = expect_rows(self.client.get("/markets"), "GET /markets")
            if not all(isinstance(m.get("symbol"), str) and m["symbol"] for m in rows):
                raise UnexpectedAnswer(
                    "GET /markets",
                    "an object with a 'results' list of markets, each with a 'symbol'",
                    "a market without one",
                )
            self.meta.put("markets", rows)
        self._markets = {str(m.get("symbol")): m for m in rows if isinstance(m, dict)}
        return self._markets

    def market(self, symbol: str) -> dict[str, Any]:
        """One market's metadata; UsageError naming close matches when unknown."""
        markets = self.markets()
        for sym in (symbol, symbol.upper()):  # symbols are upper case: btc-usd-perp works
            if sym in markets:
                return markets[sym]
        fresh = self.markets(refresh=True)
        for sym in (symbol, symbol.upper()):
            if sym in fresh:
                return fresh[sym]
        import difflib

        close = difflib.get_close_matches(symbol.upper(), list(fresh), n=3, cutoff=0.5)
        if close:  # the markets are listed once: the close ones, else some known ones
            raise UsageError(f"unknown market {symbol!r}; did you mean {', '.join(close)}?")
        some = ", ".join(sorted(fresh)[:8])
        raise UsageError(
            f"unknown market {symbol!r} (known: {some}{', ...' if len(fresh) > 8 else ''})"
        )

    # -- onboarding -------------------------------------------------------------------------

    def onboard(self, ethereum_account: str = "0x0") -> dict[str, Any]:
        """``POST /onboarding`` (idempotent on the exchange's side)."""
        from paradexctl.signing import (
            chain_id_felt,
            onboarding_message_hash,
            sign,
        )

        if self.settings.subkey:
            raise UsageError("a subkey cannot onboard an account; onboard with the main key")
        priv = self.private_key()
        pub = self.public_key()
        account = self.account_address()
        msg = onboarding_message_hash(chain_id_felt(self.chain_id()), int(account, 16))
        r, s = sign(msg, priv)
        headers = {
            "PARADEX-ETHEREUM-ACCOUNT": ethereum_account,
            "PARADEX-STARKNET-ACCOUNT": account,
            "PARADEX-STARKNET-SIGNATURE": _sig_header(r, s),
        }
        self.client.request(
            "POST",
            "/onboarding",
            json_body={"public_key": hex(pub)},
            headers=headers,
            private=False,
            idempotent=True,
        )
        return {"account": account, "public_key": hex(pub), "onboarded": True}
