"""Shared pytest fixtures.

Simulator fixtures (owned by the sim; see ``docs/sim.md``):

``sim_server`` (session)
    One :class:`paradexctl.sim.server.SimServer` for the whole test session, on a free
    loopback port, with a frozen mark price (``mark_walk_ms=0``), no faults and no REST
    staleness. Start-up is about 100 ms; it is stopped at the end of the session.

``sim`` (function)
    The same server, reset first through the admin API (fresh engine: no accounts, no
    orders, default marks; faults, staleness and the clock offset back to their start
    values; WebSockets closed). Use ``sim.http_url`` (``http://127.0.0.1:PORT/v1``),
    ``sim.ws_url`` (``ws://127.0.0.1:PORT/v1``) and ``sim.admin`` (a
    :class:`~paradexctl.sim.server.SimAdmin`: ``faults(...)``, ``staleness(...)``,
    ``mark_price(market, price)``, ``force_fill(order_id)``, ``disconnect()``,
    ``advance_time(ms)``, ``deposit(address, amount)``, ``state()``).

``sim_account`` (function)
    A helper: ``sim_account(sim)`` creates a random Stark key pair, onboards it on ``sim``
    (signed, as a real client would) and returns
    ``(private_key: int, public_key: "0x…", address: "0x…")``. The account holds the faucet's
    100000 USDC. For JWTs and signed order bodies see :mod:`paradexctl.sim.testing`
    (``login``, ``order_body``, ``modify_body``, ``auth_headers``).

A test needing other start options (a state file, faults from the start, fast pings) starts
its own ``SimServer(SimOptions(...))`` as a context manager.

Example::

    def test_place(sim, sim_account):
        priv, pub, address = sim_account(sim)
        ...
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from paradexctl.sim.app import SimOptions
from paradexctl.sim.server import SimServer
from paradexctl.sim.testing import SimAccount, new_account


@pytest.fixture(scope="session")
def sim_server() -> Iterator[SimServer]:
    server = SimServer(SimOptions(seed=1, mark_walk_ms=0, warm_tables=None)).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sim(sim_server: SimServer) -> SimServer:
    sim_server.admin.reset()
    return sim_server


def _sim_account(server: SimServer) -> tuple[int, str, str]:
    acct: SimAccount = new_account(server.http_url)
    return acct.private_key, acct.public_key, acct.address


@pytest.fixture
def sim_account() -> Callable[[SimServer], tuple[int, str, str]]:
    """``sim_account(sim) -> (private_key, public_key, address)``, onboarded on ``sim``."""
    return _sim_account


@pytest.fixture
def sim_cli_env(
    sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> pytest.MonkeyPatch:
    """The environment that points the CLI (run in process) at ``sim``: temporary XDG dirs,
    ``--env local`` with the sim's URLs, short retry backoff, and no account, profile or
    subkey setting leaking in from the caller's environment. Returns ``monkeypatch`` for
    more settings (the key, the wait knobs)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PARADEX_ENV", "local")
    monkeypatch.setenv("PARADEX_API_URL", sim.http_url)
    monkeypatch.setenv("PARADEX_WS_URL", sim.ws_url)
    write_profile(tmp_path / "config", retry_base_ms=5)
    for var in ("PARADEX_ACCOUNT_ADDRESS", "PARADEXCTL_PROFILE", "PARADEX_SUBKEY"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def default_sigint() -> None:
    """``preexec_fn`` for a child the test interrupts with SIGINT.

    A test run started in the background by a non-interactive shell (``cmd &``, nohup, some CI
    runners) ignores SIGINT, every child inherits that, and Python then installs no
    KeyboardInterrupt handler: the child would never see the SIGINT the test sends.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def write_profile(config_home: Path, profile: str = "default", **keys: object) -> Path:
    """Write ``[profiles.PROFILE]`` with ``keys`` (e.g. the network tunables:
    ``retry_base_ms=5``, ``ws_backoff_base_ms=20``) to ``config_home/paradexctl/config.toml``
    (mode 0600), merged into what is there; returns the path. The CLI's tunables are profile
    settings, never environment knobs (``docs/configuration.md``)."""
    import tomllib

    import tomli_w

    from paradexctl.config import write_private_file

    path = config_home / "paradexctl" / "config.toml"
    data = tomllib.loads(path.read_text()) if path.exists() else {}
    data.setdefault("profiles", {}).setdefault(profile, {}).update(keys)
    write_private_file(path, tomli_w.dumps(data))
    return path
