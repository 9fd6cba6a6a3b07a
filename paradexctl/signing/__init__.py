"""Pure-Python Paradex signing: Stark curve, Pedersen, ECDSA (RFC 6979), SNIP-12 typed data.

No third-party cryptography and no I/O: every function takes its inputs (time included) as
arguments. Importing this package is cheap; precomputed tables are built on first use (see
:mod:`paradexctl.signing.tables` and :func:`warm_tables`). ``docs/signing.md`` describes what
is signed and how the reference vectors prove it.

Typical use::

    chain = chain_id_felt("PRIVATE_SN_POTC_SEPOLIA")
    h = order_message_hash(chain, account, timestamp_ms=now_ms, market="BTC-USD-PERP",
                           side="BUY", order_type="LIMIT", size=to_chain_int("0.015"),
                           price=to_chain_int("97123.5"))
    header_value = format_signature(*sign(h, parse_private_key(key_text)))
"""

from __future__ import annotations

from .curve import EC_ORDER, FIELD_PRIME
from .ecdsa import (
    format_signature,
    parse_private_key,
    parse_signature,
    private_to_public,
    sign,
    verify,
)
from .errors import InvalidKeyError, PrecisionError, SigningError
from .keccak import starknet_keccak
from .pedersen import compute_hash_on_elements, pedersen
from .scaling import to_chain_int, to_chain_int_truncating
from .snip12 import (
    auth_message_hash,
    chain_id_felt,
    derive_account_address,
    encode_short_string,
    modify_order_message_hash,
    onboarding_message_hash,
    order_message_hash,
    typed_data,
)
from .tables import warm_tables

__all__ = [
    "EC_ORDER",
    "FIELD_PRIME",
    "InvalidKeyError",
    "PrecisionError",
    "SigningError",
    "auth_message_hash",
    "chain_id_felt",
    "compute_hash_on_elements",
    "derive_account_address",
    "encode_short_string",
    "format_signature",
    "modify_order_message_hash",
    "onboarding_message_hash",
    "order_message_hash",
    "parse_private_key",
    "parse_signature",
    "pedersen",
    "private_to_public",
    "sign",
    "starknet_keccak",
    "to_chain_int",
    "to_chain_int_truncating",
    "typed_data",
    "verify",
    "warm_tables",
]
