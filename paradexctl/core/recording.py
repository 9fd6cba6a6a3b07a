"""The NDJSON record/replay format: one JSON object per line (``docs/recording.md``).

Line types (``v`` is the format version, currently 1)::

    {"v":1,"type":"meta", ...free metadata...}                         header, first line
    {"v":1,"type":"ws","received_at":MS,"channel":"orders.ALL","data":{...}}
    {"v":1,"type":"rest","endpoint":"orders","boundary_at":MS,"received_at":MS,
     "params":{...},"data":{"results":[...]}}
    {"v":1,"type":"mark","name":"window_end", ...free fields...}

Reading (:func:`parse_line`, :func:`read_records`) yields typed records; writing
(:func:`to_line`) is a pure function from a record to one line of text without the newline:
callers do the I/O. Exchange strings are kept as strings, so decimals survive byte for byte;
a non-integer JSON *number* is read as :class:`~decimal.Decimal` (never float) and written back
with the same digits.

:func:`updates_from_record` and :func:`apply_record` map a WS channel or a REST endpoint to
:class:`~paradexctl.core.state.Update` objects, so live data, recordings and replays all reach
the :class:`~paradexctl.core.state.StateManager` the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from paradexctl.core.jsonlimits import MAX_JSON_DEPTH, reject_constant, too_deep
from paradexctl.core.models import ModelError
from paradexctl.core.state import Decision, Kind, Source, StateManager, Update

__all__ = [
    "FORMAT_VERSION",
    "REST_ENDPOINTS",
    "Mark",
    "Meta",
    "Record",
    "RecordingError",
    "RestSnapshot",
    "WsFrame",
    "apply_record",
    "parse_line",
    "read_records",
    "to_line",
    "updates_from_record",
    "ws_channel_kind",
]

FORMAT_VERSION = 1

#: REST endpoints understood by :func:`updates_from_record`: endpoint -> (kind, is a listing
#: whose absences rule 9 judges). ``order`` is a lookup by id (``params.order_id``), applied
#: with :meth:`StateManager.settle`.
REST_ENDPOINTS: Mapping[str, tuple[Kind, bool]] = {
    "orders": (Kind.ORDER, True),
    "orders-history": (Kind.ORDER, False),
    "order": (Kind.ORDER, False),
    "positions": (Kind.POSITION, True),
    "balance": (Kind.BALANCE, True),
    "account": (Kind.ACCOUNT, False),
    "fills": (Kind.FILL, False),
    "tradebusts": (Kind.TRADEBUST, False),
}

_SECRET_WORDS = ("jwt", "bearer", "authorization", "private_key", "secret", "password", "api_key")


class RecordingError(ModelError):
    """A recording line is not valid JSON or not a valid record."""


@dataclass(frozen=True, slots=True)
class Meta:
    """Header: free metadata (tool version, environment, options). Never secrets."""

    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WsFrame:
    """One WS notification: the subscribed channel name and the ``params.data`` payload."""

    received_at: int
    channel: str
    data: Any

    @classmethod
    def from_notification(cls, message: Mapping[str, Any], received_at: int) -> WsFrame | None:
        """From a decoded JSON-RPC ``subscription`` notification; None for anything else."""
        if message.get("method") != "subscription":
            return None
        params = message.get("params")
        if not isinstance(params, Mapping) or not isinstance(params.get("channel"), str):
            return None
        return cls(received_at, params["channel"], params.get("data"))


@dataclass(frozen=True, slots=True)
class RestSnapshot:
    """One REST response. ``boundary_at`` is the local time taken before the request was sent."""

    endpoint: str
    boundary_at: int
    received_at: int
    data: Any
    params: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Mark:
    """A named point in the recording (e.g. ``window_end``), with free fields such as ``at``."""

    name: str
    fields: Mapping[str, Any] = field(default_factory=dict)


Record = Meta | WsFrame | RestSnapshot | Mark


# --- reading -----------------------------------------------------------------------------------


def _int_field(obj: Mapping[str, Any], key: str, where: str) -> int:
    value = obj.get(key)
    if type(value) is not int:
        raise RecordingError(f"{where}: {key!r} must be an integer (ms), got {value!r}")
    return value


def _str_field(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise RecordingError(f"{where}: {key!r} must be a non-empty string, got {value!r}")
    return value


def parse_line(line: str | bytes, lineno: int | None = None) -> Record:
    """Parse one recording line into a record; raises :class:`RecordingError` (also for a line
    nested deeper than :data:`~paradexctl.core.jsonlimits.MAX_JSON_DEPTH` levels)."""
    where = "recording" if lineno is None else f"recording line {lineno}"
    if isinstance(line, bytes | bytearray):
        try:
            line = bytes(line).decode("utf-8")
        except UnicodeDecodeError as err:
            raise RecordingError(f"{where}: invalid JSON ({err})") from None
    if too_deep(line):
        raise RecordingError(f"{where}: invalid JSON (nested deeper than {MAX_JSON_DEPTH} levels)")
    try:
        obj = json.loads(line, parse_float=Decimal, parse_constant=reject_constant)
    except (ValueError, RecursionError) as err:
        raise RecordingError(f"{where}: invalid JSON ({err})") from None
    if not isinstance(obj, dict):
        raise RecordingError(f"{where}: expected a JSON object")
    version = obj.pop("v", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise RecordingError(f"{where}: unsupported format version {version!r}")
    kind = obj.pop("type", None)
    if kind == "ws":
        if "data" not in obj:
            raise RecordingError(f"{where}: ws record has no 'data'")
        return WsFrame(
            _int_field(obj, "received_at", where), _str_field(obj, "channel", where), obj["data"]
        )
    if kind == "rest":
        params = obj.get("params")
        if params is not None and not isinstance(params, dict):
            raise RecordingError(f"{where}: 'params' must be an object")
        if "data" not in obj:
            raise RecordingError(f"{where}: rest record has no 'data'")
        return RestSnapshot(
            _str_field(obj, "endpoint", where),
            _int_field(obj, "boundary_at", where),
            _int_field(obj, "received_at", where),
            obj["data"],
            params,
        )
    if kind == "meta":
        return Meta(obj)
    if kind == "mark":
        return Mark(_str_field(obj, "name", where), {k: v for k, v in obj.items() if k != "name"})
    raise RecordingError(f"{where}: unknown record type {kind!r}")


def read_records(lines: Iterable[str | bytes]) -> Iterator[Record]:
    """Parse lines (blank ones skipped) into records, naming the line number on error."""
    for lineno, line in enumerate(lines, 1):
        if line.strip():
            yield parse_line(line, lineno)


# --- writing -----------------------------------------------------------------------------------


class _HasDecimal(Exception):
    pass


def _no_decimal(value: Any) -> Any:
    if isinstance(value, Decimal):
        raise _HasDecimal
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def _dump_exact(value: Any) -> str:
    """JSON text that writes Decimals with their own digits (the rare slow path)."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise RecordingError("non-finite decimal cannot be written")
        return str(value)
    if isinstance(value, Mapping):
        items = ",".join(
            json.dumps(str(k), ensure_ascii=False) + ":" + _dump_exact(v) for k, v in value.items()
        )
        return "{" + items + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_dump_exact(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def _dumps(obj: Mapping[str, Any]) -> str:
    try:
        return json.dumps(
            obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_no_decimal
        )
    except _HasDecimal:
        return _dump_exact(obj)


def _check_meta(fields: Mapping[str, Any]) -> None:
    for key in fields:
        low = str(key).lower()
        if any(word in low for word in _SECRET_WORDS):
            raise RecordingError(f"meta field {key!r} looks like a secret; not recording it")


def to_line(record: Record) -> str:
    """One line of NDJSON for ``record``, without the trailing newline."""
    obj: dict[str, Any]
    if isinstance(record, WsFrame):
        obj = {
            "v": FORMAT_VERSION,
            "type": "ws",
            "received_at": record.received_at,
            "channel": record.channel,
            "data": record.data,
        }
    elif isinstance(record, RestSnapshot):
        obj = {
            "v": FORMAT_VERSION,
            "type": "rest",
            "endpoint": record.endpoint,
            "boundary_at": record.boundary_at,
            "received_at": record.received_at,
        }
        if record.params is not None:
            obj["params"] = record.params
        obj["data"] = record.data
    elif isinstance(record, Meta):
        _check_meta(record.fields)
        obj = {"v": FORMAT_VERSION, "type": "meta", **record.fields}
    elif isinstance(record, Mark):
        obj = {"v": FORMAT_VERSION, "type": "mark", "name": record.name, **record.fields}
    else:  # pragma: no cover - guarded by the type
        raise TypeError(f"not a record: {type(record).__name__}")
    return _dumps(obj)


# --- records -> updates ------------------------------------------------------------------------


def ws_channel_kind(channel: str) -> Kind | None:
    """The kind of update a WS channel carries, or None for channels the state ignores."""
    base = channel.split(".", 1)[0]
    if base == "orders":
        return Kind.ORDER
    if base == "fills":
        return Kind.FILL
    if channel == "positions":
        return Kind.POSITION
    if channel == "account":
        return Kind.ACCOUNT
    if channel == "balance_events":
        return Kind.BALANCE
    if channel == "tradebusts":
        return Kind.TRADEBUST
    return None


def _results(record: RestSnapshot) -> list[Any]:
    data = record.data
    if isinstance(data, Mapping) and "results" in data:
        results = data["results"]
        if isinstance(results, list):
            return results
    elif isinstance(data, list):
        return data
    raise RecordingError(f"rest {record.endpoint}: expected {{'results': [...]}}, got {data!r:.60}")


def updates_from_record(record: Record, *, replayed: bool = False) -> list[Update]:
    """The updates a record carries (empty for meta, marks and channels the state ignores).

    A REST listing's absences are not updates; :func:`apply_record` also applies rule 9.
    """
    if isinstance(record, WsFrame):
        kind = ws_channel_kind(record.channel)
        if kind is None:
            return []
        if record.channel == "balance_events":
            return [Update.balance_event(record.data, Source.WS, record.received_at,
                                         replayed=replayed)]  # fmt: skip
        return [Update.of(kind, record.data, Source.WS, record.received_at, replayed=replayed)]
    if isinstance(record, RestSnapshot):
        spec = REST_ENDPOINTS.get(record.endpoint)
        if spec is None:
            return []
        kind = spec[0]
        if kind is Kind.ACCOUNT or record.endpoint == "order":
            if record.data is None:
                return []
            payloads = [record.data]
        else:
            payloads = _results(record)
        return [
            Update.of(kind, p, Source.REST, record.received_at, replayed=replayed) for p in payloads
        ]
    return []


def apply_record(
    manager: StateManager, record: Record, *, replayed: bool = False
) -> list[Decision]:
    """Feed one record to ``manager``: the single entry point for live and replayed data.

    REST listings (``orders``, ``positions``, ``balance``) go through
    :meth:`StateManager.apply_snapshot` with the record's ``boundary_at`` (restricted to
    ``params.market`` when given); an ``order`` lookup through :meth:`StateManager.settle`;
    everything else through :meth:`StateManager.apply`.
    """
    if isinstance(record, RestSnapshot):
        spec = REST_ENDPOINTS.get(record.endpoint)
        if spec is None:
            return []
        kind, is_listing = spec
        params = record.params or {}
        if is_listing:
            market = params.get("market")
            return manager.apply_snapshot(
                kind,
                _results(record),
                source=Source.REST,
                boundary_at=record.boundary_at,
                received_at=record.received_at,
                market=market if isinstance(market, str) else None,
                replayed=replayed,
            )
        if record.endpoint == "order":
            order_id = params.get("order_id")
            if not isinstance(order_id, str) or not order_id:
                if not isinstance(record.data, Mapping):
                    raise RecordingError("rest order lookup needs params.order_id")
                order_id = str(record.data.get("id"))
            data = record.data if isinstance(record.data, Mapping) else None
            return [manager.settle(order_id, data, record.received_at, replayed=replayed)]
    return [manager.apply(u) for u in updates_from_record(record, replayed=replayed)]
