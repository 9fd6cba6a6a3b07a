"""StateManager: the one place where REST snapshots and WebSocket frames are merged.

Theory of operation
===================

Every fact about the account reaches this module as an :class:`Update`: a kind (order, position,
balance, fill, account, tradebust), a key (order id, market, token, fill id, ``"account"``), the
payload exactly as the exchange sent it, the source it came from (``rest`` or ``ws``), the local
time it was received (``received_at``, ms, passed in: this module never reads a clock), and two
facts lifted from the payload: the exchange's ``seq_no`` and its exchange time (``exchange_ts``:
``last_updated_at`` for orders, positions and balances, ``updated_at`` for the account,
``created_at`` for fills, balance events and tradebusts).

:meth:`StateManager.apply` returns a :class:`Decision` for every update, accepted or not, with a
named :class:`Reason`. Decisions are returned, never stored, so memory does not grow with the
length of a stream. A first sighting of a key is ``new``. For a known key, ``apply`` runs the
rule functions of :data:`RULES` in this order; each returns a :class:`Reason` or nothing, and the
first that returns one decides (rule 6 always does). Rules 7 and 8 then check the outcome.

Rule 0 (unreadable is malformed): the builders (``Update.order`` ...) refuse a payload whose
    key, ``seq_no``, exchange time, order status or a :data:`REQUIRED_FIELDS` field (an
    order's market, side, type and size; a position's or balance's size; a fill's market,
    side, size and price) cannot be read, with :class:`ModelError`. A listing row, a lookup or
    :meth:`StateManager.apply_payload` turns that into a ``malformed`` decision (nothing
    changes; counted in :attr:`StateManager.malformed`). Other fields are parsed lazily.

Rule 1 (same source, same key): ``seq_no`` values are compared only with the last *accepted*
    ``seq_no`` from the same source for the same key. One at or below it is dropped as
    ``stale_seq``; one equal to it with the same content is a ``duplicate``. Paradex draws REST
    and WS ``seq_no`` independently, so values from different sources are never compared.

Rule 2 (terminal is sticky): once an order is CLOSED, any non-CLOSED update is rejected as
    ``terminal``, whatever its source or timestamp. The rule survives eviction: a CLOSED order
    dropped by ``max_closed_orders`` leaves a tombstone that keeps refusing non-CLOSED updates.

Rule 3 (exchange time decides): an update whose exchange time is strictly newer than the
    current state's is accepted (``newer``); an older one is dropped (``older``, or
    ``ws_recent`` for a REST update received less than ``grace_ms`` after the key's last WS
    frame). The same time with the same content is a ``duplicate``.

Rule 4 (the order lifecycle at one exchange time): at the same exchange time, an order status
    strictly later in the lifecycle (:data:`LATER_STATUSES`: NEW or UNTRIGGERED then OPEN, any
    live status then CLOSED) is ``progress``, accepted from either source, inside the grace
    window too; a strictly earlier one is refused (``earlier_status``). The sim (and the
    venue) stamp NEW and OPEN with the same ``last_updated_at``; without this rule a lost WS
    OPEN frame left the order NEW, every REST OPEN refused as a conflict. NEW and UNTRIGGERED
    are each reachable from the other, so neither is later: rule 5 decides.

Rule 5 (source priority at one exchange time): the same time with different content. Across
    sources, the WS version is kept and the key flagged as a conflict (reason ``conflict``:
    accepted when a WS update replaces a REST one, rejected when a REST update meets a WS one).
    From one source, the later arrival is accepted (``newer_seq``), except for a REST update
    inside the grace window (``ws_recent``).

Rule 6 (no exchange time): when the update or the current state has no exchange time, arrival
    order with source priority decides: an update received before the current state was is
    ``older_arrival``; a WS update is accepted (``no_exchange_time_ws_priority``); a REST update
    is rejected inside the grace window (``no_exchange_time_ws_recent``) and accepted after it
    (``rest_after_grace``), or, for a key never seen on WS, by arrival
    (``no_exchange_time_latest``).

Rule 7 (transition table): an order status must be reachable in :data:`ORDER_TRANSITIONS`
    (frames in between may be missing); an acceptance that moves otherwise (e.g. OPEN ->
    UNTRIGGERED at a newer time) becomes ``illegal_transition``.

Rule 8 (CLOSED is absorbing): a CLOSED report for an order held as live is accepted even when an
    earlier rule dropped it (``terminal_wins``): a venue that ever said CLOSED means the order
    is closed now.

Rule 9 (absence is not evidence): an order missing from an open-orders snapshot is not closed.
    :meth:`StateManager.apply_snapshot` marks it ``unconfirmed`` (its state is left unchanged)
    until a later accepted or duplicate update, or a lookup by id (:meth:`StateManager.settle`),
    confirms it. The snapshot's ``boundary_at`` is taken *before* the REST call is sent; a key
    whose state was received or last updated at or after the boundary cannot be judged by its
    absence (``after_boundary``). Positions and balances get the same treatment; fills,
    tradebusts and the account are never judged by absence. A lookup that finds nothing
    changes nothing (``not_found``).

Rule 10 (fills are append-only): a fill id is stored once (``new``); a repeat with the same
    content is a ``duplicate``, one with different content a ``conflict`` (the first is kept). A
    tradebust marks its fill busted (``busted``), also when it arrives before the fill.

Content and duplicates
    Two payloads have the same *content* when the fields of :data:`CONTENT_FIELDS` for their
    kind are equal (numbers compared as decimals, so ``"1.50"`` equals ``"1.5"``). Transport
    fields (``seq_no``, ``published_at``) and mark-price-driven fields (a position's unrealized
    PnL) are left out. A same-content update at the current exchange time is a ``duplicate``:
    nothing changes except the per-source ``seq_no`` high-water mark and the unconfirmed flag.

Replay
    A recording replays the ``rest``/``ws`` source it recorded (``Update.replayed`` is set by the
    reader), with the recorded ``received_at``; the decisions are therefore identical to those
    made live, which is what makes ``reconcile --replay`` byte-for-byte reproducible.

Performance: the hot path is a few dict lookups and integer comparisons on the raw payload
    dict; parsing into :mod:`paradexctl.core.models` objects is lazy (views) and cached.
    :class:`Update` and :class:`Decision` are ``NamedTuple`` rather than frozen dataclasses:
    a frozen dataclass's ``__init__`` was measured at 4x the cost of a NamedTuple's here.
    Memory: one entry per key plus the fills; ``max_fills``, ``max_closed_orders`` and
    ``max_tombstones`` bound a long stream (see :class:`StateManager`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, NamedTuple

from paradexctl.core.models import (
    ORDER_SIDES,
    ORDER_STATUSES,
    Account,
    Balance,
    Fill,
    ModelError,
    Order,
    Position,
    parse_account,
    parse_balance,
    parse_fill,
    parse_order,
    parse_position,
    show_value,
)

__all__ = [
    "CONTENT_FIELDS",
    "DEFAULT_GRACE_MS",
    "LATER_STATUSES",
    "ORDER_TRANSITIONS",
    "REQUIRED_FIELDS",
    "RULES",
    "TERMINAL_STATUSES",
    "CancelCheck",
    "Decision",
    "KeyState",
    "Kind",
    "Reason",
    "Source",
    "StateManager",
    "Update",
    "malformed_reason",
    "same_content",
]

DEFAULT_GRACE_MS = 5000
ACCOUNT_KEY = "account"


class Source(StrEnum):
    """Where an update came from. A replayed update carries the source it recorded."""

    REST = "rest"
    WS = "ws"


class Kind(StrEnum):
    ORDER = "order"
    POSITION = "position"
    BALANCE = "balance"
    FILL = "fill"
    ACCOUNT = "account"
    TRADEBUST = "tradebust"


class Reason(StrEnum):
    """Why an update was accepted or rejected. The rule number is in :data:`REASON_TEXT`."""

    # accepted
    NEW = "new"
    NEWER = "newer"
    NEWER_SEQ = "newer_seq"
    REST_AFTER_GRACE = "rest_after_grace"
    NO_EXCHANGE_TIME_WS_PRIORITY = "no_exchange_time_ws_priority"
    NO_EXCHANGE_TIME_LATEST = "no_exchange_time_latest"
    BUSTED = "busted"
    TERMINAL_WINS = "terminal_wins"
    PROGRESS = "progress"
    # rejected
    STALE_SEQ = "stale_seq"
    DUPLICATE = "duplicate"
    OLDER = "older"
    TERMINAL = "terminal"
    ILLEGAL_TRANSITION = "illegal_transition"
    EARLIER_STATUS = "earlier_status"
    MALFORMED = "malformed"
    WS_RECENT = "ws_recent"
    OLDER_ARRIVAL = "older_arrival"
    NO_EXCHANGE_TIME_WS_RECENT = "no_exchange_time_ws_recent"
    UNCONFIRMED = "unconfirmed"
    AFTER_BOUNDARY = "after_boundary"
    NOT_FOUND = "not_found"
    # either (see Decision.accepted)
    CONFLICT = "conflict"


REASON_TEXT: Mapping[Reason, str] = {
    Reason.NEW: "first state seen for this key",
    Reason.STALE_SEQ: "rule 1: seq_no at or below the last accepted from this source",
    Reason.DUPLICATE: "same content as the current state",
    Reason.TERMINAL: "rule 2: order is CLOSED; CLOSED is terminal",
    Reason.NEWER: "rule 3: strictly newer exchange time",
    Reason.OLDER: "rule 3: older than the current state",
    Reason.WS_RECENT: "rule 3/5: REST not strictly newer than a WS frame inside the grace window",
    Reason.PROGRESS: "rule 4: same exchange time, a status later in the order lifecycle",
    Reason.EARLIER_STATUS: "rule 4: same exchange time, a status earlier in the order lifecycle",
    Reason.CONFLICT: "rule 5: same exchange time, different content across sources; WS kept",
    Reason.NEWER_SEQ: "rule 5: same source and exchange time, later arrival",
    Reason.OLDER_ARRIVAL: "rule 6: no exchange time; received before the current state was",
    Reason.NO_EXCHANGE_TIME_WS_PRIORITY: "rule 6: no exchange time; WS wins by arrival",
    Reason.NO_EXCHANGE_TIME_WS_RECENT: "rule 6: no exchange time; REST waits out the grace "
    "window after a WS frame",
    Reason.REST_AFTER_GRACE: "rule 6: no exchange time; REST accepted, last WS frame older than "
    "the grace window",
    Reason.NO_EXCHANGE_TIME_LATEST: "rule 6: no exchange time; never seen on WS, latest arrival "
    "wins",
    Reason.ILLEGAL_TRANSITION: "rule 7: status not reachable in the order transition table",
    Reason.TERMINAL_WINS: "rule 8: a CLOSED report closes a live order although an earlier "
    "rule would have dropped it",
    Reason.UNCONFIRMED: "rule 9: absent from a snapshot; state kept, marked unconfirmed",
    Reason.AFTER_BOUNDARY: "rule 9: absent from a snapshot, but changed at or after its boundary",
    Reason.NOT_FOUND: "rule 9: lookup by id found nothing; state kept",
    Reason.BUSTED: "rule 10: tradebust marks the fill busted",
    Reason.MALFORMED: "rule 0: a required field cannot be read; nothing changed",
}

#: Order status moves, one step at a time (a status may stay the same: partial fills, modifies).
#: CLOSED is terminal (rule 2). UNTRIGGERED -> NEW is the real-world path of a stop order that
#: triggers and is queued for risk checks again. Missing from the table, hence refused:
#: OPEN -> NEW / UNTRIGGERED, and anything out of CLOSED.
ORDER_TRANSITIONS: Mapping[str, frozenset[str]] = {
    "NEW": frozenset({"NEW", "UNTRIGGERED", "OPEN", "CLOSED"}),
    "UNTRIGGERED": frozenset({"UNTRIGGERED", "NEW", "OPEN", "CLOSED"}),
    "OPEN": frozenset({"OPEN", "CLOSED"}),
    "CLOSED": frozenset({"CLOSED"}),
}


def _reachable(table: Mapping[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    """The transitive closure of ``table``: frames in between may have been missed."""
    out: dict[str, frozenset[str]] = {}
    for start in table:
        seen, todo = {start}, [start]
        while todo:
            for nxt in table[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        out[start] = frozenset(seen)
    return out


TERMINAL_STATUSES = frozenset(s for s, moves in ORDER_TRANSITIONS.items() if moves == {s})
OPEN_STATUSES = frozenset(ORDER_STATUSES - TERMINAL_STATUSES)
#: What the state manager checks: a status may be *reached* through the table, since updates in
#: between may be missing (a stop order seen UNTRIGGERED, then OPEN, skipping NEW).
_TRANSITIONS = _reachable(ORDER_TRANSITIONS)
#: Statuses strictly later in the lifecycle than each status (rule 4): reachable from it, and it
#: not reachable back. NEW -> OPEN and OPEN -> CLOSED are; NEW <-> UNTRIGGERED is not.
LATER_STATUSES: Mapping[str, frozenset[str]] = {
    s: frozenset(t for t in reach if s not in _TRANSITIONS[t]) for s, reach in _TRANSITIONS.items()
}

#: Fields that make up a payload's content, per kind (see "Content and duplicates").
CONTENT_FIELDS: Mapping[Kind, tuple[str, ...]] = {
    Kind.ORDER: (
        "status", "remaining_size", "avg_fill_price", "cancel_reason", "size", "price",
        "trigger_price", "last_updated_at", "id", "client_id", "market", "side", "type",
        "instruction", "flags", "stp", "request_info",
    ),
    Kind.POSITION: (
        "size", "status", "side", "average_entry_price", "cost", "last_fill_id",
        "realized_positional_pnl", "last_updated_at", "market",
    ),
    Kind.BALANCE: ("size", "token", "last_updated_at"),
    Kind.ACCOUNT: (
        "account_value", "free_collateral", "total_collateral", "initial_margin_requirement",
        "maintenance_margin_requirement", "margin_cushion", "status", "updated_at", "account",
    ),
    Kind.FILL: (
        "size", "price", "side", "fee", "realized_pnl", "realized_funding", "created_at", "id",
        "order_id", "market", "liquidity", "fill_type",
    ),
    Kind.TRADEBUST: ("busted_fill_id",),
}  # fmt: skip

_TS_FIELD: Mapping[Kind, str] = {
    Kind.ORDER: "last_updated_at",
    Kind.POSITION: "last_updated_at",
    Kind.BALANCE: "last_updated_at",
    Kind.ACCOUNT: "updated_at",
    Kind.FILL: "created_at",
    Kind.TRADEBUST: "created_at",
}


# Module-level aliases: global lookups are cheaper than enum attribute lookups on the hot path.
_ORDER, _FILL, _TRADEBUST, _WS = Kind.ORDER, Kind.FILL, Kind.TRADEBUST, Source.WS
_POSITION, _BALANCE = Kind.POSITION, Kind.BALANCE
# ``tuple.__new__`` skips the Python-level ``__new__`` a NamedTuple generates (one frame less
# per update); the builders pass every field, in order.
_new = tuple.__new__
_R_NEW, _R_NEWER, _R_NEWER_SEQ = Reason.NEW, Reason.NEWER, Reason.NEWER_SEQ
_R_DUPLICATE, _R_STALE_SEQ, _R_OLDER = Reason.DUPLICATE, Reason.STALE_SEQ, Reason.OLDER
_R_TERMINAL, _R_ILLEGAL, _R_WS_RECENT = Reason.TERMINAL, Reason.ILLEGAL_TRANSITION, Reason.WS_RECENT
_R_OLDER_ARRIVAL, _R_NO_TS_WS_RECENT = Reason.OLDER_ARRIVAL, Reason.NO_EXCHANGE_TIME_WS_RECENT
_R_CONFLICT, _R_REST_AFTER_GRACE = Reason.CONFLICT, Reason.REST_AFTER_GRACE
_R_NO_TS_WS, _R_NO_TS_LATEST = Reason.NO_EXCHANGE_TIME_WS_PRIORITY, Reason.NO_EXCHANGE_TIME_LATEST
_R_TERMINAL_WINS = Reason.TERMINAL_WINS
_R_PROGRESS, _R_EARLIER_STATUS = Reason.PROGRESS, Reason.EARLIER_STATUS
#: Reasons that accept (a ``conflict`` accepts only a WS update: see rule 5).
_ACCEPTING = frozenset({_R_NEWER, _R_NEWER_SEQ, _R_PROGRESS, _R_NO_TS_WS, _R_NO_TS_LATEST,
                        _R_REST_AFTER_GRACE})  # fmt: skip


# --- updates -----------------------------------------------------------------------------------


def _as_source(source: Source | str) -> Source:
    return source if type(source) is Source else Source(source)


def _payload(kind: Kind, payload: Any) -> Mapping[str, Any]:
    if type(payload) is dict or isinstance(payload, Mapping):
        return payload
    raise ModelError(f"{kind.value}: expected a JSON object, got {show_value(payload)}")


def _key(kind: Kind, payload: Mapping[str, Any], field: str) -> str:
    value = payload.get(field)
    if type(value) is str and value:
        return value
    raise ModelError(f"{kind.value}: field {field!r} must be a non-empty string, got {value!r}")


def _opt_int(kind: Kind, payload: Mapping[str, Any], field: str) -> int | None:
    value = payload.get(field)
    if type(value) is int or value is None:
        return value
    return _slow_int(kind, field, value)


def _slow_int(kind: Kind, field: str, value: Any) -> int | None:
    if value == "":
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise ModelError(f"{kind.value}: field {field!r} must be an integer, got {value!r}")


#: Fields an update of each kind must carry readable (besides its key, ``seq_no`` and exchange
#: time): without them the state cannot be shown or acted on. ``"decimal"``: a finite decimal
#: (string or int); ``"side"``: BUY or SELL; ``"str"``: a non-empty string. The builders refuse
#: a payload that lacks one (rule 0, ``malformed``); other fields are parsed lazily by the views.
REQUIRED_FIELDS: Mapping[Kind, tuple[tuple[str, str], ...]] = {
    Kind.ORDER: (("market", "str"), ("side", "side"), ("type", "str"), ("size", "decimal")),
    Kind.POSITION: (("size", "decimal"),),
    Kind.BALANCE: (("size", "decimal"),),
    Kind.ACCOUNT: (),
    Kind.FILL: (("market", "str"), ("side", "side"), ("size", "decimal"), ("price", "decimal")),
    Kind.TRADEBUST: (),
}


def _decimal_ok(value: Any) -> bool:
    """Whether ``value`` reads as a finite decimal (the fast path: digits and one dot)."""
    if type(value) is str and value.replace(".", "", 1).isdecimal():
        return True
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal) or value == "":
        return False
    try:
        return Decimal(value).is_finite()
    except InvalidOperation:
        return False


def _check_required(kind: Kind, payload: Mapping[str, Any]) -> None:
    """Raise :class:`ModelError` naming the first unreadable field of ``REQUIRED_FIELDS``."""
    for name, what in REQUIRED_FIELDS[kind]:
        value = payload.get(name)
        if what == "decimal":
            ok, expected = _decimal_ok(value), "a decimal string"
        elif what == "side":
            ok, expected = value in ORDER_SIDES, "BUY or SELL"
        else:
            ok, expected = type(value) is str and bool(value), "a non-empty string"
        if not ok:
            raise ModelError(f"{kind.value}: field {name!r} must be {expected}, got {value!r}")


class Update(NamedTuple):
    """One observation of one key, ready for :meth:`StateManager.apply`.

    Build it with the classmethod for its kind (``Update.order(payload, "ws", received_at)``),
    which checks only what the state manager relies on (key, ``seq_no``, exchange time, an
    order's status) and raises :class:`ModelError` otherwise. Full parsing is lazy.
    """

    kind: Kind
    source: Source
    key: str
    payload: Mapping[str, Any]
    received_at: int
    seq_no: int | None = None
    exchange_ts: int | None = None
    replayed: bool = False

    @classmethod
    def _build(
        cls,
        kind: Kind,
        key_field: str,
        payload: Any,
        source: Source | str,
        received_at: int,
        replayed: bool,
    ) -> Update:
        p = payload if type(payload) is dict else _payload(kind, payload)
        get = p.get
        key = get(key_field)
        if type(key) is not str or not key:
            key = _key(kind, p, key_field)
        seq = get("seq_no")
        if type(seq) is not int and seq is not None:
            seq = _slow_int(kind, "seq_no", seq)
        ts_field = _TS_FIELD[kind]
        ts = get(ts_field)
        if type(ts) is not int and ts is not None:
            ts = _slow_int(kind, ts_field, ts)
        src = source if type(source) is Source else Source(source)
        return _new(cls, (kind, src, key, p, received_at, seq, ts, replayed))

    @classmethod
    def order(
        cls, payload: Any, source: Source | str, received_at: int, *, replayed: bool = False
    ) -> Update:
        p = payload if type(payload) is dict else _payload(Kind.ORDER, payload)
        get = p.get
        key = get("id")
        if type(key) is not str or not key:
            key = _key(Kind.ORDER, p, "id")
        if get("status") not in ORDER_STATUSES:
            raise ModelError(
                f"order: field 'status' must be one of {sorted(ORDER_STATUSES)}, "
                f"got {get('status')!r}"
            )
        # Rule 0, inline (the common case costs no call): else _check_required decides.
        size, market, typ = get("size"), get("market"), get("type")
        if not (
            type(size) is str
            and size.replace(".", "", 1).isdecimal()
            and type(market) is str
            and market
            and type(typ) is str
            and typ
            and get("side") in ORDER_SIDES
        ):
            _check_required(Kind.ORDER, p)
        seq = get("seq_no")
        if type(seq) is not int and seq is not None:
            seq = _slow_int(Kind.ORDER, "seq_no", seq)
        ts = get("last_updated_at")
        if type(ts) is not int and ts is not None:
            ts = _slow_int(Kind.ORDER, "last_updated_at", ts)
        src = source if type(source) is Source else Source(source)
        return _new(cls, (_ORDER, src, key, p, received_at, seq, ts, replayed))

    @classmethod
    def position(
        cls, payload: Any, source: Source | str, received_at: int, *, replayed: bool = False
    ) -> Update:
        p = payload if type(payload) is dict else _payload(Kind.POSITION, payload)
        get = p.get
        key = get("market")
        if type(key) is not str or not key:
            key = _key(Kind.POSITION, p, "market")
        size = get("size")
        if not (type(size) is str and size.removeprefix("-").replace(".", "", 1).isdecimal()):
            _check_required(Kind.POSITION, p)
        seq = get("seq_no")
        if type(seq) is not int and seq is not None:
            seq = _slow_int(Kind.POSITION, "seq_no", seq)
        ts = get("last_updated_at")
        if type(ts) is not int and ts is not None:
            ts = _slow_int(Kind.POSITION, "last_updated_at", ts)
        src = source if type(source) is Source else Source(source)
        return _new(cls, (_POSITION, src, key, p, received_at, seq, ts, replayed))

    @classmethod
    def balance(
        cls, payload: Any, source: Source | str, received_at: int, *, replayed: bool = False
    ) -> Update:
        p = payload if type(payload) is dict else _payload(Kind.BALANCE, payload)
        get = p.get
        key = get("token")
        if type(key) is not str or not key:
            key = _key(Kind.BALANCE, p, "token")
        size = get("size")
        if not (type(size) is str and size.replace(".", "", 1).isdecimal()):
            _check_required(Kind.BALANCE, p)
        seq = get("seq_no")
        if type(seq) is not int and seq is not None:
            seq = _slow_int(Kind.BALANCE, "seq_no", seq)
        ts = get("last_updated_at")
        if type(ts) is not int and ts is not None:
            ts = _slow_int(Kind.BALANCE, "last_updated_at", ts)
        src = source if type(source) is Source else Source(source)
        return _new(cls, (_BALANCE, src, key, p, received_at, seq, ts, replayed))

    @classmethod
    def account(
        cls, payload: Any, source: Source | str, received_at: int, *, replayed: bool = False
    ) -> Update:
        p = _payload(Kind.ACCOUNT, payload)
        return cls(
            Kind.ACCOUNT,
            _as_source(source),
            ACCOUNT_KEY,
            p,
            received_at,
            _opt_int(Kind.ACCOUNT, p, "seq_no"),
            _opt_int(Kind.ACCOUNT, p, "updated_at"),
            replayed,
        )

    @classmethod
    def fill(
        cls, payload: Any, source: Source | str, received_at: int, *, replayed: bool = False
    ) -> Update:
        p = payload if type(payload) is dict else _payload(Kind.FILL, payload)
        get = p.get
        key = get("id")
        if type(key) is not str or not key:
            key = _key(Kind.FILL, p, "id")
        size, price, market = get("size"), get("price"), get("market")
        if not (
            type(size) is str
            and size.replace(".", "", 1).isdecimal()
            and type(price) is str
            and price.replace(".", "", 1).isdecimal()
            and type(market) is str
            and market
            and get("side") in ORDER_SIDES
        ):
            _check_required(Kind.FILL, p)
        seq = get("seq_no")
        if type(seq) is not int and seq is not None:
            seq = _slow_int(Kind.FILL, "seq_no", seq)
        ts = get("created_at")
        if type(ts) is not int and ts is not None:
            ts = _slow_int(Kind.FILL, "created_at", ts)
        src = source if type(source) is Source else Source(source)
        return _new(cls, (_FILL, src, key, p, received_at, seq, ts, replayed))

    @classmethod
    def tradebust(
        cls, payload: Any, source: Source | str, received_at: int, *, replayed: bool = False
    ) -> Update:
        return cls._build(Kind.TRADEBUST, "busted_fill_id", payload, source, received_at, replayed)

    @classmethod
    def balance_event(
        cls, payload: Any, source: Source | str, received_at: int, *, replayed: bool = False
    ) -> Update:
        """A WS ``balance_events`` notification as a balance update of its settlement token.

        The payload becomes ``{"token", "size", "last_updated_at"}`` from
        ``settlement_asset_name``, ``settlement_asset_balance_after`` and ``created_at``; the
        event itself is kept under ``"event"``.
        """
        p = _payload(Kind.BALANCE, payload)
        token = _key(Kind.BALANCE, p, "settlement_asset_name")
        after = p.get("settlement_asset_balance_after")
        if not _decimal_ok(after):
            raise ModelError(
                "balance_event: field 'settlement_asset_balance_after' must be a decimal "
                f"string, got {after!r}"
            )
        ts = _opt_int(Kind.BALANCE, p, "created_at")
        balance = {"token": token, "size": after, "last_updated_at": ts, "event": p}
        return cls(Kind.BALANCE, _as_source(source), token, balance, received_at, None, ts,
                   replayed)  # fmt: skip

    @classmethod
    def of(
        cls,
        kind: Kind | str,
        payload: Any,
        source: Source | str,
        received_at: int,
        *,
        replayed: bool = False,
    ) -> Update:
        """Build an update of ``kind`` (one of :class:`Kind`'s values)."""
        return _BUILDERS[Kind(kind)](payload, source, received_at, replayed=replayed)


_BUILDERS: dict[Kind, Callable[..., Update]] = {
    Kind.ORDER: Update.order,
    Kind.POSITION: Update.position,
    Kind.BALANCE: Update.balance,
    Kind.ACCOUNT: Update.account,
    Kind.FILL: Update.fill,
    Kind.TRADEBUST: Update.tradebust,
}
_BUILDERS_BY_NAME: dict[str, Callable[..., Update]] = {str(k): b for k, b in _BUILDERS.items()}
_BUILDERS_BY_NAME["balance_event"] = Update.balance_event
_KEY_FIELD: Mapping[str, str] = {
    Kind.ORDER: "id", Kind.POSITION: "market", Kind.BALANCE: "token", Kind.FILL: "id",
    Kind.TRADEBUST: "busted_fill_id", "balance_event": "settlement_asset_name",
}  # fmt: skip


def malformed_reason(kind: Kind | str, payload: Any) -> str | None:
    """Why the builder of ``kind`` (or ``"balance_event"``) refuses ``payload``; ``None`` when
    it does not. For reports: the rejection itself is :meth:`StateManager.reject_malformed`."""
    try:
        _BUILDERS_BY_NAME[kind](payload, Source.WS, 0)
    except ModelError as err:
        return str(err)
    return None


# --- decisions ---------------------------------------------------------------------------------


class Decision(NamedTuple):
    """The outcome of one update. ``prior_*`` describe the key's state before it."""

    accepted: bool
    reason: Reason
    update: Update
    prior: Mapping[str, Any] | None = None
    prior_source: Source | None = None
    prior_exchange_ts: int | None = None
    prior_received_at: int | None = None
    #: a ``malformed`` decision's payload exactly as received (``update.payload`` is ``{}``
    #: when that was not a JSON object); ``None`` otherwise
    raw: Any = None

    @property
    def kind(self) -> Kind:
        return self.update.kind

    @property
    def key(self) -> str:
        return self.update.key

    @property
    def source(self) -> Source:
        return self.update.source

    @property
    def received_at(self) -> int:
        return self.update.received_at

    @property
    def seq_no(self) -> int | None:
        return self.update.seq_no

    @property
    def exchange_ts(self) -> int | None:
        return self.update.exchange_ts

    @property
    def payload(self) -> Mapping[str, Any]:
        return self.update.payload

    @property
    def detail(self) -> str:
        """One human sentence naming the rule that decided."""
        return REASON_TEXT[self.reason]

    def to_json(self) -> dict[str, Any]:
        """A JSON-able summary for ``--explain`` (without the payloads)."""
        u = self.update
        out: dict[str, Any] = {
            "accepted": self.accepted,
            "reason": self.reason.value,
            "kind": u.kind.value,
            "key": u.key,
            "source": u.source.value,
            "received_at": u.received_at,
            "seq_no": u.seq_no,
            "exchange_ts": u.exchange_ts,
            "detail": REASON_TEXT[self.reason],
        }
        if u.replayed:
            out["replayed"] = True
        if self.prior_source is not None:
            out["prior"] = {
                "source": self.prior_source.value,
                "exchange_ts": self.prior_exchange_ts,
                "received_at": self.prior_received_at,
            }
        return out


class CancelCheck(NamedTuple):
    """Whether the local state allows sending a cancel for an order."""

    allowed: bool
    reason: str  # "open", "unknown", "terminal"
    message: str


class KeyState(NamedTuple):
    """Read-only view of what the manager holds for one key (for reconcile and output)."""

    kind: Kind
    key: str
    payload: Mapping[str, Any]
    source: Source
    seq_no: int | None
    exchange_ts: int | None
    received_at: int
    last_ws_at: int | None
    conflict: bool
    unconfirmed: bool
    busted: bool = False


class _Entry:
    """Mutable per-key bookkeeping. Holds references to payloads, never copies."""

    __slots__ = (
        "exchange_ts",
        "last_ws_at",
        "model",
        "payload",
        "received_at",
        "rest_seq",
        "seq_no",
        "source",
        "status",
        "ws_seq",
    )

    def __init__(self, u: Update) -> None:
        self.payload = u.payload
        self.source = u.source
        self.seq_no = u.seq_no
        self.exchange_ts = u.exchange_ts
        self.received_at = u.received_at
        is_ws = u.source is Source.WS
        self.ws_seq = u.seq_no if is_ws else None
        self.rest_seq = None if is_ws else u.seq_no
        self.last_ws_at = u.received_at if is_ws else None
        self.status: str | None = u.payload.get("status") if u.kind is Kind.ORDER else None
        self.model: Any = None


class _FillEntry:
    __slots__ = ("busted", "model", "payload", "received_at", "source")

    def __init__(self, u: Update, busted: bool) -> None:
        self.payload = u.payload
        self.source = u.source
        self.received_at = u.received_at
        self.busted = busted
        self.model: Fill | None = None


# --- content comparison ------------------------------------------------------------------------


def _same_value(a: Any, b: Any) -> bool:
    if a == b:
        return True
    if isinstance(a, str | int | Decimal) and isinstance(b, str | int | Decimal):
        if isinstance(a, bool) or isinstance(b, bool) or a == "" or b == "":
            return False
        try:
            return Decimal(a) == Decimal(b)
        except (InvalidOperation, ValueError):
            return False
    return False


def same_content(kind: Kind, a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """True when ``a`` and ``b`` agree on every field of ``CONTENT_FIELDS[kind]``."""
    if a is b:
        return True
    get_a, get_b = a.get, b.get
    for f in CONTENT_FIELDS[kind]:
        x = get_a(f)
        y = get_b(f)
        if x != y and not _same_value(x, y):
            return False
    return True


# --- the rules -----------------------------------------------------------------------------------
#
# One function per rule of the module docstring, in the order :meth:`StateManager.apply` runs
# them (:data:`RULES`). Each takes the manager, the update and the key's current entry, and
# returns the :class:`Reason` that decides, or ``None`` to pass to the next rule. They read the
# entry and never change it: :meth:`StateManager.apply` applies the decision.


def _in_grace(sm: StateManager, u: Update, e: _Entry) -> bool:
    """A REST update received less than ``grace_ms`` after the key's last WS frame."""
    last_ws_at = e.last_ws_at
    return u[1] is not _WS and last_ws_at is not None and u[4] - last_ws_at < sm.grace_ms


def _rule_seq(sm: StateManager, u: Update, e: _Entry) -> Reason | None:
    """Rule 1: a ``seq_no`` at or below the last accepted from the same source is stale (a
    duplicate when equal with the same content). Sources are never compared with each other."""
    seq = u[5]
    if seq is None:
        return None
    last = e.ws_seq if u[1] is _WS else e.rest_seq
    if last is None or seq > last:
        return None
    if seq == last and same_content(u[0], u[3], e.payload):
        return _R_DUPLICATE
    return _R_STALE_SEQ


def _rule_terminal(sm: StateManager, u: Update, e: _Entry) -> Reason | None:
    """Rule 2: a CLOSED order stays CLOSED."""
    if e.status in TERMINAL_STATUSES and u[3]["status"] not in TERMINAL_STATUSES:
        return _R_TERMINAL
    return None


def _rule_exchange_time(sm: StateManager, u: Update, e: _Entry) -> Reason | None:
    """Rule 3: across sources, exchange time decides (REST older than a WS frame inside the
    grace window: ``ws_recent``); the same time with the same content is a duplicate."""
    ts, cur = u[6], e.exchange_ts
    if ts is None or cur is None:
        return None
    if ts > cur:
        return _R_NEWER
    if ts < cur:
        return _R_WS_RECENT if _in_grace(sm, u, e) else _R_OLDER
    if same_content(u[0], u[3], e.payload):
        return _R_DUPLICATE
    return None


def _rule_lifecycle(sm: StateManager, u: Update, e: _Entry) -> Reason | None:
    """Rule 4: at the same exchange time, an order status strictly later in the lifecycle
    (:data:`LATER_STATUSES`: NEW then OPEN) is progress, from either source; an earlier one is
    refused. NEW and UNTRIGGERED are each reachable from the other: neither is later."""
    if u[0] is not _ORDER or u[6] is None or u[6] != e.exchange_ts:
        return None
    new, old = u[3]["status"], e.status
    if new == old or old is None:
        return None
    if new in LATER_STATUSES[old]:
        return _R_PROGRESS
    if old in LATER_STATUSES[new]:
        return _R_EARLIER_STATUS
    return None


def _rule_source_priority(sm: StateManager, u: Update, e: _Entry) -> Reason | None:
    """Rule 5: the same exchange time, different content. Across sources the WS version is kept
    and the key flagged (``conflict``); from one source, the later arrival (after REST's grace
    window)."""
    if u[6] is None or e.exchange_ts is None:
        return None
    if u[1] is not e.source:
        return _R_CONFLICT
    return _R_WS_RECENT if _in_grace(sm, u, e) else _R_NEWER_SEQ


def _rule_no_exchange_time(sm: StateManager, u: Update, e: _Entry) -> Reason:
    """Rule 6: no exchange time on one side: arrival order, with WS priority over REST inside
    the grace window. Always decides."""
    if u[4] < e.received_at:
        return _R_OLDER_ARRIVAL
    if same_content(u[0], u[3], e.payload):
        return _R_DUPLICATE
    if u[1] is _WS:
        return _R_NO_TS_WS
    if _in_grace(sm, u, e):
        return _R_NO_TS_WS_RECENT
    if e.last_ws_at is not None:
        return _R_REST_AFTER_GRACE
    return _R_NO_TS_LATEST


#: The rules :meth:`StateManager.apply` runs on an update of a known key, in order; the first
#: that returns a :class:`Reason` decides. Then rule 7 (the transition table) may refuse an
#: acceptance and rule 8 (CLOSED is absorbing) may overturn a rejection.
RULES = (
    _rule_seq,
    _rule_terminal,
    _rule_exchange_time,
    _rule_lifecycle,
    _rule_source_priority,
    _rule_no_exchange_time,
)


# --- the manager -------------------------------------------------------------------------------


class StateManager:
    """Merges REST and WS observations under the numbered rules of this module's docstring.

    Args:
        grace_ms: the grace window of rules 3, 5 and 6, in ms of ``received_at``.
        max_fills: keep at most this many fills (oldest evicted first); ``None`` keeps all.
            A long stream should set it: a fill repeated after its eviction is seen as new.
        max_closed_orders: keep the full state of at most this many CLOSED orders (oldest
            closed evicted first); ``None`` keeps all. An evicted order leaves a tombstone (its
            id), so rule 2 still holds for it: a later non-CLOSED update is ``terminal``.
        max_tombstones: keep at most this many tombstones (about 110 bytes each; oldest
            dropped first); ``None`` keeps all. An order whose tombstone was dropped is
            unknown again: a REST view stale by that many closed orders would be accepted.
    """

    def __init__(
        self,
        grace_ms: int = DEFAULT_GRACE_MS,
        *,
        max_fills: int | None = None,
        max_closed_orders: int | None = None,
        max_tombstones: int | None = None,
    ) -> None:
        if grace_ms < 0:
            raise ValueError("grace_ms must be >= 0")
        if max_fills is not None and max_fills < 1:
            raise ValueError("max_fills must be >= 1 or None")
        if max_closed_orders is not None and max_closed_orders < 0:
            raise ValueError("max_closed_orders must be >= 0 or None")
        self.grace_ms = grace_ms
        self.max_fills = max_fills
        self.max_closed_orders = max_closed_orders
        # Eviction queues are deques: popping the front of a dict is O(n) in CPython.
        self._closed: deque[str] = deque()  # CLOSED order ids, oldest first (when bounded)
        if max_tombstones is not None and max_tombstones < 0:
            raise ValueError("max_tombstones must be >= 0 or None")
        self.max_tombstones = max_tombstones
        self._tombstones: set[str] = set()  # evicted CLOSED order ids
        self._tombstone_order: deque[str] = deque()
        self._tables: dict[Kind, dict[str, _Entry]] = {
            Kind.ORDER: {},
            Kind.POSITION: {},
            Kind.BALANCE: {},
            Kind.ACCOUNT: {},
        }
        self._orders = self._tables[Kind.ORDER]
        self._by_client_id: dict[str, str] = {}
        self._open: dict[str, str] = {}  # order id -> market, for NEW/UNTRIGGERED/OPEN
        self._fills: dict[str, _FillEntry] = {}
        self._fill_order: deque[str] = deque()
        self._pending_busts: dict[str, int] = {}  # busted fill id -> received_at
        self._bust_order: deque[str] = deque()
        self._conflicts: set[tuple[Kind, str]] = set()
        self._unconfirmed: set[tuple[Kind, str]] = set()
        self._malformed: dict[Kind, int] = {}

    # --- applying updates ----------------------------------------------------------------

    def apply(self, u: Update) -> Decision:
        """Apply one update and return the decision: :data:`RULES` in their listed order."""
        kind = u[0]
        if kind is _FILL:
            return self._apply_fill(u)
        if kind is _TRADEBUST:
            return self._apply_bust(u)
        e = self._tables[kind].get(u[2])
        if e is None:
            return self._apply_first(u)
        # The listed rules, unrolled (a loop over RULES measured ~4% slower); the first that
        # returns a Reason decides. Rule 6 always does.
        reason = (
            _rule_seq(self, u, e)
            or _rule_terminal(self, u, e)
            or _rule_exchange_time(self, u, e)
            or _rule_lifecycle(self, u, e)
            or _rule_source_priority(self, u, e)
            or _rule_no_exchange_time(self, u, e)
        )
        if u[1] is _WS:
            e.last_ws_at = u[4]
        if reason in _ACCEPTING or (reason is _R_CONFLICT and u[1] is _WS):
            if kind is _ORDER:
                new_status = u[3]["status"]
                if new_status != e.status:
                    # Rule 7: the transition table, checked on what would be accepted.
                    if new_status not in _TRANSITIONS[e.status or "NEW"]:
                        return self._reject(u, e, _R_ILLEGAL)
                    e.status = new_status
                    self._index_order(u[2], u[3])
            return self._accept(u, e, reason)
        if reason is _R_DUPLICATE:
            return self._duplicate(u, e)
        return self._reject(u, e, reason)

    def _apply_first(self, u: Update) -> Decision:
        """The first sighting of a key: ``new`` (a tombstoned order: rule 2, see ``_evict``)."""
        kind, key = u[0], u[2]
        if kind is _ORDER:
            if self._tombstones and key in self._tombstones:
                closed = u[3]["status"] in TERMINAL_STATUSES
                return _new(Decision, (False, _R_DUPLICATE if closed else _R_TERMINAL, u,
                                       None, None, None, None))  # fmt: skip
            self._orders[key] = _Entry(u)
            self._index_order(key, u[3])
        else:
            self._tables[kind][key] = _Entry(u)
        return _new(Decision, (True, _R_NEW, u, None, None, None, None))

    def _reject(self, u: Update, e: _Entry, reason: Reason) -> Decision:
        """A rejection; rule 8 turns it into ``terminal_wins`` for a CLOSED report of a live
        order (CLOSED is absorbing)."""
        if u[0] is _ORDER and e.status not in TERMINAL_STATUSES:
            status = u[3]["status"]
            if status in TERMINAL_STATUSES:
                e.status = status
                self._index_order(u[2], u[3])
                return self._accept(u, e, _R_TERMINAL_WINS)
        if reason is _R_CONFLICT:
            self._conflicts.add((u[0], u[2]))
        return _new(Decision, (False, reason, u, e.payload, e.source, e.exchange_ts,
                               e.received_at))  # fmt: skip

    def _accept(self, u: Update, e: _Entry, reason: Reason) -> Decision:
        kind, src, key, payload, received_at, seq, ts, _ = u
        d = _new(Decision, (True, reason, u, e.payload, e.source, e.exchange_ts, e.received_at))
        e.payload = payload
        e.source = src
        e.seq_no = seq
        e.exchange_ts = ts
        e.received_at = received_at
        e.model = None
        if seq is not None:
            if src is _WS:
                if e.ws_seq is None or seq > e.ws_seq:
                    e.ws_seq = seq
            elif e.rest_seq is None or seq > e.rest_seq:
                e.rest_seq = seq
        if reason is _R_CONFLICT:
            self._conflicts.add((kind, key))
        elif self._conflicts:
            self._conflicts.discard((kind, key))
        if self._unconfirmed:
            self._unconfirmed.discard((kind, key))
        return d

    def _duplicate(self, u: Update, e: _Entry) -> Decision:
        prior = (e.payload, e.source, e.exchange_ts, e.received_at)
        seq = u.seq_no
        if seq is not None:
            if u.source is _WS:
                if e.ws_seq is None or seq > e.ws_seq:
                    e.ws_seq = seq
            elif e.rest_seq is None or seq > e.rest_seq:
                e.rest_seq = seq
        self._confirm(u.kind, u.key)
        return Decision(False, _R_DUPLICATE, u, *prior)

    def _confirm(self, kind: Kind, key: str) -> None:
        if self._unconfirmed:
            self._unconfirmed.discard((kind, key))

    def _index_order(self, order_id: str, payload: Mapping[str, Any]) -> None:
        cid = payload.get("client_id")
        if cid and type(cid) is str:
            self._by_client_id[cid] = order_id
        if payload.get("status") in OPEN_STATUSES:
            self._open[order_id] = payload.get("market") or ""
        else:
            self._open.pop(order_id, None)
            if self.max_closed_orders is not None:
                self._closed.append(order_id)
                while len(self._closed) > self.max_closed_orders:
                    self._evict(self._closed.popleft())

    def _evict(self, order_id: str) -> None:
        e = self._orders.pop(order_id, None)
        if e is not None:
            cid = e.payload.get("client_id")
            if cid and self._by_client_id.get(cid) == order_id:
                del self._by_client_id[cid]
        self._conflicts.discard((Kind.ORDER, order_id))
        self._tombstones.add(order_id)
        self._tombstone_order.append(order_id)
        if self.max_tombstones is not None and len(self._tombstones) > self.max_tombstones:
            self._tombstones.discard(self._tombstone_order.popleft())

    def _apply_fill(self, u: Update) -> Decision:
        e = self._fills.get(u.key)
        if e is None:
            busted = self._pending_busts.pop(u.key, None) is not None
            self._fills[u.key] = _FillEntry(u, busted)
            if self.max_fills is not None:
                self._fill_order.append(u.key)
                if len(self._fills) > self.max_fills:
                    del self._fills[self._fill_order.popleft()]
            return Decision(True, Reason.NEW, u)
        prior = (e.payload, e.source, _opt_int(Kind.FILL, e.payload, "created_at"), e.received_at)
        if same_content(Kind.FILL, u.payload, e.payload):
            return Decision(False, Reason.DUPLICATE, u, *prior)
        self._conflicts.add((Kind.FILL, u.key))
        return Decision(False, Reason.CONFLICT, u, *prior)

    def _apply_bust(self, u: Update) -> Decision:
        fill_id = u.key
        e = self._fills.get(fill_id)
        if e is not None:
            prior = (e.payload, e.source, None, e.received_at)
            if e.busted:
                return Decision(False, Reason.DUPLICATE, u, *prior)
            e.busted = True
            return Decision(True, Reason.BUSTED, u, *prior)
        if fill_id in self._pending_busts:
            return Decision(False, Reason.DUPLICATE, u)
        self._pending_busts[fill_id] = u.received_at
        if self.max_fills is not None:
            self._bust_order.append(fill_id)
            while len(self._pending_busts) > self.max_fills and self._bust_order:
                self._pending_busts.pop(self._bust_order.popleft(), None)
        return Decision(True, Reason.BUSTED, u)

    def apply_payload(
        self,
        kind: Kind | str,
        payload: Any,
        source: Source | str,
        received_at: int,
        *,
        replayed: bool = False,
    ) -> Decision:
        """Build the update of ``kind`` (a :class:`Kind` or ``"balance_event"``) and apply it;
        a payload the builder refuses is rejected as ``malformed`` (rule 0) and counted."""
        build = _BUILDERS_BY_NAME[kind]
        try:
            u = build(payload, source, received_at, replayed=replayed)
        except ModelError:
            return self.reject_malformed(kind, payload, source, received_at, replayed=replayed)
        return self.apply(u)

    def reject_malformed(
        self,
        kind: Kind | str,
        payload: Any,
        source: Source | str,
        received_at: int,
        *,
        replayed: bool = False,
        key: str | None = None,
    ) -> Decision:
        """Rule 0: a payload whose key, ``seq_no``, exchange time or a :data:`REQUIRED_FIELDS`
        field cannot be read changes nothing. The decision (``malformed``, not accepted) carries
        the payload as received and the key when it is readable (else ``""``); it is counted in
        :attr:`malformed`. :func:`malformed_reason` says what is wrong."""
        k = Kind.BALANCE if kind == "balance_event" else Kind(kind)
        p: Mapping[str, Any] = payload if isinstance(payload, Mapping) else {}
        if key is None and k is Kind.ACCOUNT:
            key = ACCOUNT_KEY
        elif key is None:
            raw = p.get(_KEY_FIELD["balance_event" if kind == "balance_event" else k])
            key = raw if type(raw) is str else ""
        self._malformed[k] = self._malformed.get(k, 0) + 1
        u = Update(k, _as_source(source), key, p, received_at, None, None, replayed)
        e = self._tables[k].get(key) if k in self._tables else None
        if e is None:
            return Decision(False, Reason.MALFORMED, u, raw=payload)
        return Decision(
            False, Reason.MALFORMED, u, e.payload, e.source, e.exchange_ts, e.received_at, payload
        )

    @property
    def malformed(self) -> dict[Kind, int]:
        """How many payloads of each kind were rejected as ``malformed`` (rule 0)."""
        return dict(self._malformed)

    def apply_snapshot(
        self,
        kind: Kind | str,
        payloads: Iterable[Any],
        *,
        source: Source | str = Source.REST,
        boundary_at: int,
        received_at: int,
        market: str | None = None,
        replayed: bool = False,
    ) -> list[Decision]:
        """Apply a full listing (REST open orders, positions, balances) taken at ``boundary_at``.

        Each payload is applied as an update; then every known, live key of ``kind`` (restricted
        to ``market`` when the listing was) that the listing does not mention is judged by rule
        9: ``unconfirmed`` (and flagged) or ``after_boundary``. Fills, tradebusts and the account
        are applied without the absence step.
        """
        kind = Kind(kind)
        src = _as_source(source)
        build = _BUILDERS[kind]
        decisions: list[Decision] = []
        seen: set[str] = set()
        for payload in payloads:
            try:
                u = build(payload, src, received_at, replayed=replayed)
            except ModelError:
                d = self.reject_malformed(kind, payload, src, received_at, replayed=replayed)
                seen.add(d.key)  # listed, though unreadable: not judged by absence
                decisions.append(d)
                continue
            seen.add(u.key)
            decisions.append(self.apply(u))
        if kind not in (Kind.ORDER, Kind.POSITION, Kind.BALANCE):
            return decisions
        for key in sorted(self._tables[kind]):
            if key in seen:
                continue
            e = self._tables[kind][key]
            if not _is_live(kind, e):
                continue
            if market is not None and e.payload.get("market") != market:
                continue
            absent = Update(kind, src, key, {}, received_at, None, None, replayed)
            prior = (e.payload, e.source, e.exchange_ts, e.received_at)
            changed_after = e.received_at >= boundary_at or (
                e.exchange_ts is not None and e.exchange_ts >= boundary_at
            )
            if changed_after:
                decisions.append(Decision(False, Reason.AFTER_BOUNDARY, absent, *prior))
            else:
                self._unconfirmed.add((kind, key))
                decisions.append(Decision(False, Reason.UNCONFIRMED, absent, *prior))
        return decisions

    def settle(
        self,
        order_id: str,
        payload: Mapping[str, Any] | None,
        received_at: int,
        *,
        replayed: bool = False,
    ) -> Decision:
        """Apply the result of a REST lookup of one order by id (rule 9).

        A payload is applied as a REST update; an accepted or duplicate one clears the
        ``unconfirmed`` flag. ``None`` (not found) changes nothing: reason ``not_found``.
        """
        if payload is not None:
            try:
                u = Update.order(payload, Source.REST, received_at, replayed=replayed)
            except ModelError:
                return self.reject_malformed(
                    Kind.ORDER, payload, Source.REST, received_at, replayed=replayed, key=order_id
                )
            if u.key != order_id:
                raise ModelError(f"order lookup for {order_id!r} returned order {u.key!r}")
            return self.apply(u)
        absent = Update(Kind.ORDER, Source.REST, order_id, {}, received_at, None, None, replayed)
        e = self._orders.get(order_id)
        if e is None:
            return Decision(False, Reason.NOT_FOUND, absent)
        return Decision(
            False, Reason.NOT_FOUND, absent, e.payload, e.source, e.exchange_ts, e.received_at
        )

    # --- views -----------------------------------------------------------------------------

    def _model(self, kind: Kind, e: _Entry) -> Any:
        if e.model is None:
            e.model = _PARSERS[kind](e.payload)
        return e.model

    @property
    def orders(self) -> dict[str, Order]:
        """All known orders by id (parsed lazily; raises ModelError on a malformed payload)."""
        return {k: self._model(Kind.ORDER, e) for k, e in self._orders.items()}

    def order(self, order_id: str) -> Order | None:
        e = self._orders.get(order_id)
        return None if e is None else self._model(Kind.ORDER, e)

    def order_by_client_id(self, client_id: str) -> Order | None:
        order_id = self._by_client_id.get(client_id)
        return None if order_id is None else self.order(order_id)

    def open_orders(self, market: str | None = None) -> dict[str, Order]:
        """Orders whose current status is NEW, UNTRIGGERED or OPEN (unconfirmed ones included)."""
        return {
            k: self._model(Kind.ORDER, self._orders[k])
            for k, m in self._open.items()
            if market is None or m == market
        }

    def has_open_order(self, market: str | None = None) -> bool:
        """True if any order (in ``market``) is live. An unconfirmed order counts as live."""
        if market is None:
            return bool(self._open)
        return any(m == market for m in self._open.values())

    def is_terminal(self, order_id: str) -> bool:
        e = self._orders.get(order_id)
        if e is None:
            return order_id in self._tombstones
        return e.status in TERMINAL_STATUSES

    def check_cancellable(self, order_id: str) -> CancelCheck:
        """Whether a cancel of ``order_id`` may be sent. A CLOSED order must not be cancelled."""
        e = self._orders.get(order_id)
        if e is None and order_id in self._tombstones:
            return CancelCheck(
                False, "terminal", f"order {order_id} is already CLOSED; not sending a cancel"
            )
        if e is None:
            return CancelCheck(True, "unknown", f"order {order_id} is not in the local state")
        if e.status in TERMINAL_STATUSES:
            why = e.payload.get("cancel_reason") or "filled or cancelled"
            return CancelCheck(
                False,
                "terminal",
                f"order {order_id} is already {e.status} ({why}, per {e.source.value} at "
                f"{e.exchange_ts if e.exchange_ts is not None else e.received_at}); "
                "not sending a cancel",
            )
        return CancelCheck(True, "open", f"order {order_id} is {e.status}")

    @property
    def positions(self) -> dict[str, Position]:
        t = self._tables[Kind.POSITION]
        return {k: self._model(Kind.POSITION, e) for k, e in t.items()}

    def position(self, market: str) -> Position | None:
        e = self._tables[Kind.POSITION].get(market)
        return None if e is None else self._model(Kind.POSITION, e)

    @property
    def balances(self) -> dict[str, Balance]:
        t = self._tables[Kind.BALANCE]
        return {k: self._model(Kind.BALANCE, e) for k, e in t.items()}

    def balance(self, token: str) -> Balance | None:
        e = self._tables[Kind.BALANCE].get(token)
        return None if e is None else self._model(Kind.BALANCE, e)

    @property
    def account(self) -> Account | None:
        e = self._tables[Kind.ACCOUNT].get(ACCOUNT_KEY)
        return None if e is None else self._model(Kind.ACCOUNT, e)

    @property
    def fills(self) -> dict[str, Fill]:
        """All kept fills by id, in arrival order (busted ones included: see ``is_busted``)."""
        out: dict[str, Fill] = {}
        for k, e in self._fills.items():
            if e.model is None:
                e.model = parse_fill(e.payload)
            out[k] = e.model
        return out

    def is_busted(self, fill_id: str) -> bool:
        e = self._fills.get(fill_id)
        return e.busted if e is not None else fill_id in self._pending_busts

    @property
    def conflicts(self) -> frozenset[tuple[Kind, str]]:
        """Keys whose current state met a same-time, different-content version (rules 5, 10)."""
        return frozenset(self._conflicts)

    @property
    def unconfirmed(self) -> frozenset[tuple[Kind, str]]:
        """Keys absent from a snapshot and not confirmed since (rule 9)."""
        return frozenset(self._unconfirmed)

    def keys(self, kind: Kind | str) -> list[str]:
        """The known keys of ``kind``, sorted."""
        kind = Kind(kind)
        if kind is Kind.FILL:
            return sorted(self._fills)
        if kind is Kind.TRADEBUST:
            return sorted([k for k, e in self._fills.items() if e.busted] + [*self._pending_busts])
        return sorted(self._tables[kind])

    def get(self, kind: Kind | str, key: str) -> KeyState | None:
        """What the manager holds for one key, with its provenance."""
        kind = Kind(kind)
        if kind is Kind.FILL:
            f = self._fills.get(key)
            if f is None:
                return None
            return KeyState(
                kind, key, f.payload, f.source, None,
                _opt_int(Kind.FILL, f.payload, "created_at"), f.received_at, None,
                (kind, key) in self._conflicts, False, f.busted,
            )  # fmt: skip
        if kind is Kind.TRADEBUST:
            raise ValueError("tradebusts are not keys of their own; use is_busted(fill_id)")
        e = self._tables[kind].get(key)
        if e is None:
            return None
        return KeyState(
            kind, key, e.payload, e.source, e.seq_no, e.exchange_ts, e.received_at, e.last_ws_at,
            (kind, key) in self._conflicts, (kind, key) in self._unconfirmed,
        )  # fmt: skip

    def __iter__(self) -> Iterator[KeyState]:
        """Every key's state, in a deterministic order (kind, then key)."""
        for kind in (Kind.ORDER, Kind.POSITION, Kind.BALANCE, Kind.ACCOUNT, Kind.FILL):
            for key in self.keys(kind):
                ks = self.get(kind, key)
                assert ks is not None
                yield ks

    def snapshot(self) -> dict[str, Any]:
        """A deterministic, JSON-able view: payloads as received (Decimals as strings), with
        provenance per key. Keys are sorted; dump with ``sort_keys=True`` for canonical bytes."""
        out: dict[str, Any] = {"orders": {}, "positions": {}, "balances": {}, "account": None,
                               "fills": {}}  # fmt: skip
        names = {Kind.ORDER: "orders", Kind.POSITION: "positions", Kind.BALANCE: "balances"}
        for ks in self:
            row: dict[str, Any] = {
                "data": _jsonable(ks.payload),
                "source": ks.source.value,
                "exchange_ts": ks.exchange_ts,
                "received_at": ks.received_at,
            }
            if ks.kind is Kind.FILL:
                row["busted"] = ks.busted
                out["fills"][ks.key] = row
                continue
            row["seq_no"] = ks.seq_no
            row["conflict"] = ks.conflict
            row["unconfirmed"] = ks.unconfirmed
            if ks.kind is Kind.ACCOUNT:
                out["account"] = row
            else:
                out[names[ks.kind]][ks.key] = row
        return out


def _is_live(kind: Kind, e: _Entry) -> bool:
    """Whether a key's absence from a listing would mean something (rule 9)."""
    if kind is Kind.ORDER:
        return e.status not in TERMINAL_STATUSES
    if kind is Kind.POSITION and e.payload.get("status") == "CLOSED":
        return False
    size = e.payload.get("size")
    try:
        return Decimal(size) != 0 if isinstance(size, str | int | Decimal) else True
    except InvalidOperation:
        return True


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


_PARSERS: Mapping[Kind, Any] = {
    Kind.ORDER: parse_order,
    Kind.POSITION: parse_position,
    Kind.BALANCE: parse_balance,
    Kind.ACCOUNT: parse_account,
}
