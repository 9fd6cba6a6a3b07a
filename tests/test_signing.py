"""Signer tests driven by the reference vectors in ``tests/vectors`` (SNIP-12 rev 0, RFC 6979).

Provenance: every vector was produced offline by the official Paradex SDK code paths
(paradex-py 0.8.2 -> starknet.py 0.30.0 typed data -> starknet-crypto-py 0.2.0 ``sign`` with
seed 32); ``index.json`` records the exact versions. Each file is one ``pytest.param`` whose id
is the file name; public key, address, every intermediate hash, message hash, r, s and the
header/body value are checked exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import paradexctl.signing as S
from paradexctl.signing import snip12 as td
from paradexctl.signing.errors import PrecisionError

VECTORS_DIR = Path(__file__).resolve().parent / "vectors"


def _load_vectors() -> list[Any]:
    # A missing file fails collection: the vectors are the signer's proof, never skipped.
    files = json.loads((VECTORS_DIR / "index.json").read_text())["files"]
    return [pytest.param(json.loads((VECTORS_DIR / name).read_text()), id=name) for name in files]


def test_index_lists_every_vector_file() -> None:
    """A vector file on disk that index.json does not list would never be tested."""
    files = set(json.loads((VECTORS_DIR / "index.json").read_text())["files"])
    on_disk = {p.name for p in VECTORS_DIR.glob("*.json")} - {"index.json"}
    assert files == on_disk
    assert len(files) >= 7


VECTORS = _load_vectors()
#: The vectors that carry order scaling (orders and modifications); the others are auth and
#: onboarding, which sign no sizes or prices.
SCALING_VECTORS = [p for p in VECTORS if not p.marks and "scaling" in p.values[0]] or VECTORS


def _hex(v: str) -> int:
    return int(v, 16)


def _account(vec: dict[str, Any]) -> tuple[int, int, int, int]:
    """(private key, public key, address, chain id felt) recomputed from the vector's inputs."""
    acct = vec["account"]
    priv = S.parse_private_key(acct["l2_private_key"])
    pub = S.private_to_public(priv)
    deriv = acct["l2_address_derivation"]
    address = S.derive_account_address(
        pub,
        account_class_hash=_hex(deriv["constructor_calldata"][0]),
        proxy_class_hash=_hex(deriv["class_hash(paraclear_account_proxy_hash)"]),
    )
    chain = S.chain_id_felt(acct["chain"]["starknet_chain_id"])
    return priv, pub, address, chain


def _message_hash(vec: dict[str, Any], chain: int, address: int) -> int:
    inp = vec["inputs"]
    kind = vec["kind"]
    if kind == "auth":
        return S.auth_message_hash(chain, address, inp["timestamp"], inp["expiration"])
    if kind == "onboarding":
        return S.onboarding_message_hash(chain, address)
    # The vectors' chain integers (the SDK truncates; see test_excess_precision_vector).
    kw = {
        "timestamp_ms": inp["signature_timestamp_ms"],
        "market": inp["market"],
        "side": inp["side"],
        "order_type": inp["type"],
        "size": int(vec["typed_data"]["message"]["size"]),
        "price": int(vec["typed_data"]["message"]["price"]),
    }
    if kind == "order":
        return S.order_message_hash(chain, address, **kw)
    assert kind == "modify_order"
    return S.modify_order_message_hash(chain, address, order_id=int(inp["id"]), **kw)


@pytest.mark.parametrize("vec", VECTORS)
def test_account(vec: dict[str, Any]) -> None:
    acct = vec["account"]
    _, pub, address, chain = _account(vec)
    assert pub == _hex(acct["l2_public_key"])
    assert address == _hex(acct["l2_address"])
    assert chain == int(acct["chain"]["int_from_bytes"])
    assert chain == _hex(acct["chain"]["domain_chainId_hex"])
    assert S.chain_id_felt(acct["chain"]["domain_chainId_hex"]) == chain


@pytest.mark.parametrize("vec", VECTORS)
def test_intermediate_hashes(vec: dict[str, Any]) -> None:
    enc = vec["encoding"]
    doc = vec["typed_data"]
    primary = doc["primaryType"]
    _, _, address, chain = _account(vec)
    assert enc["revision"] == 0
    assert td.STARKNET_MESSAGE_PREFIX == _hex(enc["prefix_StarkNet_Message"])
    assert S.encode_short_string("StarkNet Message") == _hex(enc["prefix_StarkNet_Message"])
    # Type strings and type hashes (constants and recomputed).
    assert td.encode_type("StarkNetDomain") == enc["domain_type_string"]
    assert td.encode_type(primary) == enc["primary_type_string"]
    assert td.TYPE_HASHES["StarkNetDomain"] == _hex(enc["domain_type_hash"])
    assert td.TYPE_HASHES[primary] == _hex(enc["primary_type_hash"])
    assert S.starknet_keccak(enc["primary_type_string"].encode()) == _hex(enc["primary_type_hash"])
    # Encoded values of the vector's own typed data.
    domain_values = [td.encode_felt(doc["domain"][f]) for f in td.TYPES["StarkNetDomain"]]
    assert domain_values == [_hex(x) for x in enc["domain_encoded_values"]]
    message_values = [td.encode_felt(doc["message"][f]) for f in td.TYPES[primary]]
    assert message_values == [_hex(x) for x in enc["message_encoded_values"]]
    # Struct hashes: cached builder path and the plain chain.
    assert td.domain_hash(chain) == _hex(enc["domain_struct_hash"])
    assert td.struct_hash("StarkNetDomain", domain_values) == _hex(enc["domain_struct_hash"])
    assert td.struct_hash(primary, message_values) == _hex(enc["message_struct_hash"])
    assert address == _hex(enc["account_address"])
    # The whole typed data document, hashed from scratch.
    assert td.typed_data_message_hash(doc, address) == _hex(enc["message_hash"])


@pytest.mark.parametrize("vec", VECTORS)
def test_typed_data_document(vec: dict[str, Any]) -> None:
    doc = vec["typed_data"]
    _, _, _, chain = _account(vec)
    ours = S.typed_data(doc["primaryType"], chain, doc["message"])
    assert ours == doc
    inp = vec["inputs"]
    kind = vec["kind"]
    if kind == "auth":
        msg: dict[str, Any] = td.auth_message(inp["timestamp"], inp["expiration"])
    elif kind == "onboarding":
        msg = td.onboarding_message()
    else:
        kw = {
            "timestamp_ms": inp["signature_timestamp_ms"],
            "market": inp["market"],
            "side": inp["side"],
            "order_type": inp["type"],
            "size": int(doc["message"]["size"]),
            "price": int(doc["message"]["price"]),
        }
        if kind == "order":
            msg = td.order_message(**kw)
        else:
            msg = td.modify_order_message(order_id=int(inp["id"]), **kw)
    assert S.typed_data(doc["primaryType"], chain, msg) == doc


@pytest.mark.parametrize("vec", VECTORS)
def test_message_hash_and_signature(vec: dict[str, Any]) -> None:
    priv, pub, address, chain = _account(vec)
    h = _message_hash(vec, chain, address)
    assert h == _hex(vec["message_hash"])
    assert h == int(vec["message_hash_dec"])
    r, s = S.sign(h, priv)
    assert (r, s) == (int(vec["signature"]["r"]), int(vec["signature"]["s"]))
    assert (r, s) == (_hex(vec["signature"]["r_hex"]), _hex(vec["signature"]["s_hex"]))
    header = S.format_signature(r, s)
    assert header == vec["signature_header_value"]
    assert S.parse_signature(header) == (r, s)
    assert S.verify(h, r, s, pub) is vec["verifies_with_public_key"] is True
    for body_key in ("rest_body_POST_v1_orders", "rest_body_PUT_v1_orders_id"):
        if body_key in vec:
            assert vec[body_key]["signature"] == header
            assert vec[body_key]["signature_timestamp"] == vec["inputs"]["signature_timestamp_ms"]
    if "http_headers" in vec:
        assert vec["http_headers"]["PARADEX-STARKNET-SIGNATURE"] == header
        assert _hex(vec["http_headers"]["PARADEX-STARKNET-ACCOUNT"]) == address


@pytest.mark.parametrize("vec", SCALING_VECTORS)
def test_scaling_matches_vector(vec: dict[str, Any]) -> None:
    inp = vec["inputs"]
    size = S.to_chain_int_truncating(inp["size"])
    price = 0 if inp["type"] == "MARKET" else S.to_chain_int_truncating(inp["price"])
    assert str(size) == vec["scaling"]["chain_size"]
    assert str(price) == vec["scaling"]["chain_price"]
    if any(len(x.partition(".")[2]) > 8 for x in (inp["size"], inp["price"])):
        # The SDK truncates; paradexctl's exact scaling refuses instead.
        with pytest.raises(PrecisionError):
            S.to_chain_int(inp["size"])
    else:
        assert S.to_chain_int(inp["size"]) == size
        assert S.to_chain_int(inp["price"]) == S.to_chain_int_truncating(inp["price"])


def test_excess_precision_vector_is_present() -> None:
    """The low-level hash over truncated chain ints reproduces the SDK's excess-precision case."""
    path = VECTORS_DIR / "order_limit_sell_btc_excess_precision_k2.json"
    vec = json.loads(path.read_text())
    _, _, address, chain = _account(vec)
    inp = vec["inputs"]
    with pytest.raises(PrecisionError, match="more than 8 decimal places"):
        S.to_chain_int(inp["price"])
    h = S.order_message_hash(
        chain,
        address,
        timestamp_ms=inp["signature_timestamp_ms"],
        market=inp["market"],
        side=inp["side"],
        order_type=inp["type"],
        size=S.to_chain_int_truncating(inp["size"]),
        price=S.to_chain_int_truncating(inp["price"]),
    )
    assert h == _hex(vec["message_hash"])
