"""The REST client: one httpx.Client, retries, typed errors, redacted traces.

Outcome rules (STYLE item 5):

* A request that provably never reached the exchange (connection refused, connect timeout) or
  that the exchange refused before processing it (429) is safe to send again, whatever its
  method. A 401 re-authenticates once; the request is then re-sent, except a non-idempotent
  POST (:class:`RefusedAfterSend`: a 401 can come from anything between the client and the
  exchange, after processing, and a second POST /orders is a second order): the caller looks
  it up first.
* Idempotent requests (GET) are also retried after read timeouts, connection resets and 5xx,
  with exponential backoff and full jitter, within :class:`RetryPolicy`'s budget.
* Non-idempotent requests (POST /orders, PUT, DELETE) are **never** re-sent after the request
  may have been processed: the client raises :class:`OutcomeUncertain` and the caller decides
  (``orders.place`` looks the order up by client_id; it never re-POSTs).

Error mapping: a Paradex error body (``{"error", "message"}``, or the JWT middleware's bare
``{"message"}``) becomes :class:`~paradexctl.errors.ExchangeRejected` (exit 4) with the
exchange's code and message; network failures and 5xx after the retry budget become
:class:`~paradexctl.errors.ExchangeUnavailable` (exit 5).

Answer shapes: a body is checked against the shape its reader needs before use, with
:func:`expect_object` and :func:`expect_rows` (and :meth:`RestClient.get_paginated` for every
page); a wrong shape is :class:`~paradexctl.errors.UnexpectedAnswer` (exit 5) naming the
request, never an internal error.

Transports: :class:`RestClient` sends over :mod:`paradexctl.paradex.wire` (HTTP/1.1 on the
standard library: a one-shot command's request costs less than importing httpx) unless it is
given an httpx transport (tests) or the environment sets a proxy, which only httpx
honours; :class:`AsyncRestClient` (the live feed's) always uses httpx. Both run the
same loop over :class:`_Tries`: one set of retry rules, error classes and redacted traces,
whatever moves the bytes. httpx is imported on its first request (not at import time), and
its optional command-line client (which pulls in rich and click) is skipped.
"""

from __future__ import annotations

import json
import math
import random
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from paradexctl.core.backoff import Backoff
from paradexctl.core.jsonlimits import MAX_JSON_DEPTH, reject_constant, too_deep
from paradexctl.errors import ConfigError, ExchangeRejected, ExchangeUnavailable, UnexpectedAnswer

if TYPE_CHECKING:
    import httpx

__all__ = [
    "AsyncRestClient",
    "Auth",
    "OutcomeUncertain",
    "RefusedAfterSend",
    "RestClient",
    "RetryPolicy",
    "describe_json",
    "expect_object",
    "expect_rows",
    "redact_headers",
    "redact_text",
]

USER_AGENT = "paradexctl"
#: the headers every REST request carries (both transports)
_HEADERS = {"User-Agent": USER_AGENT, "Accept": "application/json"}


def _httpx() -> Any:
    """Import httpx on demand, without its optional CLI module.

    ``httpx/__init__`` imports ``httpx._main`` (its command-line client: rich, click, ~100 ms)
    inside ``try/except ImportError``; a ``None`` entry in ``sys.modules`` makes that import
    fail, so httpx falls back to its stub. Nothing here uses httpx's CLI.
    """
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    import httpx

    return httpx


class Auth(Protocol):
    """What the client needs from an authenticator (see :mod:`paradexctl.paradex.auth`)."""

    def authorization(self, client: RestClient) -> str:
        """The ``Authorization`` header value, obtaining a JWT first if needed."""
        ...

    def invalidate(self) -> None:
        """Forget the current JWT (called once after a 401)."""
        ...


class OutcomeUncertain(ExchangeUnavailable):
    """A non-idempotent request may or may not have been processed (timeout, reset, 5xx).

    Exit 5 if it escapes; ``orders.place`` catches it and looks the order up instead.
    """

    kind = "unavailable"


class RefusedAfterSend(OutcomeUncertain):
    """A non-idempotent request got a 401 (the client re-authenticated, but did not re-send).

    A 401 usually means the JWT was refused before processing, but anything between the
    client and the exchange can produce one after the request was processed, so the request
    is not re-sent blindly: ``orders.submit_order`` looks the order up by client_id first and
    re-sends only when the exchange keeps reporting no such order.
    """


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter: delay = rng() * min(cap, base * 2**attempt).

    ``attempts`` counts every try (the first one included). ``sleep`` and ``rng`` are injectable
    so tests run instantly and deterministically. ``max_wait`` caps a 429's requested wait.
    """

    attempts: int = 4
    base: float = 0.25
    cap: float = 4.0
    max_wait: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep)
    rng: Callable[[], float] = field(default=random.random)
    clock: Callable[[], float] = field(default=time.time)

    def backoff(self, attempt: int) -> float:
        """Delay before try number ``attempt + 1`` (``attempt`` starts at 0)."""
        return Backoff(self.base, self.cap).delay(attempt, self.rng)

    def rate_limit_wait(self, headers: Mapping[str, str], attempt: int) -> float:
        """How long to wait after a 429: Retry-After, then x-ratelimit-reset, else backoff."""
        wait: float | None = None
        retry_after = headers.get("retry-after")
        if retry_after:
            try:
                wait = float(retry_after)
            except ValueError:
                wait = None
            if wait is not None and not math.isfinite(wait):
                wait = None
        if wait is None:
            reset = headers.get("x-ratelimit-reset")
            if reset:
                try:
                    value = float(reset)
                except ValueError:
                    value = None
                if value is not None and math.isfinite(value):
                    # Documented as a unix timestamp in seconds (spec 4.5: unconfirmed);
                    # beyond 1e11 it can only be milliseconds; small values are a delta.
                    if value > 1e11:
                        value /= 1000.0
                    wait = value - self.clock() if value > 1e9 else value
        if wait is None:
            wait = self.base * (2**attempt)
        # a little jitter so many clients do not return in lockstep
        wait = max(0.0, wait) + self.rng() * 0.1
        return min(wait, self.max_wait)


# -- redaction ------------------------------------------------------------------------------

_SECRET_HEADERS = frozenset({"authorization", "paradex-starknet-signature", "cookie"})
_SECRET_FIELDS = ("signature", "jwt_token", "bearer", "private_key", "l2_private_key")
_JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_FIELD_RE = re.compile(
    r'("(?:' + "|".join(_SECRET_FIELDS) + r')"\s*:\s*)("(?:[^"\\]|\\.)*"|\[[^\]]*\])'
)


#: ``"token"`` is a balance's token name (``"USDC"``) as often as an API token (``POST
#: /account/tokens``): its value is masked when it is long enough to be a credential
_TOKEN_FIELD_RE = re.compile(r'("token"\s*:\s*)"[A-Za-z0-9_\-.=+/]{16,}"')


def retry_line(method: str, path: str, wait: float, tries: _Tries) -> str:
    """``retrying GET /markets in 0.8 s (2/4; HTTP 503)``: what a retry's progress says."""
    why = f"; {tries.last_problem}" if tries.last_problem else ""
    return (
        f"retrying {method} {path} in {wait:.1f} s ({tries.attempt + 1}/{tries.retry.attempts}"
        f"{why})"
    )


def redact_text(text: str) -> str:
    """Mask JWTs, the values of secret JSON fields and API tokens (even opaque ones) in
    ``text``."""
    text = _FIELD_RE.sub(r'\1"***"', text)
    text = _TOKEN_FIELD_RE.sub(r'\1"***"', text)
    return _JWT_RE.sub("***JWT***", text)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in headers.items():
        if k.lower() in _SECRET_HEADERS:
            out[k] = "Bearer ***" if v.lower().startswith("bearer ") else "***"
        else:
            out[k] = redact_text(v)
    return out


# -- errors ---------------------------------------------------------------------------------


def _parse_json(text: str) -> Any:
    """A body as JSON (RFC 8259): a ``ValueError`` for anything else.

    ``parse_float=Decimal``: a stray JSON number is never turned into a binary float;
    ``NaN``/``Infinity``/``-Infinity`` are refused, as in WS frames (``reject_constant``)."""
    if too_deep(text):  # the parser would raise RecursionError (exit 70), not ValueError
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return json.loads(text, parse_float=Decimal, parse_constant=reject_constant)


def path_segment(text: str) -> str:
    """``text`` (an order id, a client_id) as one URL path segment: ``/``, ``?``, ``#``, ``..``
    and spaces cannot change the path, and a lone surrogate (an id from a JSON frame may hold
    ``"\\ud800"``) is percent-encoded as its WTF-8 bytes instead of raising UnicodeEncodeError
    (exit 70). Every id interpolated into a path goes through here."""
    from urllib.parse import quote

    return quote(text, safe="", errors="surrogatepass")


# -- answer shapes ----------------------------------------------------------------------------


def describe_json(value: Any) -> str:
    """What a decoded JSON value is, in a few words (never its content: it may be huge)."""
    if value is None:
        return "null (or no body)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float | Decimal):
        return "a number"
    if isinstance(value, list):
        return f"a list of {len(value)} item(s)"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def expect_object(body: Any, request: str) -> dict[str, Any]:
    """``body`` (the decoded answer to ``request``, e.g. ``"GET /account"``) if it is a JSON
    object, else :class:`~paradexctl.errors.UnexpectedAnswer` (exit 5)."""
    if not isinstance(body, dict):
        raise UnexpectedAnswer(request, "an object", describe_json(body))
    return body


def expect_rows(body: Any, request: str, field: str = "results") -> list[dict[str, Any]]:
    """The list of objects under ``field`` of ``body`` (the decoded answer to ``request``),
    else :class:`~paradexctl.errors.UnexpectedAnswer` (exit 5) naming the request and the
    shape expected: ``expected an object with a 'results' list of objects``."""
    expected = f"an object with a {field!r} list of objects"
    if not isinstance(body, dict):
        raise UnexpectedAnswer(request, expected, describe_json(body))
    rows = body.get(field)
    if not isinstance(rows, list):
        got = f"an object without {field!r}" if rows is None else f"{field!r} {describe_json(rows)}"
        raise UnexpectedAnswer(request, expected, got)
    for n, row in enumerate(rows):
        if not isinstance(row, dict):
            raise UnexpectedAnswer(request, expected, f"item {n} {describe_json(row)}")
    return rows


def without_none(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Query parameters as sent: a ``None`` value means the parameter is left out."""
    return {k: v for k, v in (params or {}).items() if v is not None}


def _client_options(base_url: str, timeout: float) -> dict[str, Any]:
    """The httpx client settings both REST clients share."""
    hx = _httpx()
    return {
        # A plain-http base (the local sim) never uses TLS (redirects are not followed), so
        # skip loading the CA bundle (~50-150 ms); https verifies.
        "verify": not base_url.startswith("http://"),
        "timeout": hx.Timeout(timeout, connect=min(timeout, 5.0)),
        "headers": _HEADERS,
    }


def _page_want(page_size: int, limit: int | None, rows: list[Any]) -> int:
    return page_size if limit is None else max(1, min(page_size, limit - len(rows)))


def _take_page(page: Any, path: str, rows: list[Any], limit: int | None) -> str | None:
    """Add one page of a paginated listing to ``rows``; the cursor of the next page, or None
    when the listing is complete. The one page walker of :class:`RestClient` and
    :class:`AsyncRestClient`.

    Raises:
        UnexpectedAnswer: the page is not an object with a ``results`` list of objects and a
            string (or absent) ``next`` (exit 5).
    """
    results = expect_rows(page, f"GET {path}")
    rows.extend(results)
    cursor = page.get("next")
    if cursor is not None and not isinstance(cursor, str):
        raise UnexpectedAnswer(
            f"GET {path}", "a string 'next' cursor", f"'next' {describe_json(cursor)}"
        )
    if not cursor or not results or (limit is not None and len(rows) >= limit):
        return None
    return cursor


def _error_from_response(method: str, path: str, resp: httpx.Response) -> ExchangeRejected:
    code: str | None = None
    message: str | None = None
    data: Any = None
    try:
        body = _parse_json(resp.text) if resp.text else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        code = body.get("error") if isinstance(body.get("error"), str) else None
        message = body.get("message") if isinstance(body.get("message"), str) else None
        data = body.get("data")
    if code is None:
        if resp.status_code == 401:
            code = "UNAUTHORIZED"
        elif resp.status_code == 404:
            code = "NOT_FOUND"
        elif resp.status_code == 403:
            code = "FORBIDDEN"
    text = message or (redact_text(resp.text[:200]) if resp.text else resp.reason_phrase)
    label = f"{code}: {text}" if code else f"HTTP {resp.status_code}: {text}"
    details: dict[str, Any] = {"request": f"{method} {path}"}
    if data not in (None, "", {}):
        details["data"] = data
    if message is not None:
        details["exchange_message"] = message
    return ExchangeRejected(
        f"exchange rejected {method} {path}: {redact_text(label)}",
        code=code,
        status=resp.status_code,
        details=details,
    )


def _is_not_sent(err: Exception) -> bool:
    """True when the request provably never reached the server."""
    from paradexctl.paradex.wire import WireError

    if isinstance(err, WireError):
        return err.not_sent
    hx = _httpx()
    return isinstance(err, (hx.ConnectError, hx.ConnectTimeout, hx.PoolTimeout))


class _HttpxWire:
    """An ``httpx.Client`` behind the interface of :class:`~paradexctl.paradex.wire.StdlibWire`
    (``build``, ``send``, ``close``, ``errors``)."""

    def __init__(self, base_url: str, transport: Any, timeout: float) -> None:
        hx = _httpx()
        self.client = client = hx.Client(transport=transport, **_client_options(base_url, timeout))
        self.errors: tuple[type[Exception], ...] = (hx.TransportError,)
        self.build = client.build_request
        self.send = client.send
        self.close = client.close


# -- the client -----------------------------------------------------------------------------


# -- the retry rules, once for both clients ------------------------------------------------


def describe_error(err: Exception) -> str:
    """A transport error in a few words (its class, and its text when it has one)."""
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


class _Again(NamedTuple):
    """Try again after ``wait`` seconds (``reauth``: with a fresh JWT, at once;
    ``rate_limited``: the wait is the one a 429 asked for)."""

    wait: float
    reauth: bool = False
    rate_limited: bool = False


class _Done(NamedTuple):
    value: Any


class _Tries:
    """The retry rules of one request, without I/O: each outcome of a try (a transport error
    or a response) becomes :class:`_Done`, :class:`_Again` or an exception. The one
    mechanism under :meth:`RestClient.request` and :meth:`AsyncRestClient.get`, which only
    send, sleep and re-authenticate as told.

    - A transport error: retried when the request is idempotent or provably not sent, else
      :class:`OutcomeUncertain`.
    - 2xx: the decoded JSON; a body that is not JSON is :class:`UnexpectedAnswer` for a read,
      :class:`OutcomeUncertain` for a write (an order's outcome is then known only to the
      exchange).
    - 401 on a private request: re-authenticate once and try again, except a POST (an order:
      twice is two orders), which is :class:`RefusedAfterSend` for the caller to look up.
    - 429: wait as the exchange asks (:meth:`RetryPolicy.rate_limit_wait`), then try again.
    - 5xx: retried when idempotent, else :class:`OutcomeUncertain`.
    - Any other 4xx: :class:`ExchangeRejected`.
    - Out of tries: :class:`ExchangeUnavailable` naming the last problem.
    """

    def __init__(
        self,
        retry: RetryPolicy,
        method: str,
        path: str,
        *,
        idempotent: bool,
        can_reauth: bool,
        invalidate: Callable[[], None] | None = None,
        base_url: str = "",
    ) -> None:
        """``invalidate`` drops the JWT on a 401 (before a try again or a RefusedAfterSend);
        ``base_url`` makes the out-of-tries message name the full URL."""
        self.invalidate = invalidate
        self.base_url = base_url
        self.retry = retry
        self.method = method
        self.path = path
        self.idempotent = idempotent
        self.can_reauth = can_reauth
        self.attempt = 0
        self.last_problem = ""

    def _again(self, wait: float, *, rate_limited: bool = False) -> _Again:
        if self.attempt + 1 >= self.retry.attempts:
            what, url, n = f"{self.method} {self.path}", self.base_url + self.path, self.attempt + 1
            raise ExchangeUnavailable(
                f"{self.method} {url}: exchange unavailable after {n} attempts "
                f"(last: {self.last_problem})",
                details={"request": what, "attempts": n, "last": self.last_problem, "url": url},
            )
        self.attempt += 1
        return _Again(wait, rate_limited=rate_limited)

    def transport_error(self, err: Exception) -> _Again:
        problem = describe_error(err)
        if not (self.idempotent or _is_not_sent(err)):
            raise OutcomeUncertain(
                f"{self.method} {self.path}: {problem}; the request may have been processed",
                details={"request": f"{self.method} {self.path}", "cause": type(err).__name__},
            ) from None
        self.last_problem = problem
        return self._again(self.retry.backoff(self.attempt))

    def response(self, resp: httpx.Response) -> _Done | _Again:
        method, path, status = self.method, self.path, resp.status_code
        if status < 400:
            if status == 204 or not resp.content:
                return _Done(None)
            try:
                return _Done(_parse_json(resp.text))
            except ValueError as err:
                if self.idempotent:
                    why = str(err).split(":", 1)[0][:80]  # no body text: the parser's words
                    raise UnexpectedAnswer(
                        f"{method} {path}", "a JSON body", f"HTTP {status}, not JSON ({why})"
                    ) from None
                raise OutcomeUncertain(
                    f"{method} {path}: the exchange sent a body that is not JSON (HTTP {status})"
                ) from None
        if status == 401 and self.can_reauth:
            # usually refused before processing: re-auth once, retry once; but a 401 can come
            # from anything on the way after the request was processed, so a non-idempotent
            # POST (an order: twice is two orders) is not re-sent, the caller looks it up
            # first; a PUT or DELETE done twice has the effect of one
            self.can_reauth = False
            if self.invalidate is not None:
                self.invalidate()
            if not self.idempotent and method == "POST":
                raise RefusedAfterSend(
                    f"{method} {path}: HTTP 401 after the request was sent (re-authenticated"
                    "; the request may have been processed, so it was not re-sent blindly)",
                    details={"request": f"{method} {path}", "status": 401},
                )
            return _Again(0.0, reauth=True)
        if status == 429:
            self.last_problem = "HTTP 429 (rate limited)"
            wait = self.retry.rate_limit_wait(resp.headers, self.attempt)
            return self._again(wait, rate_limited=True)
        if status >= 500:
            server_err = _error_from_response(method, path, resp)
            problem = f"HTTP {status}" + (f" {server_err.code}" if server_err.code else "")
            if not self.idempotent:
                raise OutcomeUncertain(
                    f"{method} {path}: {problem}; the request may have been processed",
                    details={"request": f"{method} {path}", "status": status},
                )
            self.last_problem = problem
            return self._again(self.retry.backoff(self.attempt))
        raise _error_from_response(method, path, resp)


class RestClient:
    """A synchronous Paradex REST client.

    Args:
        base_url: e.g. ``https://api.testnet.paradex.trade/v1`` (paths are appended to it).
        transport: an httpx transport (``httpx.MockTransport`` in unit tests); default: real.
        auth: an :class:`Auth` for private calls; ``None`` for a public-only client.
        timeout: seconds for connect/read/write.
        retry: the :class:`RetryPolicy`.
        trace: a callable receiving one redacted line per request and response (``-v``).
    """

    def __init__(
        self,
        base_url: str,
        *,
        transport: httpx.BaseTransport | None = None,
        auth: Auth | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        trace: Callable[[str], None] | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.retry = retry or RetryPolicy()
        self.trace = trace
        #: told before every wait for a retry (a TTY progress line; :func:`retry_line`)
        self.progress = progress
        self._transport = transport
        self._timeout = timeout
        self._client: Any = None

    def _wire(self) -> Any:
        """The transport, created on first use: the stdlib one unless httpx is needed."""
        if self._client is None:
            from paradexctl.paradex import wire

            if self._transport is None and not wire.environment_needs_httpx(self.base_url):
                self._client = wire.StdlibWire(self._timeout, _HEADERS)
            else:
                self._client = _HttpxWire(self.base_url, self._transport, self._timeout)
        return self._client

    # context manager
    def __enter__(self) -> RestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- convenience verbs ------------------------------------------------------------------

    def get(
        self, path: str, params: Mapping[str, Any] | None = None, *, private: bool = False
    ) -> Any:
        return self.request("GET", path, params=params, private=private)

    def post(
        self,
        path: str,
        body: Any = None,
        *,
        private: bool = True,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = False,
    ) -> Any:
        return self.request(
            "POST", path, json_body=body, private=private, headers=headers, idempotent=idempotent
        )

    def put(self, path: str, body: Any = None, *, private: bool = True) -> Any:
        return self.request("PUT", path, json_body=body, private=private)

    def delete(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        *,
        private: bool = True,
    ) -> Any:
        return self.request("DELETE", path, params=params, json_body=body, private=private)

    # -- the one request path ---------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        private: bool = False,
        idempotent: bool | None = None,
        retry: RetryPolicy | None = None,
    ) -> Any:
        """Send one request with the retry rules above; return the decoded JSON (or None).

        ``retry`` replaces the client's policy for this request (an advisory read that
        must not hold a command back takes ``attempts=1``).

        Raises:
            ExchangeRejected: the exchange answered with an error (4xx).
            OutcomeUncertain: a non-idempotent request may have been processed.
            ExchangeUnavailable: network failure or 5xx after the retry budget.
        """
        method = method.upper()
        if private and method != "GET" and getattr(self.auth, "read_only", False):
            # a read-only credential: the write is refused here, before anything is sent
            raise ConfigError(
                f"{method} {path} needs a private key: the configured credential is a "
                "read-only API token (nothing was sent)"
            )
        if idempotent is None:
            idempotent = method == "GET"
        url = self.base_url + path
        clean_params = without_none(params)
        content: bytes | None = None
        req_headers: dict[str, str] = dict(headers or {})
        if json_body is not None:
            content = json.dumps(json_body, separators=(",", ":"), default=str).encode()
            req_headers["Content-Type"] = "application/json"
        policy = retry if retry is not None else self.retry
        tries = _Tries(
            policy, method, path, idempotent=idempotent,
            # a token is not renewed: a 401 is final, not re-sent with the same token
            can_reauth=private and self.auth is not None
            and not getattr(self.auth, "read_only", False),
            invalidate=self.auth.invalidate if self.auth is not None else None,
            base_url=self.base_url,
        )  # fmt: skip
        wire = self._wire()
        while True:
            if private:
                if self.auth is None:
                    raise RuntimeError(f"{method} {path} needs authentication")
                req_headers["Authorization"] = self.auth.authorization(self)
            request = wire.build(
                method, url, params=clean_params, content=content, headers=req_headers
            )
            self._trace_request(request, content)
            step: _Done | _Again
            try:
                resp = wire.send(request)
            except wire.errors as err:
                self._trace(f"!! {method} {path}: {describe_error(err)}")
                step = tries.transport_error(err)
            else:
                self._trace_response(resp)
                step = tries.response(resp)
            if isinstance(step, _Done):
                return step.value
            if step.reauth:  # the JWT was invalidated: the next try authenticates afresh
                continue
            if step.rate_limited:
                self._trace(f".. rate limited; waiting {step.wait:.2f} s")
            if self.progress is not None:
                self.progress(retry_line(method, path, step.wait, tries))
            policy.sleep(step.wait)

    # -- pagination -------------------------------------------------------------------------

    def get_paginated(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        limit: int | None = None,
        private: bool = True,
        page_size: int = 100,
    ) -> list[Any]:
        """Follow ``next`` cursors until ``limit`` rows (or the end) are collected.

        Every page must be an object with a ``results`` list of objects and a string (or
        absent) ``next``; anything else is :class:`~paradexctl.errors.UnexpectedAnswer`."""
        rows: list[Any] = []
        query = dict(params or {})
        while True:
            query["page_size"] = _page_want(page_size, limit, rows)
            cursor = _take_page(self.get(path, query, private=private), path, rows, limit)
            if cursor is None:
                break
            query["cursor"] = cursor
        return rows if limit is None else rows[:limit]

    # -- tracing ----------------------------------------------------------------------------

    def _trace(self, line: str) -> None:
        if self.trace is not None:
            self.trace(line)

    def _trace_request(self, request: httpx.Request, content: bytes | None) -> None:
        if self.trace is None:
            return
        hdrs = redact_headers(
            {
                k: v
                for k, v in request.headers.items()
                if k.lower() not in ("accept-encoding", "connection")
            }
        )
        self._trace(f"> {request.method} {request.url}")
        for k, v in hdrs.items():
            self._trace(f">   {k}: {v}")
        if content:
            self._trace(f">   {redact_text(content.decode(errors='replace'))}")

    def _trace_response(self, resp: httpx.Response) -> None:
        if self.trace is None:
            return
        self._trace(f"< {resp.status_code} {resp.request.method} {resp.request.url}")
        for k in ("retry-after", "x-ratelimit-remaining", "x-ratelimit-reset"):
            if k in resp.headers:
                self._trace(f"<   {k}: {resp.headers[k]}")
        if resp.content:
            body = resp.text
            if len(body) > 2000:
                body = body[:2000] + f"... ({len(resp.text)} chars)"
            self._trace(f"<   {redact_text(body)}")


# -- the async client (the live feed's) -----------------------------------------------------


class AsyncRestClient:
    """An async client for the idempotent reads of the live feed (``GET`` only).

    It shares :class:`RestClient`'s request building, error mapping
    (:func:`_error_from_response`), redacted traces and :class:`RetryPolicy` (its backoff and
    its 429 waits); what differs is only the I/O: ``httpx.AsyncClient`` and an async
    ``sleep``. A GET is always safe to send again, so transport errors, 429 and 5xx are
    retried within the policy's budget; a 401 re-authenticates once.

    Args:
        base_url: as for :class:`RestClient`.
        authorize: ``async authorize(refresh) -> Authorization header`` (``refresh=True``
            after a 401); ``None`` for a public-only client.
        transport: an ``httpx.AsyncBaseTransport`` (``httpx.MockTransport`` in tests).
        sleep: the async sleep used between tries (injected in tests).
    """

    def __init__(
        self,
        base_url: str,
        *,
        authorize: Callable[[bool], Any] | None = None,
        transport: Any = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Any] | None = None,
        trace: Callable[[str], None] | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.authorize = authorize
        self.retry = retry or RetryPolicy()
        self.trace = trace
        #: told before every wait for a retry, as :attr:`RestClient.progress`
        self.progress = progress
        self._transport = transport
        self._timeout = timeout
        self._sleep = sleep
        self._client: Any = None

    def _http(self) -> Any:
        if self._client is None:
            hx = _httpx()
            self._client = hx.AsyncClient(
                transport=self._transport, **_client_options(self.base_url, self._timeout)
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _pause(self, seconds: float) -> None:
        if self._sleep is not None:
            await self._sleep(seconds)
        else:
            import asyncio

            await asyncio.sleep(seconds)

    async def get(
        self, path: str, params: Mapping[str, Any] | None = None, *, private: bool = False
    ) -> Any:
        """One GET with the retry rules of :class:`RestClient`; the decoded JSON (or None)."""
        url = self.base_url + path
        clean_params = without_none(params)
        headers: dict[str, str] = {}
        http = self._http()
        tries = _Tries(
            self.retry, "GET", path, idempotent=True,
            can_reauth=private and self.authorize is not None, base_url=self.base_url,
        )  # fmt: skip
        refresh = False
        while True:
            if private:
                if self.authorize is None:
                    raise RuntimeError(f"GET {path} needs authentication")
                headers["Authorization"] = await self.authorize(refresh)
                refresh = False
            request = http.build_request("GET", url, params=clean_params, headers=headers)
            RestClient._trace_request(self, request, None)  # type: ignore[arg-type]
            step: _Done | _Again
            try:
                resp = await http.send(request)
            except _httpx().TransportError as err:
                self._trace(f"!! GET {path}: {describe_error(err)}")
                step = tries.transport_error(err)
            else:
                RestClient._trace_response(self, resp)  # type: ignore[arg-type]
                step = tries.response(resp)
            if isinstance(step, _Done):
                return step.value
            if step.reauth:
                refresh = True
                continue
            if self.progress is not None:
                self.progress(retry_line("GET", path, step.wait, tries))
            await self._pause(step.wait)

    async def get_paginated(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        limit: int | None = None,
        private: bool = True,
        page_size: int = 100,
    ) -> list[Any]:
        """Follow ``next`` cursors, as :meth:`RestClient.get_paginated` (same shape checks)."""
        rows: list[Any] = []
        query = dict(params or {})
        while True:
            query["page_size"] = _page_want(page_size, limit, rows)
            page = await self.get(path, query, private=private)
            cursor = _take_page(page, path, rows, limit)
            if cursor is None:
                break
            query["cursor"] = cursor
        return rows if limit is None else rows[:limit]

    def _trace(self, line: str) -> None:
        if self.trace is not None:
            self.trace(line)
