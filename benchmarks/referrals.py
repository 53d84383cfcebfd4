"""Referral programs at size, on the PostgreSQL of DATABASE_URL.

The benchmark makes its own active program (success on a confirmed signup) with three
reward tiers given by hand (1, 3 and 10 successful referrals), through the services, and
removes it with everything in it at the end, also on failure (and any program an earlier,
interrupted run left behind). Email goes to Django's locmem backend; Celery runs eagerly
in this process, as in the embedded mode, so the confirmation email of each signup is
rendered and "sent" inside its request.

Measured:

1. Importing existing users: a CSV of IMPORT_ROWS rows (Name, Company, Email; unique
   emails) built in memory, then `referrer_import_check` (read and check every row, look
   up who is in the program already, store the checked rows) and
   `referrer_import_complete` (send_welcome off: a referrer with its own code for every
   row, in one transaction), timed apart and together, each after a CHECKPOINT. Every row
   must become an active, imported referrer. Target: both together ≤ 30 s.
2. Referral signups through the real page: POSTs of the signup form to `/refer/<slug>/`
   with django.test.Client (the whole Django stack, no network), each from its own
   REMOTE_ADDR (the per-address throttle, REFERRAL_SIGNUP_RATE_LIMIT a window, stays out
   of the way; so do the fraud guards' address checks) and with `ref` naming one of
   REFERRING imported referrers, so every signup is a referral. First AFTER_IMPORT
   signups right after the import, with the planner's statistics as the import left
   them; then the referral tables are ANALYZEd (what autovacuum does a while after a bulk
   insert, when it is on) and SIGNUPS more are timed: signups per second, p50 and p99,
   and the SQL statements and SQL time per signup. Every answer must be the redirect to
   the thanks page, each signup a clean referral, and one confirmation email each. No
   target. (The first figures show what a program's lookups cost while the statistics
   still say it has no referrers: the planner then picks the program_id index and
   filters every referrer of the program.)
3. The status page with IMPORT_ROWS referrers: STATUS_GETS GETs of `/refer/status/<token>/`
   for referrers drawn at random among the imported ones (tokens from
   `links.status_path`, made before timing). REWARDED of them were given successful
   referrals and the rewards of the tiers they reached (earned or delivered) in bulk
   beforehand, so pages show rewards and progress; the tables are ANALYZEd first, as
   autovacuum would. Each page must be 200 and show its referrer's link. p50, p95, p99,
   max, and the SQL per page. Target: p99 < 100 ms.

Environment, for a quick try only (the targets are for the defaults): BENCH_REFERRERS
(50,000), BENCH_REFERRAL_SIGNUPS (10,000), BENCH_STATUS_GETS (2,000).
"""

from __future__ import annotations

import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import _setup
from _setup import Row, fmt_ms, fmt_s, print_table, timer

IMPORT_ROWS = int(os.environ.get("BENCH_REFERRERS", 50_000))
SIGNUPS = int(os.environ.get("BENCH_REFERRAL_SIGNUPS", 10_000))
STATUS_GETS = int(os.environ.get("BENCH_STATUS_GETS", 2_000))
REFERRING = 1_000
REWARDED = 5_000
WARMUP = 50
AFTER_IMPORT = 300
TIERS = [("Bronze", 1), ("Silver", 3), ("Gold", 10)]
TARGET_IMPORT_S = 30.0
TARGET_STATUS_P99_S = 0.100
PROGRAM_PREFIX = "Benchmark referrals"
SEED = 20_261_126
CHECKS_FAILED: list[Row] = []


def check(row: Row) -> Row:
    """A row that checks what was written: the run fails when it does not hold."""
    if not row.ok:
        CHECKS_FAILED.append(row)
    return row


@dataclass
class SqlMeter:
    """A Django execute wrapper that counts statements and adds up their time."""

    statements: int = 0
    seconds: float = 0.0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - start
            self.statements += 1


@dataclass
class Latencies:
    seconds: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.seconds.append(value)

    def pct(self, q: float) -> float:
        """Nearest-rank percentile."""
        ordered = sorted(self.seconds)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def percentile_rows(lat: Latencies, qs: tuple[float, ...]) -> list[Row]:
    rows = [Row(f"   latency p{round(q * 100)}", fmt_ms(lat.pct(q))) for q in qs]
    return [*rows, Row("   latency max", fmt_ms(max(lat.seconds)))]


# --- data ------------------------------------------------------------------------------


def csv_bytes(rows: int, stamp: int) -> bytes:
    """Name, Company, Email: unique emails over a few hundred company domains."""
    rng = random.Random(SEED)
    first = ["Ann", "Bo", "Cyril", "Dana", "Émile", "Farah", "Gus", "Hana", "Ivo", "Jun"]
    last = ["Lee", "Okafor", "Müller", "Santos", "Kowalski", "Nguyen", "Smith", "Rossi"]
    lines = ["Name,Company,Email"]
    for i in range(rows):
        f, la = rng.choice(first), rng.choice(last)
        company = f"Company {i % 700}"
        # Accented names, plain ASCII addresses (as most mail systems still want them).
        local = f"{f}.{la}".lower().replace("é", "e").replace("ü", "ue")
        email = f"{local}.{i}.{stamp}@company{i % 700}.example"
        lines.append(f"{f} {la},{company},{email}")
    return ("\n".join(lines) + "\n").encode()


def make_program() -> Any:
    from referrals import services

    program = services.program_create(actor=None, name=f"{PROGRAM_PREFIX} {time.time_ns()}")
    for name, threshold in TIERS:
        services.tier_create(actor=None, program=program, name=name, threshold=threshold)
    return program


def cleanup(program_ids: list[int]) -> None:
    """Delete bench programs and everything in them, in SQL (the ORM would collect 60,000
    referrers' relations one by one)."""
    from django.db import connection, transaction

    from referrals.models import (
        Referral,
        ReferralProgram,
        Referrer,
        ReferrerImport,
        Reward,
        RewardTier,
    )

    if not program_ids:
        return
    m2m = ReferralProgram.webhook_endpoints.through._meta.db_table
    with transaction.atomic(), connection.cursor() as cur:
        for model in (Reward, Referral, Referrer, ReferrerImport, RewardTier):
            cur.execute(
                f"DELETE FROM {model._meta.db_table} WHERE program_id = ANY(%s)", [program_ids]
            )
        cur.execute(f"DELETE FROM {m2m} WHERE referralprogram_id = ANY(%s)", [program_ids])
        cur.execute(
            f"DELETE FROM {ReferralProgram._meta.db_table} WHERE id = ANY(%s)", [program_ids]
        )


def leftovers() -> list[int]:
    from referrals.models import ReferralProgram

    return list(
        ReferralProgram.objects.filter(name__startswith=PROGRAM_PREFIX).values_list("pk", flat=True)
    )


def analyze() -> None:
    from django.db import connection

    from referrals.models import Referral, Referrer, Reward

    with connection.cursor() as cur:
        for model in (Referrer, Referral, Reward):
            cur.execute(f"ANALYZE {model._meta.db_table}")


# --- 1. import ---------------------------------------------------------------------------


def last_analysed() -> Any:
    """When the referrer table's statistics were last gathered, by anyone."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT greatest(last_analyze, last_autoanalyze) FROM pg_stat_user_tables "
            "WHERE relname = 'referrals_referrer'"
        )
        return cur.fetchone()


def import_users(program: Any, stamp: int) -> tuple[list[Row], list[int], bool]:
    from referrals import services
    from referrals.models import Referrer, ReferrerImport

    data = csv_bytes(IMPORT_ROWS, stamp)
    analysed_before = last_analysed()
    _setup.checkpoint()
    with timer() as checking:
        upload = services.referrer_import_check(
            actor=None, program=program, file_name="existing-users.csv", data=data
        )
    if upload.status != ReferrerImport.Status.VALID:
        raise RuntimeError(f"the generated file has issues: {upload.issues[:5]}")
    _setup.checkpoint()
    with timer() as completing:
        upload = services.referrer_import_complete(actor=None, upload=upload)
    total = checking.seconds + completing.seconds
    analysed = last_analysed() != analysed_before
    imported = Referrer.objects.filter(
        program=program,
        origin_import=upload,
        status=Referrer.Status.ACTIVE,
        source=Referrer.Source.IMPORT,
    )
    stored = imported.count()
    ok = upload.status == ReferrerImport.Status.DONE and upload.imported == stored == IMPORT_ROWS
    rows = [
        Row(
            f"1. Import {IMPORT_ROWS:,} existing users from CSV (check + complete)",
            fmt_s(total),
            f"≤ {TARGET_IMPORT_S:g} s",
            total <= TARGET_IMPORT_S,
        ),
        Row("   rate", f"{IMPORT_ROWS / total:,.0f} rows/s"),
        Row(
            "   check (read, validate, look up members, store rows)",
            fmt_s(checking.seconds),
        ),
        Row("      rate", f"{IMPORT_ROWS / checking.seconds:,.0f} rows/s"),
        Row("   complete (referrers with codes, one transaction)", fmt_s(completing.seconds)),
        Row("      rate", f"{IMPORT_ROWS / completing.seconds:,.0f} rows/s"),
        Row("   file size", _setup.fmt_mb(len(data))),
        check(
            Row(
                "   referrers stored (active, imported, own code)",
                f"{stored:,}",
                f"{IMPORT_ROWS:,}",
                ok,
            )
        ),
    ]
    return rows, list(imported.values_list("pk", flat=True)), analysed


# --- 2. signups --------------------------------------------------------------------------


def address(i: int) -> str:
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


@dataclass
class Batch:
    """Signups posted one after another: wall time, latencies, answers, SQL."""

    seconds: float = 0.0
    lat: Latencies = field(default_factory=Latencies)
    statuses: dict[int, int] = field(default_factory=dict)
    redirected: int = 0
    meter: SqlMeter = field(default_factory=SqlMeter)

    @property
    def count(self) -> int:
        return len(self.lat.seconds)

    def run(self, post: Any, numbers: range, thanks: str) -> Batch:
        from django.db import connection

        with timer() as t, connection.execute_wrapper(self.meter):
            for i in numbers:
                start = time.perf_counter()
                response = post(i)
                self.lat.add(time.perf_counter() - start)
                code = response.status_code
                self.statuses[code] = self.statuses.get(code, 0) + 1
                self.redirected += code == 302 and response["Location"].startswith(thanks)
        self.seconds = t.seconds
        return self

    def rate(self) -> str:
        return f"{self.count / self.seconds:,.1f} signups/s"

    def sql(self) -> str:
        return (
            f"{self.meter.statements / self.count:.1f} statements, "
            f"{fmt_ms(self.meter.seconds / self.count)}"
        )


def autovacuum() -> str:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SHOW autovacuum")
        return cur.fetchone()[0]


def signups(program: Any, imported_ids: list[int], stamp: int, analysed: bool) -> list[Row]:
    from django.core import mail
    from django.test import Client
    from django.urls import reverse

    from referrals.models import Referral, Referrer

    rng = random.Random(SEED + 1)
    referring = rng.sample(imported_ids, min(REFERRING, len(imported_ids)))
    codes = list(Referrer.objects.filter(pk__in=referring).values_list("code", flat=True))
    url = reverse("referrals_public:signup", args=[program.slug])
    thanks = reverse("referrals_public:signed_up", args=[program.slug])
    client = Client()
    mail.outbox = []

    def post(i: int) -> Any:
        return client.post(
            url,
            {
                "name": f"New Person {i}",
                "company": f"Newco {i % 300}",
                "email": f"new.person.{i}.{stamp}@newco{i % 300}.example",
                "ref": codes[i % len(codes)],
            },
            REMOTE_ADDR=address(i),
        )

    # Warm up without a signup: the page, its templates and the URL resolver.
    client.get(url)
    first = Batch().run(post, range(AFTER_IMPORT), thanks)
    with timer() as analysing:
        analyze()
    batch = Batch().run(post, range(AFTER_IMPORT, AFTER_IMPORT + SIGNUPS), thanks)
    expected = AFTER_IMPORT + SIGNUPS
    confirm_emails = sum(m.subject.startswith("Confirm your email") for m in mail.outbox)
    emails = len(mail.outbox)
    mail.outbox = []
    referrals = Referral.objects.filter(program=program)
    made = referrals.count()
    clean = referrals.filter(review=Referral.Review.CLEAN).count()
    counted = sum(Referrer.objects.filter(pk__in=referring).values_list("signups", flat=True))
    redirected = first.redirected + batch.redirected
    statuses = {
        code: first.statuses.get(code, 0) + batch.statuses.get(code, 0)
        for code in first.statuses | batch.statuses
    }
    return [
        Row(
            f"2. Referral signups through POST /refer/<slug>/ ({SIGNUPS:,})",
            batch.rate(),
        ),
        Row("   wall time", fmt_s(batch.seconds)),
        *percentile_rows(batch.lat, (0.50, 0.99)),
        Row("   SQL per signup", batch.sql()),
        Row(
            f"   the {AFTER_IMPORT} signups just after the import, before the ANALYZE",
            first.rate(),
        ),
        Row("      latency p50", fmt_ms(first.lat.pct(0.50))),
        Row("      SQL per signup", first.sql()),
        Row(
            "      referrer statistics refreshed by the import itself",
            "yes" if analysed else "no",
        ),
        Row(
            f"   then ANALYZE of the referral tables (autovacuum {autovacuum()} here)",
            fmt_s(analysing.seconds),
        ),
        check(
            Row(
                "   answers",
                ", ".join(f"{n:,} × {code}" for code, n in sorted(statuses.items())),
                f"{expected:,} × 302",
                redirected == expected,
            )
        ),
        check(
            Row(
                "   referrals stored, clean; referrers' signup counters",
                f"{made:,}, {clean:,}; {counted:,}",
                f"{expected:,} each",
                made == clean == counted == expected,
            )
        ),
        check(
            Row(
                "   confirmation emails sent",
                f"{confirm_emails:,} of {emails:,}",
                f"{expected:,}",
                confirm_emails == emails == expected,
            )
        ),
    ]


# --- 3. status page ----------------------------------------------------------------------


def give_rewards(program: Any, imported_ids: list[int]) -> tuple[int, int]:
    """Successful referrals and the rewards they earned, for REWARDED referrers, in bulk
    (the status page reads the counters and the reward rows; how they came is not timed)."""
    from django.db import connection
    from django.utils import timezone

    from referrals.models import Referrer, Reward

    rng = random.Random(SEED + 2)
    tiers = list(program.tiers.order_by("threshold"))
    chosen = rng.sample(imported_ids, min(REWARDED, len(imported_ids)))
    successful = {pk: rng.choice([1, 1, 2, 3, 3, 4, 6, 9, 10, 12]) for pk in chosen}
    emails = dict(Referrer.objects.filter(pk__in=chosen).values_list("pk", "email"))
    with connection.cursor() as cur:
        cur.execute(
            f"UPDATE {Referrer._meta.db_table} r SET successful = v.n "
            "FROM unnest(%s::bigint[], %s::int[]) AS v(id, n) WHERE r.id = v.id",
            [list(successful), list(successful.values())],
        )
    now = timezone.now()
    rewards = []
    for pk, n in successful.items():
        for tier in tiers:
            if tier.threshold > n:
                break
            delivered = rng.random() < 0.6
            rewards.append(
                Reward(
                    program=program,
                    tier=tier,
                    referrer_id=pk,
                    email=emails[pk],
                    state=Reward.State.DELIVERED if delivered else Reward.State.EARNED,
                    delivered_at=now if delivered else None,
                    delivery=f"{tier.name}, delivered by hand" if delivered else "",
                )
            )
    Reward.objects.bulk_create(rewards, batch_size=2000)
    return len(chosen), len(rewards)


def status_pages(program: Any, imported_ids: list[int]) -> list[Row]:
    from django.db import connection
    from django.test import Client

    from referrals import links
    from referrals.models import Referrer

    rewarded, rewards = give_rewards(program, imported_ids)
    analyze()
    rng = random.Random(SEED + 3)
    picked = rng.sample(imported_ids, min(STATUS_GETS + WARMUP, len(imported_ids)))
    referrers = Referrer.objects.in_bulk(picked)
    pages = [(links.status_path(referrers[pk]), referrers[pk].code) for pk in picked]
    client = Client()
    for path, _ in pages[:WARMUP]:
        client.get(path)
    lat = Latencies()
    meter = SqlMeter()
    bad = 0
    with connection.execute_wrapper(meter):
        for path, code in pages[WARMUP:]:
            start = time.perf_counter()
            response = client.get(path)
            lat.add(time.perf_counter() - start)
            bad += response.status_code != 200 or f"/r/{code}/" not in response.content.decode()
    n = len(lat.seconds)
    p99 = lat.pct(0.99)
    return [
        Row(
            f"3. Status page GET /refer/status/<token>/, p99 ({n:,} of {IMPORT_ROWS:,})",
            fmt_ms(p99),
            f"< {TARGET_STATUS_P99_S * 1000:g} ms",
            p99 < TARGET_STATUS_P99_S,
        ),
        *percentile_rows(lat, (0.50, 0.95, 0.99)),
        Row("   pages per second (one client)", f"{n / sum(lat.seconds):,.0f}"),
        Row("   SQL statements per page", f"{meter.statements / n:.1f}"),
        Row("   SQL time per page", fmt_ms(meter.seconds / n)),
        Row("   referrers with rewards; reward rows", f"{rewarded:,}; {rewards:,}"),
        check(Row("   pages not 200 or without their link", f"{bad}", "0", bad == 0)),
    ]


# --- main --------------------------------------------------------------------------------


def main() -> int:
    _setup.bootstrap()
    if not os.environ.get("BENCH_HEADER_PRINTED"):
        from run import header

        header()
    from django.conf import settings

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    stale = leftovers()
    if stale:
        cleanup(stale)
        print(f"removed {len(stale)} program(s) an earlier run left behind", flush=True)
    stamp = time.time_ns()
    program = make_program()
    try:
        rows, imported_ids, analysed = import_users(program, stamp)
        print_table(f"Referrals: import ({IMPORT_ROWS:,} users)", rows)
        signup_rows = signups(program, imported_ids, stamp, analysed)
        print_table(
            f"Referrals: signups ({SIGNUPS:,}, referred by {REFERRING:,} referrers)", signup_rows
        )
        status_rows = status_pages(program, imported_ids)
        print_table(
            f"Referrals: status page ({IMPORT_ROWS:,} imported referrers, 3 tiers)", status_rows
        )
        # A missed target is a MISS line; only a failed correctness check fails the run.
        for row in CHECKS_FAILED:
            print(f"correctness check failed: {row.label.strip()}")
        return 1 if CHECKS_FAILED else 0
    finally:
        with timer() as t:
            cleanup([program.pk])
        print(f"\nclean-up: benchmark program {program.pk} removed in {fmt_s(t.seconds)}")


if __name__ == "__main__":
    sys.exit(main())
