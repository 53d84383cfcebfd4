"""Anomaly alerts: what in the redemption log a person should look at.

`alerts_detect` runs every minute (the periodic task *Detect anomalies*). Each check is one
grouped query (GROUP BY … HAVING) that starts from the log's last ALERT_WINDOW_MINUTES, so
only what happened just now is looked at, however long the log; the day's figures are then
read for those few addresses, participants or contracts only, through indexes (migration
campaigns 0004 adds the log's two). What it finds is upserted: one Alert per kind, key and
day, whose count and last_seen follow it as it grows. A dismissed alert re-opens when it
grows materially: past the count it had for most kinds (an address or a participant is
only found again when it crosses its threshold again in the window), and for a spike,
whose count is every booking of the contract that day, only when the day's bookings reach
the next multiple of the spike's threshold (Finding.step).

The checks:
- failed_burst: ALERT_FAILED_BURST refused attempts from one address within the window;
- address_redemptions: ALERT_ADDRESS_REDEMPTIONS bookings from one address within the window;
- participant_redemptions: ALERT_PARTICIPANT_REDEMPTIONS bookings by one participant in a
  (local) day;
- far_region: codes assigned to participants of two or more regions booked from one address
  in a day. Nothing records where a booking was made: a Booking and its log line hold no
  region, an assigned code is always booked as its own participant (the page does not even
  ask the region), and addresses cannot be located without a GeoIP database. What the log
  does show is the address, and one address is in one place: when it books codes of people
  in different regions, at least one of those codes was redeemed outside its participant's
  region. That is what "far" means here;
- spike: a contract's bookings today are at least ALERT_SPIKE_MIN and ALERT_SPIKE_FACTOR
  times its daily average over the previous SPIKE_BASELINE_DAYS days.

A new alert on a contract with `alert_emails` is emailed to the managers after commit, once
(`emailed_at` is claimed by a conditional UPDATE).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import (
    Case,
    Count,
    F,
    Max,
    Min,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Greatest, Lower, Trim
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from campaigns.alert_selectors import OPEN_COUNT_CACHE_KEY, alert_log_url
from campaigns.models import Alert
from core import roles
from core.locks import advisory_xact_lock
from core.timezones import site_date, site_zone, start_of_site_day
from invitations.models import Booking, RedemptionAttempt

logger = logging.getLogger(__name__)

Kind = Alert.Kind
Result = RedemptionAttempt.Result
SUCCESS = (Result.BOOKED, Result.REPLAYED)
SPIKE_BASELINE_DAYS = 14
# Alerts go to the people who run contracts: there is no per-contract manager field.
MANAGER_ROLES = (roles.ADMINISTRATOR, roles.CONTRACT_MANAGER)


@dataclass(frozen=True)
class Scan:
    """When one run of the checks looks: the window up to `now`, and the alerts' day."""

    now: datetime
    start: datetime
    day: date
    midnight: datetime

    @classmethod
    def at(cls, now: datetime) -> Scan:
        day = site_date(now)
        return cls(
            now=now,
            start=now - timedelta(minutes=settings.ALERT_WINDOW_MINUTES),
            day=day,
            midnight=_midnight(day),
        )

    @property
    def since(self) -> datetime:
        """Where "today" is counted from for a burst: midnight, or the window's start when
        the window reaches back past it, so a burst across midnight is counted whole."""
        return min(self.start, self.midnight)


@dataclass
class Finding:
    kind: str
    key: str
    contract_id: int | None
    count: int
    details: dict = field(default_factory=dict)
    # Growth that re-opens a dismissed alert is counted in steps of this many.
    step: int = 1

    @property
    def level(self) -> int:
        """The last step the count reached: a dismissed alert whose count was below it
        opens again. The count itself for a step of 1 (any growth)."""
        return self.count // self.step * self.step


def alerts_detect(*, now: datetime | None = None) -> list[Alert]:
    """Look at the redemption log's recent window and record what is anomalous.

    Returns the alerts found in this run (new or grown), fresh from the database. New
    alerts of contracts with alert emails are emailed after commit. Safe to run at any
    time and as often as wanted: a run finds the same things and changes nothing new.
    """
    scan = Scan.at(now or timezone.now())
    findings = [
        *_failed_bursts(scan),
        *_address_redemptions(scan),
        *_participant_redemptions(scan),
        *_far_regions(scan),
        *_spikes(scan),
    ]
    if not findings:
        return []
    with transaction.atomic():
        # Two runs at once (a slow one overlapping the next) would both insert a new alert.
        advisory_xact_lock("campaigns.alerts_detect")
        ids, new_ids = _upsert(findings, scan)
        to_email = list(
            Alert.objects.filter(pk__in=new_ids, contract__alert_emails=True).values_list(
                "pk", flat=True
            )
        )
        transaction.on_commit(lambda: cache.delete(OPEN_COUNT_CACHE_KEY))
        for alert_id in to_email:
            transaction.on_commit(lambda alert_id=alert_id: _enqueue_email(alert_id), robust=True)
    return list(Alert.objects.filter(pk__in=ids).select_related("contract").order_by("pk"))


def alert_dismiss(*, actor: AbstractBaseUser | None, alert: Alert) -> Alert:
    """Mark an open alert as looked at. It re-opens by itself if it grows materially (see
    the module's docstring)."""
    Alert.objects.filter(pk=alert.pk, status=Alert.Status.OPEN).update(
        status=Alert.Status.DISMISSED
    )
    transaction.on_commit(lambda: cache.delete(OPEN_COUNT_CACHE_KEY))
    alert.refresh_from_db(fields=["status", "count"])
    logger.info("Alert %s dismissed by %s", alert.pk, actor)
    return alert


def alert_email_send(*, alert_id: int) -> bool:
    """Email one alert to the managers, once: True if this call sent it.

    `emailed_at` is claimed by a conditional UPDATE before sending, so a repeated or
    redelivered task sends nothing; if the sending fails, the claim is given back and the
    error raised for the task to retry.
    """
    alert = Alert.objects.select_related("contract").filter(pk=alert_id).first()
    if alert is None or alert.contract is None or not alert.contract.alert_emails:
        return False
    recipients = _manager_emails()
    if not recipients:
        logger.warning("Alert %s not emailed: no manager has an email address", alert_id)
        return False
    stamp = timezone.now()
    if not Alert.objects.filter(pk=alert_id, emailed_at__isnull=True).update(emailed_at=stamp):
        return False
    context = {
        "alert": alert,
        "contract": alert.contract,
        "log_url": settings.SITE_URL + alert_log_url(alert),
        "alerts_url": f"{settings.SITE_URL}{reverse('campaigns:alert_list')}"
        f"?contract={alert.contract_id}",
        "time_zone": site_zone().key,
    }
    message = EmailMessage(
        subject=f"Alert on {alert.contract.name}: {alert.get_kind_display()}"[:200],
        body=render_to_string("campaigns/email/alert.txt", context),
        to=recipients,
    )
    try:
        message.send()
    except Exception:
        Alert.objects.filter(pk=alert_id, emailed_at=stamp).update(emailed_at=None)
        raise
    return True


# --- The checks ------------------------------------------------------------------------


def _attempts_in(scan: Scan) -> QuerySet[RedemptionAttempt]:
    """The log's window (index attempt_created_at)."""
    return RedemptionAttempt.objects.filter(created_at__gte=scan.start, created_at__lte=scan.now)


def _failed_bursts(scan: Scan) -> list[Finding]:
    failed = RedemptionAttempt.objects.exclude(result__in=SUCCESS).exclude(address="")
    return _by_address(Kind.FAILED_BURST, failed, scan, settings.ALERT_FAILED_BURST)


def _address_redemptions(scan: Scan) -> list[Finding]:
    booked = RedemptionAttempt.objects.filter(result=Result.BOOKED).exclude(address="")
    return _by_address(Kind.ADDRESS_REDEMPTIONS, booked, scan, settings.ALERT_ADDRESS_REDEMPTIONS)


def _by_address(
    kind: str, attempts: QuerySet[RedemptionAttempt], scan: Scan, threshold: int
) -> list[Finding]:
    """Addresses with `threshold` of `attempts` in the window, with their count today."""
    hot = (
        attempts.filter(created_at__gte=scan.start, created_at__lte=scan.now)
        .values("address")
        .annotate(n=Count("pk"))
        .filter(n__gte=threshold)
        .values("address")
    )
    rows = (
        attempts.filter(address__in=hot, created_at__gte=scan.since, created_at__lte=scan.now)
        .values("address")
        .annotate(
            count=Count("pk"),
            recent=Count("pk", filter=Q(created_at__gte=scan.start)),
            **_contract_aggregates(),
        )
        .order_by("address")
    )
    return [
        Finding(
            kind=kind,
            key=row["address"],
            contract_id=_one_contract(row),
            count=row["count"],
            details={
                "address": row["address"],
                "peak": row["recent"],
                "window_minutes": settings.ALERT_WINDOW_MINUTES,
                "since": site_date(scan.since).isoformat(),
                "whole_contract": _whole_contract(row),
            },
        )
        for row in rows
    ]


def _participant_redemptions(scan: Scan) -> list[Finding]:
    """Participants who booked in the window and have the threshold's bookings today.

    Every booking counts, voided ones too: the redemption happened.
    """
    recent = _attempts_in(scan).filter(result=Result.BOOKED).values("booking__participant")
    rows = (
        Booking.objects.filter(
            participant__in=recent, created_at__gte=scan.midnight, created_at__lte=scan.now
        )
        .values(
            "participant",
            "contract",
            "participant__first_name",
            "participant__last_name",
            "participant__email",
        )
        .annotate(count=Count("pk"))
        .filter(count__gte=settings.ALERT_PARTICIPANT_REDEMPTIONS)
        .order_by("participant")
    )
    return [
        Finding(
            kind=Kind.PARTICIPANT_REDEMPTIONS,
            key=str(row["participant"]),
            contract_id=row["contract"],
            count=row["count"],
            details={
                "participant": row["participant"],
                "name": f"{row['participant__first_name']} {row['participant__last_name']}".strip(),
                "email": row["participant__email"],
                "whole_contract": True,
            },
        )
        for row in rows
    ]


def _far_regions(scan: Scan) -> list[Finding]:
    """Addresses that booked in the window and, today, booked codes assigned to
    participants of two or more regions (compared trimmed and case-insensitively)."""
    booked = RedemptionAttempt.objects.filter(result=Result.BOOKED).exclude(address="")
    hot = _attempts_in(scan).filter(result=Result.BOOKED).exclude(address="").values("address")
    regional = (
        booked.filter(address__in=hot, created_at__gte=scan.midnight, created_at__lte=scan.now)
        .filter(code__participant__isnull=False)
        .annotate(region=Lower(Trim("code__participant__region")))
        .exclude(region="")
    )
    rows = list(
        regional.values("address")
        .annotate(
            count=Count("pk"), regions=Count("region", distinct=True), **_contract_aggregates()
        )
        .filter(regions__gte=2)
        .order_by("address")
    )
    if not rows:
        return []
    spread: dict[str, list[dict]] = {row["address"]: [] for row in rows}
    for part in (
        regional.filter(address__in=list(spread))
        .values("address", "region")
        .annotate(n=Count("pk"), name=Min(Trim("code__participant__region")))
        .order_by("address", "-n", "region")
    ):
        spread[part["address"]].append({"region": part["name"], "bookings": part["n"]})
    return [
        Finding(
            kind=Kind.FAR_REGION,
            key=row["address"],
            contract_id=_one_contract(row),
            count=row["count"],
            details={
                "address": row["address"],
                "regions": spread[row["address"]],
                "whole_contract": _whole_contract(row),
            },
        )
        for row in rows
    ]


def _spikes(scan: Scan) -> list[Finding]:
    """Contracts that booked in the window whose bookings today reach the spike rule."""
    recent = _attempts_in(scan).filter(result=Result.BOOKED).values("contract")
    rows = list(
        _bookings_of(recent, since=scan.midnight, until=scan.now)
        .values("contract", "contract__name")
        .annotate(today=Count("created_at"))
        .filter(today__gte=settings.ALERT_SPIKE_MIN)
        .order_by("contract")
    )
    if not rows:
        return []
    baselines = _baselines([row["contract"] for row in rows], scan)
    findings = []
    for row in rows:
        average = baselines[row["contract"]] / SPIKE_BASELINE_DAYS
        if row["today"] < settings.ALERT_SPIKE_FACTOR * average:
            continue
        # A spike's count grows with every booking of the contract: once dismissed, it
        # opens again only when the day reaches another multiple of its threshold.
        threshold = max(settings.ALERT_SPIKE_MIN, math.ceil(settings.ALERT_SPIKE_FACTOR * average))
        findings.append(
            Finding(
                kind=Kind.SPIKE,
                key=str(row["contract"]),
                contract_id=row["contract"],
                count=row["today"],
                details={
                    "contract_name": row["contract__name"],
                    "average": round(average, 1),
                    "baseline_days": SPIKE_BASELINE_DAYS,
                    "whole_contract": True,
                },
                step=threshold,
            )
        )
    return findings


def _baselines(contract_ids: list[int], scan: Scan) -> dict[int, int]:
    """Each contract's bookings over the SPIKE_BASELINE_DAYS days before today.

    Bookings are never backdated nor deleted, so this is fixed once the day has begun:
    counted once a day per contract (the busiest have tens of thousands) and kept in the
    shared cache, rather than counted again every minute.
    """
    keys = {f"campaigns:alert-baseline:{scan.day}:{pk}": pk for pk in contract_ids}
    cached = cache.get_many(list(keys))
    counts = {keys[key]: value for key, value in cached.items()}
    missing = [pk for key, pk in keys.items() if key not in cached]
    if missing:
        start = _midnight(scan.day - timedelta(days=SPIKE_BASELINE_DAYS))
        counted = dict(
            _bookings_of(missing, since=start, until=scan.midnight, until_included=False)
            .values("contract")
            .annotate(n=Count("created_at"))
            .values_list("contract", "n")
        )
        fresh = {pk: counted.get(pk, 0) for pk in missing}
        cache.set_many(
            {key: fresh[pk] for key, pk in keys.items() if pk in fresh}, timeout=24 * 3600
        )
        counts.update(fresh)
    return counts


def _bookings_of(
    contracts, *, since: datetime, until: datetime, until_included: bool = True
) -> QuerySet[Booking]:
    """Contracts' bookings in a time range, read from the index booking_contract_status_time
    alone (counting `created_at`, not the id, keeps the scan index-only). Every booking
    counts, voided ones too; both statuses are named so PostgreSQL reads two ranges of the
    index rather than all of a contract's bookings."""
    end = {"created_at__lte": until} if until_included else {"created_at__lt": until}
    return Booking.objects.filter(
        contract__in=contracts,
        status__in=Booking.Status.values,
        created_at__gte=since,
        **end,
    )


def _contract_aggregates() -> dict:
    return {
        "first_contract": Min("contract"),
        "last_contract": Max("contract"),
        "linked": Count("contract"),
    }


def _one_contract(row: dict) -> int | None:
    """The contract of a group of log lines when they name only one (lines of unknown codes
    name none)."""
    first = row["first_contract"]
    return first if first is not None and first == row["last_contract"] else None


def _whole_contract(row: dict) -> bool:
    """Whether every line counted is the contract's: its log then shows them all."""
    return _one_contract(row) is not None and row["linked"] == row["count"]


# --- Recording -------------------------------------------------------------------------


def _upsert(findings: list[Finding], scan: Scan) -> tuple[list[int], list[int]]:
    """One alert per kind, key and day: new ones inserted, known ones grown. Returns the ids
    of all and of the new ones. Inside the caller's transaction, under its lock."""
    known = {
        (alert.kind, alert.key): alert
        for alert in Alert.objects.filter(
            day=scan.day,
            kind__in={f.kind for f in findings},
            key__in={f.key for f in findings},
        )
    }
    fresh, grown = [], []
    for finding in findings:
        alert = known.get((finding.kind, finding.key))
        details = finding.details
        if alert is None:
            fresh.append(
                Alert(
                    kind=finding.kind,
                    key=finding.key,
                    day=scan.day,
                    contract_id=finding.contract_id,
                    count=finding.count,
                    message=_message(finding.kind, finding.count, details)[:500],
                    details=details,
                )
            )
            continue
        if "peak" in details:
            details = {**details, "peak": max(details["peak"], alert.details.get("peak", 0))}
        count = max(finding.count, alert.count)
        alert.contract_id = finding.contract_id
        alert.message = _message(finding.kind, count, details)[:500]
        alert.details = details
        alert.last_seen = scan.now
        # Evaluated by the database on the row as it is, whatever staff did meanwhile: a
        # dismissed alert opens again only when it has grown past the count it had (for a
        # spike: to a step its count had not reached).
        alert.status = Case(
            When(
                status=Alert.Status.DISMISSED,
                count__lt=finding.level,
                then=Value(Alert.Status.OPEN),
            ),
            default=F("status"),
        )
        alert.count = Greatest(F("count"), Value(finding.count))
        grown.append(alert)
    if grown:
        Alert.objects.bulk_update(
            grown, ["contract", "message", "details", "last_seen", "status", "count"]
        )
    new_ids = [alert.pk for alert in Alert.objects.bulk_create(fresh)]
    if new_ids:
        # auto_now_add stamped the wall clock; the run's `now` is when they were seen.
        Alert.objects.filter(pk__in=new_ids).update(first_seen=scan.now, last_seen=scan.now)
    return [alert.pk for alert in grown] + new_ids, new_ids


def _message(kind: str, count: int, details: dict) -> str:
    """What the alert says; its day is the alert's own (shown as first and last seen)."""
    if kind == Kind.FAILED_BURST:
        return (
            f"{count} failed attempts from {details['address']}, "
            f"{details['peak']} of them within {details['window_minutes']} minutes"
        )
    if kind == Kind.ADDRESS_REDEMPTIONS:
        return (
            f"{count} bookings from {details['address']}, "
            f"{details['peak']} of them within {details['window_minutes']} minutes"
        )
    if kind == Kind.PARTICIPANT_REDEMPTIONS:
        return f"{details['name']} ({details['email']}) booked {count} times in one day"
    if kind == Kind.FAR_REGION:
        regions = ", ".join(f"{r['region']} ({r['bookings']})" for r in details["regions"])
        return (
            f"{count} codes of participants in {len(details['regions'])} regions booked "
            f"from {details['address']}: {regions}"
        )
    average = details["average"]
    if not average:
        return (
            f"{count} bookings in one day on {details['contract_name']}, with none in the "
            f"previous {details['baseline_days']} days"
        )
    return (
        f"{count} bookings in one day on {details['contract_name']}: {count / average:.1f} "
        f"times the daily average of {average} over the previous {details['baseline_days']} days"
    )


def _manager_emails() -> list[str]:
    users = get_user_model().objects.filter(is_active=True, groups__name__in=MANAGER_ROLES)
    return sorted(set(users.exclude(email="").values_list("email", flat=True)))


def _enqueue_email(alert_id: int) -> None:
    from campaigns.tasks import send_alert_email

    send_alert_email.delay(alert_id)


def _midnight(day: date) -> datetime:
    return start_of_site_day(day)
