"""``--state``: the engine loaded at start, saved whole on change (every tick) and at shutdown."""

from __future__ import annotations

import json

from .common import (
    StateFileError,
    _log,
)
from .core import SimCore
from .exchange import (
    Exchange,
    StateMarketsError,
)


class Persistence(SimCore):
    """Loading and saving ``--state`` (a :class:`SimApp` mixin)."""

    def _load_or_new(self) -> Exchange:
        path = self.options.state_file
        if path is not None and path.exists():
            try:
                state = json.loads(path.read_text())
                return Exchange.from_state(state, self._config())
            except StateMarketsError as err:
                raise StateFileError(f"cannot load sim state from {path}: {err}") from None
            except (OSError, ValueError, KeyError, TypeError, IndexError) as err:
                raise StateFileError(f"cannot load sim state from {path}: {err!r}") from None
        return Exchange(self._config(), now_ms=self.clock.now_ms())

    def save(self) -> bool:
        """Write ``--state`` if anything changed; True when the file is up to date.

        The file is written whole to a temporary file, fsynced and renamed over the last good
        one (:func:`paradexctl.config.write_private_file`). A failed write (a full disk)
        leaves the last good file in place, is logged once (and its recovery once), and is
        retried on the next tick: ``dirty`` stays set until a write succeeds."""
        path = self.options.state_file
        if path is None or not self.dirty:
            return True
        data = json.dumps(self.engine.to_state(), separators=(",", ":")).encode()
        try:
            self.write_state(path, data)
        except OSError as err:
            failing = self.save_error is not None
            self.save_error = f"cannot save the sim state to {path}: {err.strerror or err}"
            if not failing:
                _log.error("%s; %s keeps the last good save; retrying", self.save_error, path.name)
            return False
        self.dirty = False
        self.last_saved_ms = self.clock.now_ms()
        if self.save_error is not None:
            _log.warning("the sim state is saved to %s again", path)
            self.save_error = None
        return True
