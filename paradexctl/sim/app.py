"""The simulator's ASGI app: REST under ``/v1``, the WebSocket on the same port, admin API.

Thin adapters only: HTTP and WebSocket frames are translated into calls on the pure engine
(:mod:`paradexctl.sim.exchange`) and its events are turned into notifications and into the
(optionally stale) REST view. Faults (:mod:`paradexctl.sim.faults`) are applied here.

Everything runs on one event loop; the engine is never called from another thread.

The app is routers by concern over one core (:class:`~paradexctl.sim.core.SimCore`: options,
clock, engine, REST view, hub, faults, the JWT check, the REST wrapper): public REST with
onboarding and auth (:mod:`.rest_public`), private REST (:mod:`.rest_private`), account
management and the extra reads (:mod:`.rest_account`), the admin API
(:mod:`.admin`), the WebSocket (:mod:`.ws`, its hub in :mod:`.hub`) and ``--state``
(:mod:`.persistence`). Each router lists its routes in a ``ROUTES`` table; :data:`ROUTE_TABLES`
here is the one place that lists what is served (:func:`served`).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route, WebSocketRoute

from . import admin, rest_account, rest_private, rest_public, snapshot, ws
from .admin import LOOPBACK_HOSTS, AdminRoutes
from .auth import ACCOUNT_CLASS_HASH, CHAIN_NAME, PROXY_CLASS_HASH, Jwt, JwtError, norm_hex
from .clock import MAX_CLOCK_OFFSET_MS, SimClock
from .common import (
    MAX_BATCH,
    MAX_PAGE,
    SUBKEY_FORBIDDEN,
    AuthFailed,
    RouteSpec,
    StateFileError,
    StateSaveError,
    paginate,
)
from .core import STALENESS_KEYS, RestView, SimCore, SimOptions
from .hub import MAX_UNSENT, PRIVATE_EXACT, PRIVATE_PREFIXES, Conn, Hub
from .persistence import Persistence
from .rest_account import AccountRoutes
from .rest_private import PrivateRoutes
from .rest_public import PublicRoutes
from .snapshot import SnapshotRoutes
from .ws import WsRoutes

__all__ = [
    "ACCOUNT_CLASS_HASH",
    "CHAIN_NAME",
    "LOOPBACK_HOSTS",
    "MAX_BATCH",
    "MAX_CLOCK_OFFSET_MS",
    "MAX_PAGE",
    "MAX_UNSENT",
    "PRIVATE_EXACT",
    "PRIVATE_PREFIXES",
    "PROXY_CLASS_HASH",
    "ROUTE_TABLES",
    "STALENESS_KEYS",
    "SUBKEY_FORBIDDEN",
    "AuthFailed",
    "Conn",
    "Hub",
    "Jwt",
    "JwtError",
    "RestView",
    "SimApp",
    "SimClock",
    "SimCore",
    "SimOptions",
    "StateFileError",
    "StateSaveError",
    "all_routes",
    "create_app",
    "norm_hex",
    "paginate",
    "served",
]


class SimApp(
    Persistence, PublicRoutes, PrivateRoutes, AccountRoutes, AdminRoutes, SnapshotRoutes, WsRoutes
):
    """The simulator's state (engine, REST view, hub, faults, clock) and its routes."""

    # ----------------------------------------------------------------- routing

    def _routes(self) -> list[BaseRoute]:
        """Every route the sim serves, from the routers' tables (:data:`ROUTE_TABLES`), in
        their order: a handler is wrapped by its category (public/auth/orders/private REST
        in :meth:`endpoint`, admin in :meth:`admin`, WebSocket as is)."""
        routes: list[BaseRoute] = []
        for path, methods, fn, category in all_routes():
            handler = getattr(self, fn.__name__)
            if category == "ws":
                routes.append(WebSocketRoute(path, handler))
            elif category == "admin":
                routes.append(Route(path, self.admin(handler), methods=list(methods)))
            else:
                private = category in ("private", "orders")
                wrapped = self.endpoint(handler, private=private, category=category)
                routes.append(Route(path, wrapped, methods=list(methods)))
        return routes


#: the routers' route tables, in the order they are matched: overlapping paths
#: (``/orders/batch`` before ``/orders/{order_id}``, the WebSocket catch-all last) keep the
#: order within a table
ROUTE_TABLES: tuple[list[RouteSpec], ...] = (
    rest_public.ROUTES,
    rest_private.ROUTES,
    rest_account.ROUTES,
    admin.ROUTES,
    snapshot.ROUTES,
    ws.ROUTES,
)


def all_routes() -> list[RouteSpec]:
    """Every ``(path, methods, handler, category)`` the sim serves, in matching order."""
    return [spec for table in ROUTE_TABLES for spec in table]


def served() -> list[tuple[str, str, str]]:
    """``(method, path, category)`` for every route (``WS`` for the WebSocket), for docs."""
    return [
        (method, path, category)
        for path, methods, _fn, category in all_routes()
        for method in (methods or ("WS",))
    ]


def create_app(options: SimOptions | None = None) -> Starlette:
    """A Starlette app serving the simulator (``app.state.sim`` is the :class:`SimApp`)."""
    sim = SimApp(options)
    sim.app.state.sim = sim
    return sim.app
