"""The smoke test: a self-checking round trip through the exchange, without the CLI.

The steps are :data:`STEPS` (``docs/smoke.md``), each run by the method of its name
(``_place`` for ``place``), timed and recorded as a :class:`Step`.

Every WS frame and REST answer about the order goes through one
:class:`~paradexctl.core.state.StateManager` (via :func:`~paradexctl.core.recording.apply_record`),
as in every other data path. A step fails with a message saying what was expected and what was
seen; the later steps are then skipped. Whatever happens — a failed step, an exception, SIGINT —
:meth:`SmokeRun.run` ends with a ``cleanup`` step that cancels the order it placed (by id, or by
client_id when the placement's outcome is unknown) unless the exchange already reported it
CLOSED.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from paradexctl.core.recording import WsFrame, apply_record
from paradexctl.core.state import StateManager
from paradexctl.errors import ExchangeRejected, ParadexctlError
from paradexctl.paradex import orders
from paradexctl.paradex.rest import expect_rows, path_segment

__all__ = ["STEPS", "SmokeOptions", "SmokeRun", "Step"]

#: (name, what it checks), in order; ``cleanup`` always runs last
STEPS: tuple[tuple[str, str], ...] = (
    ("auth", "obtain a JWT"),
    ("markets", "market metadata and mark price"),
    ("ws", "WebSocket auth and orders subscription"),
    ("place", "place a minimum-size post-only order far from the market"),
    ("ws_ack", "the order is acknowledged (OPEN) on the WebSocket"),
    ("rest", "the order is OPEN over REST, through the state manager"),
    ("modify", "modify its price; the change is seen on WS and REST"),
    ("cancel", "cancel it"),
    ("ws_closed", "the order is CLOSED on the WebSocket"),
    ("rest_closed", "the order is CLOSED over REST"),
    ("reconcile", "a reconcile of the market is consistent"),
    ("cleanup", "nothing placed is left open"),
)


class StepFailed(Exception):
    """A step's check failed (the message says what was expected and what was seen)."""


@dataclass
class Step:
    name: str
    title: str
    status: str = "skipped"  # passed | failed | skipped
    duration_ms: int = 0
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.name,
            "status": self.status,
            "duration_ms": self.duration_ms,
            "checks": self.title,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class SmokeOptions:
    market: str = "BTC-USD-PERP"
    #: seconds each waiting step may take
    timeout: float = 15.0
    #: the reconcile step's window and grace (seconds)
    reconcile_window: float = 1.0
    reconcile_grace: float = 2.0
    #: fraction of the mark price below which the order rests (capped at half the price band)
    distance: Decimal = Decimal("0.025")
    poll_interval: float = 0.2


def _dec(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


def _on_step(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    return (value / step).to_integral_value(rounding=rounding) * step


class SmokeRun:
    """One smoke run. ``session`` is an :class:`~paradexctl.paradex.auth.Session`.

    The WebSocket and the lookups by id run on one :class:`~paradexctl.paradex.feed.LiveFeed`
    (built by ``feed(channels=..., market=...)``, e.g. the CLI's ``live_feed``); a consumer
    task applies its records to the state manager. The order's placement, modify and
    cancels use the session's (blocking) REST client in a worker thread, so the feed keeps
    reading meanwhile.

    Args:
        feed: ``feed(**options)`` -> an async context manager giving a LiveFeed.
        reconcile: ``async reconcile(market, window_s, grace_s) -> Report`` (the CLI passes
            the live reconcile; tests may pass another).
        wall_ms, clock, sleep: injectable time (``sleep`` is async).
    """

    def __init__(
        self,
        session: Any,
        *,
        feed: Callable[..., Any],
        options: SmokeOptions,
        reconcile: Callable[[str, float, float], Awaitable[Any]],
        trace: Callable[[str], None] | None = None,
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        #: told of each step as it ends (``smoke: place passed in 12 ms``): a TTY's progress
        self.progress = progress
        self.session = session
        self.client = session.client
        self.make_feed = feed
        self.opts = options
        self.reconcile_fn = reconcile
        self.trace = trace
        self.wall_ms = wall_ms
        self.clock = clock
        self.sleep = sleep
        self.state = StateManager()
        #: every WS order payload, in arrival order (the WS's own evidence)
        self.ws_frames: list[dict[str, Any]] = []
        self.steps = [Step(name, title) for name, title in STEPS]
        self.order_id: str | None = None
        self.client_id: str | None = None
        self.placed = False  # a POST /orders was sent (its outcome may be unknown)
        self.closed_confirmed = False
        self.interrupted = False
        self.feed: Any = None
        self.market_meta: dict[str, Any] = {}
        self.price = Decimal(0)
        self.size = Decimal(0)
        self._changed = asyncio.Event()
        self._consumer: asyncio.Task[None] | None = None
        self._feed_cm: Any = None

    # -- helpers -------------------------------------------------------------------------------

    async def _consume(self) -> None:
        """Apply the feed's records; note every WS payload about the order."""
        async with contextlib.aclosing(self.feed.records()) as records:
            async for rec in records:
                if type(rec) is WsFrame and isinstance(rec.data, dict):
                    # kept whatever the order id: a frame may arrive before the POST returns
                    self.ws_frames.append(rec.data)
                with contextlib.suppress(ParadexctlError, ValueError):
                    apply_record(self.state, rec)
                self._changed.set()

    @property
    def ws_seen(self) -> list[dict[str, Any]]:
        """The WS payloads about our order, in arrival order."""
        oid = self.order_id
        return [d for d in self.ws_frames if oid is not None and str(d.get("id")) == oid]

    def _current(self) -> dict[str, Any] | None:
        """The order as the feed's state manager has it (REST and WS merged), or None."""
        if self.order_id is None:
            return None
        ks = self.state.get("order", self.order_id)
        return dict(ks.payload) if ks is not None else None

    async def _until(self, found: Callable[[], Any], timed_out: Callable[[], str]) -> Any:
        """Wait, looking again after every record, until ``found()`` is not None (it may
        raise :class:`StepFailed`); ``StepFailed(timed_out())`` after the step's timeout."""
        deadline = self.clock() + self.opts.timeout
        while (value := found()) is None:
            left = deadline - self.clock()
            if left <= 0:
                raise StepFailed(timed_out())
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 0.25))
        return value

    async def _wait_ws(
        self, what: str, check: Callable[[Mapping[str, Any]], bool]
    ) -> dict[str, Any]:
        """Wait until a WS frame about the order satisfies ``check``."""

        def found() -> dict[str, Any] | None:
            for payload in self.ws_seen:
                if check(payload):
                    return dict(payload)
            if self.feed is not None and self.feed.ws_error is not None:
                raise StepFailed(f"the WebSocket closed while waiting for {what}: "
                                 f"{self.feed.ws_error or 'no reason given'}")  # fmt: skip
            return None

        def timed_out() -> str:
            ks = self.state.get("order", self.order_id or "")
            known = "nothing" if ks is None else f"{_brief(ks.payload)} (per {ks.source.value})"
            return (f"no WebSocket update showing {what} within {self.opts.timeout:g} s "
                    f"({len(self.ws_seen)} WS frame(s) about the order); last known: {known}")  # fmt: skip

        return await self._until(found, timed_out)  # type: ignore[no-any-return]

    async def _lookup(self) -> dict[str, Any] | None:
        """``GET /orders/{id}`` through the feed (recorded and applied by its consumer)."""
        assert self.order_id is not None and self.feed is not None
        snap = await self.feed.lookup(self.order_id)
        return snap.data if isinstance(snap.data, dict) else None

    async def _wait_rest(
        self, what: str, check: Callable[[Mapping[str, Any]], bool]
    ) -> dict[str, Any]:
        """Poll the lookup by id until the REST answer itself satisfies ``check``."""
        deadline = self.clock() + self.opts.timeout
        last: dict[str, Any] | None = None
        while True:
            last = await self._lookup()
            if last is not None and check(last):
                return last
            if self.clock() >= deadline:
                raise StepFailed(
                    f"REST did not show {what} within {self.opts.timeout:g} s; last answer: "
                    f"{_brief(last) if last is not None else 'order not found'}"
                )
            await self.sleep(self.opts.poll_interval)

    async def _blocking(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A call on the blocking REST client, in a worker thread. An interrupt waits for
        it to finish (bounded), so that the cleanup knows whether it happened."""
        fut = asyncio.ensure_future(asyncio.to_thread(fn, *args, **kwargs))
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(fut), 30)
            raise

    # -- the steps -----------------------------------------------------------------------------

    async def _auth(self) -> str:
        # the JWT itself is never shown
        await self._blocking(self.session.authenticator.authorization, self.client)
        return f"account {await self._blocking(self.session.account_address)}"

    async def _markets(self) -> str:
        m = await self._blocking(self.session.market, self.opts.market)
        self.market_meta = m
        body = await self._blocking(
            self.client.get, "/markets/summary", {"market": self.opts.market}
        )
        rows = expect_rows(body, "GET /markets/summary")
        mark = _dec(rows[0].get("mark_price")) if rows else None
        tick = _dec(m.get("price_tick_size"))
        step = _dec(m.get("order_size_increment"))
        if mark is None or mark <= 0 or tick is None or step is None:
            raise StepFailed(
                f"{self.opts.market}: no usable mark price / tick / size increment "
                f"(mark {mark}, tick {tick}, increment {step})"
            )
        band = _dec(m.get("price_bands_width"))
        distance = self.opts.distance if band is None else min(self.opts.distance, band / 2)
        self.price = _on_step(mark * (1 - distance), tick, ROUND_FLOOR)
        min_notional = _dec(m.get("min_notional")) or Decimal(0)
        size = max(step, _on_step(min_notional / self.price, step, ROUND_CEILING))
        self.size = size
        spec = orders.OrderSpec(market=self.opts.market, side="BUY", size=size, price=self.price,
                                instruction="POST_ONLY")  # fmt: skip
        orders.validate(spec, m)
        return f"mark {mark}; order BUY {size} @ {self.price} (post-only, {distance:%} below)"

    async def _open_feed(self, **options: Any) -> None:
        """Open the feed of the order's market (its consumer task applies its records)."""
        cm = self.make_feed(channels=("orders",), market=self.opts.market, resync=False,
                            **options)  # fmt: skip
        self.feed = await cm.__aenter__()
        self._feed_cm, self._consumer = cm, asyncio.ensure_future(self._consume())

    async def _ws(self) -> str:
        await self._open_feed(
            ws_required=False, trace=self.trace,
            ws_options={"max_reconnects": 3, "stale_after": 30.0,
                        "open_timeout": self.opts.timeout},
        )  # fmt: skip
        channel = next(iter(self.feed.ws_channels))

        def subscribed() -> bool | None:
            if self.feed.ws_error is not None or (self._consumer and self._consumer.done()):
                raise StepFailed(f"the WebSocket failed: {self.feed.ws_error or 'closed'}")
            return True if self.feed.live else None

        await self._until(
            subscribed, lambda: f"not subscribed to {channel} within {self.opts.timeout:g} s"
        )
        return f"subscribed to {channel}"

    async def _place(self) -> str:
        cid = "smoke-" + orders.new_client_id()[5:]
        spec = orders.OrderSpec(market=self.opts.market, side="BUY", size=self.size,
                                price=self.price, instruction="POST_ONLY", client_id=cid)  # fmt: skip
        body = orders.build_order_request(
            spec,
            chain_id=self.session.chain_id(),
            account=self.session.account_address(),
            private_key=self.session.private_key(),
            timestamp_ms=self.wall_ms(),
        )
        self.client_id = cid
        self.placed = True
        policy = orders.LookupPolicy(rounds=3, base=0.2)
        result = await self._blocking(orders.submit_order, self.client, body, lookup=policy)
        order = result.order or {}
        if not order.get("id"):
            raise StepFailed(f"the exchange acknowledged client_id {cid} without an order id")
        self.order_id = str(order["id"])
        return f"order {self.order_id} (client_id {cid}) {order.get('status')}"

    async def _ws_ack(self) -> str:
        def open_or_closed(o: Mapping[str, Any]) -> bool:
            return o.get("status") in ("OPEN", "CLOSED")

        o = await self._wait_ws("the order OPEN", open_or_closed)
        if o.get("status") != "OPEN":
            raise StepFailed(f"the order was closed at once: {_brief(o)}")
        return f"OPEN on WS after {_age(o)}"

    async def _rest(self) -> str:
        o = await self._wait_rest("the order OPEN", lambda o: o.get("status") in ("OPEN", "CLOSED"))
        if o.get("status") != "OPEN":
            raise StepFailed(f"REST shows the order closed: {_brief(o)}")
        merged = self._current() or {}
        if merged.get("status") != "OPEN":
            raise StepFailed(f"the state manager holds {_brief(merged)}, not OPEN")
        if _dec(o.get("price")) != self.price or _dec(o.get("size")) != self.size:
            raise StepFailed(
                f"REST shows price {o.get('price')} size {o.get('size')}, "
                f"placed {self.price} x {self.size}"
            )
        return "OPEN over REST; the state manager holds it OPEN"

    async def _modify(self) -> str:
        current = await self._lookup() or self._current()
        if current is None:
            raise StepFailed("the order to modify is not found")
        tick = _dec(self.market_meta.get("price_tick_size")) or Decimal(1)
        new_price = self.price - 10 * tick
        if new_price <= 0:
            new_price = self.price - tick
        body = orders.build_modify_request(
            current,
            size=self.size,
            price=new_price,
            chain_id=self.session.chain_id(),
            account=self.session.account_address(),
            private_key=self.session.private_key(),
            timestamp_ms=self.wall_ms(),
        )
        await self._blocking(self.client.put, f"/orders/{path_segment(str(self.order_id))}", body)

        def moved(o: Mapping[str, Any]) -> bool:
            return _dec(o.get("price")) == new_price or o.get("status") == "CLOSED"

        o = await self._wait_ws(f"price {new_price}", moved)
        if o.get("status") == "CLOSED":
            raise StepFailed(f"the order closed instead of moving: {_brief(o)}")
        await self._wait_rest(f"price {new_price}", moved)
        self.price = new_price
        return f"price {new_price} on WS and REST"

    async def _cancel(self) -> str:
        # the live feed knows the order's state: no GET before the DELETE
        await self._blocking(
            orders.cancel_order, self.client, order_id=self.order_id, known=self._current()
        )
        return "cancel accepted"

    async def _ws_closed(self) -> str:
        o = await self._wait_ws("the order CLOSED", lambda o: o.get("status") == "CLOSED")
        return f"CLOSED on WS ({o.get('cancel_reason') or 'no reason'})"

    async def _rest_closed(self) -> str:
        o = await self._wait_rest("the order CLOSED", lambda o: o.get("status") == "CLOSED")
        self.closed_confirmed = True
        return f"CLOSED over REST ({o.get('cancel_reason') or 'no reason'})"

    async def _reconcile(self) -> str:
        await self._close_feed()  # the reconcile opens its own session on the same loop
        report = await self.reconcile_fn(
            self.opts.market, self.opts.reconcile_window, self.opts.reconcile_grace
        )
        line = str(report.verdict_line())
        if report.exit_status != 0:
            rows = [r for r in report.rows if r.failing][:3]
            what = "; ".join(f"{r.entity} {r.key}: {r.kind}" for r in rows)
            raise StepFailed(f"{line} ({what})")
        return line

    async def _cleanup(self) -> str:
        """Cancel what was placed unless the exchange reported it CLOSED.

        When the placement's outcome is unknown (no order id: a timeout, SIGINT during the
        POST), the order is first looked up by client_id, a few times with backoff, since an
        order accepted a moment ago may not be visible yet.
        """
        if not self.placed:
            return "nothing was placed"
        if self.closed_confirmed:
            return f"order {self.order_id} is CLOSED"
        if self.order_id is None:
            found, why = await self._blocking(
                orders.find_by_client_id, self.client, str(self.client_id), self.opts.market,
                policy=orders.LookupPolicy(rounds=4, base=0.25),
            )  # fmt: skip
            if found is None or not found.get("id"):
                return f"no order with client_id {self.client_id}: {why}"
            self.order_id = str(found["id"])
        try:
            await self._blocking(
                orders.cancel_order, self.client, order_id=self.order_id, known=self._current()
            )
        except ExchangeRejected as err:
            if err.code not in ("ORDER_IS_CLOSED", "ORDER_ID_NOT_FOUND", "NOT_FOUND"):
                raise
        try:
            o = await self._wait_rest("the order CLOSED", lambda o: o.get("status") == "CLOSED")
        except StepFailed as err:
            raise StepFailed(f"cancel sent, but: {err}") from None
        return f"order {self.order_id} cancelled ({o.get('cancel_reason') or 'closed'})"

    # -- running -------------------------------------------------------------------------------

    async def _time(self, step: Step, fn: Callable[[], Awaitable[str]]) -> None:
        t0 = self.clock()
        try:
            step.detail = await fn()
            step.status = "passed"
        except StepFailed as err:
            step.status, step.detail = "failed", str(err)
        except ParadexctlError as err:
            step.status, step.detail = "failed", f"{type(err).__name__}: {err.message}"
        except (KeyboardInterrupt, asyncio.CancelledError):
            step.status, step.detail = "failed", "interrupted (SIGINT)"
            self.interrupted = True
            task = asyncio.current_task()
            if task is not None:
                while task.uncancel():  # the cleanup must still be able to wait
                    pass
        except Exception as err:  # report, clean up, carry on to the verdict
            step.status, step.detail = "failed", f"{type(err).__name__}: {err}"
        finally:
            step.duration_ms = round((self.clock() - t0) * 1000)
            if self.progress is not None:
                why = f": {step.detail}" if step.status == "failed" else ""
                self.progress(f"smoke: {step.name} {step.status} in {step.duration_ms} ms{why}")

    def run(self) -> list[Step]:
        """Run every step until one fails, then always the cleanup. Returns the steps.

        SIGINT (and SIGTERM) cancel the step in progress; the cleanup still runs.
        """
        return asyncio.run(self.run_async())

    async def run_async(self) -> list[Step]:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        in_main = threading.current_thread() is threading.main_thread()
        if in_main and task is not None:  # CI cancels jobs with SIGTERM: like SIGINT
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            for step in self.steps[:-1]:  # the cleanup is run by _finish
                await self._time(step, getattr(self, "_" + step.name))
                if step.status != "passed":
                    break
            await self._finish()
        finally:
            if in_main:
                loop.remove_signal_handler(signal.SIGTERM)
            await self._close_feed()
        return self.steps

    async def _close_feed(self) -> None:
        if self.feed is not None:
            self.feed.stop("done")
        if self._consumer is not None:
            with contextlib.suppress(BaseException):
                await self._consumer
            self._consumer = None
        if self._feed_cm is not None:
            cm, self._feed_cm = self._feed_cm, None
            with contextlib.suppress(BaseException):
                await cm.__aexit__(None, None, None)
        self.feed = None

    async def _finish(self) -> None:
        """The cleanup step, shielded from a second SIGINT."""
        previous = None
        in_main = threading.current_thread() is threading.main_thread()
        if in_main:
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            if self.feed is None and self.placed and not self.closed_confirmed:
                await self._open_feed(url=None)  # REST only: the cleanup's lookups
            await self._time(self.steps[-1], self._cleanup)
        finally:
            if in_main and previous is not None:
                signal.signal(signal.SIGINT, previous)

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(s.status == "passed" for s in self.steps)


def _brief(o: Mapping[str, Any] | None) -> str:
    if not o:
        return "nothing"
    parts = [f"status {o.get('status')}", f"price {o.get('price')}",
             f"remaining {o.get('remaining_size')}"]  # fmt: skip
    if o.get("cancel_reason"):
        parts.append(f"cancel_reason {o.get('cancel_reason')}")
    return ", ".join(parts)


def _age(o: Mapping[str, Any]) -> str:
    created, updated = o.get("created_at"), o.get("last_updated_at")
    if isinstance(created, int) and isinstance(updated, int):
        return f"{updated - created} ms (exchange time)"
    return "an unknown delay"
