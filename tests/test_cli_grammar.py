"""One grammar (issue 17, items 4, 5, 7, 9-13): global options anywhere, one help notation,
machine-readable stderr with ``-o json``, and errors that say what to do.

In process (``main([...])`` with an ``httpx.MockTransport``) except the sim's busy port."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from paradexctl.cli import grammar
from paradexctl.cli.main import load_commands, main

KEY = "0x543b6cf6c91817a87174aaea4fb370ac1c694e864d7740d728f8344d53e815"
ADDRESS = "0x129c135ed63df9353885e292be4426b8ed6122b13c6c0e1bb787288a1f5adfa"
MARKETS = {"results": [{"symbol": s} for s in ("BTC-USD-PERP", "ETH-USD-PERP", "SOL-USD-PERP")]}


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for var in (
        "PARADEX_ENV",
        "PARADEX_API_URL",
        "PARADEX_WS_URL",
        "PARADEXCTL_PROFILE",
        "PARADEX_SUBKEY",
        "PARADEX_L2_PRIVATE_KEY",
        "PARADEX_L2_KEY_FILE",
        "PARADEX_KEY_COMMAND",
        "PARADEX_ACCOUNT_ADDRESS",
        "NO_COLOR",
    ):
        monkeypatch.delenv(var, raising=False)
    # one try per request: a refused connection is reported at once
    cfg = tmp_path / "config" / "paradexctl"
    cfg.mkdir(parents=True)
    (cfg / "config.toml").write_text(
        "[profiles.default]\nretry_attempts = 1\nretry_base_ms = 1\n", encoding="utf-8"
    )
    (cfg / "config.toml").chmod(0o600)
    return monkeypatch


class Exchange:
    """A MockTransport exchange: ``/markets`` and an empty ``/positions``; records requests."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.handler = handler

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.handler is not None:
            return self.handler(request)
        path = request.url.path
        if path.endswith("/markets"):
            return httpx.Response(200, json=MARKETS)
        if path.endswith("/positions"):
            return httpx.Response(200, json={"results": []})
        return httpx.Response(404, json={"error": "NOT_FOUND", "message": "no route"})

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def run(
    capsys: pytest.CaptureFixture[str], *args: str, transport: Any = None
) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args), transport=transport)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


# -- item 4: global options anywhere ------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["positions", "-v", "--env", "local"], ["-v", "--env", "local", "positions"]),
        (["positions", "-q", "-o", "json"], ["-q", "positions", "-o", "json"]),
        (["orders", "list", "--env=local", "-vv"], ["--env=local", "-vv", "orders", "list"]),
        # config init defines --env and --profile itself: they stay the command's
        (
            ["config", "init", "--env", "local", "--profile", "p"],
            ["config", "init", "--env", "local", "--profile", "p"],
        ),
        # a negative size is not an option; after -- nothing is moved
        (
            ["order", "place", "BTC-USD-PERP", "buy", "-0.01", "-q"],
            ["-q", "order", "place", "BTC-USD-PERP", "buy", "-0.01"],
        ),
        (["stream", "--", "-v"], ["stream", "--", "-v"]),
        (
            ["--no-color", "markets", "--api-url", "http://h/v1"],
            ["--no-color", "--api-url", "http://h/v1", "markets"],
        ),
    ],
)
def test_hoist_globals_moves_global_options_before_the_command(
    argv: list[str], expected: list[str]
) -> None:
    from typer.main import get_command

    assert grammar.hoist_globals(get_command(load_commands()), argv) == expected


def test_global_options_after_the_command_take_effect(capsys: pytest.CaptureFixture[str]) -> None:
    # before: "No such option: --env", exit 2
    code, out, err = run(capsys, "config", "show", "--env", "local", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["env"] == "local"
    ex = Exchange()
    code, out, err = run(
        capsys, "positions", "--env", "local", "-v", "-o", "json", transport=ex.transport
    )
    assert code == 3, err  # no key: the command ran, with --env local and -v
    code, out, err = run(capsys, "positions", "-q", "--no-color", "--profile", "default")
    assert code == 3 and "no such option" not in err


def test_verbose_after_the_command_traces_traffic(
    capsys: pytest.CaptureFixture[str], env: pytest.MonkeyPatch
) -> None:
    ex = Exchange()
    code, _out, err = run(
        capsys, "markets", "--env", "local", "-v", "-o", "json", transport=ex.transport
    )
    assert code == 0, err
    assert ex.requests and "/markets" in err  # a trace line on stderr


# -- item 5: one notation, one rule each ------------------------------------------------------


def _command_paths() -> Iterator[list[str]]:
    from typer._click import Context
    from typer.main import get_command

    root = grammar.normalize(get_command(load_commands()))

    def walk(cmd: Any, path: list[str], parent: Any) -> Iterator[list[str]]:
        yield path
        ctx = Context(cmd, info_name=(path or ["paradexctl"])[-1], parent=parent)
        for name in sorted(getattr(cmd, "commands", None) or {}):
            yield from walk(cmd.commands[name], [*path, name], ctx)

    return walk(root, [], None)


PATHS = list(_command_paths())


def test_every_command_has_an_example_entry() -> None:
    assert {" ".join(p) for p in PATHS} == set(grammar.EXAMPLES)


@pytest.mark.parametrize("path", PATHS, ids=[" ".join(p) or "paradexctl" for p in PATHS])
def test_help_follows_the_rules(capsys: pytest.CaptureFixture[str], path: list[str]) -> None:
    code, out, err = run(capsys, *path, "--help")
    assert code == 0, err
    usage = out.splitlines()[0]
    # one argument notation: NAME required, [NAME] optional; no {name} or {buy,sell}
    assert "{" not in usage and ":" not in usage.split("]", 1)[-1], usage
    # no raw click types
    assert not re.search(r"<(str|int|float|int range|float range|path|text)>", out), out
    # one default notation: [default: X], once per option
    records = re.split(r"\n  (?=-)", out.split("Options:", 1)[-1])
    for rec in records:
        flat = " ".join(rec.split())
        assert "(default" not in flat and "Default:" not in flat, flat
        assert flat.count("default:") <= 1, flat
    assert "Example:\n    paradexctl" in out


def test_every_metavar_comes_from_the_table() -> None:
    from typer.main import get_command

    root = grammar.normalize(get_command(load_commands()))

    def walk(cmd: Any) -> Iterator[Any]:
        yield from cmd.params
        for sub in (getattr(cmd, "commands", None) or {}).values():
            yield from walk(sub)

    for param in walk(root):
        if param.param_type_name == "argument":
            assert param.metavar == grammar.METAVARS[param.name], param.name
        elif not (param.is_flag or param.count):
            names = [n for n in (*param.opts, *param.secondary_opts) if n.startswith("--")]
            assert param.metavar == grammar.METAVARS[names[0]], names


@pytest.mark.parametrize("argv", [[], ["orders"], ["config"], ["sign"]])
def test_no_subcommand_prints_help_and_succeeds(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, out, err = run(capsys, *argv)  # before: exit 2, the help on stderr
    assert code == 0 and out.startswith("Usage: paradexctl") and err == ""


def test_environment_names_and_booleans_from_variables(
    capsys: pytest.CaptureFixture[str], env: pytest.MonkeyPatch
) -> None:
    env.setenv("PARADEX_ENV", "LOCAL")  # before: "unknown environment 'LOCAL'", exit 2
    code, out, err = run(capsys, "config", "show", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["env"] == "local"
    env.setenv("PARADEX_SUBKEY", "maybe")  # before: silently false, exit 0
    code, out, err = run(capsys, "config", "show")
    assert code == 2 and "PARADEX_SUBKEY" in err and "'maybe'" in err
    code, _, _err2 = run(capsys, "config", "set", "subkey", "maybe")
    assert code == 2
    env.setenv("PARADEX_SUBKEY", "Yes")
    code, out, err = run(capsys, "config", "show", "-o", "json")
    assert code == 0 and json.loads(out)["subkey"] is True


def test_an_unknown_profile_is_the_same_error_everywhere(
    capsys: pytest.CaptureFixture[str], env: pytest.MonkeyPatch
) -> None:
    a = run(capsys, "--profile", "nope", "positions")  # before: exit 3
    b = run(capsys, "config", "use", "nope")  # exit 2
    env.setenv("PARADEXCTL_PROFILE", "nope")
    c = run(capsys, "balances")
    assert a[0] == b[0] == c[0] == 2
    assert (
        a[2]
        == b[2]
        == c[2]
        == (
            "paradexctl: profile 'nope' does not exist (known: default); "
            "create it with 'paradexctl config init --profile NAME'\n"
        )
    )


@pytest.mark.parametrize(
    ("argv", "path"),
    [
        (["positions", "--bogus"], "paradexctl positions"),
        (["order", "place", "--bogus"], "paradexctl order place"),
        (["--bogus", "positions"], "paradexctl"),
        (["sign", "order", "--bogus"], "paradexctl sign order"),
    ],
)
def test_one_unknown_option_format(
    capsys: pytest.CaptureFixture[str], argv: list[str], path: str
) -> None:
    code, _out, err = run(capsys, *argv)
    assert code == 2
    assert re.fullmatch(
        rf"paradexctl: no such option: --bogus( \(Possible options: [^)]*\))? "
        rf"\(see '{path} --help'\)\n",
        err,
    ), err


def test_sign_accepts_lower_case_market_side_and_type(
    capsys: pytest.CaptureFixture[str], env: pytest.MonkeyPatch
) -> None:
    env.setenv("PARADEX_L2_PRIVATE_KEY", KEY)
    env.setenv("PARADEX_ACCOUNT_ADDRESS", ADDRESS)
    common = ["--size", "0.015", "--price", "60000", "--timestamp", "1700000000000", "-o", "json"]
    lower = run(
        capsys,
        "sign",
        "order",
        "--market",
        "btc-usd-perp",
        "--side",
        "buy",
        "--type",
        "limit",
        *common,
    )
    upper = run(
        capsys,
        "sign",
        "order",
        "--market",
        "BTC-USD-PERP",
        "--side",
        "BUY",
        "--type",
        "LIMIT",
        *common,
    )
    assert lower[0] == 0, lower[2]  # before: "--market 'btc-usd-perp' is not a market symbol"
    assert lower[1] == upper[1]


# -- item 7: -o json means machine-readable on both streams ---------------------------------


def _json_lines(err: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in err.splitlines()]
    assert all(isinstance(x, dict) and isinstance(x.get("type"), str) for x in lines), err
    return lines


def test_stderr_is_json_lines_with_a_type_under_json_output(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    key = tmp_path / "k.key"
    key.write_text(KEY)
    key.chmod(0o600)
    args = ["config", "init", "--profile", "p", "--env", "local", "--key-file", str(key)]
    code, _, err = run(capsys, "-o", "json", *args)
    assert code == 0, err
    assert [x["type"] for x in _json_lines(err)] == ["info"]  # before: "wrote profile ..."
    code, _, err = run(capsys, *args, "-o", "ndjson")  # exists: an error, as JSON
    assert code == 2 and _json_lines(err)[0]["type"] == "error"
    code, _, err = run(capsys, "positions", "--nope", "-o", "json")  # a click usage error
    assert code == 2 and _json_lines(err)[0]["error"] == "usage"
    ex = Exchange()
    code, _out, err = run(
        capsys, "-o", "json", "-v", "--env", "local", "markets", transport=ex.transport
    )
    assert code == 0 and {x["type"] for x in _json_lines(err)} == {"trace"}


def test_stderr_stays_text_without_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(capsys, "config", "use", "nope")
    assert code == 2 and err.startswith("paradexctl: ")


# -- items 9-13: errors that say what to do -------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (
            ["--api-url", "localhost:8787", "markets"],
            "--api-url 'localhost:8787' must start with http://",
        ),
        (
            ["--ws-url", "http://127.0.0.1:8787/v1", "stream"],
            "--ws-url 'http://127.0.0.1:8787/v1' must start with ws://",
        ),
        (["--api-url", "http://:8787/v1", "markets"], "has no host"),
        (["markets", "--api-url", "http://127.0.0.1:99999/v1"], "Port out of range"),
    ],
)
def test_a_url_that_cannot_be_right_is_exit_2_before_any_request(
    capsys: pytest.CaptureFixture[str], argv: list[str], shown: str
) -> None:
    ex = Exchange()
    code, _out, err = run(capsys, *argv, transport=ex.transport)
    assert code == 2 and shown in err, err  # before: 4 retries, exit 5
    assert ex.requests == []


def test_a_404_on_an_api_url_without_v1_hints_at_it(capsys: pytest.CaptureFixture[str]) -> None:
    ex = Exchange(lambda r: httpx.Response(404, json={"error": "NOT_FOUND", "message": "nope"}))
    code, _out, err = run(
        capsys, "--api-url", "http://127.0.0.1:8787", "markets", transport=ex.transport
    )
    assert code == 4
    assert "has no /v1: did you mean http://127.0.0.1:8787/v1?" in err


def _refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


def test_a_refused_connection_names_the_url_and_the_sim(capsys: pytest.CaptureFixture[str]) -> None:
    ex = Exchange(_refused)
    code, _, err = run(capsys, "--env", "local", "markets", transport=ex.transport)
    assert code == 5
    assert err == (
        "paradexctl: GET http://127.0.0.1:8787/v1/markets: connection refused (1 attempts); "
        "is the simulator running? start it with 'paradexctl sim'\n"
    )
    code, _out, err = run(
        capsys, "--api-url", "http://10.0.0.1:1/v1", "markets", transport=ex.transport
    )
    assert code == 5 and "GET http://10.0.0.1:1/v1/markets: connection refused" in err
    assert "paradexctl sim" not in err


def test_api_url_alone_derives_the_websocket_url(
    capsys: pytest.CaptureFixture[str], env: pytest.MonkeyPatch
) -> None:
    _, out, _ = run(
        capsys, "--api-url", "https://example.test:9443/v1", "config", "show", "-o", "json"
    )
    shown = json.loads(out)
    assert (
        shown["ws_url"] == "wss://example.test:9443/v1" and shown["origins"]["ws_url"] == "derived"
    )
    env.setenv("PARADEX_ENV", "local")
    env.setenv("PARADEX_API_URL", "http://127.0.0.1:9999/v1")  # before: ws stayed on 8787
    _, out, _ = run(capsys, "config", "show", "-o", "json")
    assert json.loads(out)["ws_url"] == "ws://127.0.0.1:9999/v1"
    _, out, _ = run(capsys, "--ws-url", "ws://other:1/v1", "config", "show", "-o", "json")
    assert json.loads(out)["ws_url"] == "ws://other:1/v1"
    _code, out, _ = run(
        capsys, "--api-url", "https://api.prod.paradex.trade/v1", "config", "show", "-o", "json"
    )
    assert json.loads(out)["ws_url"] == "wss://ws.api.prod.paradex.trade/v1"


def test_hints_name_only_options_the_command_has(capsys: pytest.CaptureFixture[str]) -> None:
    ex = Exchange()
    code, _, err = run(capsys, "--env", "local", "positions", transport=ex.transport)
    assert code == 3 and "no private key" in err
    assert "--key-file" not in err  # before: "pass --key-file", which positions lacks
    code, _out, err = run(capsys, "sign", "auth")
    assert code == 3 and "--account ADDR" in err  # sign has --account


def test_verbose_is_traffic_and_vv_adds_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "-v", "config", "use", "nope")
    assert code == 2 and "Traceback" not in err  # before: a full traceback with -v
    code, _out, err = run(capsys, "config", "use", "nope", "-vv")
    assert code == 2 and "Traceback" in err and err.rstrip().endswith("NAME'")


def test_sim_port_out_of_range_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(capsys, "sim", "--port", "99999")  # before: exit 70, OverflowError
    assert code == 2
    assert err == "paradexctl: --port 99999 is out of range: use 0 to 65535 (0 picks a free one)\n"


def test_sim_on_a_busy_port_is_one_line_exit_3(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.Popen(
            [sys.executable, "-m", "paradexctl", "sim", "--port", str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 3  # before: 38 lines of uvicorn errors and tracebacks
    assert err.splitlines() == [err.strip()] and f"cannot listen on 127.0.0.1:{port}" in err


def test_stream_checks_the_market_locally(capsys: pytest.CaptureFixture[str]) -> None:
    ex = Exchange()
    code, _out, err = run(
        capsys, "--env", "local", "stream", "--market", "FOO-USD-PERP", transport=ex.transport
    )
    assert code == 2, err  # before: connected, then failed on the subscribe error
    assert {r.url.path for r in ex.requests} == {"/v1/markets"}  # nothing else was asked
    assert "unknown market 'FOO-USD-PERP'" in err


def test_the_unknown_market_hint_lists_markets_once(
    capsys: pytest.CaptureFixture[str], env: pytest.MonkeyPatch
) -> None:
    env.setenv("PARADEX_L2_PRIVATE_KEY", KEY)
    env.setenv("PARADEX_ACCOUNT_ADDRESS", ADDRESS)
    ex = Exchange()
    place = ["order", "place", "BTC-USD-PERX", "buy", "0.01", "--price", "1", "--dry-run"]
    code, _out, err = run(capsys, "--env", "local", *place, transport=ex.transport)
    assert code == 2
    assert err.count("BTC-USD-PERP") == 1, err  # before: "did you mean A? (known: A, ...)"


# -- item 6: shaped output without jq ----------------------------------------------------------


POSITIONS = {
    "results": [
        {"market": "BTC-USD-PERP", "side": "LONG", "size": "0.0100", "cost": "600.5", "x": None},
        {"market": "ETH-USD-PERP", "side": "SHORT", "size": "-1", "cost": "3,000", "x": {"a": 1}},
    ]
}


def test_render_csv_keeps_decimals_and_quotes() -> None:
    from decimal import Decimal

    from paradexctl.output import render_csv

    text = render_csv([{"a": Decimal("0.0100"), "b": "x,y", "c": None, "d": {"k": 1}}])
    assert text == 'a,b,c,d\n0.0100,"x,y",,"{""k"":1}"\n'
    assert render_csv({"a": 1}, ["a"]) == "a\n1\n"


def test_fields_and_csv_on_a_list(
    capsys: pytest.CaptureFixture[str], env: pytest.MonkeyPatch
) -> None:
    env.setenv("PARADEX_L2_PRIVATE_KEY", KEY)
    env.setenv("PARADEX_ACCOUNT_ADDRESS", ADDRESS)

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/positions"):
            return httpx.Response(200, json=POSITIONS)
        if "/auth" in path:
            return httpx.Response(200, json={"jwt_token": "eyJhbGciOi.x.y"})
        if path.endswith("/system/config"):
            return httpx.Response(200, json={})
        return httpx.Response(404, json={"error": "NOT_FOUND", "message": path})

    t = Exchange(handler).transport
    code, out, err = run(
        capsys, "--env", "local", "positions", "-o", "csv", "--fields", "market,size", transport=t
    )
    assert code == 0, err  # before: "-o csv": choose one of table, json, ndjson
    assert out == "market,size\nBTC-USD-PERP,0.0100\nETH-USD-PERP,-1\n"
    code, out, err = run(
        capsys, "--env", "local", "positions", "-o", "json", "--fields", "size", transport=t
    )
    assert json.loads(out) == [{"size": "0.0100"}, {"size": "-1"}]
    code, out, err = run(capsys, "--env", "local", "positions", "--fields", "mkt", transport=t)
    assert code == 2 and out == ""
    assert "--fields: unknown field(s) mkt; valid: market, side, size, cost, x" in err


def test_csv_and_fields_are_refused_where_the_output_is_not_a_list(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, "reconcile", "-o", "csv")
    assert code == 2 and "-o csv is for lists" in err
    code, _, err = run(capsys, "stream", "--fields", "type")
    assert code == 2 and "--fields is for lists" in err


# --- value completion -----------------------------------------------------------------------


def _complete(words: str, env: dict[str, str]) -> list[str]:
    import os
    import subprocess
    import sys

    cword = len(words.split()) if words.endswith(" ") else len(words.split()) - 1
    done = subprocess.run(
        [sys.executable, "-m", "paradexctl"],
        env={**os.environ, **env, "_PARADEXCTL_COMPLETE": "complete_bash",
             "COMP_WORDS": words, "COMP_CWORD": str(cword)},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return done.stdout.split()


def test_the_shell_completes_values_not_only_commands(tmp_path: Path) -> None:
    import time

    from conftest import write_profile

    from paradexctl.paradex.auth import MetaCache

    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "PARADEX_ENV": "local"}  # fmt: skip
    write_profile(tmp_path / "cfg", "cron-readonly", env="testnet")
    api = "http://127.0.0.1:8787/v1"  # --env local's REST URL
    MetaCache(tmp_path / "cache" / "paradexctl", api, time.time).put(
        "markets", [{"symbol": "BTC-USD-PERP"}, {"symbol": "ETH-USD-PERP"}]
    )
    assert _complete("paradexctl --env ", env) == ["prod", "testnet", "nightly", "local"]
    assert _complete("paradexctl --profile c", env) == ["cron-readonly"]
    assert _complete("paradexctl stream orders f", env) == ["fills"]
    assert _complete("paradexctl bbo E", env) == ["ETH-USD-PERP"]
    assert _complete("paradexctl fills --market ", env) == ["BTC-USD-PERP", "ETH-USD-PERP"]
    assert _complete("paradexctl order place BTC-USD-PERP ", env) == ["buy", "sell"]
    assert _complete("paradexctl order place BTC-USD-PERP buy 1 --stp expire-m", env) == [
        "expire-maker"
    ]
    # no cache yet for another environment: nothing, and no error
    assert _complete("paradexctl --env testnet bbo ", env) == []
