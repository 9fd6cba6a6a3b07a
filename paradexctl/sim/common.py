"""What the sim's routers share: Paradex's JSON responses and error shape, paging, the
errors of the app."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from .exchange import (
    Rejected,
)
from .limits import decode_json

JSON_TYPE = "application/json; charset=UTF-8"
_log = logging.getLogger("paradexctl.sim")
MAX_BATCH = 50
MAX_PAGE = 5000
#: nesting allowed in the sim's own flat JSON that clients hand back (JWT parts, cursors)
FLAT_JSON_DEPTH = 2
#: ``GET /system/state``'s values (``paradex-api.md`` §1.4)
SYSTEM_STATES = ("ok", "maintenance", "cancel_only", "post_only")


def system_refusal(status: str, instructions: list[str]) -> Rejected | None:
    """Why an order write is refused in system state ``status`` (None: allowed).

    ``instructions`` are the orders' instructions (one per order; empty for a cancel).
    ``cancel_only`` refuses every new or modified order (400 ``SYSTEM_STATUS_CANCEL_ONLY``),
    ``post_only`` every one that is not ``POST_ONLY`` (400 ``SYSTEM_STATUS_POST_ONLY``, with
    the index of the first), ``maintenance`` every order write, cancels included (503
    ``SERVICE_UNAVAILABLE``: the sim's choice, the API reference is silent)."""
    if status == "maintenance":
        return Rejected("SERVICE_UNAVAILABLE", "the exchange is in maintenance", status=503)
    if status == "cancel_only" and instructions:
        return Rejected("SYSTEM_STATUS_CANCEL_ONLY", "the exchange accepts cancels only")
    if status == "post_only":
        for i, ins in enumerate(instructions):
            if ins != "POST_ONLY":
                return Rejected(
                    "SYSTEM_STATUS_POST_ONLY",
                    "the exchange accepts POST_ONLY orders only",
                    data={"index": i} if len(instructions) > 1 else None,
                )
    return None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_dec(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _cursor(offset: int) -> str:
    return _b64url(json.dumps({"o": offset}).encode())


def _uncursor(text: str | None) -> int:
    if not text:
        return 0
    try:
        d = decode_json(_b64url_dec(text), FLAT_JSON_DEPTH)
        off = int(d["o"])
    except (ValueError, KeyError, TypeError):
        raise Rejected("INVALID_REQUEST_PARAMETER", "invalid cursor") from None
    if off < 0:
        raise Rejected("INVALID_REQUEST_PARAMETER", "invalid cursor")
    return off


def paginate(
    rows: list[dict[str, Any]], request: Request, max_page: int = MAX_PAGE
) -> dict[str, Any]:
    """Cursor pagination over ``rows`` (already sorted newest first)."""
    q = request.query_params
    try:
        size = int(q.get("page_size", "100"))
    except ValueError:
        raise Rejected("INVALID_REQUEST_PARAMETER", "page_size must be an integer") from None
    if not 1 <= size <= max_page:
        raise Rejected("INVALID_REQUEST_PARAMETER", f"page_size must be in [1, {max_page}]")
    start = _uncursor(q.get("cursor"))
    page = rows[start : start + size]
    return {
        "next": _cursor(start + size) if start + size < len(rows) else None,
        "prev": _cursor(max(0, start - size)) if start > 0 else None,
        "results": page,
    }


def _time_filter(rows: list[dict[str, Any]], request: Request, key: str) -> list[dict[str, Any]]:
    q = request.query_params
    try:
        start = int(q["start_at"]) if q.get("start_at") else None
        end = int(q["end_at"]) if q.get("end_at") else None
    except ValueError:
        raise Rejected("INVALID_REQUEST_PARAMETER", "start_at/end_at must be ms integers") from None
    if start is not None:
        rows = [r for r in rows if r[key] >= start]
    if end is not None:
        rows = [r for r in rows if r[key] <= end]
    return rows


def _err(code: str, message: str, status: int = 400, data: Any = None) -> Response:
    body = json.dumps({"error": code, "message": message, "data": data}, separators=(",", ":"))
    return Response(body, status, media_type=JSON_TYPE)


def _rejected(err: Rejected) -> Response:
    """A :class:`Rejected` in Paradex's error shape. A refused body (413 too large, 408 too
    slow) also closes the connection, so its unread remainder is never taken in."""
    resp = _err(err.code, err.message, err.status, err.data)
    if err.status in (408, 413):
        resp.headers["connection"] = "close"
    return resp


def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(obj, separators=(",", ":")), status, headers=headers, media_type=JSON_TYPE
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    """Routing errors (unknown path 404, wrong method 405) in Paradex's error shape."""
    assert isinstance(exc, HTTPException)
    code = {404: "NOT_FOUND", 405: "REQUEST_NOT_ALLOWED"}.get(exc.status_code, "BINDING_ERROR")
    resp = _err(code, str(exc.detail).lower(), exc.status_code)
    if exc.headers:
        resp.headers.update(exc.headers)
    if exc.status_code == 405:
        # starlette names the methods of the first route with this path only; the sim serves
        # one path from several routes (GET, POST and DELETE /orders), so name them all
        allowed: set[str] = set()
        for route in request.app.routes:
            if isinstance(route, Route) and route.matches(request.scope)[0] != Match.NONE:
                allowed |= route.methods or set()
        if allowed:
            resp.headers["allow"] = ", ".join(sorted(allowed))
    return resp


async def _server_error(request: Request, exc: Exception) -> Response:
    return _err("INTERNAL_ERROR", "internal server error", 500)


class StateFileError(ValueError):
    """``--state`` names a file that is not a usable simulator state."""


class StateSaveError(StateFileError):
    """The final save of ``--state`` failed (the file keeps the last good save)."""


class AuthFailed(Exception):
    """The JWT middleware's 401 (body has only ``message``)."""


#: the error code of a subkey's credentials used beyond a subkey's scope (onboarding, account
#: management): 403, since the spec names no code for it (``paradex-api.md`` §4.2)
SUBKEY_FORBIDDEN = "INVALID_TOKEN_SCOPE"


def subkey_forbidden(what: str) -> Rejected:
    """403 :data:`SUBKEY_FORBIDDEN`: a subkey's JWT (or key) on a main-key-only call."""
    return Rejected(
        SUBKEY_FORBIDDEN,
        f"a subkey cannot {what}: subkeys may only trade, cancel and read; "
        "use the account's main key",
        status=403,
    )


Handler = Callable[[Request], Awaitable[Response]]


#: one served route: ``(path, methods, handler, category)``. ``category`` is ``public``,
#: ``auth``, ``orders`` or ``private`` (REST under ``/v1``; the rate-limit bucket, and a JWT
#: for ``orders``/``private``), ``admin`` (``/_sim``) or ``ws`` (methods empty)
RouteSpec = tuple[str, tuple[str, ...], Callable[..., Awaitable[Any]], str]
