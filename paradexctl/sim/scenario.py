"""Scenario files (``sim --scenario FILE``): a declared starting state and a timeline of events
on the sim's clock (docs/sim.md, Scenarios).

A scenario is TOML (``.toml``, read with :mod:`tomllib`) or JSON (anything else). It is
validated whole before the sim starts; the first problem is a :class:`ScenarioError` whose
message names the field (``timeline[2].price: must be a decimal string``).

:func:`load` parses a file into a :class:`Scenario`; :meth:`Scenario.setup` puts its starting
state into a fresh engine; :func:`fire` applies one timeline event to a running sim. The
timeline is run by :meth:`~paradexctl.sim.core.SimCore.advance_to`, each event at its own time
(``at_ms`` after the scenario's start), so a manual clock replays it exactly.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paradexctl import signing

from .auth import derive_address, norm_hex
from .clock import CLOCK_MODES, MAX_CLOCK_OFFSET_MS
from .common import SYSTEM_STATES
from .core import STALENESS_KEYS
from .exchange import DEFAULT_MARKETS, Event, Exchange, OrderRequest, Rejected, parse_decimal
from .faults import FaultConfig, Faults

if TYPE_CHECKING:
    from .core import SimCore, SimOptions

__all__ = [
    "EVENT_KINDS",
    "Scenario",
    "ScenarioAccount",
    "ScenarioError",
    "TimelineEvent",
    "fire",
    "load",
    "parse",
]

#: the timeline's event kinds and their fields (required, optional)
EVENT_KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "mark": (("market", "price"), ()),
    "fill": (("account", "client_id"), ("size", "price")),
    "funding": (("market", "rate"), ()),
    "deposit": (("account", "amount"), ()),
    "maintenance": (("on",), ("status",)),
    "faults": (("set",), ()),
    "staleness": (("set",), ()),
    "disconnect": ((), ("code",)),
}
_TOP = ("name", "description", "sim", "markets", "accounts", "timeline")
_SIM = (
    "seed",
    "clock",
    "start_ms",
    "mark_walk_ms",
    "faucet",
    "jwt_lifetime_s",
    "staleness",
    "faults",
)
_ACCOUNT = ("name", "private_key", "public_key", "balance", "positions", "orders")
_POSITION = ("market", "size", "entry_price")
_ORDER = ("market", "side", "type", "size", "price", "instruction", "client_id", "flags")
#: most events one timeline may hold (the latest time one may be at is the clock's limit)
MAX_EVENTS = 100_000


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message is one line naming the field."""


@dataclass(slots=True)
class ScenarioAccount:
    name: str
    public_key: str
    address: str
    #: the sim-only private key (None when only ``public_key`` was given); never printed
    private_key: int | None = field(default=None, repr=False)
    balance: Decimal | None = None
    positions: list[tuple[str, Decimal, Decimal]] = field(default_factory=list)
    orders: list[OrderRequest] = field(default_factory=list)


@dataclass(slots=True)
class TimelineEvent:
    at_ms: int
    kind: str
    data: dict[str, Any]
    #: where it was declared (``timeline[3]``), for messages
    where: str = ""


@dataclass(slots=True)
class Scenario:
    name: str = ""
    seed: int | None = None
    clock: str | None = None
    start_ms: int | None = None
    mark_walk_ms: int | None = None
    faucet: Decimal | None = None
    jwt_lifetime_s: int | None = None
    staleness: dict[str, int] = field(default_factory=dict)
    faults: dict[str, Any] = field(default_factory=dict)
    markets: dict[str, Decimal | None] = field(default_factory=dict)
    accounts: dict[str, ScenarioAccount] = field(default_factory=dict)
    timeline: list[TimelineEvent] = field(default_factory=list)

    def configured(self, options: SimOptions) -> SimOptions:
        """``options`` with this scenario and what it sets (its ``sim`` table, markets)."""
        changes: dict[str, Any] = {"scenario": self}
        for name in ("seed", "mark_walk_ms", "faucet", "jwt_lifetime_s", "clock"):
            value = getattr(self, name)
            if value is not None:
                changes[name] = value
        if self.start_ms is not None:
            changes["clock_start_ms"] = self.start_ms
        if self.staleness:
            changes["rest_staleness_ms"] = {**options.rest_staleness_ms, **self.staleness}
        if self.faults:
            cfg = Faults(options.faults)
            cfg.update(self.faults, 0)
            changes["faults"] = cfg.config
        if self.markets:
            changes["markets"] = tuple(self.markets)
            marks = {m: p for m, p in options.marks.items() if m in self.markets}
            marks.update({m: p for m, p in self.markets.items() if p is not None})
            changes["marks"] = marks
        return dataclasses.replace(options, **changes)

    def setup(self, engine: Exchange, now_ms: int) -> list[Event]:
        """Put the starting state (accounts, balances, positions, resting orders) into
        ``engine``; the events it made (the REST view and WS need them after a reset)."""
        events: list[Event] = []
        try:
            for acct in self.accounts.values():
                events += engine.onboard(acct.public_key, acct.address, now_ms)
                if acct.balance is not None:
                    have = engine.accounts[acct.address].balance
                    if acct.balance != have:
                        events += engine.deposit(acct.address, acct.balance - have, now_ms)
                for market, size, price in acct.positions:
                    events += engine.set_position(acct.address, market, size, price, now_ms)
            for acct in self.accounts.values():
                for i, req in enumerate(acct.orders):
                    where = f"accounts.{acct.name}.orders[{i}]"
                    try:
                        engine.validate(acct.address, req, now_ms)
                        _, evs = engine.place_order(acct.address, req, now_ms)
                    except Rejected as err:
                        raise ScenarioError(f"{where}: {err.code}: {err.message}") from None
                    events += evs
        except Rejected as err:
            raise ScenarioError(f"accounts: {err.code}: {err.message}") from None
        return events


# ----------------------------------------------------------------------------- parsing


def load(path: Path) -> Scenario:
    """Read and validate a scenario file (TOML for ``.toml``, else JSON)."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ScenarioError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        if path.suffix.lower() == ".toml":
            doc = tomllib.loads(raw.decode("utf-8"))
        else:
            doc = json.loads(raw)
    except UnicodeDecodeError:
        raise ScenarioError(f"{path.name}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"{path.name}: not valid TOML: {err}") from None
    except json.JSONDecodeError as err:
        raise ScenarioError(f"{path.name}: not valid JSON: {err.msg} (line {err.lineno})") from None
    return parse(doc)


def _table(value: Any, where: str, keys: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ScenarioError(f"{where}: must be a table (object)")
    for k in value:
        if k not in keys:
            raise ScenarioError(f"{where}.{k}: unknown field; known: {', '.join(keys)}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ScenarioError(f"{where}: must be a list (array)")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ScenarioError(f"{where}: must be a non-empty string")
    return value


def _int(value: Any, where: str, lo: int = 0, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ScenarioError(f"{where}: must be an integer of at least {lo}")
    if hi is not None and value > hi:
        raise ScenarioError(f"{where}: must be at most {hi}")
    return value


def _dec(value: Any, where: str, *, positive: bool = False, nonneg: bool = False) -> Decimal:
    """A decimal given as a string (as Paradex), or an integer; never a float."""
    if isinstance(value, float):
        raise ScenarioError(f"{where}: must be a decimal string (a float loses digits)")
    try:
        d = parse_decimal(value, where)
    except Rejected:
        raise ScenarioError(f"{where}: must be a decimal string") from None
    if positive and d <= 0:
        raise ScenarioError(f"{where}: must be positive")
    if nonneg and d < 0:
        raise ScenarioError(f"{where}: must not be negative")
    return d


def _market(value: Any, where: str, markets: dict[str, Decimal | None]) -> str:
    sym = _str(value, where)
    known = markets or dict.fromkeys(DEFAULT_MARKETS)
    if sym not in known:
        raise ScenarioError(f"{where}: unknown market {sym!r}; known: {', '.join(known)}")
    return sym


def _key(value: Any, where: str) -> int:
    text = _str(value, where)
    try:
        n = int(text, 16)
    except ValueError:
        raise ScenarioError(f"{where}: must be a hex string") from None
    if not 0 < n < signing.EC_ORDER:
        raise ScenarioError(f"{where}: is not a valid Stark private key")
    return n


def _account(name: str, d: dict[str, Any], where: str, markets: dict[str, Any]) -> ScenarioAccount:
    d = _table(d, where, _ACCOUNT)
    priv: int | None = None
    if "private_key" in d:
        priv = _key(d["private_key"], f"{where}.private_key")
        pub = norm_hex(signing.private_to_public(priv))
        if "public_key" in d and norm_hex(_str(d["public_key"], f"{where}.public_key")) != pub:
            raise ScenarioError(f"{where}.public_key: does not match private_key")
    elif "public_key" in d:
        try:
            pub = norm_hex(_str(d["public_key"], f"{where}.public_key"))
        except ValueError:
            raise ScenarioError(f"{where}.public_key: must be a hex string") from None
    else:
        raise ScenarioError(f"{where}: needs private_key (or public_key)")
    try:
        address = derive_address(pub)
    except ValueError:
        raise ScenarioError(f"{where}.public_key: is not a valid Stark public key") from None
    acct = ScenarioAccount(name, pub, address, priv)
    if "balance" in d:
        acct.balance = _dec(d["balance"], f"{where}.balance", nonneg=True)
    for i, p in enumerate(_list(d.get("positions", []), f"{where}.positions")):
        w = f"{where}.positions[{i}]"
        p = _table(p, w, _POSITION)
        for k in _POSITION:
            if k not in p:
                raise ScenarioError(f"{w}.{k}: is required")
        acct.positions.append(
            (
                _market(p["market"], f"{w}.market", markets),
                _dec(p["size"], f"{w}.size"),
                _dec(p["entry_price"], f"{w}.entry_price", positive=True),
            )
        )
    for i, o in enumerate(_list(d.get("orders", []), f"{where}.orders")):
        w = f"{where}.orders[{i}]"
        o = _table(o, w, _ORDER)
        for k in ("market", "side", "size", "price"):
            if k not in o:
                raise ScenarioError(f"{w}.{k}: is required (orders rest: LIMIT)")
        side = _str(o["side"], f"{w}.side")
        if side not in ("BUY", "SELL"):
            raise ScenarioError(f"{w}.side: must be BUY or SELL")
        typ = _str(o.get("type", "LIMIT"), f"{w}.type")
        if typ != "LIMIT":
            raise ScenarioError(f"{w}.type: must be LIMIT (a resting order)")
        flags = _list(o.get("flags", []), f"{w}.flags")
        if not all(isinstance(f, str) for f in flags):
            raise ScenarioError(f"{w}.flags: must be a list of strings")
        acct.orders.append(
            OrderRequest(
                market=_market(o["market"], f"{w}.market", markets),
                side=side,
                type=typ,
                size=_dec(o["size"], f"{w}.size", positive=True),
                price=_dec(o["price"], f"{w}.price", positive=True),
                instruction=_str(o.get("instruction", "GTC"), f"{w}.instruction"),
                client_id=_str(o["client_id"], f"{w}.client_id") if "client_id" in o else "",
                flags=tuple(f.upper() for f in flags),
            )
        )
    return acct


def _staleness(value: Any, where: str) -> dict[str, int]:
    d = _table(value, where, STALENESS_KEYS)
    return {k: _int(v, f"{where}.{k}") for k, v in d.items()}


def _faults(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ScenarioError(f"{where}: must be a table (object)")
    try:
        Faults(FaultConfig()).update(dict(value), 0)  # the fault table's own validation
    except (ValueError, TypeError) as err:
        raise ScenarioError(f"{where}: {err}") from None
    return dict(value)


def _event(i: int, d: Any, sc: Scenario) -> TimelineEvent:
    where = f"timeline[{i}]"
    if not isinstance(d, dict):
        raise ScenarioError(f"{where}: must be a table (object)")
    kind = d.get("event")
    if kind not in EVENT_KINDS:
        raise ScenarioError(f"{where}.event: must be one of {', '.join(EVENT_KINDS)}")
    required, optional = EVENT_KINDS[kind]
    _table(d, where, ("at_ms", "event", *required, *optional))
    if "at_ms" not in d:
        raise ScenarioError(f"{where}.at_ms: is required")
    at = _int(d["at_ms"], f"{where}.at_ms", 0, MAX_CLOCK_OFFSET_MS)
    for k in required:
        if k not in d:
            raise ScenarioError(f"{where}.{k}: is required for a {kind} event")
    data: dict[str, Any] = {}
    if kind in ("mark", "funding"):
        data["market"] = _market(d["market"], f"{where}.market", sc.markets)
    if kind in ("fill", "deposit"):
        name = _str(d["account"], f"{where}.account")
        if name not in sc.accounts:
            raise ScenarioError(f"{where}.account: no account named {name!r} in accounts")
        data["account"] = name
    if kind == "mark":
        data["price"] = _dec(d["price"], f"{where}.price", positive=True)
    elif kind == "fill":
        cid = _str(d["client_id"], f"{where}.client_id")
        if not any(o.client_id == cid for o in sc.accounts[data["account"]].orders):
            raise ScenarioError(
                f"{where}.client_id: {data['account']} declares no resting order {cid!r}"
            )
        data["client_id"] = cid
        for k in ("size", "price"):
            if k in d:
                data[k] = _dec(d[k], f"{where}.{k}", positive=True)
    elif kind == "funding":
        data["rate"] = _dec(d["rate"], f"{where}.rate")
    elif kind == "deposit":
        data["amount"] = _dec(d["amount"], f"{where}.amount")
        if data["amount"] == 0:
            raise ScenarioError(f"{where}.amount: must not be zero")
    elif kind == "maintenance":
        if not isinstance(d["on"], bool):
            raise ScenarioError(f"{where}.on: must be true or false")
        data["on"] = d["on"]
        status = d.get("status", "maintenance")
        if status not in SYSTEM_STATES or status == "ok":
            raise ScenarioError(
                f"{where}.status: must be one of maintenance, cancel_only, post_only"
            )
        data["status"] = status
    elif kind == "faults":
        data["set"] = _faults(d["set"], f"{where}.set")
    elif kind == "staleness":
        data["set"] = _staleness(d["set"], f"{where}.set")
    elif kind == "disconnect":
        data["code"] = _int(d.get("code", 1012), f"{where}.code", 1000, 4999)
    return TimelineEvent(at, kind, data, where)


def parse(doc: Any) -> Scenario:
    """Validate a decoded scenario document (the first problem raises :class:`ScenarioError`)."""
    doc = _table(doc, "scenario", _TOP)
    sc = Scenario(name=_str(doc["name"], "name") if "name" in doc else "")
    if "description" in doc:
        _str(doc["description"], "description")
    s = _table(doc.get("sim", {}), "sim", _SIM)
    if "seed" in s:
        sc.seed = _int(s["seed"], "sim.seed")
    if "clock" in s:
        if s["clock"] not in CLOCK_MODES:
            raise ScenarioError(f"sim.clock: must be one of {', '.join(CLOCK_MODES)}")
        sc.clock = s["clock"]
    if "start_ms" in s:
        sc.start_ms = _int(s["start_ms"], "sim.start_ms", 1)
    if "mark_walk_ms" in s:
        sc.mark_walk_ms = _int(s["mark_walk_ms"], "sim.mark_walk_ms")
    if "faucet" in s:
        sc.faucet = _dec(s["faucet"], "sim.faucet", nonneg=True)
    if "jwt_lifetime_s" in s:
        sc.jwt_lifetime_s = _int(s["jwt_lifetime_s"], "sim.jwt_lifetime_s", 1)
    if "staleness" in s:
        sc.staleness = _staleness(s["staleness"], "sim.staleness")
    if "faults" in s:
        sc.faults = _faults(s["faults"], "sim.faults")
    for i, m in enumerate(_list(doc.get("markets", []), "markets")):
        w = f"markets[{i}]"
        m = _table(m, w, ("symbol", "mark"))
        if "symbol" not in m:
            raise ScenarioError(f"{w}.symbol: is required")
        sym = _market(m["symbol"], f"{w}.symbol", {})
        if sym in sc.markets:
            raise ScenarioError(f"{w}.symbol: {sym} is declared twice")
        mark = _dec(m["mark"], f"{w}.mark", positive=True) if "mark" in m else None
        if mark is not None and mark < DEFAULT_MARKETS[sym].tick:
            raise ScenarioError(f"{w}.mark: must be at least the tick {DEFAULT_MARKETS[sym].tick}")
        sc.markets[sym] = mark
    accounts = doc.get("accounts", [])
    addresses: set[str] = set()
    for i, a in enumerate(_list(accounts, "accounts")):
        if not isinstance(a, dict):
            raise ScenarioError(f"accounts[{i}]: must be a table (object)")
        name = _str(a.get("name"), f"accounts[{i}].name")
        if name in sc.accounts:
            raise ScenarioError(f"accounts[{i}].name: {name!r} is declared twice")
        acct = _account(name, a, f"accounts.{name}", sc.markets)
        if acct.address in addresses:
            raise ScenarioError(f"accounts.{name}: the same key as another account")
        addresses.add(acct.address)
        cids = [o.client_id for o in acct.orders if o.client_id]
        if len(cids) != len(set(cids)):
            raise ScenarioError(f"accounts.{name}.orders: a client_id is used twice")
        sc.accounts[name] = acct
    events = _list(doc.get("timeline", []), "timeline")
    if len(events) > MAX_EVENTS:
        raise ScenarioError(f"timeline: at most {MAX_EVENTS} events")
    sc.timeline = [_event(i, e, sc) for i, e in enumerate(events)]
    sc.timeline.sort(key=lambda e: e.at_ms)  # stable: events at one time keep their order
    return sc


# ----------------------------------------------------------------------------- running


async def fire(sim: SimCore, ev: TimelineEvent, now_ms: int) -> None:
    """Apply one timeline event to a running sim at ``now_ms`` (its own time on the clock).

    An event the engine refuses (a fill of an order already closed, a debit below zero) is
    logged and skipped: the timeline goes on, as a market does."""
    sc = sim.options.scenario
    assert sc is not None
    eng = sim.engine
    d = ev.data
    k = ev.kind
    if k == "mark":
        sim.commit(eng.set_mark(d["market"], d["price"], now_ms))
    elif k == "fill":
        acct = sc.accounts[d["account"]]
        order = eng.find_by_client_id(acct.address, d["client_id"])
        sim.commit(eng.force_fill(order.id, d.get("size"), d.get("price"), now_ms))
    elif k == "funding":
        sim.commit(eng.fund(d["market"], d["rate"], now_ms))
    elif k == "deposit":
        sim.commit(eng.deposit(sc.accounts[d["account"]].address, d["amount"], now_ms))
    elif k == "maintenance":
        sim.system_status = d["status"] if d["on"] else "ok"
    elif k == "faults":
        sim.update_faults(d["set"], now_ms)
    elif k == "staleness":
        sim.set_staleness(d["set"])
    elif k == "disconnect":
        await sim.hub.disconnect_all(d["code"])
