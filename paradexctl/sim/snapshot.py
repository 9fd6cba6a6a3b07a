"""``GET /_sim/snapshot`` and ``POST /_sim/restore``: the whole state of a running sim, as
one JSON document, and back (``POST /_sim/reset`` is in :mod:`.admin`).

The engine part is the ``--state`` serializer (:meth:`Exchange.to_state` /
:meth:`Exchange.from_state`); around it the snapshot keeps what else the sim's behaviour
depends on: the clock, REST staleness, fault settings, the maintenance status and the
scenario timeline's position. Restoring a snapshot taken under a manual clock and repeating
the same requests gives the same state again (ids, timestamps, prices: the engine's RNG is
part of it).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .clock import MAX_CLOCK_OFFSET_MS
from .common import SYSTEM_STATES, RouteSpec, _json
from .core import RestView, SimCore
from .exchange import Exchange
from .faults import Faults

SNAPSHOT_VERSION = 1


class SnapshotRoutes(SimCore):
    """Snapshot and restore (a :class:`SimApp` mixin)."""

    def snapshot(self) -> dict[str, Any]:
        """The sim's whole state (JSON-able)."""
        return {
            "version": SNAPSHOT_VERSION,
            "now_ms": self.clock.now_ms(),
            "clock": self.clock.mode,
            "clock_offset_ms": self.clock.offset_ms,
            "engine": self.engine.to_state(),
            "staleness_ms": dict(self.staleness),
            "faults": asdict(self.faults.config),
            "system_status": self.system_status,
            "scenario_t0": self.scenario_t0,
            "timeline_next": self.timeline_next,
        }

    def restore(self, snap: Any) -> None:
        """Replace the state with a :meth:`snapshot` (``ValueError`` naming what is wrong;
        nothing changes then). The REST view restarts from the restored state (staleness
        shows no version older than the restore), and open WebSockets are closed (1012) by
        the caller so that clients resubscribe against the restored state."""
        if not isinstance(snap, dict) or snap.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"snapshot: version must be {SNAPSHOT_VERSION}")
        try:
            engine = Exchange.from_state(snap["engine"], self._config())
            now = snap["now_ms"]
            t0 = snap["scenario_t0"]
            nxt = snap["timeline_next"]
            status = snap["system_status"]
            for name, v in (("now_ms", now), ("scenario_t0", t0), ("timeline_next", nxt)):
                if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                    raise ValueError(f"snapshot: {name} must be a non-negative integer")
            if status not in SYSTEM_STATES:
                raise ValueError(
                    "snapshot: system_status must be one of " + ", ".join(SYSTEM_STATES)
                )
            faults = Faults(seed=self.options.seed, now_ms=now)
            faults.update(dict(snap["faults"]), now)
        except KeyError as err:
            raise ValueError(f"snapshot: {err.args[0]} is missing") from None
        except (TypeError, IndexError, AttributeError) as err:
            raise ValueError(f"snapshot: malformed ({err})") from None
        sc = self.options.scenario
        if nxt > (len(sc.timeline) if sc is not None else 0):
            raise ValueError("snapshot: timeline_next is beyond this sim's scenario timeline")
        if self.clock.start_ms is not None:
            offset = now - self.clock.start_ms
            if not 0 <= offset <= MAX_CLOCK_OFFSET_MS:
                raise ValueError(
                    "snapshot: its time is not within 7 days after this manual clock's start"
                )
        staleness = self.checked_staleness(snap.get("staleness_ms", {"default": 0}), True)
        if self.clock.start_ms is not None:
            self.clock.offset_ms = now - self.clock.start_ms
        view = RestView()
        view.seed(engine)
        faults.injected = self.faults.injected
        self.install(engine, view, faults, staleness)
        self.system_status = status
        self.scenario_t0 = t0
        self.timeline_next = nxt

    async def a_snapshot(self, request: Request) -> Response:
        return _json(self.snapshot())

    async def a_restore(self, request: Request) -> Response:
        body = await self._body(request)
        self.restore(body)
        await self.hub.disconnect_all(1012)
        return _json({"status": "ok", "now_ms": self.clock.now_ms()})


#: ``(path, methods, handler, category)``
ROUTES: list[RouteSpec] = [
    ("/_sim/snapshot", ("GET",), SnapshotRoutes.a_snapshot, "admin"),
    ("/_sim/restore", ("POST",), SnapshotRoutes.a_restore, "admin"),
]
