"""One grammar for every command: global options anywhere, metavars from one table.

Two jobs, both done once for the whole command tree rather than in each command module:

* :func:`hoist_globals` lets a global option (``--profile``, ``--env``, ``--api-url``,
  ``--ws-url``, ``-o``, ``--fields``, ``-v``, ``-q``, ``--no-color``) stand before or after the
  subcommand, as gh and kubectl allow: ``paradexctl positions -v --env local`` is read as
  ``paradexctl -v --env local positions``. An option the command defines itself with the
  same name (``-o`` everywhere, ``config init --env``/``--profile``) stays the command's.
* :func:`normalize` gives every option and argument its metavar from :data:`METAVARS`
  (``--market MARKET`` in every command, never ``<str>``, ``<int range>`` or ``M``), and
  writes arguments one way in usage lines: ``MARKET`` when required, ``[MARKET]`` when
  optional.

``tests/test_cli_grammar.py`` walks every command's ``--help`` and checks these rules.
Cheap to import: typer only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from typer.core import TyperArgument

__all__ = [
    "EXAMPLES",
    "GLOBAL_FLAGS",
    "GLOBAL_VALUE_OPTIONS",
    "METAVARS",
    "hoist_globals",
    "normalize",
]

#: Global options that take a value, and their aliases.
GLOBAL_VALUE_OPTIONS = frozenset(
    {"--profile", "--env", "--api-url", "--ws-url", "--output", "-o", "--fields", "--jq"}
)
#: Global flags (``-v`` counts: ``-vv`` adds tracebacks).
GLOBAL_FLAGS = frozenset({"--verbose", "-v", "--quiet", "-q", "--no-color", "--utc"})
#: Global short flags that may be clustered (``-vv``, ``-qv``).
_GLOBAL_SHORT = frozenset("vq")

#: The metavar of every value-taking option (by its long name) and every argument (by its
#: parameter name), for every command. One name, one metavar.
METAVARS: dict[str, str] = {
    # global
    "--profile": "NAME",
    "--env": "ENV",
    "--api-url": "URL",
    "--ws-url": "URL",
    "--output": "FORMAT",
    "--fields": "FIELDS",
    "--jq": "EXPR",
    # markets and orders
    "--market": "MARKET",
    "--markets": "MARKETS",
    "--side": "SIDE",
    "--size": "SIZE",
    "--price": "PRICE",
    "--trigger-price": "PRICE",
    "--type": "TYPE",
    "--tif": "TIF",
    "--stp": "MODE",
    "--leverage": "N",
    "--mode": "MODE",
    "--instruction": "TIF",
    "--client-id": "ID",
    "--order-id": "ID",
    "--status": "STATUS",
    "--wait": "STATE",
    "--since": "WHEN",
    "--limit": "N",
    "--count": "N",
    "--chunk-size": "N",
    "--batch": "FILE",
    # keys and accounts
    "--account": "ADDR",
    "--account-address": "ADDR",
    "--ethereum-account": "ADDR",
    "--key-file": "FILE",
    "--key-command": "COMMAND",
    "--save-to": "FILE",
    "--name": "NAME",
    "--expires-in": "SECONDS",
    "--chain-id": "CHAIN",
    "--timestamp": "TIME",
    "--expiration": "TIME",
    "--signing-tables": "FILE",
    # durations and files
    "--timeout": "SECONDS",
    "--duration": "SECONDS",
    "--wait-ok": "SECONDS",
    "--grace": "SECONDS",
    "--window": "SECONDS",
    "--stale-after": "SECONDS",
    "--resync-every": "SECONDS",
    "--max-reconnects": "N",
    "--entities": "LIST",
    "--fail-on": "WHAT",
    "--record": "FILE",
    "--replay": "FILE",
    "--prometheus": "FILE",
    "--junit": "FILE",
    "--state": "FILE",
    "--clock": "CLOCK",
    "--scenario": "FILE",
    # sim (its fault options add theirs from the fault table: see cli/sim.py)
    "--host": "HOST",
    "--port": "PORT",
    "--seed": "N",
    "--rest-staleness": "MS|KEY=MS",
    "--jwt-lifetime": "SECONDS",
    "--faucet": "USDC",
    "--mark-walk-ms": "MS",
    "--ws-ping-interval": "SECONDS",
    "--playback": "FILE",
    "--speed": "X",
    "--mark": "MARKET=PRICE",
    "--verify-workers": "N",
    "--admin-allow-origin": "ORIGIN",
    # arguments
    "market": "MARKET",
    "side": "SIDE",
    "size": "SIZE",
    "order_id": "ID",
    "token_id": "ID",
    "channels": "CHANNEL",
    "shell": "SHELL",
    "key": "KEY",
    "value": "VALUE",
    "name": "NAME",
}


#: An example for every command's help (by its path below ``paradexctl``), shown last.
EXAMPLES: dict[str, str] = {
    "": "paradexctl --env local markets",
    "markets": "paradexctl markets BTC-USD-PERP -o json",
    "bbo": "paradexctl bbo BTC-USD-PERP",
    "balances": "paradexctl balances -o json",
    "positions": "paradexctl positions --env local",
    "fills": "paradexctl fills --market BTC-USD-PERP --since 2h",
    "stream": "paradexctl stream orders fills --market BTC-USD-PERP --count 10",
    "reconcile": "paradexctl reconcile --window 5 --grace 2 -o json",
    "smoke": "paradexctl --env local smoke --junit smoke.xml",
    "status": "paradexctl -o json status --wait-ok 900",
    "doctor": "paradexctl --profile live-readonly doctor",
    "sim": "paradexctl sim --port 8787 --seed 1",
    "completion": "paradexctl completion bash > ~/.local/share/bash-completion/completions/paradexctl",
    "account": "paradexctl account -o json",
    "account onboard": "paradexctl --env testnet account onboard",
    "account margin": "paradexctl account margin --market BTC-USD-PERP -o json",
    "account margin set": "paradexctl account margin set BTC-USD-PERP --leverage 5 --mode cross",
    "orders": "paradexctl orders list --history --since 1d",
    "orders list": "paradexctl orders list --market BTC-USD-PERP -o json",
    "order": "paradexctl order place BTC-USD-PERP buy 0.01 --price 60000 --wait open",
    "order get": "paradexctl order get --client-id my-order-1",
    "order place": "paradexctl order place BTC-USD-PERP buy 0.01 --price 60000 --wait open",
    "order modify": "paradexctl order modify 1681234567890 --price 60100",
    "order cancel": "paradexctl order cancel --client-id my-order-1",
    "order cancel-all": "paradexctl order cancel-all --market BTC-USD-PERP --yes",
    "sign": "paradexctl sign auth --key-file ~/.config/paradexctl/default.key",
    "sign order": "paradexctl sign order --market BTC-USD-PERP --side buy --size 0.01 --price 60000",
    "sign modify": (
        "paradexctl sign modify --order-id 1681234567890 --market BTC-USD-PERP --side buy "
        "--size 0.01 --price 60100"
    ),
    "sign auth": "paradexctl sign auth --timestamp 1700000000",
    "sign onboarding": "paradexctl sign onboarding --ethereum-account 0x0",
    "config": "paradexctl config init --profile local --env local",
    "config init": "paradexctl config init --profile local --env local --key-file local.key",
    "config show": "paradexctl config show -o json",
    "config set": "paradexctl config set subkey true --profile trading",
    "config profiles": "paradexctl config profiles",
    "config use": "paradexctl config use local",
    "auth": "paradexctl auth tokens create --read-only --save-to ~/.config/paradexctl/cron.token",
    "auth tokens": "paradexctl auth tokens list -o json",
    "auth tokens list": "paradexctl auth tokens list -o json",
    "auth tokens create": (
        "paradexctl auth tokens create --read-only --name cron --save-to "
        "~/.config/paradexctl/cron.token"
    ),
    "auth tokens revoke": "paradexctl auth tokens revoke lk-1-1796400000000",
}


class Argument(TyperArgument):
    """An argument written ``NAME`` in usage lines when required, ``[NAME]`` when optional
    (typer writes ``{name}`` and ``{name}:<type>``)."""

    def make_metavar(self, ctx: Any, *, usage: bool = False) -> str:
        var = self.metavar or (self.name or "").upper()
        if self.nargs != 1:
            var += "..."
        return f"[{var}]" if usage and not self.required else var


def _long_name(param: Any) -> str:
    names: list[str] = [*param.opts, *param.secondary_opts]
    return next((n for n in names if n.startswith("--")), names[0])


# -- value completion (the shell asks through _PARADEXCTL_COMPLETE) -----------------------------


def _words(*words: str) -> Callable[[Any, Any, str], list[str]]:
    def complete(ctx: Any, param: Any, incomplete: str) -> list[str]:
        return [w for w in words if w.startswith(incomplete.lower())]

    return complete


def _from(load: Callable[[Any], Sequence[str]]) -> Callable[[Any, Any, str], list[str]]:
    """Words from ``load(ctx)`` (lazily: imports and files only when the shell asks);
    nothing when it fails: a completion never prints an error."""

    def complete(ctx: Any, param: Any, incomplete: str) -> list[str]:
        try:
            words = load(ctx)
        except Exception:
            return []
        low = incomplete.lower()
        return [w for w in words if w.lower().startswith(low)]

    return complete


def _environments(ctx: Any) -> list[str]:
    from paradexctl.paradex.env import ENVIRONMENTS

    return list(ENVIRONMENTS)


def _profiles(ctx: Any) -> list[str]:
    from paradexctl.config import load_config

    return sorted(load_config().get("profiles") or {})


def _cached_markets(ctx: Any) -> list[str]:
    """The market symbols of the metadata cache of the environment the command line names so
    far (``--env``, ``--profile``, ``--api-url``, else the configured one): no request is
    made (an empty list until a command fetched the markets once)."""
    import time

    from paradexctl.config import cache_dir, resolve_settings
    from paradexctl.paradex.auth import MetaCache

    given = ctx.find_root().params if ctx is not None else {}
    settings = resolve_settings(
        profile=given.get("profile"), env=given.get("env"), api_url=given.get("api_url"),
        ws_url=given.get("ws_url"),
    )  # fmt: skip
    rows = MetaCache(cache_dir(), settings.api_url, time.time).get("markets", float("inf"))
    return sorted(str(m["symbol"]) for m in rows or [] if isinstance(m, dict) and m.get("symbol"))


def _channels(ctx: Any) -> list[str]:
    from paradexctl.cli.stream import CHANNEL_CHOICES

    return list(CHANNEL_CHOICES)


def _order_words(table: str) -> Callable[[Any], list[str]]:
    """The CLI spellings of one of :mod:`paradexctl.paradex.orders`' tables (imported when
    the shell asks, not at start-up)."""

    def load(ctx: Any) -> list[str]:
        from paradexctl.paradex import orders

        return list(getattr(orders, table))

    return load


def _formats(ctx: Any) -> list[str]:
    from paradexctl.output import FORMATS

    return [*FORMATS[:1], "wide", *FORMATS[1:]]


#: Value completion by option long name or argument name: what the shell offers after
#: ``--env ``, ``stream ``, ``--market `` ... (applied by :func:`normalize`).
COMPLETERS: dict[str, Callable[[Any, Any, str], list[str]]] = {
    "--env": _from(_environments),
    "--profile": _from(_profiles),
    "--output": _from(_formats),
    "--market": _from(_cached_markets),
    "market": _from(_cached_markets),
    "channels": _from(_channels),
    "side": _from(_order_words("SIDES")),
    "--side": _from(_order_words("SIDES")),
    "--type": _from(_order_words("ORDER_TYPES")),
    "--tif": _from(_order_words("TIFS")),
    "--stp": _from(_order_words("STP_MODES")),
    "--wait": _from(_order_words("WAIT_TARGETS")),
    "--mode": _words("cross", "isolated"),
    "--status": _words("new", "open", "closed", "untriggered"),
}


def normalize(cmd: Any, path: str = "") -> Any:
    """Apply :data:`METAVARS` and :data:`EXAMPLES` to ``cmd`` (the command at ``path``) and
    every command below it (once; returns ``cmd``). A name missing from a table keeps what it
    declared; the help test refuses it."""
    if getattr(cmd, "_paradexctl_normalized", False):
        return cmd
    example = EXAMPLES.get(path)
    if example and not cmd.epilog:
        cmd.epilog = f"\b\nExample:\n  {example}"
    for param in getattr(cmd, "params", []):
        if param.param_type_name == "argument":
            param.metavar = METAVARS.get(param.name or "", param.metavar)
            if isinstance(param, TyperArgument) and not isinstance(param, Argument):
                param.__class__ = Argument
            key = param.name or ""
        elif not (param.is_flag or param.count):
            param.metavar = METAVARS.get(_long_name(param), param.metavar)
            key = _long_name(param)
        else:
            continue
        if key in COMPLETERS and getattr(param, "_custom_shell_complete", None) is None:
            param._custom_shell_complete = COMPLETERS[key]
    cmd._paradexctl_normalized = True
    for name, sub in (getattr(cmd, "commands", None) or {}).items():
        normalize(sub, f"{path} {name}".strip())
    return cmd


def _own_option(cmd: Any, name: str) -> Any:
    for param in getattr(cmd, "params", []):
        if param.param_type_name == "option" and name in (*param.opts, *param.secondary_opts):
            return param
    return None


def _takes_value(param: Any) -> bool:
    return not (param.is_flag or param.count)


def hoist_globals(root: Any, args: Sequence[str]) -> list[str]:
    """``args`` with every global option found after the command name moved before it
    (with its value), unless the command being invoked defines an option of that name.
    Everything after ``--`` is left alone."""
    from typer._click import Context

    args = list(args)
    i = 0
    while i < len(args):  # the root's own options, before the command name
        a = args[i]
        if a == "--" or a == "-" or not a.startswith("-"):
            break
        i += 1 + (a in GLOBAL_VALUE_OPTIONS)
    if i >= len(args) or args[i] == "--":
        return args
    head, hoisted, rest = args[:i], [], []
    ctx = Context(root, info_name="paradexctl")
    cmd: Any = root
    j = i
    while j < len(args):
        a = args[j]
        j += 1
        if a == "--":
            rest.extend(args[j - 1 :])
            break
        if a == "-" or not a.startswith("-"):
            sub = cmd.get_command(ctx, a) if hasattr(cmd, "get_command") else None
            if sub is not None:
                cmd = sub
            rest.append(a)
            continue
        name = a.split("=", 1)[0] if a.startswith("--") else a[:2]
        attached = "=" in a if a.startswith("--") else len(a) > 2
        own = _own_option(cmd, name)
        if own is not None:
            rest.append(a)
            if _takes_value(own) and not attached and j < len(args):
                rest.append(args[j])
                j += 1
            continue
        if name in GLOBAL_VALUE_OPTIONS:
            hoisted.append(a)
            if not attached and j < len(args):
                hoisted.append(args[j])
                j += 1
        elif a in GLOBAL_FLAGS or (
            not a.startswith("--")
            and set(a[1:]) <= _GLOBAL_SHORT
            and not any(_own_option(cmd, f"-{c}") for c in a[1:])
        ):
            hoisted.append(a)
        else:
            rest.append(a)
    return head + hoisted + rest
