"""Download CSV of 1,000,000 invitation codes through the real view.

A logged-in superuser's django.test.Client GETs the contract's Download CSV link
(`invitations:code_export`); the StreamingHttpResponse is consumed chunk by chunk,
counting bytes and lines without keeping them. The contract holds 1,000,000 codes of
width 10, generated through the service (or given by run.py in BENCH_CONTRACT_ID).

Measured:
- throughput: data rows per second, from the request to the last chunk.
  Target: ≥ 200,000 rows/s.
- memory: the process's resident set size sampled every 50 ms from /proc/self/statm
  during the export, peak minus the level just before it (ru_maxrss growth is shown
  too, but it only ever grows, so it says little about a later phase).
  Target: < 100 MB.
- the file: header plus one line per code, 1,000,001 lines.

When the throughput target is missed, the export's layers are timed in separate passes
(query rows, row tuples, CSV text) to show where the time goes.
"""

from __future__ import annotations

import gc
import sys
from typing import Any

import _setup
from _setup import Row, drain, fmt_mb, fmt_s, print_table, timer

TARGET_ROWS_PER_SECOND = 200_000
TARGET_MEMORY_BYTES = 100_000_000


def breakdown(contract: Any, total_seconds: float) -> list[Row]:
    """Time the export's layers in separate passes: the query's rows alone (with and without
    created_at), the selector's row tuples, the CSV text, and what the view adds."""
    from core.csvio import iter_csv
    from invitations import selectors

    queryset = selectors.code_list(contract=contract)
    columns = [
        "code",
        "price_id",
        "status",
        "is_archived",
        "uses",
        "max_uses",
        "valid_from",
        "valid_until",
        "participant__first_name",
        "participant__last_name",
        "participant__email",
        "batch_id",
    ]
    ordered = queryset.order_by("id")
    fetch = drain(ordered.values_list(*columns, "created_at").iterator(chunk_size=5_000))
    fetch_no_ts = drain(ordered.values_list(*columns).iterator(chunk_size=5_000))
    rows = drain(selectors.code_export_rows(queryset))
    csv_text = drain(
        iter_csv(
            selectors.EXPORT_HEADER,
            selectors.code_export_rows(queryset),
            trusted_columns=selectors.EXPORT_TRUSTED_COLUMNS,
        )
    )
    return [
        Row("where the time goes (separate passes over the same rows):", ""),
        Row("  fetching the export query's rows (psycopg + Django)", fmt_s(fetch)),
        Row("    the same without the created_at column", fmt_s(fetch_no_ts)),
        Row("    so loading created_at (timestamptz) costs", fmt_s(fetch - fetch_no_ts)),
        Row("  + building row tuples (selectors.code_export_rows)", fmt_s(rows - fetch)),
        Row("  + writing CSV text (core.csvio.iter_csv)", fmt_s(csv_text - rows)),
        Row("  + the view, middleware and test client", fmt_s(total_seconds - csv_text)),
    ]


def main() -> int:
    _setup.bootstrap()
    from django.urls import reverse

    from invitations.models import InvitationCode

    with _setup.shared_contract() as contract:
        expected_lines = InvitationCode.objects.filter(contract=contract).count() + 1
        user = _setup.create_superuser()
        try:
            client = _setup.logged_in_client(user)
            url = reverse("invitations:code_export", args=[contract.pk])

            gc.collect()
            rss_before = _setup.current_rss()
            maxrss_before = _setup.max_rss()
            n_bytes = n_lines = n_chunks = 0
            with _setup.RssSampler(0.05) as sampler, timer() as t:
                response = client.get(url)
                if response.status_code != 200 or not response.streaming:
                    raise RuntimeError(
                        f"GET {url}: status {response.status_code}, streaming {response.streaming}"
                    )
                for chunk in response.streaming_content:
                    n_bytes += len(chunk)
                    n_lines += chunk.count(b"\n")
                    n_chunks += 1
                response.close()
            maxrss_after = _setup.max_rss()
            client.logout()
        finally:
            user.delete()

        rows = n_lines - 1
        rows_per_second = rows / t.seconds
        growth = sampler.peak - rss_before
        fast_enough = rows_per_second >= TARGET_ROWS_PER_SECOND
        # Measured after the memory figures, so the extra passes cannot affect them.
        diagnosis = [] if fast_enough else breakdown(contract, t.seconds)
        print_table(
            f"Download CSV: contract {contract.pk}, {expected_lines - 1:,} codes",
            [
                Row(
                    "lines (header + rows)",
                    f"{n_lines:,}",
                    f"expected {expected_lines:,}",
                    n_lines == expected_lines,
                ),
                Row("bytes streamed", fmt_mb(n_bytes)),
                Row("chunks streamed", f"{n_chunks:,}"),
                Row("time, request to last chunk", fmt_s(t.seconds)),
                Row(
                    "throughput",
                    f"{rows_per_second:,.0f} rows/s",
                    f"target ≥ {TARGET_ROWS_PER_SECOND:,} rows/s",
                    fast_enough,
                ),
                Row("RSS before the export", fmt_mb(rss_before)),
                Row(f"RSS peak during it ({sampler.samples} samples, 50 ms)", fmt_mb(sampler.peak)),
                Row(
                    "peak memory growth (RSS peak − before)",
                    fmt_mb(growth),
                    f"target < {TARGET_MEMORY_BYTES // 1_000_000} MB",
                    growth < TARGET_MEMORY_BYTES,
                ),
                Row("ru_maxrss growth (only ever grows)", fmt_mb(maxrss_after - maxrss_before)),
                *diagnosis,
            ],
        )
        if n_lines != expected_lines:
            print(f"export_codes: {n_lines:,} lines, {expected_lines:,} expected", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
