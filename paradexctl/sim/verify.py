"""Order-signature verification for the simulator, optionally in worker processes.

Verifying one order costs a typed-data hash (nine Pedersen hashes) and one ECDSA verification:
a few milliseconds of pure Python. With ``workers > 0`` the checks run in forked processes, so
several orders are verified at once on several cores while the event loop keeps serving; with
``workers == 0`` they run inline (tests).

Each worker has its own socket pair to this process. The event loop writes a request to the
least-busy worker and reads the answer with a reader callback: no thread of this process is
involved, so an order costs no thread hop and no GIL hand-off (``concurrent.futures``' process
pool needed two helper threads and several hand-offs per call, which stalled the event loop
for milliseconds under load). A worker that dies is dropped and its pending checks are re-run
inline; with no worker left every check runs inline.

The workers are forked when :class:`Verifier` is constructed, before the server starts its
threads.

Signing tables (``warm``, usually ``"large"``: about a second of CPU and 25 MB per process) are
built in the background by :meth:`Verifier.start_warming`, which the server calls as it
starts: in every worker when there are workers (this process then only checks the occasional
auth or onboarding signature and keeps its small tables), else in a thread of this process.
Until a process has swapped its new tables in, it verifies with the tables it has: correct,
only slower. :func:`paradexctl.signing.warm_tables` builds the new tables aside and swaps them
in whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import pickle
import signal
import socket
import struct
import threading
from multiprocessing.synchronize import Event
from typing import Any

from paradexctl import signing

__all__ = ["Verifier", "check_order_signature", "warm_in_background"]

_HEADER = struct.Struct("<I")


def check_order_signature(
    chain_id: int,
    account: int,
    public_key: int,
    signature: str,
    fields: dict[str, Any],
    order_id: int | None,
) -> bool:
    """True iff ``signature`` signs the ``Order`` (or ``ModifyOrder``) typed data."""
    try:
        if order_id is None:
            h = signing.order_message_hash(chain_id, account, **fields)
        else:
            h = signing.modify_order_message_hash(chain_id, account, order_id=order_id, **fields)
        r, s = signing.parse_signature(signature)
    except (ValueError, TypeError):
        return False
    return signing.verify(h, r, s, public_key)


def warm_in_background(level: str, after: Event | None = None) -> threading.Thread:
    """Build the signing tables at ``level`` in a daemon thread (once ``after`` is set)."""

    def run() -> None:
        if after is not None:
            after.wait()
        signing.warm_tables(level)

    thread = threading.Thread(target=run, name="paradexctl-sim-tables", daemon=True)
    thread.start()
    return thread


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def _worker_main(
    sock: socket.socket, others: list[socket.socket], level: str | None, go: Event
) -> None:
    """A worker: answer ``(id, args)`` frames with ``(id, ok)`` frames until EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server stops us (EOF), not Ctrl-C
    # Close every other end this fork inherited: the server's ends (so that its death reads as
    # EOF here) and the other workers' ends (so that a worker's death reads as EOF there).
    for other in others:
        if other is not sock:
            other.close()
    if level:
        warm_in_background(level, after=go)
    sock.setblocking(True)
    with sock:
        while True:
            try:
                (size,) = _HEADER.unpack(_recv_exact(sock, _HEADER.size))
                rid, args = pickle.loads(_recv_exact(sock, size))
            except (EOFError, OSError):
                return
            try:
                ok = check_order_signature(*args)
            except Exception:  # a bug must not kill the worker: the order is refused
                ok = False
            data = pickle.dumps((rid, ok))
            try:
                sock.sendall(_HEADER.pack(len(data)) + data)
            except OSError:
                return


class _Worker:
    __slots__ = ("buffer", "out", "pending", "process", "sock")

    def __init__(self, sock: socket.socket, process: Any) -> None:
        self.sock = sock
        self.process = process
        self.buffer = bytearray()  # answers read, not yet complete
        self.out = bytearray()  # requests not yet written
        #: request id -> (future, args), in flight on this worker
        self.pending: dict[int, tuple[asyncio.Future[bool], tuple[Any, ...]]] = {}


class Verifier:
    def __init__(self, workers: int = 0, warm: str | None = None) -> None:
        self.workers = workers
        self.warm = warm
        self._go: Event | None = None
        self._warmer: threading.Thread | None = None
        self._pool: list[_Worker] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ids = itertools.count()
        if workers > 0:
            ctx = multiprocessing.get_context("fork")
            self._go = ctx.Event()
            pairs = [socket.socketpair() for _ in range(workers)]
            every_end = [end for pair in pairs for end in pair]
            for a, b in pairs:
                proc = ctx.Process(
                    target=_worker_main,
                    args=(b, every_end, warm, self._go),
                    name="paradexctl-sim-verify",
                    daemon=True,
                )
                proc.start()  # forked now, while this process has one thread
                b.close()
                a.setblocking(False)
                self._pool.append(_Worker(a, proc))

    @property
    def pool(self) -> list[_Worker] | None:
        """The live workers (None when checks run inline)."""
        return self._pool or None

    def start_warming(self) -> None:
        """Start building the ``warm`` tables in the background (idempotent, never blocks)."""
        if not self.warm:
            return
        if self._go is not None:
            self._go.set()
        if not self._pool and self._warmer is None:
            self._warmer = warm_in_background(self.warm)

    async def order_ok(
        self,
        chain_id: int,
        account: int,
        public_key: int,
        signature: str,
        fields: dict[str, Any],
        order_id: int | None = None,
    ) -> bool:
        args = (chain_id, account, public_key, signature, fields, order_id)
        if not self._pool:
            return check_order_signature(*args)
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._attach(loop)
        worker = min(self._pool, key=lambda w: len(w.pending))
        rid = next(self._ids)
        fut: asyncio.Future[bool] = loop.create_future()
        data = pickle.dumps((rid, args))
        worker.pending[rid] = (fut, args)
        try:
            self._send(worker, _HEADER.pack(len(data)) + data)
        except OSError:
            self._drop(worker)
        return await fut

    def _attach(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is not None:
            for w in self._pool:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(w.sock.fileno())
                    self._loop.remove_writer(w.sock.fileno())
                w.out.clear()
        self._loop = loop
        for w in self._pool:
            loop.add_reader(w.sock.fileno(), self._on_readable, w)

    def _send(self, worker: _Worker, frame: bytes) -> None:
        """Write a frame now if the socket takes it, else queue it for when it is writable
        (never blocks the event loop, so a worker that is behind cannot deadlock us)."""
        if worker.out:
            worker.out += frame
            return
        n = 0
        with contextlib.suppress(BlockingIOError):
            n = worker.sock.send(frame)
        if n < len(frame):
            worker.out += frame[n:]
            assert self._loop is not None
            self._loop.add_writer(worker.sock.fileno(), self._on_writable, worker)

    def _on_writable(self, worker: _Worker) -> None:
        try:
            n = worker.sock.send(worker.out)
        except BlockingIOError:
            return
        except OSError:
            self._drop(worker)
            return
        del worker.out[:n]
        if not worker.out and self._loop is not None:
            self._loop.remove_writer(worker.sock.fileno())

    def _on_readable(self, worker: _Worker) -> None:
        try:
            chunk = worker.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._drop(worker)
            return
        buf = worker.buffer
        buf += chunk
        while len(buf) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(buf)
            end = _HEADER.size + size
            if len(buf) < end:
                break
            rid, ok = pickle.loads(bytes(buf[_HEADER.size : end]))
            del buf[:end]
            entry = worker.pending.pop(rid, None)
            if entry is not None and not entry[0].done():
                entry[0].set_result(bool(ok))

    def _drop(self, worker: _Worker) -> None:
        """A worker died (or its socket failed): re-run its checks inline, stop using it."""
        if worker not in self._pool:
            return
        self._pool.remove(worker)
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(worker.sock.fileno())
                self._loop.remove_writer(worker.sock.fileno())
        worker.sock.close()
        pending, worker.pending = worker.pending, {}
        for fut, args in pending.values():
            if not fut.done():
                fut.set_result(check_order_signature(*args))

    def close(self) -> None:
        pool, self._pool = self._pool, []
        for w in pool:
            if self._loop is not None and not self._loop.is_closed():
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(w.sock.fileno())
                    self._loop.remove_writer(w.sock.fileno())
            with contextlib.suppress(OSError):
                w.sock.shutdown(socket.SHUT_RDWR)
            w.sock.close()  # the worker reads EOF and exits
            for fut, _ in w.pending.values():
                if not fut.done():
                    fut.cancel()
        for w in pool:
            w.process.join(5)
            if w.process.is_alive():  # pragma: no cover - a worker stuck in a long check
                w.process.terminate()
                w.process.join(5)
        self._loop = None
