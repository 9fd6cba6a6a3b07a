"""Sans-I/O core of paradexctl: models, the state manager, the recording format, reconcile.

Nothing here opens a socket, reads a clock or prints; time is passed in. Only the standard
library is imported. The names below are loaded from their submodule on first access (PEP 562
``__getattr__``), so importing one submodule (``paradexctl.core.backoff`` for a one-shot REST
request) does not load the state manager, reconcile and the recording format.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from paradexctl.core.models import (
        Account,
        Balance,
        Fill,
        ModelError,
        Order,
        Position,
        parse_account,
        parse_balance,
        parse_fill,
        parse_order,
        parse_position,
    )
    from paradexctl.core.reconcile import ReconcileOptions, Report, Row, Side, reconcile
    from paradexctl.core.recording import (
        Mark,
        Meta,
        Record,
        RecordingError,
        RestSnapshot,
        WsFrame,
        apply_record,
        parse_line,
        read_records,
        to_line,
        updates_from_record,
    )
    from paradexctl.core.state import (
        ORDER_TRANSITIONS,
        CancelCheck,
        Decision,
        KeyState,
        Kind,
        Reason,
        Source,
        StateManager,
        Update,
    )

_LAZY: dict[str, str] = {
    "Account": "models",
    "Balance": "models",
    "CancelCheck": "state",
    "Decision": "state",
    "Fill": "models",
    "KeyState": "state",
    "Kind": "state",
    "Mark": "recording",
    "Meta": "recording",
    "ModelError": "models",
    "ORDER_TRANSITIONS": "state",
    "Order": "models",
    "Position": "models",
    "Reason": "state",
    "ReconcileOptions": "reconcile",
    "Record": "recording",
    "RecordingError": "recording",
    "Report": "reconcile",
    "RestSnapshot": "recording",
    "Row": "reconcile",
    "Side": "reconcile",
    "Source": "state",
    "StateManager": "state",
    "Update": "state",
    "WsFrame": "recording",
    "apply_record": "recording",
    "parse_account": "models",
    "parse_balance": "models",
    "parse_fill": "models",
    "parse_line": "recording",
    "parse_order": "models",
    "parse_position": "models",
    "read_records": "recording",
    "reconcile": "reconcile",
    "to_line": "recording",
    "updates_from_record": "recording",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "ORDER_TRANSITIONS",
    "Account",
    "Balance",
    "CancelCheck",
    "Decision",
    "Fill",
    "KeyState",
    "Kind",
    "Mark",
    "Meta",
    "ModelError",
    "Order",
    "Position",
    "Reason",
    "ReconcileOptions",
    "Record",
    "RecordingError",
    "Report",
    "RestSnapshot",
    "Row",
    "Side",
    "Source",
    "StateManager",
    "Update",
    "WsFrame",
    "apply_record",
    "parse_account",
    "parse_balance",
    "parse_fill",
    "parse_line",
    "parse_order",
    "parse_position",
    "read_records",
    "reconcile",
    "to_line",
    "updates_from_record",
]
