"""SNIP-12 revision 0 typed data (Pedersen), and the four Paradex messages.

SNIP-12 ("Off-chain message signing", revision 0, the legacy ``StarkNetDomain`` variant):

* §"Encoding a type": ``Name(field:type,...)``; ``type_hash = starknet_keccak(encoded type)``.
* §"Encoding the data": every Paradex field is a ``felt``; a struct hashes as
  ``compute_hash_on_elements([type_hash, *encoded fields])``.
* §"Message hash": ``compute_hash_on_elements(["StarkNet Message", domain_hash, account,
  message_hash])`` with the prefix encoded as a short string.

Felt values (revision 0, as starknet.py's ``TypedData`` and the SDK encode them): integers as
is; strings of ASCII decimal digits as integers; ``0x`` strings as hex (else an error); any
other string as a Cairo short string (at most 31 ASCII bytes, big-endian); the empty string
is 0.

Paradex messages (``docs/signing.md``, ``paradex-api.md`` §2.5): domain
``{name: "Paradex", chainId: <starknet_chain_id as felt>, version: "1"}`` and primary types
``Request`` (auth), ``Order``, ``ModifyOrder`` and ``Constant`` (onboarding).

Speed: the domain hash and the message prefix ``h(h(h(0, prefix), domain), account)`` are cached
per chain id and account, and ``h(0, type_hash)`` per type, so an order costs 9 Pedersen hashes,
two of which have a recurring left input whose half of the work is cached
(:func:`~paradexctl.signing.pedersen.pedersen_cached_left`); the right inputs that recur
(market, side, order type, size, price, the element counts) have their half cached by
:func:`~paradexctl.signing.pedersen.pedersen` itself. The last 256 order and modification
hashes are kept, so a retried request is not hashed again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Final

from .curve import FIELD_PRIME
from .errors import SigningError
from .keccak import starknet_keccak
from .pedersen import compute_hash_on_elements, pedersen, pedersen_cached_left

__all__ = [
    "ADDRESS_BOUND",
    "DOMAIN_NAME",
    "DOMAIN_VERSION",
    "SELECTOR_INITIALIZE",
    "STARKNET_MESSAGE_PREFIX",
    "TYPES",
    "TYPE_HASHES",
    "auth_message",
    "auth_message_hash",
    "chain_id_felt",
    "derive_account_address",
    "domain_hash",
    "encode_felt",
    "encode_short_string",
    "encode_type",
    "modify_order_message",
    "modify_order_message_hash",
    "onboarding_message",
    "onboarding_message_hash",
    "order_message",
    "order_message_hash",
    "side_felt",
    "struct_hash",
    "typed_data",
    "typed_data_message_hash",
]

DOMAIN_NAME: Final = "Paradex"
DOMAIN_VERSION: Final = "1"

#: Field lists of every type we sign (all ``felt``), in declaration order.
TYPES: Final[dict[str, tuple[str, ...]]] = {
    "StarkNetDomain": ("name", "chainId", "version"),
    "Request": ("method", "path", "body", "timestamp", "expiration"),
    "Order": ("timestamp", "market", "side", "orderType", "size", "price"),
    "ModifyOrder": ("timestamp", "market", "side", "orderType", "size", "price", "id"),
    "Constant": ("action",),
}

#: ``starknet_keccak(encode_type(name))``, precomputed (the tests recompute them).
TYPE_HASHES: Final[dict[str, int]] = {
    "StarkNetDomain": 0x98D1932052FC5137543DE5ED85B7A88555A4CD1FF5D5BFEDB62ED9B9A1F0DB,
    "Request": 0x186CDEF6B179923C411C13C11B8A825F12BF34203BDDA0A984DA9D6F2313C2,
    "Order": 0xA56D5225B97B257C15AE2CB1CC0EA605381A886CD75463DB45FD2EF9FBC255,
    "ModifyOrder": 0x201789BB587C17B251FD38DAF43B14807010EA721C2929A8C2FC33BF15C2E2C,
    "Constant": 0xE84BBCB68E0F7C73A9058BA82B6DA9C1FFDC502EFCF034E78B0C003C22ECC9,
}

#: ``"StarkNet Message"`` as a short string.
STARKNET_MESSAGE_PREFIX: Final = 0x537461726B4E6574204D657373616765

# Precomputed links of the hash chains, so a fresh process hashes less (the tests recompute
# every one): h(0, type_hash) per type, h(0, prefix), and the domain hash of known chains.
_TYPE_SEEDS: Final[dict[str, int]] = {
    "StarkNetDomain": 0x4624E85C564ECED2C90CF6791271C21563D9E1D00A62F4F4D021DFF95033B,
    "Request": 0x6E4C185DB10F9A1B113FBCB6CC59EF478588785D079C83F37AAB7AC12F41AD7,
    "Order": 0x748F5D690D26AFA29F384537C0276F4781C8FA41150A6C6976F73D019A846CD,
    "ModifyOrder": 0x71FC8B421338F4F1C293A4D317B19B099323894912ED47AD9E688730F7E9B7E,
    "Constant": 0x665C834A435A2436BA9B166D4119FA881587AD65D03C0A7F6E0E44FDA41D9CE,
}
_PREFIX_SEED: Final = 0x3EDA2B491AE6582DCC091D1E2C3E45428243C9A39D2F1757EF5DFE3AFE58F57
_KNOWN_DOMAIN_HASHES: Final[dict[int, int]] = {
    # PRIVATE_SN_POTC_SEPOLIA (testnet)
    0x505249564154455F534E5F504F54435F5345504F4C4941: (
        0x38B9242CB46EB19FF458C80A8F0EDA7E8E26D8D6D54A63D9B5ED89750E39EF2
    ),
    # PRIVATE_SN_PARACLEAR_MAINNET (prod)
    0x505249564154455F534E5F50415241434C4541525F4D41494E4E4554: (
        0x6F74F207280B65CF663FB8D7763FAC1E7398CD6D7DA5D7681DC300EE4278A0A
    ),
    # PRIVATE_SN_POTC_MOCK_SEPOLIA (nightly)
    0x505249564154455F534E5F504F54435F4D4F434B5F5345504F4C4941: (
        0x4F1AC9814D801602A9CCB28F669BC4A37D4D91220411FA09E75F005010FCC4F
    ),
}
#: ``starknet_keccak(b"initialize")`` (the tests recompute it).
SELECTOR_INITIALIZE: Final = 0x79DC0DA7C54B95F10AA182AD0A46400DB63156920ADB65ECA2654C0945A463
#: ``"STARKNET_CONTRACT_ADDRESS"`` as a short string.
_CONTRACT_ADDRESS_PREFIX: Final = 0x535441524B4E45545F434F4E54524143545F41444452455353
#: Starknet contract addresses are reduced modulo ``2^251 - 256`` (``L2_ADDRESS_UPPER_BOUND``).
ADDRESS_BOUND: Final = 2**251 - 256

_DIGITS = re.compile(r"[0-9]+")
_HEXNUM = re.compile(r"0x[0-9a-fA-F]+")
_SIDES: Final = {"BUY": 1, "SELL": 2}


def encode_type(name: str) -> str:
    """SNIP-12 §"Encoding a type" for our felt-only types, e.g. ``Constant(action:felt)``."""
    fields = TYPES[name]
    return name + "(" + ",".join(f"{f}:felt" for f in fields) + ")"


def encode_short_string(text: str) -> int:
    """A Cairo short string: up to 31 ASCII characters as a big-endian integer."""
    if not isinstance(text, str):
        raise SigningError("short string must be a str")
    if not text.isascii():
        raise SigningError(f"short string {text!r} is not ASCII")
    if len(text) > 31:
        raise SigningError(f"short string {text!r} is longer than 31 characters")
    return int.from_bytes(text.encode("ascii"), "big")


def _check_felt(value: int, what: str) -> int:
    if not 0 <= value < FIELD_PRIME:
        raise SigningError(f"{what} is not a field element (0 <= value < 2^251 + 17*2^192 + 1)")
    return value


def encode_felt(value: str | int) -> int:
    """Encode one ``felt`` value by the revision 0 rules (see the module docstring)."""
    if isinstance(value, bool):
        raise SigningError("booleans are not felts")
    if isinstance(value, int):
        return _check_felt(value, f"value {value}")
    if not isinstance(value, str):
        raise SigningError(f"cannot encode {type(value).__name__} as a felt")
    if value == "":
        return 0
    if len(value) <= 80 and _DIGITS.fullmatch(value):
        return _check_felt(int(value), f"value {value}")
    if value.startswith("0x"):  # like starknet.py: a 0x string must be a hex number
        if len(value) > 80 or not _HEXNUM.fullmatch(value):
            raise SigningError(f"{value[:80]!r} starts with 0x but is not a hex number")
        return _check_felt(int(value, 16), f"value {value}")
    return encode_short_string(value)


def chain_id_felt(chain_id: str) -> int:
    """A Paradex ``starknet_chain_id`` (e.g. ``PRIVATE_SN_POTC_SEPOLIA``, or ``0x...``) as a felt."""
    if not isinstance(chain_id, str) or not chain_id.strip():
        raise SigningError("chain id is empty")
    text = chain_id.strip()
    if text[:2] in ("0x", "0X"):
        if not _HEXNUM.fullmatch("0x" + text[2:]) or len(text) > 80:
            raise SigningError(f"chain id {text!r} is not a valid hex number")
        return _check_felt(int(text, 16), "chain id")
    return encode_short_string(text)


def side_felt(side: str) -> int:
    """``BUY`` -> 1, ``SELL`` -> 2 (Paradex's order ``side`` encoding)."""
    try:
        return _SIDES[side]
    except (KeyError, TypeError):
        raise SigningError(f"side must be BUY or SELL, not {side!r}") from None


def struct_hash(type_name: str, values: Sequence[int]) -> int:
    """SNIP-12 struct hash: ``compute_hash_on_elements([type_hash, *values])``."""
    if len(values) != len(TYPES[type_name]):
        raise SigningError(f"{type_name} takes {len(TYPES[type_name])} fields")
    return compute_hash_on_elements([TYPE_HASHES[type_name], *values])


def _fast_struct_hash(type_name: str, values: Sequence[int]) -> int:
    # h(0, type_hash) is a constant, so the next link's left half is cached.
    h = pedersen_cached_left(_TYPE_SEEDS[type_name], values[0])
    for v in values[1:]:
        h = pedersen(h, v)
    return pedersen(h, len(values) + 1)


@lru_cache(maxsize=64)
def domain_hash(chain_id: int) -> int:
    """Struct hash of the Paradex domain for a chain id felt (cached)."""
    _check_felt(chain_id, "chain id")
    known = _KNOWN_DOMAIN_HASHES.get(chain_id)
    if known is not None:
        return known
    return _fast_struct_hash(
        "StarkNetDomain", [encode_short_string(DOMAIN_NAME), chain_id, int(DOMAIN_VERSION)]
    )


@lru_cache(maxsize=1024)
def _prefix_state(chain_id: int, account: int) -> int:
    """``h(h(h(0, "StarkNet Message"), domain_hash), account)`` (cached per chain and account)."""
    _check_felt(account, "account address")
    return pedersen(pedersen(_PREFIX_SEED, domain_hash(chain_id)), account)


def _message_hash(chain_id: int, account: int, message_struct_hash: int) -> int:
    # The prefix state is fixed per chain and account: its left half is cached.
    return pedersen(pedersen_cached_left(_prefix_state(chain_id, account), message_struct_hash), 4)


@lru_cache(maxsize=256)
def _cached_message_hash(
    chain_id: int, account: int, type_name: str, values: tuple[int, ...]
) -> int:
    """The message hash of an order or a modification, cached: a retried request (same
    timestamp, same fields) is hashed once. The timestamp makes every other order a miss,
    which costs only the lookup."""
    return _message_hash(chain_id, account, _fast_struct_hash(type_name, values))


def _int_field(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SigningError(f"{what} must be an integer")
    if value < 0:
        raise SigningError(f"{what} must not be negative")
    return _check_felt(value, what)


def _name_field(value: str, what: str) -> int:
    if not isinstance(value, str) or not value:
        raise SigningError(f"{what} must be a non-empty string")
    return encode_short_string(value)


# --- the Paradex messages ------------------------------------------------------------------


def auth_message(timestamp_s: int, expiration_s: int) -> dict[str, Any]:
    """The ``Request`` message of ``POST /auth`` (as the SDK writes it: integers stay ints)."""
    _int_field(timestamp_s, "timestamp")
    _int_field(expiration_s, "expiration")
    return {
        "method": "POST",
        "path": "/v1/auth",
        "body": "",
        "timestamp": timestamp_s,
        "expiration": expiration_s,
    }


def auth_message_hash(chain_id: int, account: int, timestamp_s: int, expiration_s: int) -> int:
    """Message hash of the ``Request`` typed data signed for ``POST /auth`` (unix seconds)."""
    msg = auth_message(timestamp_s, expiration_s)
    values = [encode_felt(msg[f]) for f in TYPES["Request"]]
    return _message_hash(chain_id, account, _fast_struct_hash("Request", values))


def order_message(
    *, timestamp_ms: int, market: str, side: str, order_type: str, size: int, price: int
) -> dict[str, str]:
    """The ``Order`` message (chain integers for size and price, side as ``"1"``/``"2"``)."""
    _int_field(timestamp_ms, "timestamp")
    _name_field(market, "market")
    _name_field(order_type, "order type")
    _int_field(size, "size")
    _int_field(price, "price")
    return {
        "timestamp": str(timestamp_ms),
        "market": market,
        "side": str(side_felt(side)),
        "orderType": order_type,
        "size": str(size),
        "price": str(price),
    }


def _order_values(
    timestamp_ms: int, market: str, side: str, order_type: str, size: int, price: int
) -> list[int]:
    return [
        _int_field(timestamp_ms, "timestamp"),
        _name_field(market, "market"),
        side_felt(side),
        _name_field(order_type, "order type"),
        _int_field(size, "size"),
        _int_field(price, "price"),
    ]


def order_message_hash(
    chain_id: int,
    account: int,
    *,
    timestamp_ms: int,
    market: str,
    side: str,
    order_type: str,
    size: int,
    price: int,
) -> int:
    """Message hash of an ``Order`` (size and price already scaled to chain integers)."""
    values = _order_values(timestamp_ms, market, side, order_type, size, price)
    return _cached_message_hash(chain_id, account, "Order", tuple(values))


def modify_order_message(
    *,
    timestamp_ms: int,
    market: str,
    side: str,
    order_type: str,
    size: int,
    price: int,
    order_id: int,
) -> dict[str, str]:
    """The ``ModifyOrder`` message: the ``Order`` fields plus the order ``id``."""
    msg = order_message(
        timestamp_ms=timestamp_ms,
        market=market,
        side=side,
        order_type=order_type,
        size=size,
        price=price,
    )
    msg["id"] = str(_int_field(order_id, "order id"))
    return msg


def modify_order_message_hash(
    chain_id: int,
    account: int,
    *,
    timestamp_ms: int,
    market: str,
    side: str,
    order_type: str,
    size: int,
    price: int,
    order_id: int,
) -> int:
    """Message hash of a ``ModifyOrder`` (``PUT /orders/{id}``)."""
    values = _order_values(timestamp_ms, market, side, order_type, size, price)
    values.append(_int_field(order_id, "order id"))
    return _cached_message_hash(chain_id, account, "ModifyOrder", tuple(values))


def onboarding_message() -> dict[str, str]:
    return {"action": "Onboarding"}


def onboarding_message_hash(chain_id: int, account: int) -> int:
    """Message hash of the ``Constant {action: "Onboarding"}`` typed data."""
    return _message_hash(
        chain_id, account, _fast_struct_hash("Constant", [encode_short_string("Onboarding")])
    )


def typed_data(
    primary_type: str, chain_id: int, message: Mapping[str, str | int]
) -> dict[str, Any]:
    """The JSON typed data document for ``message`` (what a wallet or the SDK would sign)."""
    if primary_type not in TYPES or primary_type == "StarkNetDomain":
        raise SigningError(f"unknown primary type {primary_type!r}")
    fields = TYPES[primary_type]
    if set(message) != set(fields):
        raise SigningError(f"{primary_type} message must have exactly the fields {list(fields)}")
    _check_felt(chain_id, "chain id")

    def felt_types(names: Sequence[str]) -> list[dict[str, str]]:
        return [{"name": n, "type": "felt"} for n in names]

    return {
        "domain": {"name": DOMAIN_NAME, "chainId": hex(chain_id), "version": DOMAIN_VERSION},
        "primaryType": primary_type,
        "types": {
            "StarkNetDomain": felt_types(TYPES["StarkNetDomain"]),
            primary_type: felt_types(fields),
        },
        "message": {f: message[f] for f in fields},
    }


def typed_data_message_hash(document: Mapping[str, Any], account: int) -> int:
    """Message hash of a typed data document (felt-only types), computed from scratch.

    Independent of the builders above: it encodes every value with :func:`encode_felt` and
    hashes with the uncached chain, so tests can cross-check the two paths.
    """
    try:
        types = document["types"]
        primary = document["primaryType"]
        domain = document["domain"]
        message = document["message"]
    except (KeyError, TypeError) as err:
        raise SigningError("typed data must have types, primaryType, domain and message") from err

    def hash_struct(name: str, data: Mapping[str, Any]) -> int:
        fields = types[name]
        if any(f.get("type") != "felt" for f in fields):
            raise SigningError("only felt fields are supported")
        type_str = name + "(" + ",".join(f"{f['name']}:felt" for f in fields) + ")"
        values = [encode_felt(data[f["name"]]) for f in fields]
        return compute_hash_on_elements([starknet_keccak(type_str.encode()), *values])

    return compute_hash_on_elements(
        [
            STARKNET_MESSAGE_PREFIX,
            hash_struct("StarkNetDomain", domain),
            _check_felt(account, "account address"),
            hash_struct(primary, message),
        ]
    )


def derive_account_address(public_key: int, account_class_hash: int, proxy_class_hash: int) -> int:
    """The Paradex account address of a Stark public key (Starknet ``compute_address``).

    Deployer 0, ``salt = public_key``, class = the account proxy, constructor calldata
    ``[account_class_hash, selector("initialize"), 2, public_key, 0]``; the Pedersen result is
    reduced modulo ``2^251 - 256``.
    """
    for v, what in (
        (public_key, "public key"),
        (account_class_hash, "account class hash"),
        (proxy_class_hash, "proxy class hash"),
    ):
        _int_field(v, what)
    calldata = [account_class_hash, SELECTOR_INITIALIZE, 2, public_key, 0]
    raw = compute_hash_on_elements(
        [
            _CONTRACT_ADDRESS_PREFIX,
            0,
            public_key,
            proxy_class_hash,
            compute_hash_on_elements(calldata),
        ]
    )
    return raw % ADDRESS_BOUND
