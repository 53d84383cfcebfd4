"""Page times with a contract holding 1,000,000 invitation codes.

Through django.test.Client with a logged-in superuser, each page is fetched once to
warm up and then 7 times; the median is reported (min and max beside it). Pages:

- the staff Invitation Codes page (`invitations:code_list`), page 1 and page 2;
- the same page searching for one existing code typed in lower case;
- the admin changelist filtered to the contract (?contract__id__exact=<pk>).

Every response must be 200, and the search must show the code. Target: < 300 ms each.
One more untimed request per page records its SQL (query count, total and slowest
query time); for a page over target, EXPLAIN ANALYZE of its slowest query is printed.
"""

from __future__ import annotations

import re
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import _setup
from _setup import Row, fmt_ms, print_table

RUNS = 7
WARMUP = 1
TARGET_SECONDS = 0.300


def pick_code(contract: Any) -> str:
    """A code from the middle of the contract's id range."""
    from django.db.models import Max, Min

    from invitations.models import InvitationCode

    codes = InvitationCode.objects.filter(contract=contract)
    bounds = codes.aggregate(low=Min("id"), high=Max("id"))
    middle = (bounds["low"] + bounds["high"]) // 2
    return codes.filter(id__gte=middle).order_by("id").values_list("code", flat=True)[0]


@dataclass
class Query:
    sql: str
    params: Any
    seconds: float


class QueryRecorder:
    """A Django execute wrapper that keeps each statement with its parameters and time."""

    def __init__(self) -> None:
        self.queries: list[Query] = []

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.queries.append(Query(sql, params, time.perf_counter() - start))

    @property
    def total(self) -> float:
        return sum(q.seconds for q in self.queries)

    @property
    def slowest(self) -> Query:
        return max(self.queries, key=lambda q: q.seconds)

    def repeated(self, at_least: int = 5) -> list[tuple[int, str]]:
        """Statements run `at_least` times with different parameters (an N+1), by table."""
        counts = Counter(q.sql for q in self.queries)
        out = []
        for sql, n in counts.most_common():
            if n < at_least:
                break
            table = re.search(r'FROM "([^"]+)"', sql)
            out.append((n, table.group(1) if table else sql[:60]))
        return out


def sql_profile(client: Any, url: str) -> QueryRecorder:
    """Fetch once more with every SQL statement recorded."""
    from django.db import connection

    recorder = QueryRecorder()
    with connection.execute_wrapper(recorder):
        client.get(url)
    return recorder


def explain(query: Query) -> str:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + query.sql, query.params)
        return "\n".join(f"      {row[0]}" for row in cur.fetchall())


def main() -> int:
    _setup.bootstrap()
    from django.urls import reverse

    from invitations.models import InvitationCode

    with _setup.shared_contract() as contract:
        total = InvitationCode.objects.filter(contract=contract).count()
        code = pick_code(contract)
        typed = code.lower()
        staff = reverse("invitations:code_list", args=[contract.pk])
        pages = [
            ("Invitation Codes, page 1", staff, None),
            ("Invitation Codes, page 2", f"{staff}?page=2", None),
            (f"Invitation Codes, search {typed!r}", f"{staff}?q={typed}", code),
            (
                "admin changelist, filtered to the contract",
                f"/admin/invitations/invitationcode/?contract__id__exact={contract.pk}",
                None,
            ),
        ]
        user = _setup.create_superuser()
        rows: list[Row] = []
        slow: list[tuple[str, str]] = []
        failures: list[str] = []
        try:
            client = _setup.logged_in_client(user)
            for label, url, must_show in pages:

                def fetch(url: str = url) -> Any:
                    response = client.get(url)
                    if response.status_code != 200:
                        raise RuntimeError(f"GET {url}: status {response.status_code}")
                    return response

                if must_show and must_show.encode() not in fetch().content:
                    failures.append(f"{label}: the page does not show {must_show}")
                median, times = _setup.median_of(fetch, runs=RUNS, warmup=WARMUP)
                sql = sql_profile(client, url)
                ok = median < TARGET_SECONDS
                rows.append(
                    Row(
                        label,
                        f"{fmt_ms(median)}  (min {fmt_ms(min(times))}, max {fmt_ms(max(times))})",
                        f"target < {TARGET_SECONDS * 1000:.0f} ms",
                        ok,
                    )
                )
                rows.append(
                    Row(
                        f"    SQL: {len(sql.queries)} queries, "
                        f"slowest {fmt_ms(sql.slowest.seconds)}",
                        f"{fmt_ms(sql.total)} in SQL",
                    )
                )
                for n, table in sql.repeated():
                    rows.append(Row(f"    repeated per row (N+1): {n} × a query on {table}", ""))
                if not ok:
                    slow.append((label, sql.slowest))
            client.logout()
        finally:
            user.delete()

        print_table(
            f"Pages: contract {contract.pk} with {total:,} codes, median of {RUNS} "
            f"after {WARMUP} warm-up",
            rows,
        )
        for label, query in slow:
            print(f"\n  {label}: slowest query\n      {query.sql}\n    EXPLAIN ANALYZE:")
            print(explain(query))
        if failures:
            print("\n".join(failures), file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
