"""Order-signature verification for the simulator, optionally in worker processes.

Verifying one order costs a typed-data hash (about seven Pedersen hashes) and one ECDSA
verification: milliseconds in pure Python. With ``workers > 0`` the checks run in a pool of
forked processes, so several orders are verified at once on several cores while the event loop
keeps serving; with ``workers == 0`` they run inline (tests).

The pool is created (and its processes forked) when :class:`Verifier` is constructed, before
the server starts its threads.

Signing tables (``warm``, usually ``"large"``: about a second of CPU and 25 MB per process) are
built in the background by :meth:`Verifier.start_warming`, which the server calls once it is
up: in every worker when there is a pool (this process then only checks the occasional auth or
onboarding signature and keeps its small tables), else in a thread of this process. Until a
process has swapped its new tables in, it verifies with the tables it has: correct, only
slower. :mod:`paradexctl.signing.tables` builds the new tables aside and swaps them in whole.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.synchronize import Event
from typing import Any

from paradexctl import signing

__all__ = ["Verifier", "check_order_signature", "warm_in_background"]


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
    """Build the signing tables at ``level`` in a daemon thread (after ``after`` is set)."""

    def run() -> None:
        if after is not None:
            after.wait()
        signing.warm_tables(level)

    thread = threading.Thread(target=run, name="paradexctl-sim-tables", daemon=True)
    thread.start()
    return thread


def _init_worker(level: str | None, go: Event | None) -> None:
    if level:
        warm_in_background(level, after=go)


def _noop() -> None:
    return None


class Verifier:
    def __init__(self, workers: int = 0, warm: str | None = None) -> None:
        self.workers = workers
        self.warm = warm
        self.pool: ProcessPoolExecutor | None = None
        self._go: Event | None = None
        self._warmer: threading.Thread | None = None
        if workers > 0:
            ctx = multiprocessing.get_context("fork")
            self._go = ctx.Event()
            self.pool = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=ctx,
                initializer=_init_worker,
                initargs=(warm, self._go),
            )
            for _ in range(workers):  # fork them all now, while this process has one thread
                self.pool.submit(_noop)

    def start_warming(self) -> None:
        """Start building the ``warm`` tables in the background (idempotent, never blocks)."""
        if not self.warm:
            return
        if self._go is not None:
            self._go.set()
        elif self._warmer is None:
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
        if self.pool is None:
            return check_order_signature(*args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, check_order_signature, *args)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
