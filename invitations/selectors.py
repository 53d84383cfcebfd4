"""Reads of invitation codes shared by the staff pages, the admin and the CSV export."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connections
from django.db.models import (
    Case,
    CharField,
    Count,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Concat
from django.urls import reverse

from contracts.models import Contract, Participant
from core import codes as codelib
from core import feeds
from core.timezones import site_today, site_zone, start_of_site_day
from invitations.models import (
    Booking,
    CodeBatch,
    DeletedCode,
    InvitationCode,
    ParticipantImport,
    RedemptionAttempt,
)

STATUS_FILTERS = {
    "active": "Active",
    "used": "Used",
    "expired": "Expired",
    "not_yet_valid": "Not yet valid",
    "revoked": "Revoked",
    "scheduled": "Scheduled (not yet released)",
    "archived": "Archived",
    "all": "All, archived included",
}


def existing_code_count(*, prefix: str, width: int) -> int:
    """How many codes share this prefix and width, counted from the batches that made them.

    Batches are few, so this is cheap even with millions of codes; codes deleted later
    are still counted, which errs on the safe side of the guess odds.
    """
    total = CodeBatch.objects.filter(prefix=prefix, width=width).aggregate(
        n=Sum(
            Case(
                When(status=CodeBatch.Status.FAILED, then=F("generated")),
                default=F("quantity"),
                output_field=IntegerField(),
            )
        )
    )["n"]
    return total or 0


def guess_odds(*, contract: Contract, width: int, quantity: int) -> codelib.GuessOdds:
    return codelib.GuessOdds(
        width=width,
        existing=existing_code_count(prefix=contract.invitation_prefix, width=width),
        quantity=quantity,
    )


def code_search_filter(query: str) -> Q:
    """Match a code typed any way (lower case, spaces, hyphens, O for 0, I or L for 1),
    whole or its beginning: one prefix match on the unique index serves both."""
    normalised = codelib.normalise(query)
    if not normalised:
        return Q()
    return Q(code__startswith=normalised)


def search_looks_mistyped(query: str, *, min_length: int) -> bool:
    """A whole code whose check symbol fails: most likely one character is mistyped."""
    normalised = codelib.normalise(query)
    return len(normalised) >= min_length and not codelib.has_valid_check(normalised)


def code_list(
    *,
    contract: Contract,
    search: str = "",
    status: str = "",
    price_id: int | None = None,
    batch_id: int | None = None,
) -> QuerySet[InvitationCode]:
    """The contract's codes as the Invitation Codes page and its Download CSV select them."""
    qs = InvitationCode.objects.filter(contract=contract)
    today = site_today()
    if status != "all":
        qs = qs.filter(is_archived=(status == "archived"))
    active = Q(status=InvitationCode.Status.ACTIVE)
    if status == "active":
        qs = (
            qs.filter(active)
            .filter(Q(max_uses__isnull=True) | Q(uses__lt=F("max_uses")))
            .exclude(valid_until__lt=today)
            .exclude(valid_from__gt=today)
        )
    elif status == "used":
        qs = qs.filter(active, uses__gte=F("max_uses"))
    elif status == "expired":
        qs = qs.filter(active, valid_until__lt=today)
    elif status == "not_yet_valid":
        qs = qs.filter(active, valid_from__gt=today)
    elif status == "revoked":
        qs = qs.filter(status=InvitationCode.Status.REVOKED)
    elif status == "scheduled":
        qs = qs.filter(status=InvitationCode.Status.SCHEDULED)
    if price_id:
        qs = qs.filter(price_id=price_id)
    if batch_id:
        qs = qs.filter(batch_id=batch_id)
    if search:
        qs = qs.filter(code_search_filter(search))
    return qs.order_by("-id")


def code_page_rows(queryset: QuerySet[InvitationCode]) -> QuerySet[InvitationCode]:
    """What one page of the list needs, in one query."""
    return queryset.select_related("price__product", "participant")


EXPORT_HEADER = [
    "Code",
    "Product",
    "Price Code",
    "Amount",
    "Currency",
    "Status",
    "Uses",
    "Max Uses",
    "Valid From",
    "Valid Until",
    "Participant",
    "Participant Email",
    "Batch",
    "Created At",
]
# Columns that only ever hold text we generated: the export skips their formula check.
# Product, price code, participant and email are typed by people and stay checked.
EXPORT_TRUSTED_COLUMNS = (0, 3, 4, 5, 6, 7, 8, 9, 12, 13)


class _LocalTimestampText(Func):
    """A timestamp as 'YYYY-MM-DD HH:MM:SS' in a named time zone, formatted by PostgreSQL.

    Loading a million timestamptz values into Python and formatting them there took
    longer than the rest of the export together.
    """

    arg_joiner = " AT TIME ZONE "
    template = "to_char(%(expressions)s, 'YYYY-MM-DD HH24:MI:SS')"
    output_field = CharField()


def _state_expression(today) -> Case:
    """code_state() as SQL, so the export needs no Python per row for it."""
    return Case(
        When(is_archived=True, then=Value("Archived")),
        When(status=InvitationCode.Status.REVOKED, then=Value("Revoked")),
        When(status=InvitationCode.Status.SCHEDULED, then=Value("Scheduled")),
        When(uses__gte=F("max_uses"), then=Value("Used")),
        When(valid_until__lt=today, then=Value("Expired")),
        When(valid_from__gt=today, then=Value("Not yet valid")),
        default=Value("Active"),
        output_field=CharField(),
    )


def code_export_rows(queryset: QuerySet[InvitationCode]) -> Iterator[tuple]:
    """Rows for Download CSV, built by the database and streamed from a server-side cursor.

    Times are the site's, as its Valid From/Until days are: the rows stream after the
    request (and its reader's zone) has ended, and a file reads the same whoever took it.
    """
    today = site_today()
    on_postgresql = connections[queryset.db].vendor == "postgresql"
    created = (
        _LocalTimestampText(F("created_at"), Value(site_zone().key))
        if on_postgresql
        else F("created_at")
    )
    rows = (
        queryset.order_by("id")
        .annotate(
            # SQLite casts 80.00 to '80': it keeps the Decimal, which prints as 80.00.
            x_amount=Cast("price__amount", CharField()) if on_postgresql else F("price__amount"),
            x_state=_state_expression(today),
            x_valid_from=Cast("valid_from", CharField()),
            x_valid_until=Cast("valid_until", CharField()),
            x_participant=Case(
                When(participant__isnull=True, then=Value("")),
                default=Concat(
                    "participant__first_name",
                    Value(" "),
                    "participant__last_name",
                    output_field=CharField(),
                ),
            ),
            x_created=created,
        )
        .values_list(
            "code",
            "price__product__name",
            "price__price_code",
            "x_amount",
            "price__currency",
            "x_state",
            "uses",
            "max_uses",
            "x_valid_from",
            "x_valid_until",
            "x_participant",
            "participant__email",
            "batch_id",
            "x_created",
        )
        .iterator(chunk_size=10_000)
    )
    if on_postgresql:
        return rows
    local = site_zone()
    return ((*row[:13], row[13].astimezone(local).strftime("%Y-%m-%d %H:%M:%S")) for row in rows)


def batch_progress(*, batch_id: int) -> dict:
    batch = CodeBatch.objects.get(pk=batch_id)
    return {
        "id": batch.pk,
        "status": batch.status,
        "generated": batch.generated,
        "quantity": batch.quantity,
        "percent": batch.percent,
        "error": batch.error,
    }


def code_deletion_refusal(*, code: InvitationCode) -> str | None:
    """Why a code cannot be deleted: a used code is part of the record."""
    if code.uses > 0 or code.bookings.exists():
        return (
            f"The code {code.display} has been used and cannot be deleted; "
            "revoke or archive it instead."
        )
    return None


# --- Participants and their codes --------------------------------------------------------


UNUSED_STATUSES = (InvitationCode.Status.ACTIVE, InvitationCode.Status.SCHEDULED)


def unused_codes(codes: QuerySet[InvitationCode]) -> QuerySet[InvitationCode]:
    """Codes never used that can still be used: what 'holds an unused code' means.

    A scheduled code (its batch not yet released) counts: it can be sent ahead of its
    release, and the page that takes it says from when it can be booked."""
    return codes.filter(status__in=UNUSED_STATUSES, is_archived=False, uses=0).exclude(
        valid_until__lt=site_today()
    )


def with_current_code(participants: QuerySet[Participant]) -> QuerySet[Participant]:
    """Annotate each participant with their current code (the newest not archived), its
    status, and — when that code is unused — its price code (the CSV's Price Code column).

    Correlated lookups on the participant index, so a list or an export of any size
    costs one query.
    """
    today = site_today()
    current = InvitationCode.objects.filter(participant=OuterRef("pk"), is_archived=False).order_by(
        "-id"
    )
    return participants.annotate(
        x_code=Subquery(current.values("code")[:1]),
        x_code_state=Subquery(
            current.annotate(x_state=_state_expression(today)).values("x_state")[:1]
        ),
        x_price_code=Subquery(
            current.annotate(
                x_unused_price=Case(
                    When(
                        Q(status__in=UNUSED_STATUSES, uses=0)
                        & (Q(valid_until__isnull=True) | Q(valid_until__gte=today)),
                        then=F("price__price_code"),
                    ),
                    default=Value(""),
                    output_field=CharField(),
                )
            ).values("x_unused_price")[:1]
        ),
    )


def unused_code_holders(*, contract: Contract) -> set[tuple[int, int]]:
    """(participant id, price id) for every unused code held by the contract's participants."""
    pairs = unused_codes(InvitationCode.objects.filter(participant__contract=contract)).values_list(
        "participant_id", "price_id"
    )
    return set(pairs.iterator(chunk_size=10_000))


def participant_search(*, contract: Contract, search: str = "") -> QuerySet[Participant]:
    """The Manage Participants list: name, email, reference, or an invitation code."""
    qs = contract.participants.all()
    search = search.strip()
    if search:
        match = (
            Q(first_name__icontains=search)
            | Q(last_name__icontains=search)
            | Q(email__icontains=search.lower())
            | Q(external_reference__icontains=search)
        )
        if " " in search:
            first, _, last = search.partition(" ")
            match |= Q(first_name__icontains=first, last_name__icontains=last.strip())
        normalised = codelib.normalise(search)
        if len(normalised) >= 4:
            holders = InvitationCode.objects.filter(
                code__startswith=normalised, participant__isnull=False
            ).values("participant_id")
            match |= Q(pk__in=holders)
        qs = qs.filter(match)
    return with_current_code(qs.order_by("last_name", "first_name", "id"))


def participant_codes(*, participant: Participant) -> QuerySet[InvitationCode]:
    return participant.invitation_codes.select_related("price__product").order_by("-id")


def participant_unused_codes(*, participant: Participant) -> QuerySet[InvitationCode]:
    return unused_codes(participant.invitation_codes.select_related("price")).order_by("-id")


PARTICIPANT_EXPORT_TRUSTED = (0, 5, 11, 12)  # ID, Date of Birth, Invitation Code, Code Status


def participant_export_rows(*, contract: Contract) -> Iterator[tuple]:
    """Rows for the participants' Download CSV, in the column order of the resource."""
    from invitations.resources import COLUMNS

    qs = with_current_code(contract.participants.order_by("id"))
    names = [
        {
            "price_code": "x_price_code",
            "invitation_code": "x_code",
            "code_status": "x_code_state",
        }.get(c.field, c.field)
        for c in COLUMNS
    ]
    return qs.values_list(*names).iterator(chunk_size=5_000)


def participant_import_codes(*, participant_import) -> QuerySet[InvitationCode]:
    """The codes an import issued, with their participants, for its result page."""
    return (
        InvitationCode.objects.filter(batch__participant_import=participant_import)
        .select_related("participant", "price")
        .order_by("participant__last_name", "participant__first_name", "id")
    )


def running_import(*, contract: Contract) -> ParticipantImport | None:
    return (
        ParticipantImport.objects.filter(
            contract=contract, status=ParticipantImport.Status.IMPORTING
        )
        .select_related("created_by")
        .first()
    )


def latest_import(*, contract: Contract) -> ParticipantImport | None:
    return ParticipantImport.objects.filter(contract=contract).select_related("created_by").first()


# --- Bookings and the redemption log -------------------------------------------------------


def booking_link(*, code: InvitationCode) -> str:
    """The public booking link of a code, for emails, QR codes and print."""
    return f"{settings.SITE_URL}{reverse('register:book', args=[code.display])}"


def booking_list(*, contract: Contract, search: str = "", status: str = "") -> QuerySet[Booking]:
    """A contract's bookings, newest first; search by reference, code, name or email."""
    qs = Booking.objects.filter(contract=contract).select_related(
        "code", "participant", "price__product", "void"
    )
    if status in Booking.Status.values:
        qs = qs.filter(status=status)
    search = search.strip()
    if search:
        normalised = codelib.normalise(search)
        qs = qs.filter(
            Q(reference=normalised)
            | Q(code__code=normalised)
            | Q(participant__email__iexact=search)
            | Q(participant__last_name__istartswith=search)
        )
    return qs.order_by("-id")


LOG_RESULTS = {"refused": "All refusals", **dict(RedemptionAttempt.Result.choices)}


def redemption_log(
    *,
    contract: Contract,
    result: str = "",
    channel: str = "",
    search: str = "",
    since: date | None = None,
    until: date | None = None,
) -> QuerySet[RedemptionAttempt]:
    """A contract's attempts, newest first: bookings and refusals, for disputes.

    Attempts whose code was never found (typos, unknown codes) belong to no contract;
    they are in the admin's full log.
    """
    qs = RedemptionAttempt.objects.filter(contract=contract).select_related("booking", "user")
    if result == "refused":
        qs = qs.exclude(
            result__in=[RedemptionAttempt.Result.BOOKED, RedemptionAttempt.Result.REPLAYED]
        )
    elif result in RedemptionAttempt.Result.values:
        qs = qs.filter(result=result)
    if channel in Booking.Channel.values:
        qs = qs.filter(channel=channel)
    search = search.strip()
    if search:
        qs = qs.filter(
            Q(code__code=codelib.normalise(search)) | Q(email__iexact=search) | Q(address=search)
        )
    if since:
        qs = qs.filter(created_at__gte=start_of_site_day(since))
    if until:
        qs = qs.filter(created_at__lt=start_of_site_day(until + timedelta(days=1)))
    return qs.order_by("-id")


LOG_HEADER = [
    "Time",
    "Result",
    "Code as typed",
    "Code",
    "Booking",
    "Email",
    "Channel",
    "Address",
    "User agent",
    "API user",
    "Message",
]


def redemption_log_rows(queryset: QuerySet[RedemptionAttempt]) -> Iterator[tuple]:
    """Rows of the redemption log's Download CSV, streamed; times in the site's zone, as
    the days it was filtered by."""
    local = site_zone()
    labels = dict(RedemptionAttempt.Result.choices)
    channels = dict(Booking.Channel.choices)
    rows = queryset.values_list(
        "created_at",
        "result",
        "code_typed",
        "code__code",
        "booking__reference",
        "email",
        "channel",
        "address",
        "user_agent",
        "user__username",
        "message",
    ).iterator(chunk_size=5_000)
    for row in rows:
        yield (
            row[0].astimezone(local).strftime("%Y-%m-%d %H:%M:%S"),
            labels.get(row[1], row[1]),
            row[2],
            row[3] or "",
            row[4] or "",
            row[5],
            channels.get(row[6], row[6]),
            *(value or "" for value in row[7:]),
        )


@dataclass(frozen=True)
class QuotaUsage:
    bookings: int
    bookings_today: int
    amount: Decimal


def contract_quota_usage(*, contract: Contract) -> QuotaUsage:
    """A contract's active bookings in all, since local midnight, and their amount: what its
    quotas and budget are measured against (voided bookings give their place back)."""
    midnight = start_of_site_day(site_today())
    usage = Booking.objects.filter(contract=contract, status=Booking.Status.ACTIVE).aggregate(
        bookings=Count("pk"),
        today=Count("pk", filter=Q(created_at__gte=midnight)),
        amount=Sum("amount"),
    )
    return QuotaUsage(
        bookings=usage["bookings"],
        bookings_today=usage["today"],
        amount=usage["amount"] or Decimal("0"),
    )


def contract_quota_lines(*, contract: Contract) -> list[dict]:
    """What staff see of a contract's quotas: used, limit, left, for each one set."""
    if (
        contract.max_bookings is None
        and contract.max_bookings_per_day is None
        and contract.budget_cap is None
    ):
        return []
    usage = contract_quota_usage(contract=contract)
    lines = []
    for label, used, limit in (
        ("Bookings", usage.bookings, contract.max_bookings),
        ("Bookings today", usage.bookings_today, contract.max_bookings_per_day),
        ("Budget", usage.amount, contract.budget_cap),
    ):
        if limit is None:
            continue
        money = label == "Budget"
        left = max(limit - used, 0)
        lines.append(
            {
                "label": label,
                "used": f"{used:,.2f} {contract.currency}" if money else f"{used:,}",
                "limit": f"{limit:,.2f} {contract.currency}" if money else f"{limit:,}",
                "left": f"{left:,.2f} {contract.currency}" if money else f"{left:,}",
                "full": used >= limit,
            }
        )
    return lines


# --- CRM change feeds ------------------------------------------------------------------


def code_changes(
    *,
    organisation_id: int | None,
    since: datetime | None,
    after: feeds.Position | None,
    limit: int,
) -> list[InvitationCode]:
    """Codes changed since a time (or after a cursor's position), oldest first; only the
    organisation's when one is given."""
    codes = InvitationCode.objects.select_related(
        "contract__organisation", "price", "participant"
    ).defer("allowed_regions", "allowed_groups")
    if organisation_id is not None:
        codes = codes.filter(contract__organisation_id=organisation_id)
    return feeds.changes(codes, since=since, after=after, until=feeds.horizon(), limit=limit)


def booking_changes(
    *,
    organisation_id: int | None,
    since: datetime | None,
    after: feeds.Position | None,
    limit: int,
) -> list[Booking]:
    """Bookings made or voided since a time (or after a cursor's position), oldest first;
    only the organisation's when one is given."""
    bookings = Booking.objects.select_related(
        "code", "contract__organisation", "participant", "price__product", "void"
    )
    if organisation_id is not None:
        bookings = bookings.filter(contract__organisation_id=organisation_id)
    return feeds.changes(bookings, since=since, after=after, until=feeds.horizon(), limit=limit)


def deleted_code_changes(
    *,
    organisation_id: int | None,
    since: datetime | None,
    after: feeds.Position | None,
    limit: int,
) -> list[DeletedCode]:
    """Codes deleted since a time (or after a cursor's position), oldest first; only the
    organisation's when one is given."""
    deleted = DeletedCode.objects.all()
    if organisation_id is not None:
        deleted = deleted.filter(organisation_id=organisation_id)
    return feeds.changes(deleted, since=since, after=after, until=feeds.horizon(), limit=limit)
