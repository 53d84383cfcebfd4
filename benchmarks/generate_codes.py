"""Generate Codes at scale, on the PostgreSQL named by DATABASE_URL.

Measured:

(a) 1,000,000 codes of width 10 for one contract through the service the Generate Codes
    page calls, `invitations.services.code_batch_create`, end to end (no broker, so Celery
    runs the generation task in this process when the batch commits). Afterwards the
    batch must be "done" with 1,000,000 generated and 1,000,000 rows stored.
    Target: ≤ 15 s.
(b) A bare PostgreSQL COPY of 1,000,000 codes into a fresh one-column table with one
    unique index: the floor for getting a million unique codes into PostgreSQL.
    Target: service time ≤ 3 × COPY time.
(c) The naive way, as django-oscar's voucher sets do it: for 20,000 codes, one
    `exists()` check and one `objects.create()` per code, each in its own autocommit
    transaction (the model's history row, written by django-simple-history on save, is
    part of what `create()` costs). Target: the service is ≥ 40 × faster per code.

Each timed step starts right after a CHECKPOINT. The benchmark's contract, codes and
history rows are deleted afterwards.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import _setup
from _setup import Row, fmt_s, print_table, timer

QUANTITY = 1_000_000
WIDTH = 10
NAIVE_QUANTITY = 20_000
TARGET_SERVICE_SECONDS = 15.0
TARGET_COPY_RATIO = 3.0
TARGET_SPEEDUP = 40.0


class Breakdown(_setup.Breakdown):
    """Where the service's time goes: each kind of SQL statement, plus the time of every
    commit and of every call to draw_codes."""

    @staticmethod
    def kind(sql: str) -> str:
        words = sql.split()
        head = words[0].upper() if words else "?"
        if head == "INSERT" and "invitations_invitationcode" in sql:
            return "insert_codes"
        if head == "ANALYZE":
            return "analyze"
        return "other"

    @contextmanager
    def recording(self) -> Iterator[None]:
        """Instrument every database connection and the code generator during the block.

        The service inserts chunks over several connections at once (one per thread), so
        the wrapper is installed on the connections opened meanwhile as well, and the
        figures are summed over all of them: they can add up to more than the wall time.
        """
        from django.db import connection, connections
        from django.db.backends.signals import connection_created

        from core import codes as codelib

        def instrument(sender: Any, connection: Any, **kwargs: Any) -> None:
            if self not in connection.execute_wrappers:
                connection.execute_wrappers.append(self)

        wrapper_class = type(connections["default"])
        original_commit = wrapper_class._commit
        draw_codes = codelib.draw_codes
        codelib.draw_codes = self.timed("draw", draw_codes)
        wrapper_class._commit = self.timed("commit", original_commit)
        connection_created.connect(instrument)
        try:
            with connection.execute_wrapper(self):
                yield
        finally:
            connection_created.disconnect(instrument)
            codelib.draw_codes = draw_codes
            wrapper_class._commit = original_commit

    def rows(self, total: float) -> list[Row]:
        s, n = self.seconds, self.counts
        rows = [
            Row(
                f"    INSERT…SELECT into the codes table (×{n['insert_codes']}, summed)",
                fmt_s(s["insert_codes"]),
            ),
            Row(f"    commits (×{n['commit']}, summed)", fmt_s(s["commit"])),
            Row(f"    drawing codes in Python (×{n['draw']})", fmt_s(s["draw"])),
            Row("    ANALYZE of the codes table", fmt_s(s["analyze"])),
            Row(f"    other SQL (×{n['other']}, summed)", fmt_s(s["other"])),
        ]
        rest = total - sum(s.values())
        if rest > 0:
            rows.append(Row("    rest: COPY into the temp table, Python", fmt_s(rest)))
        else:
            rows.append(Row("    (chunks ran on parallel connections: parts overlap)", ""))
        return rows


def draw_unique(prefix: str, width: int, count: int) -> list[str]:
    """`count` distinct random codes (a million draws of width 10 may repeat one)."""
    from core.codes import draw_codes

    codes = dict.fromkeys(draw_codes(prefix, width, count))
    while len(codes) < count:
        codes.update(dict.fromkeys(draw_codes(prefix, width, count - len(codes))))
    return list(codes)


def bare_copy(codes: list[str]) -> float:
    """Seconds to COPY `codes` into a fresh table with one unique index (then dropped)."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_copy")
        cur.execute("CREATE TABLE bench_copy (code varchar(30) NOT NULL)")
        cur.execute("CREATE UNIQUE INDEX bench_copy_code ON bench_copy (code)")
        _setup.checkpoint()
        try:
            with timer() as t, cur.cursor.copy("COPY bench_copy (code) FROM STDIN") as copy:
                copy.write("\n".join(codes) + "\n")
            cur.execute("SELECT count(*) FROM bench_copy")
            copied = cur.fetchone()[0]
        finally:
            cur.execute("DROP TABLE IF EXISTS bench_copy")
    if copied != len(codes):
        raise RuntimeError(f"COPY stored {copied:,} rows, {len(codes):,} expected")
    return t.seconds


def naive_loop(fixture: _setup.Fixture, codes: list[str]) -> tuple[float, int]:
    """Seconds for the check-then-create loop, and how many codes it inserted."""
    from django.db import connection

    from invitations.models import InvitationCode

    if not connection.get_autocommit():
        raise RuntimeError("the naive loop must run in autocommit mode")
    inserted = 0
    with timer() as t:
        for code in codes:
            if InvitationCode.objects.filter(code=code).exists():
                continue
            InvitationCode.objects.create(
                code=code, contract=fixture.contract, price=fixture.price, batch=None, max_uses=1
            )
            inserted += 1
    return t.seconds, inserted


def main() -> int:
    _setup.bootstrap()
    from invitations.models import CodeBatch

    fixture = _setup.create_contract("generate")
    try:
        # (a) the service, end to end.
        breakdown = Breakdown()
        _setup.checkpoint()
        with breakdown.recording(), timer() as service:
            batch = _setup.generate_batch(fixture, QUANTITY, WIDTH)
        stored = _setup.verify_batch(batch, QUANTITY)  # raises unless done and complete

        # (b) bare COPY of the same number of codes.
        with timer() as draw:
            copy_codes = draw_unique("", WIDTH, QUANTITY)
        copy_seconds = bare_copy(copy_codes)
        del copy_codes
        ratio = service.seconds / copy_seconds

        # (c) the naive loop.
        naive_codes = draw_unique(fixture.contract.invitation_prefix, WIDTH, NAIVE_QUANTITY)
        _setup.checkpoint()
        naive_seconds, naive_inserted = naive_loop(fixture, naive_codes)
        service_per_code = service.seconds / QUANTITY
        naive_per_code = naive_seconds / NAIVE_QUANTITY
        speedup = naive_per_code / service_per_code

        print_table(
            f"Generate Codes: {QUANTITY:,} codes of width {WIDTH} (contract {fixture.contract.pk})",
            [
                Row(
                    "(a) service code_batch_create, end to end",
                    fmt_s(service.seconds),
                    f"target ≤ {TARGET_SERVICE_SECONDS:.0f} s",
                    service.seconds <= TARGET_SERVICE_SECONDS,
                ),
                Row("    rate", f"{QUANTITY / service.seconds:,.0f} codes/s"),
                Row(
                    "    batch status, generated, rows stored",
                    f"{batch.status}, {batch.generated:,}, {stored:,}",
                    f"done, {QUANTITY:,}, {QUANTITY:,}",
                    batch.status == CodeBatch.Status.DONE and stored == QUANTITY,
                ),
                *breakdown.rows(service.seconds),
                Row(
                    f"(b) bare COPY of {QUANTITY:,} codes, one unique index",
                    fmt_s(copy_seconds),
                ),
                Row("    (drawing those codes in Python, not timed above)", fmt_s(draw.seconds)),
                Row(
                    "    service / COPY",
                    f"{ratio:.2f}×",
                    f"target ≤ {TARGET_COPY_RATIO:.0f}×",
                    ratio <= TARGET_COPY_RATIO,
                ),
                Row(
                    f"(c) naive exists()+create() × {NAIVE_QUANTITY:,}",
                    fmt_s(naive_seconds),
                ),
                Row("    codes inserted by the naive loop", f"{naive_inserted:,}"),
                Row("    naive, per code", f"{naive_per_code * 1e6:,.1f} µs"),
                Row("    service, per code", f"{service_per_code * 1e6:,.2f} µs"),
                Row(
                    f"    naive, projected to {QUANTITY:,}",
                    fmt_s(naive_per_code * QUANTITY),
                ),
                Row(
                    "    speed-up per code, service over naive",
                    f"{speedup:,.0f}×",
                    f"target ≥ {TARGET_SPEEDUP:.0f}×",
                    speedup >= TARGET_SPEEDUP,
                ),
            ],
        )
    finally:
        with timer() as t:
            codes = _setup.cleanup(fixture.contract.pk)
        print(f"\nclean-up: {codes:,} codes deleted, tables vacuumed in {fmt_s(t.seconds)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
