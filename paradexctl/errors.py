"""The exception tree of paradexctl. Each class carries its documented exit code.

The exit-code contract is public API (``docs/exit-codes.md`` is generated from this module)::

    ParadexctlError (abstract, never raised directly)
     ├── CheckFailed            exit 1   reconcile found a mismatch / a smoke step failed
     ├── UsageError             exit 2   bad flags or invalid input (nothing was sent)
     │    └── ValidationError            an order failed local validation
     ├── ConfigError            exit 3   configuration or credentials missing or unsafe
     ├── ExchangeRejected       exit 4   the exchange answered with an error
     ├── ExchangeUnavailable    exit 5   network or exchange unavailable after retries,
     │    │                              or a --wait that timed out
     │    └── UnexpectedAnswer           the exchange's answer has not the shape the command
     │                                   needs (names the request and the expected shape)
     ├── OutcomeUnknown         exit 6   an order may or may not exist (names its client_id)
     ├── ExchangeRestricted     exit 7   the exchange's system state is not ``ok``
     │                                   (maintenance, cancel_only, post_only): it answers,
     │                                   but does not trade normally
     ├── LocalFileError         exit 74  a local file could not be written (a full disk, an
     │                                   I/O error); a recording stays valid up to its last
     │                                   complete line
     └── Interrupted            exit 130 SIGINT

The CLI edge catches ``ParadexctlError`` and prints ``str(err)`` as one line on stderr (or a
JSON object with ``-o json``), then exits with ``err.exit_code``. Messages never contain
secrets: code that raises these must not interpolate keys or tokens.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "EXIT_CODES",
    "CheckFailed",
    "ConfigError",
    "ExchangeRejected",
    "ExchangeRestricted",
    "ExchangeUnavailable",
    "Interrupted",
    "LocalFileError",
    "OutcomeUnknown",
    "ParadexctlError",
    "UnexpectedAnswer",
    "UsageError",
    "ValidationError",
    "documented_classes",
    "error_classes",
    "exit_codes",
]


class ParadexctlError(Exception):
    """Base class. Subclasses set ``exit_code`` and ``kind``; this class is abstract."""

    exit_code: ClassVar[int] = -1
    kind: ClassVar[str] = "error"
    summary: ClassVar[str] = ""

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        if type(self) is ParadexctlError:
            raise TypeError("ParadexctlError is abstract; raise a subclass")
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def to_json(self) -> dict[str, Any]:
        """The machine-readable form printed on stderr with ``-o json``."""
        out: dict[str, Any] = {
            "type": "error",
            "error": self.kind,
            "exit_code": self.exit_code,
            "message": self.message,
        }
        if self.details:
            out["details"] = self.details
        return out


class CheckFailed(ParadexctlError):
    exit_code = 1
    kind = "check_failed"
    summary = "reconcile found a mismatch, or a smoke or doctor check failed"


class UsageError(ParadexctlError):
    exit_code = 2
    kind = "usage"
    summary = "usage error or invalid input; nothing was sent"


class ValidationError(UsageError):
    kind = "validation"
    summary = "an order failed validation against market metadata; nothing was sent"


class ConfigError(ParadexctlError):
    exit_code = 3
    kind = "config"
    summary = "configuration or credentials missing, invalid or unsafe"


class ExchangeRejected(ParadexctlError):
    exit_code = 4
    kind = "rejected"
    summary = "the exchange rejected the request (its error code and message are shown)"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        d = dict(details or {})
        if code is not None:
            d.setdefault("code", code)
        if status is not None:
            d.setdefault("status", status)
        super().__init__(message, details=d)
        self.code = code
        self.status = status


class ExchangeUnavailable(ParadexctlError):
    exit_code = 5
    kind = "unavailable"
    summary = "network or exchange unavailable after retries, or a wait timed out"


class UnexpectedAnswer(ExchangeUnavailable):
    """The exchange answered, but not with the shape the command needs (a list where an
    object is expected, a missing ``results`` list...). Nothing of the answer was used."""

    kind = "unexpected_answer"
    summary = "the exchange sent an unexpected answer (not the shape the command needs)"

    def __init__(self, request: str, expected: str, got: str) -> None:
        super().__init__(
            f"the exchange sent an unexpected answer to {request}: expected {expected}, got {got}",
            details={"request": request, "expected": expected},
        )
        self.request = request
        self.expected = expected


class OutcomeUnknown(ParadexctlError):
    exit_code = 6
    kind = "outcome_unknown"
    summary = "an order may or may not exist; the message names its client_id"

    def __init__(
        self, message: str, *, client_id: str, details: dict[str, Any] | None = None
    ) -> None:
        d = dict(details or {})
        d["client_id"] = client_id
        super().__init__(message, details=d)
        self.client_id = client_id


class ExchangeRestricted(ParadexctlError):
    """The exchange is up but its system state (``GET /system/state``) is not ``ok``: a
    release window (``maintenance``, ``cancel_only``, ``post_only``). A cron job tells it from
    "exchange down" (5) and "check failed" (1). ``details["system_state"]`` is the state."""

    exit_code = 7
    kind = "system_state"
    summary = (
        "the exchange is in maintenance or a restricted mode (system state maintenance, "
        "cancel_only or post_only); the command did not run its check or send its order"
    )

    def __init__(self, message: str, *, state: str) -> None:
        super().__init__(message, details={"system_state": state})
        self.state = state


class LocalFileError(ParadexctlError):
    """Writing a local file failed after it was opened (``ENOSPC``, ``EIO``, ``EDQUOT``).

    74 is ``EX_IOERR`` of sysexits.h (as 70, the internal error, is ``EX_SOFTWARE``). A file
    that cannot be opened at all is a :class:`UsageError` (a bad path)."""

    exit_code = 74
    kind = "local_io"
    summary = (
        "a local file could not be written (a full disk, an I/O error); a recording is "
        "valid up to its last complete line"
    )


class Interrupted(ParadexctlError):
    exit_code = 130
    kind = "interrupted"
    summary = "interrupted (SIGINT)"


def error_classes() -> list[type[ParadexctlError]]:
    """Every subclass of :class:`ParadexctlError` defined so far (in any imported module),
    parents before children, ordered by exit code (stable)."""
    seen: list[type[ParadexctlError]] = []

    def walk(cls: type[ParadexctlError]) -> None:
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.append(sub)
                walk(sub)

    walk(ParadexctlError)
    return sorted(seen, key=lambda c: c.exit_code)


def documented_classes() -> list[type[ParadexctlError]]:
    """The classes the exit-code table lists: those of this module, and any other whose exit
    code or JSON ``error`` kind differs from its parent's (a new contract entry)."""
    out: list[type[ParadexctlError]] = []
    for cls in error_classes():
        parent = next(b for b in cls.__bases__ if issubclass(b, ParadexctlError))
        new_entry = (cls.exit_code, cls.kind) != (parent.exit_code, parent.kind)
        if cls.__module__ == __name__ or new_entry:
            out.append(cls)
    return out


def exit_codes() -> dict[int, str]:
    """Every exit code of the class tree, with its meaning (the highest class's summary).

    0 is success."""
    codes: dict[int, str] = {0: "success"}
    for cls in error_classes():
        codes.setdefault(cls.exit_code, cls.summary)
    return codes


#: Every documented exit code, with its meaning, derived from the class tree. 0 is success.
EXIT_CODES: dict[int, str] = exit_codes()
