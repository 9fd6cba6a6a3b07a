"""``paradexctl config``: profiles and credentials."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from paradexctl.cli.context import OutputOpt, get_ctx
from paradexctl.config import (
    PROFILE_KEYS,
    config_path,
    load_config,
    masked_config,
    save_config,
    set_profile_value,
)
from paradexctl.errors import UsageError
from paradexctl.paradex.env import ENVIRONMENTS

config_app = typer.Typer(
    help="Manage profiles and credentials (config.toml, mode 0600).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")


ProfileOpt = Annotated[
    str | None,
    typer.Option("--profile", "-p", help="Profile to act on [default: the current profile]."),
]


def _target_profile(cfg: dict[str, object], profile: str | None) -> str:
    if profile:
        return profile
    ctx_profile = get_ctx().profile
    if ctx_profile:
        return ctx_profile
    current = cfg.get("current_profile")
    return str(current) if current else "default"


@config_app.command("init")
def init(
    profile: ProfileOpt = None,
    env: Annotated[str | None, typer.Option(help="prod, testnet, nightly or local.")] = None,
    account_address: Annotated[
        str | None, typer.Option("--account-address", help="L2 account address.")
    ] = None,
    key_file: Annotated[
        str | None, typer.Option("--key-file", help="Private-key file (mode 0600).")
    ] = None,
    key_command: Annotated[
        str | None, typer.Option("--key-command", help="Command printing the private key.")
    ] = None,
    subkey: Annotated[bool, typer.Option(help="The key is a trade-only subkey.")] = False,
    force: Annotated[bool, typer.Option(help="Overwrite an existing profile.")] = False,
    output: OutputOpt = None,
) -> None:
    """Create a profile. Interactive on a TTY; flags only otherwise (never prompts in scripts).

    The private key itself is never stored here: point at a key file or a key command.
    """
    out = get_ctx().output(output)
    cfg = load_config()
    name = _target_profile(cfg, profile)
    profiles = cfg.setdefault("profiles", {})
    if name in profiles and not force:
        raise UsageError(f"profile {name!r} exists; pass --force to overwrite it")
    interactive = sys.stdin.isatty() and sys.stderr.isatty()
    if interactive and env is None:
        env = typer.prompt("Environment", default="testnet", err=True)
    if interactive and account_address is None:
        account_address = typer.prompt(
            "Account address (blank to set later)", default="", show_default=False, err=True
        )
    if interactive and key_file is None and key_command is None:
        key_file = typer.prompt(
            "Key file path (blank: use PARADEX_L2_PRIVATE_KEY or key_command)",
            default="",
            show_default=False,
            err=True,
        )
    env = env or "testnet"
    env = env.strip().lower()
    if env not in ENVIRONMENTS:
        raise UsageError(f"unknown environment {env!r}; choose one of {', '.join(ENVIRONMENTS)}")
    if key_file and key_command:
        raise UsageError("give either --key-file or --key-command, not both")
    if subkey and not account_address:
        raise UsageError(
            "a subkey cannot derive its account address: pass --account-address with the "
            "main account's address (nothing was written)"
        )
    profiles[name] = {}
    set_profile_value(cfg, name, "env", env)
    if account_address:
        set_profile_value(cfg, name, "account_address", account_address)
    if key_file:
        set_profile_value(cfg, name, "key_file", key_file)
    if key_command:
        set_profile_value(cfg, name, "key_command", key_command)
    if subkey:
        set_profile_value(cfg, name, "subkey", "true")
    cfg.setdefault("current_profile", name)
    path = save_config(cfg)
    out.info(f"wrote profile {name!r} to {path}")
    out.emit({"profile": name, "path": str(path), **masked_config(cfg)["profiles"][name]})


@config_app.command("show")
def show(profile: ProfileOpt = None, output: OutputOpt = None) -> None:
    """Show the resolved settings and where each came from. Secrets are never shown."""
    ctx = get_ctx()
    out = ctx.output(output)
    settings = ctx.settings(profile=profile)
    view = settings.public_view()
    view["config_file"] = str(config_path())
    out.emit(view)


@config_app.command("set")
def set_value(
    key: Annotated[str, typer.Argument(help=f"One of: {', '.join(PROFILE_KEYS)}.")],
    value: Annotated[str, typer.Argument(help="The value.")],
    profile: ProfileOpt = None,
    allow_plaintext_key: Annotated[
        bool,
        typer.Option(
            "--allow-plaintext-key",
            help="Allow storing private_key in config.toml (discouraged).",
        ),
    ] = False,
    output: OutputOpt = None,
) -> None:
    """Set one setting of a profile."""
    out = get_ctx().output(output)
    cfg = load_config()
    name = _target_profile(cfg, profile)
    set_profile_value(cfg, name, key, value, allow_plaintext_key=allow_plaintext_key)
    if key == "private_key":
        out.warn(
            "the private key is now stored in plain text in config.toml (mode 0600); "
            "a key_file or key_command is safer"
        )
    cfg.setdefault("current_profile", name)
    save_config(cfg)
    out.emit({"profile": name, "key": key, "value": masked_config(cfg)["profiles"][name][key]})


@config_app.command("profiles")
def profiles(output: OutputOpt = None) -> None:
    """List profiles; the current one is marked."""
    out = get_ctx().output(output)
    cfg = load_config()
    current = cfg.get("current_profile")
    rows = [
        {
            "profile": name,
            "current": name == current,
            "env": prof.get("env", ""),
            "account_address": prof.get("account_address", ""),
        }
        for name, prof in sorted((cfg.get("profiles") or {}).items())
    ]
    out.emit(rows, columns=["profile", "current", "env", "account_address"])


@config_app.command("use")
def use(
    name: Annotated[str, typer.Argument(help="Profile to make current.")],
    output: OutputOpt = None,
) -> None:
    """Make NAME the current profile."""
    out = get_ctx().output(output)
    cfg = load_config()
    if name not in (cfg.get("profiles") or {}):
        from paradexctl.config import unknown_profile

        raise unknown_profile(name, cfg.get("profiles") or {})
    cfg["current_profile"] = name
    save_config(cfg)
    out.emit({"current_profile": name})
