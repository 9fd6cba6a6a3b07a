"""The simulator's core, under every router: options, clock, engine, REST view (staleness),
hub, faults; the JWT check and the REST wrapper (injected faults, rate-limit headers,
Paradex's error shape); order parsing and signatures.

The routers (:mod:`.rest_public`, :mod:`.rest_private`, :mod:`.admin`, :mod:`.ws`) and
:mod:`.persistence` are mixins over :class:`SimCore`; :mod:`.app` assembles them into
:class:`~paradexctl.sim.app.SimApp` and serves their route tables.

Everything runs on one event loop; the engine is never called from another thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from paradexctl import signing
from paradexctl.config import write_private_file

from .auth import CHAIN_NAME, ApiToken, Jwt, JwtError
from .clock import SimClock
from .common import (
    AuthFailed,
    Handler,
    _err,
    _http_error,
    _json,
    _log,
    _rejected,
    _server_error,
)
from .exchange import (
    LIMIT_TYPES,
    Event,
    Exchange,
    OrderRequest,
    Rejected,
    SimConfig,
    parse_decimal,
)
from .faults import FaultConfig, Faults
from .hub import Hub
from .limits import JsonTooDeep, Limits, RefusalLog, decode_json, read_body
from .verify import Verifier

if TYPE_CHECKING:  # scenario files (tomllib, the parser) load only with --scenario
    from .scenario import Scenario

#: REST read endpoints whose staleness can be set separately (``default`` covers the rest).
STALENESS_KEYS = (
    "default",
    "orders",
    "orders-history",
    "order",
    "positions",
    "balance",
    "account",
    "fills",
)


@dataclass(slots=True)
class SimOptions:
    """Everything the server is started with (the CLI flags map onto these)."""

    seed: int = 0
    markets: tuple[str, ...] = ("BTC-USD-PERP", "ETH-USD-PERP", "SOL-USD-PERP")
    faucet: Decimal = Decimal("100000")
    jwt_lifetime_s: int = 300
    rest_staleness_ms: dict[str, int] = field(default_factory=lambda: {"default": 0})
    faults: FaultConfig = field(default_factory=FaultConfig)
    state_file: Path | None = None
    mark_walk_ms: int = 1000
    #: server protocol pings (Paradex: every 55 s, pong due within 5 s)
    ws_ping_interval_s: float = 55.0
    ws_ping_timeout_s: float = 5.0
    #: signing table level built in the background once serving (``large``; None = lazy)
    warm_tables: str | None = "large"
    #: processes verifying order signatures in parallel (0 = inline, in the event loop)
    verify_workers: int = 0
    #: milliseconds between background ticks (mark walk, scheduled disconnects, saves)
    tick_ms: int = 100
    #: starting mark price per market (overrides the default and a saved one; rounded down
    #: to the tick)
    marks: dict[str, Decimal] = field(default_factory=dict)
    #: receive window for orders sent without ``recv_window`` (0: no limit)
    default_recv_window_ms: int = 300_000
    #: what one client may send or hold (body size, JSON depth, timeouts, connections)
    limits: Limits = field(default_factory=Limits)
    #: browser origins (``scheme://host[:port]``) whose requests the admin API accepts; any
    #: other request carrying an ``Origin`` (or a cross-site ``Sec-Fetch-Site``) is refused
    admin_origins: tuple[str, ...] = ()
    #: ``wall`` (the wall clock plus the admin offset) or ``manual`` (frozen; only
    #: ``POST /_sim/time/advance`` moves it), :mod:`.clock`
    clock: str = "wall"
    #: where a manual clock starts (ms; None: the wall clock at start)
    clock_start_ms: int | None = None
    #: ``--scenario``: a starting state and a timeline (:mod:`.scenario`); build the
    #: options with :meth:`Scenario.configured` so that its ``sim`` settings apply
    scenario: Scenario | None = None


class RestView:
    """What REST reads see: every object's versions with the time they were made, so a
    read at time ``t`` with staleness ``s`` returns the newest version at or before
    ``t - s`` (objects created after that do not exist yet)."""

    def __init__(self) -> None:
        self.orders: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.orders_by_account: dict[str, list[str]] = {}
        self.positions: dict[tuple[str, str], list[tuple[int, dict[str, Any]]]] = {}
        self.accounts: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.balances: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.fills: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.retain_ms = 60_000

    @staticmethod
    def _push(
        versions: list[tuple[int, dict[str, Any]]], at: int, data: dict[str, Any], retain: int
    ) -> None:
        versions.append((at, data))
        # keep the newest version older than the retention window, drop anything before it
        cut = at - retain
        i = 0
        while i + 1 < len(versions) and versions[i + 1][0] <= cut:
            i += 1
        if i:
            del versions[:i]

    def apply(self, events: list[Event]) -> None:
        r = self.retain_ms
        for ev in events:
            k, a = ev.kind, ev.account
            if a is None:
                continue
            if k == "order":
                oid = ev.data["id"]
                if oid not in self.orders:
                    self.orders[oid] = []
                    self.orders_by_account.setdefault(a, []).append(oid)
                self._push(self.orders[oid], ev.at_ms, ev.data, r)
            elif k == "position":
                self._push(
                    self.positions.setdefault((a, ev.data["market"]), []), ev.at_ms, ev.data, r
                )
            elif k == "account":
                self._push(self.accounts.setdefault(a, []), ev.at_ms, ev.data, r)
            elif k == "balance":
                self._push(self.balances.setdefault(a, []), ev.at_ms, ev.data, r)
            elif k == "fill":
                self.fills.setdefault(a, []).append((ev.at_ms, ev.data))

    def seed(self, ex: Exchange) -> None:
        """Fill the view from an engine's current state (after a restart)."""
        now = ex.now_ms
        for o in ex.orders.values():
            self.orders[o.id] = [(now, o.to_json())]
            self.orders_by_account.setdefault(o.account, []).append(o.id)
        for (addr, sym), p in ex.positions.items():
            if sym in ex.markets:  # a flat position in a market no longer served is not shown
                self.positions[(addr, sym)] = [(now, p.to_json(ex.mark(sym)))]
        for addr in ex.accounts:
            self.accounts[addr] = [(now, ex.account_summary(addr))]
            self.balances[addr] = [(now, ex.balance(addr))]
            self.fills[addr] = [(now, f.to_json()) for f in ex.fills.get(addr, [])]

    @staticmethod
    def _at(versions: list[tuple[int, dict[str, Any]]], cutoff: int) -> dict[str, Any] | None:
        for i in range(len(versions) - 1, -1, -1):
            if versions[i][0] <= cutoff:
                return versions[i][1]
        return None

    def order(self, address: str, order_id: str, cutoff: int) -> dict[str, Any] | None:
        v = self.orders.get(order_id)
        if not v:
            return None
        d = self._at(v, cutoff)
        if d is None or d["account"] != address:
            return None
        return d

    def account_orders(self, address: str, cutoff: int) -> list[dict[str, Any]]:
        out = []
        for oid in self.orders_by_account.get(address, []):
            d = self._at(self.orders[oid], cutoff)
            if d is not None:
                out.append(d)
        return out

    def positions_of(self, address: str, cutoff: int) -> list[dict[str, Any]]:
        out = []
        for (a, _), v in self.positions.items():
            if a == address:
                d = self._at(v, cutoff)
                if d is not None:
                    out.append(d)
        return out

    def latest(
        self, table: dict[str, list[tuple[int, dict[str, Any]]]], address: str, cutoff: int
    ) -> dict[str, Any] | None:
        """An account-wide object (summary, balance) as of ``cutoff``. An account is never
        shown as missing: one younger than the staleness shows its first recorded state."""
        v = table.get(address)
        if not v:
            return None
        d = self._at(v, cutoff)
        return v[0][1] if d is None else d

    def fills_of(self, address: str, cutoff: int) -> list[dict[str, Any]]:
        return [d for at, d in self.fills.get(address, []) if at <= cutoff]


class SimCore:
    """The simulator's state (engine, REST view, hub, faults, clock) and what every route
    shares; the routers are mixins over it (:class:`~paradexctl.sim.app.SimApp`)."""

    def __init__(
        self,
        options: SimOptions | None = None,
        *,
        write_state: Callable[[Path, bytes], None] = write_private_file,
    ) -> None:
        self.options = options or SimOptions()
        #: writes ``--state`` whole (temporary file, fsync, rename) or raises ``OSError``
        self.write_state = write_state
        #: why the last save failed (None: the file is up to date or was never written)
        self.save_error: str | None = None
        #: the final save's failure at shutdown (the CLI exits nonzero with it)
        self.final_save_error: str | None = None
        self.last_saved_ms: int | None = None
        o = self.options
        self.clock = SimClock(o.clock, start_ms=o.clock_start_ms)
        #: ``GET /system/state``'s status, one of ``SYSTEM_STATES`` (``POST /_sim/system``, a
        #: scenario's maintenance window); order writes it does not allow are refused
        self.system_status = "ok"
        #: the scenario's start on the sim clock, and the index of its next timeline event
        self.scenario_t0 = self.clock.now_ms()
        self.timeline_next = 0
        self.jwt = Jwt()
        #: API tokens by lookup_id (``POST /account/tokens``); they live as long as the
        #: process's JWT secret, so a reset, a restore or a restart forgets them
        self.tokens: dict[str, ApiToken] = {}
        self.chain_id = signing.chain_id_felt(CHAIN_NAME)
        self.staleness: dict[str, int] = {"default": 0}
        self.set_staleness(o.rest_staleness_ms)
        self.engine = self._load_or_new()
        self._apply_marks()
        self._setup_scenario()
        self.view = RestView()
        self.view.seed(self.engine)
        self.set_staleness({})  # sizes the view's retention for the configured staleness
        self.faults = Faults(o.faults, seed=o.seed, now_ms=self.clock.now_ms())
        self.hub = Hub(self.faults)
        self.verifier = Verifier(o.verify_workers, o.warm_tables)
        self.refusals = RefusalLog(_log, o.limits.log_interval_s)
        self.dirty = False
        self.stopping = False
        self.rate: dict[tuple[str, str], tuple[int, int]] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self.app = Starlette(
            routes=self._routes(),
            lifespan=self._lifespan,
            exception_handlers={HTTPException: _http_error, 500: _server_error},
        )

    def _config(self) -> SimConfig:
        o = self.options
        return SimConfig(
            seed=o.seed,
            markets=tuple(o.markets),
            faucet=o.faucet,
            mark_walk_ms=o.mark_walk_ms,
            default_recv_window_ms=o.default_recv_window_ms,
        )

    def _apply_marks(self) -> list[Event]:
        events: list[Event] = []
        for market, price in self.options.marks.items():
            try:
                events += self.engine.set_mark(market, price, self.clock.now_ms())
            except Rejected as err:
                raise ValueError(f"mark for {market}: {err.message}") from None
        return events

    def _setup_scenario(self) -> list[Event]:
        """The scenario's starting state into the engine; its timeline starts now."""
        self.scenario_t0 = self.clock.now_ms()
        self.timeline_next = 0
        self.system_status = "ok"
        sc = self.options.scenario
        return [] if sc is None else sc.setup(self.engine, self.scenario_t0)

    def reset(self) -> None:
        self.clock.offset_ms = 0
        self.engine = Exchange(self._config(), now_ms=self.clock.now_ms())
        self.view = RestView()
        self.view.apply(self._apply_marks())
        self.view.apply(self._setup_scenario())
        faults = Faults(self.options.faults, seed=self.options.seed, now_ms=self.clock.now_ms())
        self.install(self.engine, self.view, faults, self.options.rest_staleness_ms)

    def install(
        self, engine: Exchange, view: RestView, faults: Faults, staleness: dict[str, int]
    ) -> None:
        """Put a whole state in place (reset, restore): the engine, its REST view, the
        faults (and the hub's), the staleness; rate counters start over."""
        self.engine = engine
        self.view = view
        self.set_staleness(staleness, replace=True)
        self.faults = faults
        self.hub.faults = faults
        self.rate.clear()
        self.tokens.clear()
        self.dirty = True

    def update_faults(self, changes: dict[str, Any], now_ms: int) -> None:
        """Switch faults (the admin API, a scenario event): ``ws_silence_s`` also silences
        every open connection at once."""
        self.faults.update(changes, now_ms)
        if "ws_silence_s" in changes:
            self.hub.silence_all(self.faults.config.ws_silence_s)

    def checked_staleness(self, values: dict[str, int], replace: bool = False) -> dict[str, int]:
        """The staleness settings ``values`` make (``ValueError`` if one is not valid)."""
        new = {"default": 0} if replace else dict(self.staleness)
        for k, v in values.items():
            if k not in STALENESS_KEYS:
                raise ValueError(f"unknown staleness key {k!r}; known: {', '.join(STALENESS_KEYS)}")
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError("staleness must be a non-negative integer (ms)")
            new[k] = v
        return new

    def set_staleness(self, values: dict[str, int], replace: bool = False) -> None:
        self.staleness = new = self.checked_staleness(values, replace)
        if hasattr(self, "view"):
            self.view.retain_ms = max(60_000, 2 * max(new.values()))

    def cutoff(self, key: str) -> int:
        return self.clock.now_ms() - self.staleness.get(key, self.staleness["default"])

    def commit(self, events: list[Event]) -> None:
        """Deliver an engine call's events: REST view, WebSocket, persistence."""
        if not events:
            return
        self.view.apply(events)
        self.hub.publish(events, self.clock.now_ms())
        self.dirty = True

    async def advance_by(self, ms: int) -> None:
        """Move the clock forward by exactly ``ms`` (``POST /_sim/time/advance``; the offset
        grows by ``ms`` however long the events take) and run what falls due on the way."""
        final_offset = self.clock.offset_ms + ms
        await self.advance_to(self.clock.now_ms() + ms)
        self.clock.offset_ms = max(self.clock.offset_ms, final_offset)
        await self._settle(self.clock.now_ms())

    async def advance_to(self, target_ms: int) -> None:
        """Bring everything time-driven up to ``target_ms`` on the sim clock, moving a clock
        that is behind forward to it: each scenario timeline event due by then at its own
        time, in order, then the mark walk, then scheduled disconnects. The ticker calls it
        with the current time."""
        sc = self.options.scenario
        while sc is not None and self.timeline_next < len(sc.timeline):
            ev = sc.timeline[self.timeline_next]
            at = self.scenario_t0 + ev.at_ms
            if at > target_ms:
                break
            self.timeline_next += 1
            now = self.clock.now_ms()
            if at > now:
                self.clock.offset_ms += at - now
            now = self.clock.now_ms()
            self.commit(self.engine.advance(now))
            from .scenario import fire  # loaded only when a scenario has events

            try:
                await fire(self, ev, now)
            except (Rejected, ValueError) as err:
                detail = err.message if isinstance(err, Rejected) else str(err)
                _log.warning("scenario %s (%s) skipped: %s", ev.where, ev.kind, detail)
            self.dirty = True
        now = self.clock.now_ms()
        if target_ms > now:
            self.clock.offset_ms += target_ms - now
        await self._settle(self.clock.now_ms())

    async def _settle(self, now: int) -> None:
        """The mark walk and scheduled disconnects up to ``now``."""
        self.commit(self.engine.advance(now))
        if self.faults.disconnect_due(now):
            await self.hub.disconnect_all()

    async def _ticker(self) -> None:
        period = self.options.tick_ms / 1000
        last_save = 0.0
        while True:
            await asyncio.sleep(period)
            try:
                await self.advance_to(self.clock.now_ms())
                mono = time.monotonic()
                if mono - last_save >= 0.5:
                    last_save = mono
                    self.save()
                self.refusals.tick()
            except Exception:  # keep ticking; a bug here must not freeze the market
                _log.exception("simulator tick failed")

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.verifier.start_warming()  # signing tables: built in the background
        self._tasks.append(asyncio.create_task(self._ticker()))
        try:
            yield
        finally:
            self.stopping = True
            for t in self._tasks:
                t.cancel()
            for t in self._tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            self.dirty = True
            if not self.save():
                self.final_save_error = self.save_error
            self.refusals.flush()
            self.verifier.close()

    def _rate_headers(self, category: str, ident: str) -> dict[str, str]:
        limit, window = {"orders": (800, 1), "private": (600, 60), "auth": (600, 60)}.get(
            category, (1500, 60)
        )
        now_s = self.clock.now_ms() // 1000
        start = now_s - now_s % window
        key = (category, ident)
        ws, used = self.rate.get(key, (start, 0))
        if ws != start:
            used = 0
        used += 1
        self.rate[key] = (start, used)
        return {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(max(0, limit - used)),
            "x-ratelimit-reset": str(start + window),
            "x-ratelimit-window": str(window),
        }

    def _identity(self, claims: dict[str, Any]) -> tuple[str, str | None] | None:
        """``(account, subkey or None)`` of a verified JWT's claims, or None when the account
        is unknown or the token is a subkey's that is no longer registered to it."""
        sub = claims.get("sub")
        if not isinstance(sub, str) or sub not in self.engine.accounts:
            return None
        if "lookup_id" in claims:  # an API token: known, not revoked, of this account
            tok = self.tokens.get(str(claims["lookup_id"]))
            if tok is None or tok.revoked_at or tok.account != sub:
                return None
            return sub, None
        subkey = claims.get("subkey")
        if subkey is None:
            return sub, None
        sk = self.engine.subkeys.get(subkey) if isinstance(subkey, str) else None
        if sk is None or sk.account != sub:
            return None
        return sub, sk.public_key

    @staticmethod
    def read_only(claims: dict[str, Any]) -> bool:
        """True for a read-only API token's claims (scope ``read``)."""
        return claims.get("scope") == "read"

    def _bearer(self, request: Request) -> tuple[str, str | None, bool]:
        """The account, the subkey (for a subkey's JWT) and whether the token is read-only,
        of the request's bearer token."""
        auth = request.headers.get("authorization", "")
        if not auth:
            raise AuthFailed("missing or malformed jwt: missing value in request header")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthFailed("missing or malformed jwt: invalid value in request header")
        try:
            claims = self.jwt.verify(token.strip(), self.clock.now_ms())
        except JwtError as err:
            raise AuthFailed(f"missing or malformed jwt: {err}") from None
        ident = self._identity(claims)
        if ident is None:
            if "subkey" in claims:
                raise AuthFailed("missing or malformed jwt: the subkey is not registered")
            if "lookup_id" in claims:
                raise AuthFailed("missing or malformed jwt: the token was revoked")
            raise AuthFailed("missing or malformed jwt: unknown subject")
        return ident[0], ident[1], self.read_only(claims)

    def endpoint(self, fn: Handler, *, private: bool, category: str = "") -> Handler:
        cat = category or ("private" if private else "public")

        async def wrapped(request: Request) -> Response:
            ident = request.client.host if request.client else "?"
            try:
                fault = self.faults.take_rest_fault(cat)
                if fault == "5xx":
                    st = self.faults.config.rest_5xx_status
                    code = "SERVICE_UNAVAILABLE" if st == 503 else "INTERNAL_ERROR"
                    return _err(code, "injected fault: server error", st)
                if fault == "429":
                    retry = self.faults.config.retry_after_s
                    now_s = self.clock.now_ms() // 1000
                    headers = {
                        "x-ratelimit-limit": "800",
                        "x-ratelimit-remaining": "0",
                        "x-ratelimit-reset": str(now_s + retry),
                        "x-ratelimit-window": "1",
                        "retry-after": str(retry),
                    }
                    resp = _err("RATE_LIMIT_EXCEEDED", "rate limit exceeded", 429)
                    resp.headers.update(headers)
                    return resp
                if private:
                    account, subkey, read_only = self._bearer(request)
                    request.state.account, request.state.subkey = account, subkey
                    request.state.read_only = read_only
                    ident = account
                    if read_only and request.method != "GET":
                        raise Rejected(
                            "INVALID_TOKEN_SCOPE",
                            "a read-only token can only read (GET); use the account's key",
                            status=403,
                        )
                resp = await fn(request)
            except AuthFailed as err:
                resp = _json({"message": str(err)}, 401)
            except Rejected as err:
                resp = _rejected(err)
            except Exception:  # a bug: log it, answer in Paradex's shape, keep serving
                _log.exception("%s %s failed", request.method, request.url.path)
                resp = _err("INTERNAL_ERROR", "internal server error", 500)
            resp.headers.update(self._rate_headers(cat, ident))
            return resp

        return wrapped

    async def _body(self, request: Request) -> Any:
        """The request's JSON body (None when empty), read within the body limits."""
        raw = await read_body(request, self.options.limits, self.refusals)
        if not raw:
            return None
        try:
            return self.decode(raw)
        except JsonTooDeep as err:
            raise Rejected("BINDING_ERROR", f"request body is {err}") from None
        except ValueError:
            raise Rejected("BINDING_ERROR", "request body is not valid JSON") from None

    def decode(self, raw: bytes | str) -> Any:
        """The one JSON decoder for what clients send (bodies, WebSocket messages, JWT parts,
        cursors): ``ValueError`` beyond the nesting limit, as for malformed JSON."""
        try:
            return decode_json(raw, self.options.limits.max_json_depth)
        except JsonTooDeep:
            self.refusals.note("JSON too deep")
            raise

    def _verify(self, msg_hash: int, signature: Any, public_key: str, code: str) -> None:
        if not isinstance(signature, str):
            raise Rejected(code, 'signature must be a string \'["r","s"]\'')
        try:
            r, s = signing.parse_signature(signature)
            ok = signing.verify(msg_hash, r, s, int(public_key, 16))
        except (ValueError, TypeError):
            ok = False
        if not ok:
            raise Rejected(
                code,
                "signature verification failed",
                status=401 if code != "INVALID_ORDER_SIGNATURE" else 400,
            )

    def _parse_order(self, body: Any, *, modify: bool = False) -> tuple[OrderRequest, Any, int]:
        if not isinstance(body, dict):
            raise Rejected("BINDING_ERROR", "order must be a JSON object")
        for k in ("market", "side", "type", "size", "signature", "signature_timestamp"):
            if body.get(k) in (None, ""):
                raise Rejected("VALIDATION_ERROR", f"{k} is required")
        for k in ("market", "side", "type"):
            if not isinstance(body[k], str):
                raise Rejected("VALIDATION_ERROR", f"{k} must be a string")
        ts = body["signature_timestamp"]
        if isinstance(ts, bool) or not isinstance(ts, int):
            raise Rejected("VALIDATION_ERROR", "signature_timestamp must be an integer (ms)")
        for k in ("size", "price", "trigger_price"):  # decimal strings, as Paradex (not 0.1)
            if body.get(k) is not None and not isinstance(body[k], str):
                raise Rejected("VALIDATION_ERROR", f"{k} must be a decimal string")
        price_raw = body.get("price")
        price = None if price_raw in (None, "") else parse_decimal(price_raw, "price")
        trig_raw = body.get("trigger_price")
        trigger = None if trig_raw in (None, "", "0") else parse_decimal(trig_raw, "trigger_price")
        flags = body.get("flags") or []
        if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
            raise Rejected("VALIDATION_ERROR", "flags must be a list of strings")
        if len({f.upper() for f in flags}) != len(flags):
            raise Rejected("VALIDATION_ERROR", "flags must not repeat a flag")
        client_id = body.get("client_id") or ""
        if not isinstance(client_id, str):
            raise Rejected("VALIDATION_ERROR", "client_id must be a string")
        if len(client_id) <= 64 and any(c < " " or "\x7f" <= c <= "\x9f" for c in client_id):
            raise Rejected("VALIDATION_ERROR", "client_id must not contain control characters")
        recv = body.get("recv_window")
        if recv is not None and (isinstance(recv, bool) or not isinstance(recv, int)):
            raise Rejected("VALIDATION_ERROR", "recv_window must be an integer (ms)")
        req = OrderRequest(
            market=body["market"],
            side=body["side"],
            type=body["type"],
            size=parse_decimal(body["size"], "size"),
            price=price,
            instruction=body.get("instruction") or "GTC",
            client_id=client_id,
            flags=tuple(f.upper() for f in flags),
            trigger_price=trigger,
            stp=body.get("stp") or "EXPIRE_TAKER",
            signature_timestamp=ts,
            recv_window=None if modify else recv,
        )
        return req, body["signature"], ts

    async def _check_order_signature(
        self,
        address: str,
        req: OrderRequest,
        signature: Any,
        order_id: str | None = None,
        *,
        subkey: str | None = None,
    ) -> None:
        """Verify an order's signature against the key that authenticated: the account's
        own key, or the subkey of a subkey's JWT."""
        pub = subkey if subkey is not None else self.engine.accounts[address].public_key
        price = req.price if req.type in LIMIT_TYPES else None
        try:
            fields: dict[str, Any] = {
                "timestamp_ms": req.signature_timestamp,
                "market": req.market,
                "side": req.side,
                "order_type": req.type,
                "size": signing.to_chain_int_truncating(req.size),
                "price": signing.to_chain_int_truncating(price or Decimal(0)),
            }
        except (ValueError, TypeError) as err:
            raise Rejected("VALIDATION_ERROR", f"cannot encode order for signing: {err}") from None
        if not isinstance(signature, str):
            raise Rejected("INVALID_ORDER_SIGNATURE", 'signature must be a string \'["r","s"]\'')
        ok = await self.verifier.order_ok(
            self.chain_id,
            int(address, 16),
            int(pub, 16),
            signature,
            fields,
            None if order_id is None else int(order_id),
        )
        if not ok:
            raise Rejected("INVALID_ORDER_SIGNATURE", "signature verification failed")

    # ----------------------------------------------------------------- provided by the mixins

    def _load_or_new(self) -> Exchange:  # :class:`~paradexctl.sim.persistence.Persistence`
        raise NotImplementedError

    def save(self) -> bool:  # :class:`~paradexctl.sim.persistence.Persistence`
        raise NotImplementedError

    def _routes(self) -> list[BaseRoute]:  # :class:`~paradexctl.sim.app.SimApp`
        raise NotImplementedError
