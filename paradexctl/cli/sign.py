"""``paradexctl sign {order,modify,auth,onboarding}``: offline signing, nothing is sent.

Prints the typed data, its message hash, the signature (r and s in decimal and hex) and the
exact values Paradex expects: the ``POST /orders`` or ``PUT /orders/{id}`` body, or the
``PARADEX-*`` headers of ``POST /auth`` and ``POST /onboarding``. Useful to inspect what is
signed, to sign on an offline machine, or to debug a rejected signature.

Only cheap modules are imported at module level; the signer (and its tables) are imported
inside the commands.
"""

from __future__ import annotations

import re
import time
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any

import typer

from paradexctl.cli.context import OutputOpt, get_ctx
from paradexctl.errors import UsageError

if TYPE_CHECKING:
    from paradexctl.config import Settings

sign_app = typer.Typer(
    help="Sign Paradex messages offline (orders, modifications, auth, onboarding); "
    "prints the typed data, hash, signature and the exact body or headers. Sends nothing.",
    no_args_is_help=True,
)

#: Order types whose price is signed (LIMIT and every ``*_LIMIT``); the others (MARKET,
#: STOP_MARKET, TAKE_PROFIT_MARKET, STOP_LOSS_MARKET) sign price 0.
LIMIT_TYPES = frozenset({"LIMIT", "STOP_LIMIT", "TAKE_PROFIT_LIMIT", "STOP_LOSS_LIMIT"})
#: Time-in-force values the exchange accepts in ``instruction``.
INSTRUCTIONS = ("GTC", "POST_ONLY", "IOC", "RPI")
#: A market symbol as the exchange spells it: upper-case words joined by dashes
#: (BTC-USD-PERP, BTC-USD-100000-C), with an optional lower-case ``k`` prefix for the
#: thousand-unit markets (kBONK-USD-PERP).
MARKET_RE = re.compile(r"k?[A-Z0-9]+(?:-[A-Z0-9]+)+")
#: Default lifetime of an auth signature (the exchange's default; paradexctl's auth uses it).
AUTH_EXPIRATION_S = 30 * 60

ChainOpt = Annotated[
    str | None,
    typer.Option(
        "--chain-id",
        metavar="CHAIN",
        help="Starknet chain id: a name such as PRIVATE_SN_POTC_SEPOLIA, or 0x hex "
        "[default: the environment's, testnet unless --env says otherwise].",
    ),
]
AccountOpt = Annotated[
    str | None,
    typer.Option(
        "--account",
        metavar="ADDR",
        help="L2 account address [default: PARADEX_ACCOUNT_ADDRESS or the profile].",
    ),
]
KeyFileOpt = Annotated[
    str | None,
    typer.Option(
        "--key-file",
        metavar="PATH",
        help="Read the private key from this file (mode 0600) [default: the usual sources].",
    ),
]
MarketOpt = Annotated[str, typer.Option("--market", metavar="MARKET", help="e.g. BTC-USD-PERP.")]
SideOpt = Annotated[str, typer.Option("--side", metavar="SIDE", help="BUY or SELL.")]
TypeOpt = Annotated[
    str,
    typer.Option(
        "--type", metavar="TYPE", help="LIMIT, MARKET, STOP_LIMIT, STOP_MARKET... (signed as is)."
    ),
]
SizeOpt = Annotated[str, typer.Option("--size", metavar="SIZE", help="Size in base units.")]
PriceOpt = Annotated[
    str | None,
    typer.Option(
        "--price",
        metavar="PRICE",
        help="Limit price, > 0 (LIMIT, STOP_LIMIT, TAKE_PROFIT_LIMIT and STOP_LOSS_LIMIT only).",
    ),
]
TimestampMsOpt = Annotated[
    int | None,
    typer.Option(
        "--timestamp",
        metavar="MS",
        min=0,
        help="Signature timestamp in unix milliseconds [default: now].",
    ),
]


def register(app: typer.Typer) -> None:
    app.add_typer(sign_app, name="sign")


# -- helpers --------------------------------------------------------------------------------


def _decimal(text: str, what: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        raise UsageError(f"{what} {text!r} is not a decimal number") from None
    if not value.is_finite() or value < 0:
        raise UsageError(f"{what} must be a non-negative finite number, not {text!r}")
    return value


def _positive(text: str, what: str) -> Decimal:
    value = _decimal(text, what)
    if value <= 0:
        raise UsageError(f"{what} must be greater than 0, not {text!r}")
    return value


def _market(text: str) -> str:
    """The market symbol, case-insensitively (``btc-usd-perp`` is BTC-USD-PERP, as for
    ``order place``); a ``kBONK``-style symbol given exactly is kept."""
    m = text.strip()
    if MARKET_RE.fullmatch(m):
        return m
    if MARKET_RE.fullmatch(m.upper()):
        return m.upper()
    raise UsageError(
        f"--market {text!r} is not a market symbol: words joined by dashes, e.g. BTC-USD-PERP"
    )


def _instruction(text: str) -> str:
    value = text.strip().upper()
    if value not in INSTRUCTIONS:
        raise UsageError(f"--instruction must be one of {', '.join(INSTRUCTIONS)}, not {text!r}")
    return value


def _side(text: str) -> str:
    value = text.strip().upper()
    if value not in ("BUY", "SELL"):
        raise UsageError(f"--side must be BUY or SELL, not {text!r}")
    return value


def _plain(d: Decimal) -> str:
    """A decimal without exponent notation, as the REST API expects it."""
    return format(d, "f")


def _chain_int(value: Decimal, what: str) -> int:
    from paradexctl.signing import PrecisionError, SigningError, to_chain_int

    try:
        return to_chain_int(value)
    except PrecisionError as err:
        raise UsageError(f"{what}: {err}; nothing was signed") from None
    except SigningError as err:
        raise UsageError(f"{what}: {err}") from None


def _hex_int(text: str, what: str) -> int:
    t = text.strip()
    try:
        if not t.lower().startswith("0x"):
            raise ValueError
        return int(t, 16)
    except ValueError:
        raise UsageError(f"{what} must be a 0x-prefixed hex number, not {text!r}") from None


class _Signer:
    """Resolved chain, account and key for one command."""

    def __init__(self, chain_id: str | None, account: str | None, key_file: str | None) -> None:
        from paradexctl import signing

        ctx = get_ctx()
        if chain_id is not None and not chain_id.strip():
            raise UsageError("--chain-id is empty: give a chain name or 0x hex, or omit it")
        settings: Settings = ctx.settings(account_address=account, key_file=key_file)
        self.chain_name = (chain_id or settings.chain_id).strip()
        try:
            self.chain = signing.chain_id_felt(self.chain_name)
        except signing.SigningError as err:
            raise UsageError(f"--chain-id: {err}") from None
        self.account_text = ctx.account_address(settings)
        self.account = _hex_int(self.account_text, "account address")
        self.priv = ctx.private_key(settings)  # ConfigError (exit 3) when missing/invalid

    def sign(self, kind: str, msg_hash: int, document: dict[str, Any]) -> dict[str, Any]:
        from paradexctl import signing

        r, s = signing.sign(msg_hash, self.priv)
        public_key = signing.private_to_public(self.priv)
        return {
            "kind": kind,
            "chain_id": self.chain_name,
            "account": hex(self.account),
            "public_key": hex(public_key),
            "typed_data": document,
            "message_hash": hex(msg_hash),
            "signature": {
                "r": str(r),
                "s": str(s),
                "r_hex": hex(r),
                "s_hex": hex(s),
                "value": signing.format_signature(r, s),
            },
        }


def _emit(result: dict[str, Any], output: str | None) -> None:
    out = get_ctx().output(output)
    if out.fmt == "table":
        sig = result["signature"]
        flat: dict[str, Any] = {
            "kind": result["kind"],
            "chain_id": result["chain_id"],
            "account": result["account"],
            "message_hash": result["message_hash"],
            "r": sig["r"],
            "s": sig["s"],
            "signature": sig["value"],
        }
        for key, value in (result.get("headers") or {}).items():
            flat[key] = value
        if "body" in result:
            import json

            flat["body"] = json.dumps(result["body"], separators=(",", ":"))
        out.emit(flat, title=f"{result['kind']} (not sent)")
    else:
        out.emit(result)


def _order_values(
    market: str, side: str, type_: str, size: str, price: str | None
) -> tuple[str, str, str, Decimal, Decimal | None, int, int]:
    market_s = _market(market)
    side_u = _side(side)
    type_u = type_.strip().upper()
    size_d = _positive(size, "--size")
    is_limit = type_u in LIMIT_TYPES
    if is_limit and price is None:
        raise UsageError(f"a {type_u} order needs --price")
    if not is_limit and price is not None:
        raise UsageError(f"a {type_u} order signs price 0: do not pass --price")
    price_d = _positive(price, "--price") if price is not None else None
    chain_size = _chain_int(size_d, "--size")
    chain_price = _chain_int(price_d, "--price") if price_d is not None else 0
    return market_s, side_u, type_u, size_d, price_d, chain_size, chain_price


def _usage_on_signing_error(err: Exception) -> UsageError:
    return UsageError(f"cannot sign: {err}")


# -- commands -------------------------------------------------------------------------------


@sign_app.command("order")
def sign_order(
    market: MarketOpt,
    side: SideOpt,
    size: SizeOpt,
    type_: TypeOpt = "LIMIT",
    price: PriceOpt = None,
    timestamp: TimestampMsOpt = None,
    client_id: Annotated[
        str | None,
        typer.Option("--client-id", metavar="ID", help="client_id for the body (not signed)."),
    ] = None,
    instruction: Annotated[
        str,
        typer.Option("--instruction", metavar="TIF", help="GTC, POST_ONLY, IOC, RPI (not signed)."),
    ] = "GTC",
    reduce_only: Annotated[
        bool, typer.Option("--reduce-only", help="Add the REDUCE_ONLY flag (not signed).")
    ] = False,
    trigger_price: Annotated[
        str | None,
        typer.Option("--trigger-price", metavar="PRICE", help="Stop orders (not signed)."),
    ] = None,
    chain_id: ChainOpt = None,
    account: AccountOpt = None,
    key_file: KeyFileOpt = None,
    output: OutputOpt = None,
) -> None:
    """Sign an order; prints the POST /orders body."""
    get_ctx().output(output)  # errors follow the chosen format from here on
    from paradexctl import signing
    from paradexctl.signing import snip12

    m, s, t, size_d, price_d, chain_size, chain_price = _order_values(
        market, side, type_, size, price
    )
    instruction_u = _instruction(instruction)
    trigger_d = _positive(trigger_price, "--trigger-price") if trigger_price is not None else None
    ts = int(time.time() * 1000) if timestamp is None else timestamp
    signer = _Signer(chain_id, account, key_file)
    try:
        msg_hash = signing.order_message_hash(
            signer.chain,
            signer.account,
            timestamp_ms=ts,
            market=m,
            side=s,
            order_type=t,
            size=chain_size,
            price=chain_price,
        )
        message = snip12.order_message(
            timestamp_ms=ts, market=m, side=s, order_type=t, size=chain_size, price=chain_price
        )
        document = signing.typed_data("Order", signer.chain, message)
    except signing.SigningError as err:
        raise _usage_on_signing_error(err) from None
    result = signer.sign("order", msg_hash, document)
    body: dict[str, Any] = {"market": m, "side": s, "type": t, "size": _plain(size_d)}
    if price_d is not None:
        body["price"] = _plain(price_d)
    body["instruction"] = instruction_u
    if client_id is not None:
        body["client_id"] = client_id
    body["signature"] = result["signature"]["value"]
    body["signature_timestamp"] = ts
    if trigger_d is not None:
        body["trigger_price"] = _plain(trigger_d)
    if reduce_only:
        body["flags"] = ["REDUCE_ONLY"]
    result["request"] = {"method": "POST", "path": "/v1/orders"}
    result["body"] = body
    _emit(result, output)


@sign_app.command("modify")
def sign_modify(
    order_id: Annotated[
        str, typer.Option("--order-id", metavar="ID", help="The order's numeric id.")
    ],
    market: MarketOpt,
    side: SideOpt,
    size: SizeOpt,
    price: Annotated[str, typer.Option("--price", metavar="PRICE", help="New price.")],
    type_: TypeOpt = "LIMIT",
    timestamp: TimestampMsOpt = None,
    client_id: Annotated[
        str | None,
        typer.Option("--client-id", metavar="ID", help="client_id for the body (not signed)."),
    ] = None,
    instruction: Annotated[
        str | None,
        typer.Option(
            "--instruction",
            metavar="TIF",
            help="GTC, POST_ONLY, IOC, RPI for the body (not signed).",
        ),
    ] = None,
    trigger_price: Annotated[
        str | None,
        typer.Option("--trigger-price", metavar="PRICE", help="Stop orders (not signed)."),
    ] = None,
    chain_id: ChainOpt = None,
    account: AccountOpt = None,
    key_file: KeyFileOpt = None,
    output: OutputOpt = None,
) -> None:
    """Sign an order modification; prints the PUT /orders/{id} body."""
    get_ctx().output(output)  # errors follow the chosen format from here on
    from paradexctl import signing
    from paradexctl.signing import snip12

    oid = order_id.strip()
    if not oid.isdigit() or not oid.isascii():
        raise UsageError(f"--order-id must be the numeric order id, not {order_id!r}")
    m = _market(market)
    side_u = _side(side)
    t = type_.strip().upper()
    size_d = _positive(size, "--size")
    price_d = _positive(price, "--price") if t in LIMIT_TYPES else _decimal(price, "--price")
    instruction_u = _instruction(instruction) if instruction is not None else None
    trigger_d = _positive(trigger_price, "--trigger-price") if trigger_price is not None else None
    chain_size = _chain_int(size_d, "--size")
    chain_price = _chain_int(price_d, "--price")
    ts = int(time.time() * 1000) if timestamp is None else timestamp
    signer = _Signer(chain_id, account, key_file)
    fields: dict[str, Any] = {
        "timestamp_ms": ts,
        "market": m,
        "side": side_u,
        "order_type": t,
        "size": chain_size,
        "price": chain_price,
        "order_id": int(oid),
    }
    try:
        msg_hash = signing.modify_order_message_hash(signer.chain, signer.account, **fields)
        message = snip12.modify_order_message(**fields)
        document = signing.typed_data("ModifyOrder", signer.chain, message)
    except signing.SigningError as err:
        raise _usage_on_signing_error(err) from None
    result = signer.sign("modify", msg_hash, document)
    result["request"] = {"method": "PUT", "path": f"/v1/orders/{oid}"}
    body: dict[str, Any] = {
        "id": oid,
        "market": m,
        "side": side_u,
        "type": t,
        "size": _plain(size_d),
        "price": _plain(price_d),
    }
    if client_id is not None:
        body["client_id"] = client_id
    if instruction_u is not None:
        body["instruction"] = instruction_u
    body["signature"] = result["signature"]["value"]
    body["signature_timestamp"] = ts
    if trigger_d is not None:
        body["trigger_price"] = _plain(trigger_d)
    result["body"] = body
    _emit(result, output)


@sign_app.command("auth")
def sign_auth(
    timestamp: Annotated[
        int | None,
        typer.Option("--timestamp", metavar="S", min=0, help="Unix seconds [default: now]."),
    ] = None,
    expiration: Annotated[
        int | None,
        typer.Option(
            "--expiration",
            metavar="S",
            min=0,
            help=f"Unix seconds [default: --timestamp + {AUTH_EXPIRATION_S // 60} min].",
        ),
    ] = None,
    chain_id: ChainOpt = None,
    account: AccountOpt = None,
    key_file: KeyFileOpt = None,
    output: OutputOpt = None,
) -> None:
    """Sign a POST /auth request; prints the PARADEX-* headers."""
    get_ctx().output(output)  # errors follow the chosen format from here on
    from paradexctl import signing
    from paradexctl.signing import snip12

    ts = int(time.time()) if timestamp is None else timestamp
    exp = ts + AUTH_EXPIRATION_S if expiration is None else expiration
    if exp < ts:
        raise UsageError("--expiration is before --timestamp")
    signer = _Signer(chain_id, account, key_file)
    try:
        msg_hash = signing.auth_message_hash(signer.chain, signer.account, ts, exp)
        document = signing.typed_data("Request", signer.chain, snip12.auth_message(ts, exp))
    except signing.SigningError as err:
        raise _usage_on_signing_error(err) from None
    result = signer.sign("auth", msg_hash, document)
    result["request"] = {"method": "POST", "path": f"/v1/auth/{result['public_key']}"}
    result["headers"] = {
        "PARADEX-STARKNET-ACCOUNT": hex(signer.account),
        "PARADEX-STARKNET-SIGNATURE": result["signature"]["value"],
        "PARADEX-TIMESTAMP": str(ts),
        "PARADEX-SIGNATURE-EXPIRATION": str(exp),
    }
    _emit(result, output)


@sign_app.command("onboarding")
def sign_onboarding(
    ethereum_account: Annotated[
        str,
        typer.Option(
            "--ethereum-account",
            metavar="ADDR",
            help="PARADEX-ETHEREUM-ACCOUNT header value (not signed).",
        ),
    ] = "0x0",
    chain_id: ChainOpt = None,
    account: AccountOpt = None,
    key_file: KeyFileOpt = None,
    output: OutputOpt = None,
) -> None:
    """Sign the onboarding message; prints the POST /onboarding headers and body."""
    get_ctx().output(output)  # errors follow the chosen format from here on
    from paradexctl import signing
    from paradexctl.signing import snip12

    signer = _Signer(chain_id, account, key_file)
    try:
        msg_hash = signing.onboarding_message_hash(signer.chain, signer.account)
        document = signing.typed_data("Constant", signer.chain, snip12.onboarding_message())
    except signing.SigningError as err:
        raise _usage_on_signing_error(err) from None
    result = signer.sign("onboarding", msg_hash, document)
    result["request"] = {"method": "POST", "path": "/v1/onboarding"}
    result["headers"] = {
        "PARADEX-ETHEREUM-ACCOUNT": ethereum_account,
        "PARADEX-STARKNET-ACCOUNT": hex(signer.account),
        "PARADEX-STARKNET-SIGNATURE": result["signature"]["value"],
    }
    result["body"] = {"public_key": result["public_key"]}
    _emit(result, output)
