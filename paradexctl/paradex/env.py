"""Paradex environments and their base URLs.

``local`` is the built-in simulator (``paradexctl sim``), which listens on
``127.0.0.1:LOCAL_PORT`` by default. Cheap to import: no third-party modules.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ENVIRONMENTS", "LOCAL_PORT", "Environment", "get_environment"]

LOCAL_PORT = 8787


@dataclass(frozen=True, slots=True)
class Environment:
    name: str
    api_url: str
    ws_url: str
    chain_id: str
    #: True where orders move real money: confirmation is required.
    real_money: bool


ENVIRONMENTS: dict[str, Environment] = {
    "prod": Environment(
        "prod",
        "https://api.prod.paradex.trade/v1",
        "wss://ws.api.prod.paradex.trade/v1",
        "PRIVATE_SN_PARACLEAR_MAINNET",
        True,
    ),
    "testnet": Environment(
        "testnet",
        "https://api.testnet.paradex.trade/v1",
        "wss://ws.api.testnet.paradex.trade/v1",
        "PRIVATE_SN_POTC_SEPOLIA",
        False,
    ),
    "nightly": Environment(
        "nightly",
        "https://api.nightly.paradex.trade/v1",
        "wss://ws.api.nightly.paradex.trade/v1",
        "PRIVATE_SN_POTC_MOCK_SEPOLIA",
        False,
    ),
    "local": Environment(
        "local",
        f"http://127.0.0.1:{LOCAL_PORT}/v1",
        f"ws://127.0.0.1:{LOCAL_PORT}/v1",
        "PRIVATE_SN_POTC_SEPOLIA",
        False,
    ),
}


def get_environment(name: str) -> Environment:
    """Return the environment called ``name``; ``KeyError`` if unknown."""
    return ENVIRONMENTS[name]
