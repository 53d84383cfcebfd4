"""Real concurrency for the PostgreSQL tests: calls started at one moment from threads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from django.db import connection


def run_together(functions: Sequence[Callable[[], object]], *, threads: int | None = None) -> list:
    """Call every function from threads released at the same moment (a barrier); return each
    call's result, or the exception it raised, in the order given.

    At most `threads` threads share the calls (PostgreSQL allows 100 connections in all);
    each closes its own database connection when done.
    """
    count = min(len(functions), threads or len(functions))
    outcomes: list = [None] * len(functions)
    barrier = threading.Barrier(count)

    def run(indexes: range) -> None:
        try:
            barrier.wait(timeout=30)
            for i in indexes:
                try:
                    outcomes[i] = functions[i]()
                except Exception as exc:
                    outcomes[i] = exc
        finally:
            connection.close()

    workers = [
        threading.Thread(target=run, args=(range(k, len(functions), count),)) for k in range(count)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    return outcomes
