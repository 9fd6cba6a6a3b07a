"""Hypothesis properties of the StateManager (issue 7).

A *true history* of one order, position or balance is generated (strictly increasing exchange
timestamps, per-source seq_nos drawn independently for REST and WS). From it we derive WS frames
(duplicated, delayed, hence reordered; dropped only in the scenario that ends with a fresh REST
read) and REST reads (stale by random lags: they show the truth as of ``sent - lag``, with their
own REST seq_nos), interleaved by arrival time. Properties:

(a) the merged state equals the truth's final state once every WS frame has arrived, or after a
    final fresh REST read taken more than the grace window after the last WS frame (rules 1-4, 6);
(b) a CLOSED order never reverts (rule 2);
(c) an older state never replaces a newer one (rules 1, 3, 5);
(d) issue 11: any delivery order and duplication, over either source, of one venue history in
    which NEW and OPEN (and possibly OPEN and CLOSED) share an exchange time converges to the
    final status (rule 4), never stepping back in the lifecycle on the way.

Examples: ``make test`` (and so CI) runs the thorough profile, 4,000 examples over the five
properties (about 20 s), from a fresh random seed each run, so every run explores new cases; a
failure names the seed and ``PARADEXCTL_HYPOTHESIS_SEED=<seed>`` replays it.
``PARADEXCTL_HYPOTHESIS=dev`` is the quick local profile: a quarter of the examples,
derandomized (the same ones every run).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hypothesis import given, note, seed, settings
from hypothesis import strategies as st

from paradexctl.core.state import (
    ORDER_TRANSITIONS,
    KeyState,
    Kind,
    Source,
    StateManager,
    Update,
)

T0 = 1_718_958_000_000
GRACE = 5000
DEV = os.environ.get("PARADEXCTL_HYPOTHESIS") == "dev"
SEED = int(os.environ.get("PARADEXCTL_HYPOTHESIS_SEED") or random.SystemRandom().randrange(2**32))


def profile(examples: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The settings of one property: ``examples`` in the thorough (CI) profile, from ``SEED``;
    a quarter of them, derandomized, in the dev profile."""
    s = settings(
        max_examples=max(1, examples // 4) if DEV else examples,
        deadline=None,
        derandomize=DEV,
        database=None,
    )

    def apply(test: Callable[..., None]) -> Callable[..., None]:
        return s(test) if DEV else s(seed(SEED)(test))

    return apply


def _name_the_seed() -> None:
    if not DEV:
        note(f"replay with PARADEXCTL_HYPOTHESIS_SEED={SEED}")


#: examples per property in the thorough profile (4,000 in all)
EXAMPLES = {"order": 1000, "position": 1000, "balance": 1000, "interleaved": 300, "lying": 700,
            "lifecycle_ties": 600}  # fmt: skip


@dataclass
class Version:
    ts: int
    ws_seq: int
    rest_seq: int
    fields: dict[str, Any]


@dataclass
class Event:
    at: int
    order: int  # tie-break: generation order
    run: Callable[[StateManager], None]


def _seqs(draw: st.DrawFn, n: int, base: int) -> list[int]:
    out, seq = [], base
    for _ in range(n):
        seq += draw(st.integers(1, 10**6))
        out.append(seq)
    return out


@st.composite
def histories(draw: st.DrawFn, kind: Kind, ties: bool = False) -> list[Version]:
    if kind is Kind.ORDER:
        statuses = [draw(st.sampled_from(["NEW", "UNTRIGGERED"]))]
        for _ in range(draw(st.integers(0, 6))):
            if statuses[-1] == "CLOSED":
                break
            statuses.append(draw(st.sampled_from(sorted(ORDER_TRANSITIONS[statuses[-1]]))))
        contents = [
            {"status": s, "remaining_size": str(10 - i), "cancel_reason": ""}
            for i, s in enumerate(statuses)
        ]
    elif kind is Kind.POSITION:
        sizes = draw(st.lists(st.integers(-5000, 5000), min_size=1, max_size=7))
        contents = [
            {"size": str(Decimal(s) / 1000), "status": "OPEN" if s else "CLOSED"} for s in sizes
        ]
    else:
        sizes = draw(st.lists(st.integers(0, 10**8), min_size=1, max_size=7))
        contents = [{"size": str(Decimal(s) / 100)} for s in sizes]
    n = len(contents)
    ts, t = [], T0
    for _ in range(n):
        # With ties, consecutive versions may share a millisecond: only seq_no orders them.
        t += draw(st.integers(0 if ties else 1, 3000))
        ts.append(t)
    # Independent REST and WS seq_no spaces (REST may be far above or below WS).
    ws = _seqs(draw, n, draw(st.integers(0, 10**12)))
    rest = _seqs(draw, n, draw(st.integers(0, 10**12)))
    return [Version(ts[i], ws[i], rest[i], contents[i]) for i in range(n)]


KEYS = {Kind.ORDER: "o1", Kind.POSITION: "BTC-USD-PERP", Kind.BALANCE: "USDC"}


def payload(kind: Kind, v: Version, source: Source) -> dict[str, Any]:
    seq = v.ws_seq if source is Source.WS else v.rest_seq
    if kind is Kind.ORDER:
        return {"id": "o1", "client_id": "c1", "market": "BTC-USD-PERP", "side": "BUY",
                "type": "LIMIT", "size": "10", "price": "100", "last_updated_at": v.ts,
                "seq_no": seq, "published_at": v.ts + 1, **v.fields}  # fmt: skip
    if kind is Kind.POSITION:
        return {"market": "BTC-USD-PERP", "last_updated_at": v.ts, "seq_no": seq, **v.fields}
    if source is Source.WS:  # balances arrive on WS as balance_events
        return {"type": "TRANSACTION_FILL", "settlement_asset_name": "USDC",
                "settlement_asset_balance_after": v.fields["size"], "created_at": v.ts}  # fmt: skip
    return {"token": "USDC", "last_updated_at": v.ts, **v.fields}


def ws_event(kind: Kind, v: Version, at: int, n: int) -> Event:
    p = payload(kind, v, Source.WS)

    def run(sm: StateManager) -> None:
        if kind is Kind.BALANCE:
            sm.apply(Update.balance_event(p, Source.WS, at))
        else:
            sm.apply(Update.of(kind, p, Source.WS, at))

    return Event(at, n, run)


def rest_event(kind: Kind, v: Version | None, boundary: int, at: int, n: int) -> Event:
    if kind is Kind.ORDER:
        # The open-orders listing omits CLOSED orders (and orders not yet placed).
        closed = v is None or v.fields["status"] == "CLOSED"
        listed = [] if closed or v is None else [payload(kind, v, Source.REST)]
    else:
        listed = [] if v is None else [payload(kind, v, Source.REST)]

    def run(sm: StateManager) -> None:
        sm.apply_snapshot(kind, listed, boundary_at=boundary, received_at=at)

    return Event(at, n, run)


def lookup_event(p: dict[str, Any], at: int, n: int) -> Event:
    def run(sm: StateManager) -> None:
        sm.settle("o1", p, at)

    return Event(at, n, run)


@st.composite
def scenarios(draw: st.DrawFn, kind: Kind) -> tuple[list[Version], list[Event]]:
    # Same-millisecond versions are told apart only by the WS seq_no (rule 1): such histories
    # are observed over WS alone (a REST copy at the same time would be a rule-4 conflict).
    ties = kind is not Kind.BALANCE and draw(st.booleans())
    hist = draw(histories(kind, ties))
    allow_drops = not ties and draw(st.booleans())
    events: list[Event] = []
    for v in hist:
        copies = draw(st.integers(0 if allow_drops else 1, 3))
        for _ in range(copies):
            events.append(ws_event(kind, v, v.ts + draw(st.integers(0, 4000)), len(events)))
    last_ts = hist[-1].ts
    for _ in range(0 if ties else draw(st.integers(0, 4))):
        sent = draw(st.integers(hist[0].ts - 1000, last_ts + 6000))
        lag = draw(st.integers(0, 5000))
        shown = [v for v in hist if v.ts <= sent - lag]
        at = sent + draw(st.integers(0, 1000))
        events.append(rest_event(kind, shown[-1] if shown else None, sent, at, len(events)))
    if allow_drops:
        # A fresh read, sent more than the grace window after the last WS frame.
        last_arrival = max([e.at for e in events], default=last_ts)
        sent = last_arrival + GRACE + draw(st.integers(1, 1000))
        at = sent + draw(st.integers(0, 1000))
        final = hist[-1]
        if kind is Kind.ORDER:  # a lookup by id, which also returns CLOSED orders (rule 9)
            events.append(lookup_event(payload(kind, final, Source.REST), at, len(events)))
        else:
            events.append(rest_event(kind, final, sent, at, len(events)))
    events.sort(key=lambda e: (e.at, e.order))
    return hist, events


def version_of(kind: Kind, hist: list[Version], ks: KeyState) -> int:
    """Which true version the manager holds (by the payload's seq_no, or by time for balances)."""
    if kind is Kind.BALANCE:
        return next(i for i, v in enumerate(hist) if v.ts == ks.exchange_ts)
    by_seq = (lambda v: v.ws_seq) if ks.source is Source.WS else (lambda v: v.rest_seq)
    return next(i for i, v in enumerate(hist) if by_seq(v) == ks.seq_no)


def run_and_check(kind: Kind, hist: list[Version], events: list[Event]) -> None:
    sm = StateManager(grace_ms=GRACE)
    key = KEYS[kind]
    best = -1
    closed = False
    for e in events:
        e.run(sm)
        ks = sm.get(kind, key)
        if ks is None:
            continue
        version = version_of(kind, hist, ks)
        assert version >= best, "(c) an older state replaced a newer one"
        best = version
        if kind is Kind.ORDER:
            status = ks.payload["status"]
            assert not (closed and status != "CLOSED"), "(b) a CLOSED order reverted"
            closed = status == "CLOSED"
    ks = sm.get(kind, key)
    assert ks is not None, "(a) nothing known at the end"
    final = hist[-1]
    held = hist[version_of(kind, hist, ks)]
    # (a): the final version, or one indistinguishable from it (same time, same content).
    assert (held.ts, held.fields) == (final.ts, final.fields), "(a) merged state is not the truth"
    got = {k: ks.payload.get(k) for k in final.fields}
    if kind is Kind.BALANCE:
        got = {"size": ks.payload["size"]}
    assert got == final.fields
    if kind is Kind.ORDER:
        assert sm.has_open_order() == (final.fields["status"] != "CLOSED")
        assert sm.is_terminal("o1") == (final.fields["status"] == "CLOSED")


@profile(EXAMPLES["order"])
@given(scenarios(Kind.ORDER))
def test_order_history_converges(case: tuple[list[Version], list[Event]]) -> None:
    _name_the_seed()
    run_and_check(Kind.ORDER, *case)


@profile(EXAMPLES["position"])
@given(scenarios(Kind.POSITION))
def test_position_history_converges(case: tuple[list[Version], list[Event]]) -> None:
    _name_the_seed()
    run_and_check(Kind.POSITION, *case)


@profile(EXAMPLES["balance"])
@given(scenarios(Kind.BALANCE))
def test_balance_history_converges(case: tuple[list[Version], list[Event]]) -> None:
    _name_the_seed()
    run_and_check(Kind.BALANCE, *case)


@profile(EXAMPLES["interleaved"])
@given(st.data())
def test_interleaved_keys_do_not_interfere(data: st.DataObject) -> None:
    """Two orders, a position and a balance in one manager, their events merged by arrival:
    each key converges exactly as it would alone (keys never share seq or time state)."""
    _name_the_seed()
    cases = {k: data.draw(scenarios(k)) for k in (Kind.ORDER, Kind.POSITION, Kind.BALANCE)}
    sm = StateManager(grace_ms=GRACE)
    merged = sorted(
        ((e, k) for k, (_, evs) in cases.items() for e in evs),
        key=lambda pair: (pair[0].at, pair[1].value, pair[0].order),
    )
    for e, _ in merged:
        e.run(sm)
    for k, (hist, _) in cases.items():
        ks = sm.get(k, KEYS[k])
        assert ks is not None and ks.exchange_ts == hist[-1].ts


@profile(EXAMPLES["lying"])
@given(
    st.integers(1, 5),
    st.lists(
        st.tuples(
            st.integers(0, 20_000),  # arrival
            st.integers(0, 4),  # which open version REST shows
            st.one_of(st.none(), st.integers(-5000, 10**6)),  # its (possibly fake) time offset
            st.booleans(),  # listing or lookup by id
        ),
        max_size=8,
    ),
    st.integers(0, 20_000),
)
def test_closed_never_reverts_even_against_lying_rest(
    n_open: int, reads: list[tuple[int, int, int | None, bool]], closed_at: int
) -> None:
    """(b) with a misbehaving REST: reads showing an open version with any exchange time (older,
    newer, or none) and at any moment never reopen an order once CLOSED was seen (rule 2)."""
    _name_the_seed()
    sm = StateManager(grace_ms=GRACE)
    base = {"id": "o1", "market": "BTC-USD-PERP", "side": "BUY", "type": "LIMIT", "size": "5"}
    events: list[tuple[int, int, Callable[[], Any]]] = []
    for i in range(n_open):
        p = {**base, "status": "OPEN", "remaining_size": str(5 - i), "seq_no": i + 1,
             "last_updated_at": T0 + i}  # fmt: skip
        events.append((i, 0, lambda p=p, i=i: sm.apply(Update.order(p, Source.WS, T0 + i))))
    closed = {**base, "status": "CLOSED", "remaining_size": "0", "seq_no": 99,
              "last_updated_at": T0 + n_open}  # fmt: skip
    t_closed = n_open + closed_at
    events.append((t_closed, 0, lambda: sm.apply(Update.order(closed, Source.WS, T0 + t_closed))))
    for j, (at, which, offset, listing) in enumerate(reads):
        p = {**base, "status": "OPEN", "remaining_size": str(5 - which), "seq_no": 1000 + j}
        if offset is not None:
            p["last_updated_at"] = T0 + which + offset
        if listing:
            run = lambda p=p, at=at: sm.apply_snapshot(  # noqa: E731
                Kind.ORDER, [p], boundary_at=T0 + at - 100, received_at=T0 + at
            )
        else:
            run = lambda p=p, at=at: sm.settle("o1", p, T0 + at)  # noqa: E731
        events.append((at, 1 + j, run))
    seen_closed = False
    for _, _, run in sorted(events, key=lambda e: (e[0], e[1])):
        run()
        if seen_closed:
            assert sm.is_terminal("o1") and not sm.has_open_order()
        seen_closed = seen_closed or sm.is_terminal("o1")
    assert seen_closed and sm.order("o1").status == "CLOSED"  # type: ignore[union-attr]


#: the lifecycle rank of each status in a tie history (UNTRIGGERED only ever comes first)
RANK = {"UNTRIGGERED": 0, "NEW": 1, "OPEN": 2, "CLOSED": 3}


@st.composite
def tie_histories(draw: st.DrawFn) -> list[Version]:
    """One order's venue history where NEW and OPEN share ``last_updated_at`` (as the sim stamps
    them): [UNTRIGGERED earlier,] NEW@t, OPEN@t, partial fills (OPEN, strictly later), and maybe
    CLOSED, at the time of the last OPEN or later."""
    t = T0 + draw(st.integers(0, 1000))
    statuses: list[tuple[str, int]] = []
    if draw(st.booleans()):
        statuses.append(("UNTRIGGERED", t - draw(st.integers(1, 3000))))
    statuses += [("NEW", t), ("OPEN", t)]
    for _ in range(draw(st.integers(0, 3))):
        t += draw(st.integers(1, 3000))
        statuses.append(("OPEN", t))
    if draw(st.booleans()):
        t += draw(st.integers(0, 3000))  # 0: CLOSED at the same time as the last OPEN
        statuses.append(("CLOSED", t))
    n = len(statuses)
    ws = _seqs(draw, n, draw(st.integers(0, 10**12)))
    rest = _seqs(draw, n, draw(st.integers(0, 10**12)))
    return [
        Version(ts, ws[i], rest[i], {"status": s, "remaining_size": str(10 - i),
                                    "cancel_reason": ""})
        for i, (s, ts) in enumerate(statuses)
    ]  # fmt: skip


@profile(EXAMPLES["lifecycle_ties"])
@given(tie_histories(), st.data())
def test_shared_timestamp_lifecycle_converges(hist: list[Version], data: st.DataObject) -> None:
    _name_the_seed()
    # Every version is delivered at least once, each copy over WS or REST (a listing row, a
    # lookup by id, or a plain REST update), duplicated up to 3 times, in any order, at any
    # arrival times (REST inside or outside the grace window).
    copies: list[tuple[int, Source, int]] = []  # (version, source, how)
    for i in range(len(hist)):
        for _ in range(data.draw(st.integers(1, 3))):
            copies.append((i, data.draw(st.sampled_from([Source.WS, Source.REST])),
                           data.draw(st.integers(0, 2))))  # fmt: skip
    order = data.draw(st.permutations(copies))
    sm = StateManager(grace_ms=GRACE)
    at = T0
    best = (-1, -1)
    for i, source, how in order:
        at += data.draw(st.integers(0, 4000))
        v = hist[i]
        p = payload(Kind.ORDER, v, source)
        if source is Source.WS or how == 0:
            sm.apply(Update.order(p, source, at))
        elif how == 1:
            sm.settle("o1", p, at)
        elif p["status"] != "CLOSED":  # the open-orders listing omits CLOSED orders
            sm.apply_snapshot(Kind.ORDER, [p], boundary_at=at - 500, received_at=at)
        else:
            sm.apply(Update.order(p, source, at))
        ks = sm.get(Kind.ORDER, "o1")
        assert ks is not None
        held = (ks.exchange_ts or 0, RANK[ks.payload["status"]])
        assert held >= best, f"(d) stepped back from {best} to {held}"
        best = held
    final = hist[-1]
    got = sm.order("o1")
    assert got is not None and got.status == final.fields["status"], "(d) did not converge"
    assert got.remaining_size == Decimal(final.fields["remaining_size"])
    assert sm.conflicts == frozenset()
    assert sm.has_open_order() == (final.fields["status"] != "CLOSED")


def test_the_ci_profile_runs_a_few_thousand_examples() -> None:
    """Issue 7 asks for "a few thousand" examples in CI: the thorough profile's total, and the
    settings it gives each property (not derandomized: every run explores new cases)."""
    assert sum(EXAMPLES.values()) >= 3000
    if DEV:
        return
    for test, n in (
        (test_order_history_converges, EXAMPLES["order"]),
        (test_position_history_converges, EXAMPLES["position"]),
        (test_balance_history_converges, EXAMPLES["balance"]),
        (test_interleaved_keys_do_not_interfere, EXAMPLES["interleaved"]),
        (test_closed_never_reverts_even_against_lying_rest, EXAMPLES["lying"]),
        (test_shared_timestamp_lifecycle_converges, EXAMPLES["lifecycle_ties"]),
    ):
        s = test._hypothesis_internal_use_settings  # type: ignore[attr-defined]
        assert s.max_examples == n and not s.derandomize
        assert test._hypothesis_internal_use_seed == SEED  # type: ignore[attr-defined]
