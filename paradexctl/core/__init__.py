"""Sans-I/O core of paradexctl: models, the state manager, the recording format, reconcile.

Nothing here opens a socket, reads a clock or prints; time is passed in. Only the standard
library is imported, so importing this package is cheap.
"""

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
