"""Profiles, settings resolution and credentials.

Files:

* ``$XDG_CONFIG_HOME/paradexctl/config.toml`` (default ``~/.config/paradexctl/config.toml``),
  read with tomllib, written with tomli-w, always mode 0600::

      current_profile = "default"

      [profiles.default]
      env = "testnet"
      account_address = "0x..."
      key_file = "~/.config/paradexctl/default.key"     # or key_command = "pass show paradex"
      # subkey = true                                     # key is a trade-only subkey

* ``$XDG_CACHE_HOME/paradexctl/`` (default ``~/.cache/paradexctl/``): JWTs and exchange
  metadata, files mode 0600.

Precedence for every setting: command-line flag > environment variable > profile > default.

Key sources, first match wins: ``--key-file`` flag; ``PARADEX_L2_PRIVATE_KEY``;
``PARADEX_L2_KEY_FILE``; ``PARADEX_KEY_COMMAND``; the profile's ``private_key`` (only when
written explicitly with ``config set private_key ... --allow-plaintext-key``), ``key_file`` or
``key_command``. A key file readable by group or others is refused.

Nothing in this module prints, and no error message contains a key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paradexctl.errors import ConfigError, UsageError
from paradexctl.paradex.env import ENVIRONMENTS

__all__ = [
    "ENV_VARS",
    "PROFILE_KEYS",
    "KeySource",
    "Settings",
    "cache_dir",
    "config_dir",
    "config_path",
    "derive_ws_url",
    "load_config",
    "load_private_key_text",
    "load_token_text",
    "mask",
    "redact",
    "redact_token",
    "resolve_settings",
    "save_config",
    "unknown_profile",
    "write_private_file",
]

#: Environment variables read by paradexctl, and what they set.
ENV_VARS: dict[str, str] = {
    "PARADEXCTL_PROFILE": "profile name",
    "PARADEX_ENV": "environment: prod, testnet, nightly or local",
    "PARADEX_API_URL": "REST base URL override",
    "PARADEX_WS_URL": "WebSocket URL override",
    "PARADEX_ACCOUNT_ADDRESS": "L2 account address (the main account's, for a subkey)",
    "PARADEX_L2_PRIVATE_KEY": "L2 (Stark) private key, hex",
    "PARADEX_L2_KEY_FILE": "path of a file holding the private key (mode 0600)",
    "PARADEX_KEY_COMMAND": "command whose stdout is the private key",
    "PARADEX_SUBKEY": "1 when the key is a trade-only subkey",
    "PARADEX_API_TOKEN": "a read-only API token (it wins over any key but --key-file)",
    "PARADEX_API_TOKEN_FILE": "path of a file holding a read-only API token (mode 0600)",
    "PARADEX_TOKEN_COMMAND": "command whose stdout is a read-only API token",
    "XDG_CONFIG_HOME": "base of the config directory",
    "XDG_CACHE_HOME": "base of the cache directory",
    "NO_COLOR": "disable colour",
}

#: Keys a profile may hold, with a description. ``private_key`` needs explicit consent.
PROFILE_KEYS: dict[str, str] = {
    "env": "prod, testnet, nightly or local",
    "account_address": "L2 account address (main account's address for a subkey)",
    "key_file": "path of the private-key file (must be mode 0600)",
    "key_command": "command printing the private key (e.g. a password manager)",
    "private_key": "the key itself: discouraged, needs --allow-plaintext-key",
    "subkey": "true when the key is a trade-only subkey",
    "token_file": "path of a read-only API token file (mode 0600): a read-only profile",
    "token_command": "command printing a read-only API token: a read-only profile",
    "api_url": "REST base URL override",
    "ws_url": "WebSocket URL override",
    # network tunables (paradexctl.cli._session.TUNABLES; docs/configuration.md)
    "timeout_s": "REST request timeout in seconds (10)",
    "retry_attempts": "tries of an idempotent REST request (4)",
    "retry_base_ms": "base of the REST retry backoff in ms (250)",
    "lookup_rounds": "rounds of the lookup by client_id after an unknown outcome (5)",
    "ws_backoff_base_ms": "base of the WebSocket reconnect backoff in ms (500)",
    "ws_backoff_cap_ms": "cap of the WebSocket reconnect backoff in ms (30000)",
    "ws_stable_after_s": "seconds a WebSocket connection must stay open to be stable (10)",
    "ws_open_timeout_s": "WebSocket upgrade and reply timeout in seconds (10)",
    "ws_subscribe_timeout_s": "seconds reconcile waits for its first subscription (15)",
    "wait_ws": "0: order place --wait follows the order over REST only (1)",
}

_SECRET_KEYS = frozenset({"private_key"})
_BOOL_KEYS = frozenset({"subkey"})
#: The words ``config set`` accepts for a boolean setting.
_BOOL_WORDS = frozenset({"1", "true", "yes", "on", "0", "false", "no", "off"})
_ADDRESS_RE = re.compile(r"0[xX][0-9a-fA-F]{1,64}")
#: 16 or more characters of a JWT's alphabet (base64url and dots): what a token's piece looks like
_TOKEN_LIKE = re.compile(r"[A-Za-z0-9_\-.=]{16,}")
_TOKEN_PIECE = re.compile(r"[A-Za-z0-9_\-.=]{8,}")
#: A run of 32 or more hex digits: long enough to be (part of) a private key.
_LONG_HEX_RE = re.compile(r"(?:0[xX])?[0-9a-fA-F]{32,}")
#: hex-digit tokens (an optional ``0x`` first, not inside a word) joined by at most three
#: separator characters (spaces, ``:``, ``-``...): a key printed in groups is one match
_TOKEN = r"(?<![0-9A-Za-z])(?:0[xX])?[0-9a-fA-F]+(?![0-9A-Za-z])"
_HEX_GROUP_RE = re.compile(_TOKEN + r"(?:[^0-9A-Za-z\n]{1,3}" + _TOKEN + r")*")
_HEX_RUN_RE = re.compile(r"(?:0[xX])?([0-9a-fA-F]+)")
#: this many hex digits in one group are redacted whatever they are (a key has up to 64)
LONG_HEX = 32
#: a run of at least this many hex digits that is a piece of the known key is redacted
KEY_PIECE = 4
_REDACTED = "<redacted>"


def _digits(text: str) -> str:
    return "".join(m.group(1) for m in _HEX_RUN_RE.finditer(text)).lower()


def redact(text: str, secret: str | None = None) -> str:
    """``text`` with what could be a private key replaced by ``<redacted>``.

    Redacted: every run of 32 or more hex digits; every group of hex tokens joined by
    separators (at most three characters between tokens: ``0x543b 6cf6 ...``) holding 32 or
    more hex digits in all; and, when ``secret`` (a key, or text holding one) is given, every
    group whose digits are a prefix, suffix or piece of the secret's and every run of at
    least 4 hex digits that is one, whatever the separators.

    Used on anything paradexctl echoes about a key source (a key_command line, its stderr),
    since such text may embed the key itself.
    """
    key = _digits(secret) if secret else ""

    def piece(digits: str) -> bool:
        return bool(key) and len(digits) >= KEY_PIECE and digits.lower() in key

    def group(m: re.Match[str]) -> str:
        digits = _digits(m.group(0))
        return _REDACTED if len(digits) >= LONG_HEX or piece(digits) else m.group(0)

    # groups first: redacting a long run first would leave its neighbours standing alone
    text = _LONG_HEX_RE.sub(_REDACTED, _HEX_GROUP_RE.sub(group, text))
    if key:
        text = _HEX_RUN_RE.sub(lambda r: _REDACTED if piece(r.group(1)) else r.group(0), text)
    return text


def config_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "paradexctl"


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "paradexctl"


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    return config_dir(environ) / "config.toml"


def write_private_file(path: Path, data: str | bytes) -> None:
    """Write ``data`` atomically to ``path`` with mode 0600 (directory 0700 when created)."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_config(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The parsed config file, or an empty config when there is none."""
    import tomllib

    path = config_path(environ)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {"profiles": {}}
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path} is not valid TOML: {err}") from None
    profiles = data.setdefault("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(f"{path}: [profiles] must be a table")
    return data


def save_config(data: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Path:
    import tomli_w

    path = config_path(environ)
    try:
        write_private_file(path, tomli_w.dumps(dict(data)))
    except OSError as err:
        # a full disk, a read-only or missing directory: nothing was written (the write is
        # atomic), and the user is told which file
        raise ConfigError(
            f"cannot write {path}: {err.strerror or err}; the configuration was not changed"
        ) from None
    return path


def mask(value: str) -> str:
    """A masked rendering of a secret: never more than its length class."""
    return "****" if value else ""


@dataclass(frozen=True, slots=True)
class KeySource:
    """Where the private key comes from. ``ref`` is a variable name, path or command."""

    kind: str  # "env", "file", "command", "config"
    ref: str
    #: what it holds: ``key`` (the private key) or ``token`` (a read-only API token)
    secret: str = "key"

    def describe(self) -> str:
        """A human description; long hex runs (a key embedded in a command) are redacted."""
        if self.kind == "env":
            return f"environment variable {self.ref}"
        if self.kind == "file":
            return redact(f"{self.secret} file {self.ref}")
        if self.kind == "command":
            return self._hide(f"{self.secret}_command {self.ref!r}")
        return f"config.toml profile ({self.ref})"

    def _hide(self, text: str) -> str:
        """:func:`redact`, and for a token command :func:`redact_token` too (a token
        embedded in a command line is no hex run)."""
        return redact_token(redact(text)) if self.secret == "token" else redact(text)


@dataclass(frozen=True, slots=True)
class Settings:
    profile: str
    env: str
    api_url: str
    ws_url: str
    chain_id: str
    account_address: str | None
    key_source: KeySource | None
    subkey: bool
    real_money: bool
    #: where each value came from: "flag", "env", "profile" or "default"
    origins: dict[str, str] = field(default_factory=dict)
    #: a read-only API token's source (which of key and token is used: :attr:`credential`)
    token_source: KeySource | None = None

    @property
    def credential(self) -> str | None:
        """What authenticates: ``full key``, ``subkey``, ``read-only token`` or None.

        When both a key and a token are configured, the token wins unless the key was given
        on the command line (``--key-file``): naming a read-only token, in the environment or
        in a profile, means "read only", so a key exported in the shell never gives a
        read-only job trading rights (:attr:`credential_note` says which is used)."""
        if self.key_source is None:
            return "read-only token" if self.token_source is not None else None
        key = "subkey" if self.subkey else "full key"
        if self.token_source is None or self.origins.get("key") == "flag":
            return key
        return "read-only token"

    @property
    def credential_source(self) -> KeySource | None:
        """Where the credential in use (:attr:`credential`) comes from."""
        return self.token_source if self.credential == "read-only token" else self.key_source

    @property
    def credential_note(self) -> str | None:
        """A warning when both a key and a token are configured (which one is used, why)."""
        if self.key_source is None or self.token_source is None:
            return None
        key, token = self.key_source.describe(), self.token_source.describe()
        if self.credential == "read-only token":
            return f"both {key} and a read-only token ({token}) are configured: using the token"
        return (
            f"both {key} (--key-file) and a read-only token ({token}) are configured: using the key"
        )

    def public_view(self) -> dict[str, Any]:
        """What ``config show`` prints: no secret values."""
        return {
            "profile": self.profile,
            "env": self.env,
            "api_url": self.api_url,
            "ws_url": self.ws_url,
            "chain_id": self.chain_id,
            "account_address": self.account_address,
            "key_source": self.key_source.describe() if self.key_source else None,
            "subkey": self.subkey,
            "token_source": self.token_source.describe() if self.token_source else None,
            "credential": self.credential,
            "origins": dict(self.origins),
        }


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


#: How each origin of a URL setting is named in an error.
_URL_SOURCES = {
    "api_url": {"flag": "--api-url", "env": "PARADEX_API_URL"},
    "ws_url": {"flag": "--ws-url", "env": "PARADEX_WS_URL"},
}


def _check_url(name: str, url: str, origin: str, schemes: tuple[str, ...], example: str) -> None:
    """Refuse (exit 2, before any request) a URL that cannot be right: no scheme, the
    wrong scheme (``--ws-url http://...``), or no host."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as err:
        problem = f"is not a URL ({err})"
    else:
        problem = ""
        if parts.scheme not in schemes:
            problem = f"must start with {' or '.join(s + '://' for s in schemes)}"
        elif not parts.hostname:
            problem = "has no host"
    if problem:
        where = _URL_SOURCES[name].get(origin, f"the profile's {name}")
        raise UsageError(f"{where} {url!r} {problem}; e.g. {example}")


def derive_ws_url(api_url: str) -> str:
    """The WebSocket URL of the server at ``api_url``: the same host and path, ``ws``
    for ``http`` and ``wss`` for ``https`` (the exchange and the sim both serve
    ``/v1`` for REST and ``/v1`` for the WebSocket). The REST URL of a known environment
    gives that environment's WebSocket URL (the exchange's are on another host)."""
    for environment in ENVIRONMENTS.values():
        if environment.api_url == api_url.rstrip("/"):
            return environment.ws_url
    scheme, sep, rest = api_url.partition("://")
    return {"http": "ws", "https": "wss"}.get(scheme.lower(), scheme) + sep + rest.rstrip("/")


def unknown_profile(name: str, profiles: Mapping[str, Any]) -> UsageError:
    """The error for a profile named (``--profile``, ``PARADEXCTL_PROFILE``, ``config use``)
    that does not exist: a usage error, exit 2, worded the same everywhere."""
    known = ", ".join(sorted(profiles)) or "none"
    return UsageError(
        f"profile {name!r} does not exist (known: {known}); "
        "create it with 'paradexctl config init --profile NAME'"
    )


def _bool_setting(name: str, value: Any, origins: Mapping[str, str]) -> bool:
    """A boolean setting from a flag, variable or profile: the words ``config set`` takes
    (true/false, 1/0, yes/no, on/off), any case; anything else is a usage error (exit 2),
    as it is for ``config set``."""
    if isinstance(value, bool):
        return value
    if str(value).strip().lower() not in _BOOL_WORDS:
        where = {"env": f"PARADEX_{name.upper()}", "profile": f"the profile's {name}"}
        raise UsageError(
            f"{where.get(origins.get(name, ''), name)} must be true or false "
            f"(1/0, yes/no, on/off), not {value!r}"
        )
    return _truthy(value)


def resolve_settings(
    *,
    profile: str | None = None,
    env: str | None = None,
    api_url: str | None = None,
    ws_url: str | None = None,
    account_address: str | None = None,
    key_file: str | None = None,
    environ: Mapping[str, str] | None = None,
    config: Mapping[str, Any] | None = None,
) -> Settings:
    """Resolve every setting: flag > environment variable > profile > default."""
    envv = os.environ if environ is None else environ
    cfg = load_config(envv) if config is None else config
    origins: dict[str, str] = {}

    def pick(name: str, flag: Any, var: str | None, prof: Mapping[str, Any], default: Any) -> Any:
        if flag not in (None, ""):
            origins[name] = "flag"
            return flag
        if var and envv.get(var):
            origins[name] = "env"
            return envv[var]
        if prof.get(name) not in (None, ""):
            origins[name] = "profile"
            return prof[name]
        origins[name] = "default"
        return default

    profiles = cfg.get("profiles", {}) or {}
    prof_name = pick("profile", profile, "PARADEXCTL_PROFILE", {}, None)
    if prof_name is None:
        prof_name = cfg.get("current_profile") or "default"
        origins["profile"] = "profile" if cfg.get("current_profile") else "default"
    prof = profiles.get(prof_name)
    if prof is None:
        if origins["profile"] in ("flag", "env"):
            raise unknown_profile(str(prof_name), profiles)
        prof = {}

    env_name = str(pick("env", env, "PARADEX_ENV", prof, "testnet")).strip().lower()
    if env_name not in ENVIRONMENTS:
        raise UsageError(
            f"unknown environment {env_name!r}; choose one of {', '.join(ENVIRONMENTS)}"
        )
    environment = ENVIRONMENTS[env_name]
    api = str(pick("api_url", api_url, "PARADEX_API_URL", prof, environment.api_url)).strip()
    ws = str(pick("ws_url", ws_url, "PARADEX_WS_URL", prof, environment.ws_url)).strip()
    _check_url("api_url", api, origins["api_url"], ("http", "https"), "http://127.0.0.1:8787/v1")
    if origins["api_url"] != "default" and origins["ws_url"] == "default":
        # --api-url alone: the WebSocket of the same server (http -> ws, https -> wss)
        ws = derive_ws_url(api)
        origins["ws_url"] = "derived"
    _check_url("ws_url", ws, origins["ws_url"], ("ws", "wss"), "ws://127.0.0.1:8787/v1")
    address = pick("account_address", account_address, "PARADEX_ACCOUNT_ADDRESS", prof, None)
    subkey = _bool_setting("subkey", pick("subkey", None, "PARADEX_SUBKEY", prof, False), origins)

    source: KeySource | None
    if key_file:
        source = KeySource("file", key_file)
        origins["key"] = "flag"
    elif envv.get("PARADEX_L2_PRIVATE_KEY"):
        source = KeySource("env", "PARADEX_L2_PRIVATE_KEY")
        origins["key"] = "env"
    elif envv.get("PARADEX_L2_KEY_FILE"):
        source = KeySource("file", envv["PARADEX_L2_KEY_FILE"])
        origins["key"] = "env"
    elif envv.get("PARADEX_KEY_COMMAND"):
        source = KeySource("command", envv["PARADEX_KEY_COMMAND"])
        origins["key"] = "env"
    elif prof.get("private_key"):
        source = KeySource("config", prof_name)
        origins["key"] = "profile"
    elif prof.get("key_file"):
        source = KeySource("file", str(prof["key_file"]))
        origins["key"] = "profile"
    elif prof.get("key_command"):
        source = KeySource("command", str(prof["key_command"]))
        origins["key"] = "profile"
    else:
        source = None
        origins["key"] = "default"

    token: KeySource | None = None
    origins["token"] = "env"
    if envv.get("PARADEX_API_TOKEN"):
        token = KeySource("env", "PARADEX_API_TOKEN", "token")
    elif envv.get("PARADEX_API_TOKEN_FILE"):
        token = KeySource("file", envv["PARADEX_API_TOKEN_FILE"], "token")
    elif envv.get("PARADEX_TOKEN_COMMAND"):
        token = KeySource("command", envv["PARADEX_TOKEN_COMMAND"], "token")
    elif prof.get("token_file"):
        token = KeySource("file", str(prof["token_file"]), "token")
        origins["token"] = "profile"
    elif prof.get("token_command"):
        token = KeySource("command", str(prof["token_command"]), "token")
        origins["token"] = "profile"
    else:
        origins["token"] = "default"

    return Settings(
        profile=str(prof_name),
        env=env_name,
        api_url=api.rstrip("/"),
        ws_url=ws,
        chain_id=environment.chain_id,
        account_address=str(address) if address else None,
        key_source=source,
        subkey=subkey,
        real_money=environment.real_money,
        origins=origins,
        token_source=token,
    )


_NO_KEY_HELP = (
    "no private key configured: set PARADEX_L2_PRIVATE_KEY (or PARADEX_L2_KEY_FILE / "
    "PARADEX_KEY_COMMAND), or run 'paradexctl config init'"
)


def load_private_key_text(
    settings: Settings,
    environ: Mapping[str, str] | None = None,
    config: Mapping[str, Any] | None = None,
) -> str:
    """Fetch the private key's text from its source. Raises ConfigError; never echoes it."""
    envv = os.environ if environ is None else environ
    src = settings.key_source
    if src is None:
        raise ConfigError(_NO_KEY_HELP)
    if src.kind == "env":
        text = envv.get(src.ref, "")
    elif src.kind == "file":
        text = _read_key_file(Path(os.path.expanduser(src.ref)))
    elif src.kind == "command":
        text = _run_key_command(src.ref)
    else:
        if config is None:
            _check_config_mode(config_path(envv))
        cfg = load_config(envv) if config is None else config
        text = str(cfg.get("profiles", {}).get(src.ref, {}).get("private_key", ""))
    text = text.strip()
    if not text:
        raise ConfigError(f"the private key from {src.describe()} is empty")
    return text


def load_token_text(settings: Settings, environ: Mapping[str, str] | None = None) -> str:
    """Fetch the read-only API token from its source. Raises ConfigError; never echoes it."""
    envv = os.environ if environ is None else environ
    src = settings.token_source
    if src is None:
        raise ConfigError("no API token configured")
    if src.kind == "env":
        text = envv.get(src.ref, "")
    elif src.kind == "file":
        text = _read_key_file(Path(os.path.expanduser(src.ref)), "token")
    else:
        text = _run_key_command(src.ref, "token")
    text = text.strip()
    if not text or any(c.isspace() for c in text):
        raise ConfigError(f"the API token from {src.describe()} is empty or not one word")
    if not (text.isascii() and text.isprintable()):
        raise ConfigError(
            f"the API token from {src.describe()} holds characters no token has "
            "(only printable ASCII)"
        )
    return text


def redact_token(text: str, pieces_of: str = "") -> str:
    """``text`` with what could be (part of) an API token replaced by ``<redacted>``: runs of
    16 or more characters of a JWT's alphabet, and any run of 8 or more that occurs in
    ``pieces_of`` (what a token command printed)."""
    text = _TOKEN_LIKE.sub("<redacted>", text)
    if pieces_of:
        text = _TOKEN_PIECE.sub(
            lambda m: "<redacted>" if m.group(0) in pieces_of else m.group(0), text
        )
    return text


def _check_config_mode(path: Path) -> None:
    """Refuse a config.toml holding the key in plain text when group or others can read it."""
    import shlex
    import stat

    try:
        st = path.stat()
    except OSError:
        return  # load_config reports it
    if st.st_mode & 0o077:
        raise ConfigError(
            f"{path} holds a plaintext private_key and is readable by group or others "
            f"(mode {stat.filemode(st.st_mode)}); fix it with: chmod 600 {shlex.quote(str(path))}"
        )


def _read_key_file(path: Path, what: str = "key") -> str:
    import shlex
    import stat

    shown = redact(str(path))
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"{what} file {shown} does not exist") from None
    except OSError as err:
        raise ConfigError(f"cannot read {what} file {shown}: {err.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"{what} file {shown} is a directory; give the path of the {what} file")
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"{what} file {shown} is not a regular file")
    if st.st_mode & 0o077:
        raise ConfigError(
            f"{what} file {shown} is readable by group or others "
            f"(mode {stat.filemode(st.st_mode)}); fix it with: chmod 600 {shlex.quote(shown)}"
        )
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{what} file {shown} is not UTF-8 text") from None
    except OSError as err:
        raise ConfigError(f"cannot read {what} file {shown}: {err.strerror}") from None


def _run_key_command(command: str, what: str = "key") -> str:
    import shlex
    import subprocess

    shown = redact(repr(command))
    if what == "token":
        shown = redact_token(shown)
    try:
        proc = subprocess.run(
            shlex.split(command),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, ValueError) as err:
        raise ConfigError(f"{what}_command {shown} could not run: {redact(str(err))}") from None
    except subprocess.TimeoutExpired:
        raise ConfigError(f"{what}_command {shown} timed out after 30 s") from None
    if proc.returncode != 0:
        # stdout (which could hold the key) is never shown; the last stderr line is, with
        # long hex runs and any piece of what stdout held redacted (before cutting, so no
        # partial key survives).
        err_line = redact((proc.stderr.strip().splitlines() or [""])[-1], proc.stdout)
        if what == "token":  # a token is no hex run: hide anything token-like too
            err_line = redact_token(err_line, proc.stdout)
        err_line = err_line[:200]
        shown = redact(repr(command), proc.stdout)
        if what == "token":
            shown = redact_token(shown, proc.stdout)
        raise ConfigError(
            f"{what}_command {shown} exited with status {proc.returncode}"
            + (f": {err_line}" if err_line else "")
        )
    return proc.stdout


def set_profile_value(
    cfg: dict[str, Any], profile: str, key: str, value: str, *, allow_plaintext_key: bool = False
) -> None:
    """Validate and set ``key`` in ``profile`` (created if missing)."""
    if key not in PROFILE_KEYS:
        raise UsageError(f"unknown setting {key!r}; known: {', '.join(PROFILE_KEYS)}")
    if key in _SECRET_KEYS and not allow_plaintext_key:
        raise UsageError(
            "refusing to store a private key in config.toml; use key_file or key_command, "
            "or pass --allow-plaintext-key if you really mean it"
        )
    if key == "env":
        value = value.strip().lower()
        if value not in ENVIRONMENTS:
            raise UsageError(
                f"unknown environment {value!r}; choose one of {', '.join(ENVIRONMENTS)}"
            )
    if key in _BOOL_KEYS and value.strip().lower() not in _BOOL_WORDS:
        raise UsageError(f"{key} must be true or false, not {value!r}")
    if key == "account_address" and not _ADDRESS_RE.fullmatch(value.strip()):
        raise UsageError(
            f"account_address must be a 0x-prefixed hex address (at most 64 digits), not {value!r}"
        )
    profiles = cfg.setdefault("profiles", {})
    prof = profiles.setdefault(profile, {})
    prof[key] = _truthy(value) if key in _BOOL_KEYS else value


def _shown(key: str, value: Any) -> Any:
    if key in _SECRET_KEYS:
        return mask(str(value))
    if key in ("key_command", "key_file") and isinstance(value, str):
        return redact(value)
    if key == "token_command" and isinstance(value, str):
        return redact_token(redact(value))
    return value


def masked_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the config with every secret value masked (and long hex runs in key_command
    and key_file redacted)."""
    out: dict[str, Any] = {k: v for k, v in cfg.items() if k != "profiles"}
    out["profiles"] = {
        name: {k: _shown(k, v) for k, v in prof.items()}
        for name, prof in (cfg.get("profiles") or {}).items()
    }
    return out
