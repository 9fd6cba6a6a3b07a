"""The synchronous REST client's default HTTP transport: HTTP/1.1 on the standard library.

Why: a one-shot command sends one to three requests, and importing httpx (with httpcore, h11,
idna, its URL and header models) costs more than those requests; ``http.client`` is a fraction
of it. This module only moves bytes: the retry rules, the error mapping, the never-twice rule
and the redacted traces stay in :mod:`paradexctl.paradex.rest` (``_Tries``), which runs this
transport and the httpx one the same way. The async client of the live feed stays on httpx.

What it does, matching the httpx client it stands in for (``rest._client_options``):

* keep-alive connections, one per request in flight (thread-safe), dropped when the server
  closed them (a socket readable while idle) before anything is sent on them; a request that
  may have been sent is never re-sent here;
* no redirects, no compression (``Accept-Encoding: identity``), no cookies;
* ``https://`` verifies the server against httpx's trust store (``SSL_CERT_FILE``,
  ``SSL_CERT_DIR``, else certifi's bundle), in a TLS context built on the first https
  connection; ``http://`` never builds one;
* a connect timeout of ``min(timeout, 5)`` s, then ``timeout`` s per socket operation.

:class:`RestClient <paradexctl.paradex.rest.RestClient>` uses httpx instead when it is given a
transport (tests), or when the environment sets a proxy for the base URL's scheme
(``HTTPS_PROXY``, ``ALL_PROXY``, ...), which httpx honours and this module does not.

Errors are :class:`WireError` subclasses named like httpx's, so the messages read the same;
``not_sent`` is True only when the request provably never left (connect or TLS handshake
failed).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit

__all__ = [
    "ConnectError",
    "ConnectTimeout",
    "ReadError",
    "ReadTimeout",
    "RemoteProtocolError",
    "Request",
    "Response",
    "StdlibWire",
    "WireError",
    "WriteError",
    "environment_needs_httpx",
    "tls_context",
]


def environment_needs_httpx(base_url: str, environ: Mapping[str, str] | None = None) -> bool:
    """True when the environment sets a proxy for ``base_url``'s scheme (``HTTP_PROXY`` for
    http, ``HTTPS_PROXY`` for https, ``ALL_PROXY``; either case): only httpx honours it."""
    env = os.environ if environ is None else environ
    scheme = "https" if base_url.lower().startswith("https:") else "http"
    names = (f"{scheme}_proxy", "all_proxy")
    return any(env.get(n) or env.get(n.upper()) for n in names)


def tls_context(environ: Mapping[str, str] | None = None) -> Any:
    """A verifying TLS context with httpx's trust store: ``SSL_CERT_FILE`` if it names a
    file, else ``SSL_CERT_DIR`` if it names a directory, else certifi's bundle."""
    import ssl

    env = os.environ if environ is None else environ
    cert_file, cert_dir = env.get("SSL_CERT_FILE"), env.get("SSL_CERT_DIR")
    if cert_file and os.path.isfile(cert_file):
        return ssl.create_default_context(cafile=cert_file)
    if cert_dir and os.path.isdir(cert_dir):
        return ssl.create_default_context(capath=cert_dir)
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi comes with httpx
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


class WireError(Exception):
    """A transport failure; ``not_sent``: the request provably never reached the server."""

    not_sent = False


class ConnectError(WireError):
    not_sent = True


class ConnectTimeout(WireError):
    not_sent = True


class WriteError(WireError):
    pass


class ReadError(WireError):
    pass


class ReadTimeout(WireError):
    pass


class RemoteProtocolError(WireError):
    pass


@dataclass
class Request:
    method: str
    url: str
    headers: dict[str, str]
    content: bytes | None = None


@dataclass
class Response:
    status_code: int
    reason_phrase: str
    headers: dict[str, str]
    content: bytes
    request: Request

    @cached_property
    def text(self) -> str:
        """The body as text (decoded once: error paths and ``-v`` traces read it again)."""
        charset = "utf-8"
        for part in self.headers.get("content-type", "").split(";")[1:]:
            k, _, v = part.strip().partition("=")
            if k.lower() == "charset" and v:
                charset = v.strip('"')
        try:
            return self.content.decode(charset, errors="replace")
        except LookupError:  # an unknown charset name
            return self.content.decode("utf-8", errors="replace")


def _param(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def _query(params: Mapping[str, Any]) -> str:
    pairs: list[tuple[str, str]] = []
    for k, v in params.items():
        for item in v if isinstance(v, list | tuple) else (v,):
            pairs.append((k, _param(item)))
    return urlencode(pairs)


class StdlibWire:
    """Keep-alive HTTP/1.1 connections, safe to share between threads (see the module
    docstring): a request takes an idle connection to its origin or opens one, and gives it
    back once the answer is read, so two threads never share one connection (``order place
    --wait`` may log in from the live feed's thread while the placement is in flight)."""

    #: what :meth:`send` raises on a transport failure (``RestClient`` catches these)
    errors: ClassVar[tuple[type[Exception], ...]] = (WireError,)

    def __init__(self, timeout: float, headers: Mapping[str, str]) -> None:
        self.timeout = timeout
        self.headers = dict(headers)
        self._idle: list[tuple[tuple[str, str, int], Any]] = []
        self._lock = threading.Lock()
        self._tls: Any = None

    def build(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any],
        content: bytes | None,
        headers: Mapping[str, str],
    ) -> Request:
        query = _query(params)
        if query:
            url = f"{url}{'&' if '?' in url else '?'}{query}"
        return Request(method, url, {**self.headers, **headers}, content)

    def _tls_context(self) -> Any:
        with self._lock:
            if self._tls is None:
                self._tls = tls_context()
            return self._tls

    def _checkout(self, origin: tuple[str, str, int]) -> Any:
        """An idle connection to ``origin`` that the server has not closed, or a new one."""
        while True:
            with self._lock:
                found = next((n for n, (o, _) in enumerate(self._idle) if o == origin), None)
                conn = None if found is None else self._idle.pop(found)[1]
            if conn is None:
                return self._connect(*origin)
            if not _stale(conn):
                return conn
            conn.close()

    def _checkin(self, origin: tuple[str, str, int], conn: Any) -> None:
        with self._lock:
            self._idle.append((origin, conn))

    def _connect(self, scheme: str, host: str, port: int) -> Any:
        import http.client

        connect_timeout = min(self.timeout, 5.0)
        if scheme == "https":
            conn: Any = http.client.HTTPSConnection(
                host, port, timeout=connect_timeout, context=self._tls_context()
            )
        else:
            conn = http.client.HTTPConnection(host, port, timeout=connect_timeout)
        try:
            conn.connect()
        except TimeoutError as err:
            conn.close()
            raise ConnectTimeout(str(err) or "timed out") from err
        except OSError as err:  # refused, unreachable, DNS, TLS handshake (ssl.SSLError)
            conn.close()
            raise ConnectError(str(err)) from err
        conn.sock.settimeout(self.timeout)
        return conn

    def send(self, request: Request) -> Response:
        import http.client

        parts = urlsplit(request.url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise ConnectError(f"unsupported URL {request.url!r}")
        origin = (scheme, parts.hostname, parts.port or (443 if scheme == "https" else 80))
        conn = self._checkout(origin)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        try:
            conn.request(request.method, target, body=request.content, headers=request.headers)
        except TimeoutError as err:
            conn.close()
            raise WriteError(str(err) or "timed out") from err
        except OSError as err:
            conn.close()
            raise WriteError(str(err)) from err
        try:
            resp = conn.getresponse()
            content = resp.read()
        except TimeoutError as err:
            conn.close()
            raise ReadTimeout(str(err) or "timed out") from err
        except http.client.HTTPException as err:  # RemoteDisconnected, BadStatusLine, ...
            conn.close()
            raise RemoteProtocolError(str(err) or type(err).__name__) from err
        except OSError as err:
            conn.close()
            raise ReadError(str(err)) from err
        headers: dict[str, str] = {}
        for k, v in resp.getheaders():
            key = k.lower()
            headers[key] = f"{headers[key]}, {v}" if key in headers else v
        if resp.will_close:
            conn.close()
        else:
            self._checkin(origin, conn)
        return Response(resp.status, resp.reason or "", headers, content, request)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for _, conn in idle:
            conn.close()


def _stale(conn: Any) -> bool:
    """True when an idle connection was closed by the server (or has unasked bytes)."""
    import select

    sock = getattr(conn, "sock", None)
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
