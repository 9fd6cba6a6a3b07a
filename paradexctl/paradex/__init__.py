"""I/O with the exchange: environments, the REST client, auth and order entry.

Importing this package is cheap (``paradexctl.config`` imports :mod:`.env` at start-up): the
public names below are loaded lazily, so httpx is imported only when one of them is used.

* :class:`RestClient`, :class:`RetryPolicy`, :class:`OutcomeUncertain` (``rest``)
* :class:`Session`, :class:`Authenticator`, :class:`JwtCache`, :class:`MetaCache` (``auth``)
* :class:`OrderSpec`, :func:`validate`, :func:`build_order_request`, :func:`submit_order`,
  :func:`find_by_client_id`, :func:`cancel_order` (``orders``)
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Authenticator",
    "JwtCache",
    "MetaCache",
    "OrderSpec",
    "OutcomeUncertain",
    "RestClient",
    "RetryPolicy",
    "Session",
    "build_order_request",
    "cancel_order",
    "find_by_client_id",
    "submit_order",
    "validate",
]

_HOME = {
    "RestClient": "rest",
    "RetryPolicy": "rest",
    "OutcomeUncertain": "rest",
    "Session": "auth",
    "Authenticator": "auth",
    "JwtCache": "auth",
    "MetaCache": "auth",
    "OrderSpec": "orders",
    "validate": "orders",
    "build_order_request": "orders",
    "submit_order": "orders",
    "find_by_client_id": "orders",
    "cancel_order": "orders",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
