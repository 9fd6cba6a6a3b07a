"""Fault injection for the simulator: what to break, and a seeded RNG to decide when.

Pure: no clock and no I/O. Times are passed in (ms on the sim's clock). Every random
decision comes from one ``random.Random`` seeded from the sim's ``--seed`` (offset so it is
independent of the engine's RNG), so a run with the same seed and the same traffic injects
the same faults.

Faults are declared once, in :data:`FAULTS` (name = the :class:`FaultConfig` field and the
``POST /_sim/faults`` key, its type, default, the ``sim`` command's flag and help); the
config, the CLI's flags, the admin API's keys and the docs' list all follow from it.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, fields
from decimal import Decimal
from typing import Any

__all__ = ["FAULTS", "NET_FAULTS", "FaultConfig", "FaultSpec", "Faults"]

_RATE_FIELDS = ("ws_duplicate_rate", "ws_drop_rate")


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """One fault: ``name`` is its :class:`FaultConfig` field and its ``POST /_sim/faults``
    key; ``flag`` (with ``metavar`` and ``flag_help``) its ``paradexctl sim`` option, None when
    it is set at run time only; ``help`` what it does (for the docs)."""

    name: str
    type: type[int] | type[float]
    default: int | float
    help: str
    flag: str | None = None
    metavar: str | None = None
    flag_help: str | None = None

    @property
    def admin_field(self) -> str:
        """The key of ``POST /_sim/faults`` that sets it."""
        return self.name


#: every fault, in the order of the ``sim`` command's flags
FAULTS: tuple[FaultSpec, ...] = (
    FaultSpec(
        name="ws_latency_ms",
        type=int,
        default=0,
        help="delay added to every WebSocket notification",
        flag="--ws-latency-ms",
        metavar="MS",
        flag_help="Fault: delay every WS notification.",
    ),
    FaultSpec(
        name="ws_jitter_ms",
        type=int,
        default=0,
        help="extra uniform random delay in ``[0, jitter]`` (order is kept)",
        flag="--ws-jitter-ms",
        metavar="MS",
        flag_help="Fault: extra random WS delay (order kept).",
    ),
    FaultSpec(
        name="ws_duplicate_rate",
        type=float,
        default=0.0,
        help="probability that a notification is sent twice",
        flag="--ws-duplicate-rate",
        metavar="RATE",
        flag_help="Fault: share of WS messages sent twice.",
    ),
    FaultSpec(
        name="ws_drop_rate",
        type=float,
        default=0.0,
        help="probability that a notification is never sent (a real gap)",
        flag="--ws-drop-rate",
        metavar="RATE",
        flag_help="Fault: share of WS messages never sent.",
    ),
    FaultSpec(
        name="ws_disconnect_every_s",
        type=float,
        default=0.0,
        help="close every WebSocket connection every N seconds (0 = off)",
        flag="--ws-disconnect-every",
        metavar="SECONDS",
        flag_help="Fault: drop every WS every SECONDS s.",
    ),
    FaultSpec(
        name="refuse_connections_s",
        type=float,
        default=0.0,
        help="refuse new WebSocket upgrades (HTTP 503) for N seconds from now",
        flag="--refuse-connections",
        metavar="SECONDS",
        flag_help="Fault: refuse WS for SECONDS s.",
    ),
    FaultSpec(
        name="ws_silence_s",
        type=float,
        default=0.0,
        help="the WebSocket connections open now go silent for N seconds: nothing is sent on them "
        "(notifications are dropped) and they are not read (requests and pings are answered "
        "only after it); connections opened later are not affected (0 ends a silence early)",
    ),
    FaultSpec(
        name="rest_5xx",
        type=int,
        default=0,
        help="the next N REST calls answer ``rest_5xx_status`` (default 503)",
        flag="--rest-5xx",
        metavar="N",
        flag_help="Fault: next N REST calls get 503.",
    ),
    FaultSpec(
        name="rest_5xx_order_writes",
        type=int,
        default=0,
        help="the next N order writes (POST, PUT, DELETE under ``/orders``) answer "
        "``rest_5xx_status``; reads and other calls are not affected",
        flag="--rest-5xx-order-writes",
        metavar="N",
        flag_help="Fault: next N order writes get 503.",
    ),
    FaultSpec(
        name="rest_5xx_status",
        type=int,
        default=503,
        help="the status the ``rest_5xx`` answers carry (5xx)",
        flag="--rest-5xx-status",
        metavar="CODE",
        flag_help="Status --rest-5xx answers.",
    ),
    FaultSpec(
        name="rest_429",
        type=int,
        default=0,
        help="the next N REST calls answer 429 with ``x-ratelimit-*`` headers",
        flag="--rest-429",
        metavar="N",
        flag_help="Fault: next N REST calls get 429.",
    ),
    FaultSpec(
        name="retry_after_s",
        type=int,
        default=1,
        help="the ``retry-after`` of the ``rest_429`` answers",
        flag="--retry-after",
        metavar="SECONDS",
        flag_help="retry-after of the --rest-429 answers.",
    ),
    FaultSpec(
        name="accept_then_timeout",
        type=int,
        default=0,
        help="the next N order placements (single or batch) are executed, but the response is "
        "held until the client gives up (disconnects) or ``timeout_hold_s`` passes (then "
        "503, as Paradex's 30 s timeout)",
        flag="--accept-then-timeout",
        metavar="N",
        flag_help="Fault: place the next N orders but never answer.",
    ),
    FaultSpec(
        name="timeout_hold_s",
        type=float,
        default=30.0,
        help="how long ``accept_then_timeout`` holds a response",
        flag="--timeout-hold",
        metavar="SECONDS",
        flag_help="How long --accept-then-timeout holds a response before a 503.",
    ),
    FaultSpec(
        name="ws_mutate_orders",
        type=int,
        default=0,
        help="the next N WebSocket order notifications carry a price 1 above the order's, "
        "timestamps unchanged (two contents for one exchange time: a reconcile ``conflict``)",
    ),
    FaultSpec(
        name="net_latency_ms",
        type=int,
        default=0,
        help="connection level: delay added to every TCP write of connections opened from now "
        "(REST and WebSocket; order kept)",
        flag="--net-latency-ms",
        metavar="MS",
        flag_help="Fault: delay every TCP write by MS.",
    ),
    FaultSpec(
        name="net_bandwidth_bps",
        type=int,
        default=0,
        help="connection level: connections opened from now send at most N bytes per second "
        "(0 = unlimited)",
        flag="--net-bandwidth",
        metavar="BYTES_PER_S",
        flag_help="Fault: limit each connection to N bytes/s.",
    ),
    FaultSpec(
        name="net_slice_bytes",
        type=int,
        default=0,
        help="connection level: every write of connections opened from now is cut into TCP "
        "writes of at most N bytes",
        flag="--net-slice-bytes",
        metavar="N",
        flag_help="Fault: cut every TCP write into N-byte writes.",
    ),
    FaultSpec(
        name="net_reset_after_bytes",
        type=int,
        default=0,
        help="connection level: connections opened from now are reset (RST) once the sim has "
        "sent N bytes on them",
        flag="--net-reset-after",
        metavar="BYTES",
        flag_help="Fault: reset each connection after N bytes sent.",
    ),
    FaultSpec(
        name="net_half_open_after_bytes",
        type=int,
        default=0,
        help="connection level: connections opened from now go half-open once the sim has "
        "sent N bytes on them: nothing more is sent or read, and the socket stays open",
        flag="--net-half-open-after",
        metavar="BYTES",
        flag_help="Fault: each connection stops answering after N bytes sent.",
    ),
)

_BY_NAME = {s.name: s for s in FAULTS}
#: the connection-level faults (:mod:`.netfaults` applies them)
NET_FAULTS = tuple(s.name for s in FAULTS if s.name.startswith("net_"))


@dataclass(slots=True)
class FaultConfig:
    """The live settings of every fault: one field per :data:`FAULTS` entry, of its type and
    default (checked at import: the two cannot drift)."""

    ws_latency_ms: int = 0
    ws_jitter_ms: int = 0
    ws_duplicate_rate: float = 0.0
    ws_drop_rate: float = 0.0
    ws_disconnect_every_s: float = 0.0
    refuse_connections_s: float = 0.0
    ws_silence_s: float = 0.0
    rest_5xx: int = 0
    rest_5xx_order_writes: int = 0
    rest_5xx_status: int = 503
    rest_429: int = 0
    retry_after_s: int = 1
    accept_then_timeout: int = 0
    timeout_hold_s: float = 30.0
    ws_mutate_orders: int = 0
    net_latency_ms: int = 0
    net_bandwidth_bps: int = 0
    net_slice_bytes: int = 0
    net_reset_after_bytes: int = 0
    net_half_open_after_bytes: int = 0

    def validate(self) -> None:
        for name in _RATE_FIELDS:
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, int | float) and not math.isfinite(v):
                raise ValueError(f"{f.name} must be a finite number")
            if isinstance(v, int | float) and v < 0:
                raise ValueError(f"{f.name} must not be negative")
        if not 500 <= self.rest_5xx_status <= 599:
            raise ValueError("rest_5xx_status must be a 5xx status")


def _check_config() -> None:
    """:class:`FaultConfig` has exactly the fields of :data:`FAULTS`, with their types and
    defaults (a fault added to one and not the other fails at import)."""
    declared = [(f.name, f.type, f.default) for f in fields(FaultConfig)]
    table = [(s.name, s.type.__name__, s.default) for s in FAULTS]
    if declared != table:
        raise AssertionError(f"FaultConfig {declared} does not match FAULTS {table}")


_check_config()


class Faults:
    """The live fault settings plus the counters and RNG that apply them."""

    def __init__(self, config: FaultConfig | None = None, *, seed: int = 0, now_ms: int = 0):
        self.config = FaultConfig()
        self.rng = random.Random(f"faults:{seed}")
        self.refuse_until_ms = 0
        self.last_disconnect_ms = now_ms
        #: counters of faults actually injected, for GET /_sim/faults
        self.injected: dict[str, int] = {
            "rest_5xx": 0,
            "rest_429": 0,
            "accept_then_timeout": 0,
            "ws_dropped": 0,
            "ws_duplicated": 0,
            "ws_disconnects": 0,
            "ws_refused": 0,
            "ws_silenced": 0,
            "ws_silence_dropped": 0,
            "ws_mutated": 0,
            "position_adjusted": 0,
            "net_sliced_writes": 0,
            "net_resets": 0,
            "net_half_open": 0,
        }
        if config is not None:
            self.update(asdict(config), now_ms)

    def update(self, changes: dict[str, Any], now_ms: int) -> None:
        """Apply a partial update (unknown keys raise ``ValueError``); validated as a whole."""
        new = FaultConfig(**asdict(self.config))
        for key, value in changes.items():
            if key not in _BY_NAME:
                raise ValueError(f"unknown fault {key!r}")
            current = getattr(new, key)
            if isinstance(current, str):
                if not isinstance(value, str):
                    raise ValueError(f"{key} must be a string")
            elif (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise ValueError(f"{key} must be a finite number")
            elif isinstance(current, int) and not isinstance(current, bool):
                if value != int(value):
                    raise ValueError(f"{key} must be an integer")
                value = int(value)
            else:
                value = float(value)
            setattr(new, key, value)
        new.validate()
        self.config = new
        if "refuse_connections_s" in changes:
            self.refuse_until_ms = now_ms + int(new.refuse_connections_s * 1000)
        if "ws_disconnect_every_s" in changes:
            self.last_disconnect_ms = now_ms

    def to_json(self, now_ms: int) -> dict[str, Any]:
        d = asdict(self.config)
        d["refusing_for_ms"] = max(0, self.refuse_until_ms - now_ms)
        d["injected"] = dict(self.injected)
        return d

    # ------------------------------------------------------------------ REST

    def take_rest_fault(self, category: str = "") -> str | None:
        """Consume one REST fault, if any is pending, for a call of route ``category``
        (``orders``: an order write): ``"5xx"``, ``"429"`` or None."""
        if category == "orders" and self._take("rest_5xx_order_writes", "rest_5xx"):
            return "5xx"
        if self._take("rest_5xx", "rest_5xx"):
            return "5xx"
        if self._take("rest_429", "rest_429"):
            return "429"
        return None

    def take_accept_then_timeout(self) -> bool:
        return self._take("accept_then_timeout", "accept_then_timeout")

    def _take(self, budget: str, counter: str) -> bool:
        """Consume one unit of the fault ``budget`` (a count in the config), if any is left,
        and count it as injected."""
        left = getattr(self.config, budget)
        if left <= 0:
            return False
        setattr(self.config, budget, left - 1)
        self.injected[counter] += 1
        return True

    # ------------------------------------------------------------------ WebSocket

    def take_order_mutation(self) -> bool:
        """Consume one ``ws_mutate_orders``: whether this order notification is mutated."""
        return self._take("ws_mutate_orders", "ws_mutated")

    @staticmethod
    def mutate_order(data: dict[str, Any]) -> dict[str, Any]:
        """The order payload with a different price and the same timestamps."""
        out = dict(data)
        try:
            out["price"] = str(Decimal(str(out.get("price") or "0")) + 1)
        except ArithmeticError:
            out["price"] = "1"
        return out

    def refusing(self, now_ms: int) -> bool:
        if now_ms < self.refuse_until_ms:
            self.injected["ws_refused"] += 1
            return True
        return False

    def disconnect_due(self, now_ms: int) -> bool:
        every = self.config.ws_disconnect_every_s
        if every <= 0 or now_ms - self.last_disconnect_ms < every * 1000:
            return False
        self.last_disconnect_ms = now_ms
        return True

    def plan_delivery(self) -> list[float]:
        """Delays in seconds for one notification: ``[]`` drops it, two entries duplicate it."""
        c = self.config
        if c.ws_drop_rate and self.rng.random() < c.ws_drop_rate:
            self.injected["ws_dropped"] += 1
            return []
        delay = c.ws_latency_ms / 1000
        if c.ws_jitter_ms:
            delay += self.rng.uniform(0, c.ws_jitter_ms) / 1000
        if c.ws_duplicate_rate and self.rng.random() < c.ws_duplicate_rate:
            self.injected["ws_duplicated"] += 1
            return [delay, delay]
        return [delay]
