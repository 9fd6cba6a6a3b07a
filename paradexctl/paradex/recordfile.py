"""The one writer of recording files (``stream --record``, ``reconcile --record``), and their
reader for ``--replay`` (:func:`load_recording`).

:func:`~paradexctl.core.recording.to_line` turns a record into a line; this module does the
I/O the sans-I/O core leaves to its callers:

* The file is private: created ``0600``, and an existing regular file is made ``0600``
  before anything is written (``O_CREAT``'s mode applies only to a new file).
* Lines are buffered (:data:`BUFFER_BYTES`) and written whole, so a failed write leaves a
  file that is valid up to its last complete line: on failure the writer cuts the file back
  to the end of the last line written in full (best effort: a device such as ``/dev/full``
  cannot be cut, and nothing reached it).
* A failed write (a full disk, an I/O error, a quota) raises
  :class:`~paradexctl.errors.LocalFileError` (exit 74) naming the file and how much of it is
  valid. The failure is sticky: every later :meth:`~RecordingWriter.write`,
  :meth:`~RecordingWriter.flush` and :meth:`~RecordingWriter.close` raises it again, so a
  caller that missed it still cannot end with exit 0. :meth:`~RecordingWriter.abort`
  flushes and releases the file without raising (for a command already ending with another
  error).

Usage::

    with RecordingWriter.open(path) as rec:   # UsageError (exit 2) if it cannot be opened
        rec.write(Meta({...}))
        rec.write(WsFrame(...))
        rec.flush()                           # after a batch, so a reader sees it
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from types import TracebackType
from typing import Any, Protocol

from paradexctl.core.recording import Meta, Record, RecordingError, read_records, to_line
from paradexctl.errors import LocalFileError, UsageError
from paradexctl.output import escape_surrogates

__all__ = ["BUFFER_BYTES", "RecordingWriter", "load_recording", "recording_meta"]

#: Lines are written once this many bytes are buffered (and on flush/close).
BUFFER_BYTES = 8 * 1024


class BinaryFile(Protocol):
    """What the writer needs of a file: an unbuffered binary file (``io.FileIO``)."""

    def write(self, data: bytes | memoryview, /) -> int | None: ...

    def close(self) -> None: ...


def _encode(line: str) -> bytes:
    """UTF-8 for one JSON line. A lone surrogate (the exchange may send ``"\\ud800"``) cannot
    be UTF-8; it can only sit inside a JSON string, so its ``\\uXXXX`` escape is exact."""
    try:
        return line.encode("utf-8")
    except UnicodeEncodeError:
        return escape_surrogates(line).encode("utf-8")


class RecordingWriter:
    """Writes records as NDJSON lines to one file; see the module docstring.

    Args:
        file: an unbuffered binary file (``io.FileIO``; a test may pass any object with
            ``write(bytes) -> int`` and ``close()``, and optionally ``truncate(n)``).
        name: the file's name in error messages.
        fsync: ``os.fsync`` the file on :meth:`close` (a regular file opened by :meth:`open`),
            so a write error the kernel reports late (a full disk, NFS, a quota) is seen.
    """

    def __init__(self, file: BinaryFile, name: str, *, fsync: bool = False) -> None:
        self.file = file
        self.name = name
        self.fsync = fsync
        #: bytes of complete lines in the file (the valid part)
        self.written = 0
        self.lines = 0
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._buffered_lines = 0
        self._error: LocalFileError | None = None
        self._closed = False

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> RecordingWriter:
        """Create or truncate ``path``, private (0600). :class:`UsageError` if it cannot be
        opened or made private."""
        name = os.fspath(path)
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        except OSError as err:
            raise UsageError(f"--record {name}: {err.strerror or err}") from None
        try:
            regular = stat.S_ISREG(os.fstat(fd).st_mode)
            if regular:
                os.fchmod(fd, 0o600)  # an existing 0644 file becomes private too
            file = os.fdopen(fd, "wb", buffering=0)
        except OSError as err:
            os.close(fd)
            raise UsageError(f"--record {name}: cannot make it private: {err.strerror}") from None
        return cls(file, name, fsync=regular)

    # -- writing ------------------------------------------------------------------------------

    def write(self, record: Record) -> None:
        """Append one record (buffered); raises :class:`LocalFileError`."""
        self.write_line(to_line(record))

    def write_line(self, line: str) -> None:
        """Append one line of the recording format (without its newline)."""
        self._check()
        data = _encode(line) + b"\n"
        self._buffer.append(data)
        self._buffered += len(data)
        self._buffered_lines += 1
        if self._buffered >= BUFFER_BYTES:
            self.flush()

    def flush(self) -> None:
        """Write every buffered line now; raises :class:`LocalFileError`."""
        self._check()
        if not self._buffer:
            return
        data = b"".join(self._buffer)
        self._buffer.clear()
        self._buffered = 0
        lines, self._buffered_lines = self._buffered_lines, 0
        view = memoryview(data)
        done = 0
        try:
            while done < len(data):
                n = self.file.write(view[done:])
                if n is None:  # a non-blocking file that would block: not a recording's
                    raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN))
                if n == 0:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                done += n
        except OSError as err:
            complete = data.rfind(b"\n", 0, done) + 1  # the lines written in full
            self._fail(err, self.written + complete, self.lines + data.count(b"\n", 0, complete))
        self.written += done
        self.lines += lines

    def close(self) -> None:
        """Flush, sync and close; raises :class:`LocalFileError` if anything failed, now or
        before. Closing twice is a no-op."""
        if self._closed:
            return
        try:
            self.flush()
            if self.fsync:
                try:
                    os.fsync(self.file.fileno())  # type: ignore[attr-defined]
                except OSError as err:
                    self._fail(err, None, None)
        finally:
            self._release()

    def abort(self) -> None:
        """Flush what can be flushed and release the file, never raising (for a command that
        is ending with another error): the file is valid up to its last complete line."""
        if self._closed:
            return
        try:
            self.flush()
        except LocalFileError:
            pass  # already raised once, or the command's own error is the one to report
        self._release()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()  # another error is on its way out

    # -- internals ----------------------------------------------------------------------------

    def _check(self) -> None:
        if self._error is not None:
            raise self._error
        if self._closed:
            raise ValueError(f"recording {self.name} is closed")

    def _release(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.file.close()
        except OSError:
            pass

    def _fail(self, err: OSError, valid: int | None, lines: int | None) -> None:
        if valid is not None:
            truncate: Any = getattr(self.file, "truncate", None)
            if truncate is not None:
                try:
                    truncate(valid)  # cut a partly written line
                except OSError:
                    pass  # a device; or the disk refuses even that: keep what is there
            self.written = valid
            self.lines = lines or 0
        what = err.strerror or str(err) or type(err).__name__
        self._error = LocalFileError(
            f"--record {self.name}: write failed: {what}; the recording is valid up to its "
            f"last complete line ({self.lines} lines, {self.written} bytes)",
            details={"file": self.name, "errno": err.errno, "lines": self.lines,
                     "bytes": self.written},
        )  # fmt: skip
        raise self._error


def load_recording(lines: Iterable[str | bytes]) -> tuple[dict[str, Any], list[Record]]:
    """Parse a recording: its header's fields (``{}`` without one) and its records.

    Raises :class:`~paradexctl.errors.UsageError` (exit 2) naming the bad line.
    """
    try:
        records = list(read_records(lines))
    except RecordingError as err:
        raise UsageError(str(err)) from None
    return recording_meta(records), records


def recording_meta(records: Iterable[Record]) -> dict[str, Any]:
    """The header's fields of a recording (``{}`` without one)."""
    for rec in records:
        if isinstance(rec, Meta):
            return dict(rec.fields)
    return {}
