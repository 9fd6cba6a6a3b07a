"""Exceptions raised by :mod:`paradexctl.signing`.

The signing package is a pure library (it imports nothing from the rest of paradexctl); the
CLI maps these to :mod:`paradexctl.errors` classes at its boundary. No message ever contains a
private key: callers may show ``str(err)`` to users and logs as is.
"""

from __future__ import annotations

__all__ = ["InvalidKeyError", "PrecisionError", "SigningError"]


class SigningError(ValueError):
    """Base class: an input cannot be encoded, hashed or signed as asked."""


class InvalidKeyError(SigningError):
    """A private key is malformed or out of range. The message names the problem only."""


class PrecisionError(SigningError):
    """A decimal has more fractional digits than the chain's fixed-point format can hold."""
