"""Counting a contract's analytics into its rollup, and deciding which rollups are due.

A contract with a million codes and hundreds of thousands of bookings takes seconds to
count (campaigns.analytics.Live); its Analytics page must open in well under a second.
So a job counts it here, with the same live selectors, into AnalyticsRollup and its
AnalyticsFigure rows, which the page reads in a few milliseconds (Rollups) and shows
with the time they were counted at.

When: a minute after a contract's codes or bookings change (their `updated_at`), or a
send of its codes runs; every contract once a night (codes expire at midnight, and a
participant's region or group may change without a trace); and when staff press
Recount. The rows are replaced in one transaction, so a page sees the old figures or
the new ones, never half of each.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import BooleanField, Exists, ExpressionWrapper, Max, OuterRef, Q, QuerySet
from django.utils import timezone

from campaigns import analytics
from campaigns.analytics import Live, Scope
from campaigns.models import AnalyticsFigure, AnalyticsRollup, Distribution, Message
from contracts.models import Contract
from core.timezones import site_date
from invitations.models import Booking, InvitationCode

# The most reasons kept per contract: the page shows the top ten across contracts.
REASONS_KEPT = 100
# The most contracts one run of the job recounts (the oldest rollups first).
CONTRACTS_PER_RUN = 20
# How far back each run looks for written codes and bookings. The job runs every
# minute, so a change is seen by several runs; a change missed (the worker was down for
# longer) is counted at night.
LOOK_BACK = timedelta(minutes=15)


def analytics_rollup_refresh(*, contract: Contract) -> AnalyticsRollup:
    """Count the contract's analytics now (all time) and replace its rollup with them.

    The counting runs before the write transaction, the histogram of redemption delays
    is inserted set-based (INSERT … SELECT, one row per distinct minute), and the rollup
    row is locked while its figures are replaced, so two recounts of one contract do not
    interleave.
    """
    started = time.perf_counter()
    counted_at = timezone.now()
    live = Live(Scope(contract=contract))
    figures: list[AnalyticsFigure] = []

    def add(figure: str, key: object = None, count: int = 0, **extra: object) -> None:
        if count:
            key = None if key is None else str(key)
            figures.append(AnalyticsFigure(figure=figure, key=key, count=count, **extra))

    codes = 0
    for price, counts in live.code_counts("price").items():
        codes += counts["generated"]
        add("codes", price, counts["generated"])
        add("expired", price, counts["expired"])
        add("revoked", price, counts["revoked"])
    for by in ("region", "group"):
        for key, counts in live.code_counts(by).items():
            add(f"codes.{by}", key, counts["generated"])
    for by in ("price", "region", "group"):
        for key, currency, redeemed, amount in live.booking_rows(by):
            add(f"booked.{by}", key, redeemed, currency=currency, amount=amount)
    for day, n in live.per_day(None, None).items():
        add("day", day.isoformat(), n)
    for (channel, status), n in live.message_counts().items():
        add("messages", f"{channel}:{status}", n)
    for status, reason, n in live.reasons(limit=REASONS_KEPT):
        add(f"reason.{status}", reason, n)
    add("distributed", count=live.sent()[1])
    delays, params = analytics.redeem_delays_sql(live.scope)

    with transaction.atomic():
        rollup, _ = AnalyticsRollup.objects.select_for_update().get_or_create(
            contract=contract, defaults={"counted_at": counted_at}
        )
        rollup.figures.all().delete()
        for figure in figures:
            figure.rollup = rollup
        AnalyticsFigure.objects.bulk_create(figures, batch_size=1_000)
        table = AnalyticsFigure._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (rollup_id, figure, number, currency, count) "
                f"SELECT %s, 'delay', minutes, '', COUNT(*) FROM ({delays}) d GROUP BY minutes",
                [rollup.pk, *params],
            )
        rollup.counted_at = counted_at
        rollup.codes = codes
        rollup.seconds = time.perf_counter() - started
        rollup.save(update_fields=["counted_at", "codes", "seconds"])
    return rollup


def _changed_since(model: type, since: datetime) -> QuerySet:
    """Contracts with a row of `model` written after `since` (its updated_at index)."""
    return (
        model.objects.order_by()
        .filter(updated_at__gt=since)
        .values("contract_id")
        .annotate(last=Max("updated_at"))
    )


def analytics_rollups_due(*, now: datetime | None = None) -> list[int]:
    """Contracts whose rollup is missing or older than a change, oldest first (at most
    CONTRACTS_PER_RUN): one with codes and no rollup; one whose codes or bookings were
    written, or whose sends ran, after its rollup was counted; any rollup counted before
    today's midnight.
    """
    now = now or timezone.now()
    rollups = dict(AnalyticsRollup.objects.values_list("contract_id", "counted_at"))
    due: dict[int, datetime] = {}
    missing = (
        Contract.objects.exclude(pk__in=rollups)
        .filter(Exists(InvitationCode.objects.filter(contract=OuterRef("pk"))))
        .values_list("pk", flat=True)
    )
    epoch = timezone.make_aware(datetime(2000, 1, 1))
    due.update(dict.fromkeys(missing, epoch))
    midnight = analytics.start_of(site_date(now))
    for contract_id, counted_at in rollups.items():
        if counted_at < midnight:
            due[contract_id] = counted_at
    if rollups:
        since = max(min(rollups.values()), now - LOOK_BACK)

        def seen(contract_id: int, last: datetime | None) -> None:
            counted_at = rollups.get(contract_id)
            if counted_at is not None and last is not None and last > counted_at:
                due[contract_id] = counted_at

        for model in (InvitationCode, Booking):
            for row in _changed_since(model, since):
                seen(row["contract_id"], row["last"])
        # A send changes its messages' statuses while it runs; so does a resend.
        running = Q(status=Distribution.Status.SENDING) | Q(
            Q(send_at__isnull=True) | Q(send_at__lte=now), status=Distribution.Status.QUEUED
        )
        sends = (
            Distribution.objects.filter(
                running | Q(created_at__gt=since) | Q(finished_at__gt=since)
            )
            .annotate(running=ExpressionWrapper(running, output_field=BooleanField()))
            .values_list("contract_id", "running", "created_at", "finished_at")
        )
        for contract_id, is_running, created_at, finished_at in sends:
            seen(contract_id, now if is_running else max(created_at, finished_at or created_at))
        sent = (
            Message.objects.order_by()
            .filter(contract_id__in=list(rollups), sent_at__gt=since)
            .values("contract_id")
            .annotate(last=Max("sent_at"))
        )
        for row in sent:
            seen(row["contract_id"], row["last"])
    return sorted(due, key=lambda pk: due[pk])[:CONTRACTS_PER_RUN]


def analytics_rollups_refresh() -> int:
    """The job: recount the contracts that are due; return how many were recounted."""
    recounted = 0
    for contract in Contract.objects.filter(pk__in=analytics_rollups_due()):
        analytics_rollup_refresh(contract=contract)
        recounted += 1
    return recounted
