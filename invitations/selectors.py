"""Reads of invitation codes shared by the staff pages, the admin and the CSV export."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Case, F, IntegerField, Q, QuerySet, Sum, When
from django.utils import timezone

from contracts.models import Contract, ContractPrice
from core import codes as codelib
from invitations.models import CodeBatch, InvitationCode, code_state

STATUS_FILTERS = {
    "active": "Active",
    "used": "Used",
    "expired": "Expired",
    "not_yet_valid": "Not yet valid",
    "revoked": "Revoked",
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
    """Match a code typed any way: lower case, spaces, hyphens, O for 0, I or L for 1."""
    normalised = codelib.normalise(query)
    if not normalised:
        return Q()
    if codelib.has_valid_check(normalised):
        return Q(code=normalised)
    return Q(code__startswith=normalised)


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
    today = timezone.localdate()
    if status != "all":
        qs = qs.filter(is_archived=(status == "archived"))
    active = Q(status=InvitationCode.Status.ACTIVE)
    if status == "active":
        qs = (
            qs.filter(active, uses__lt=F("max_uses"))
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
EXPORT_TRUSTED_COLUMNS = (0, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13)


def code_export_rows(queryset: QuerySet[InvitationCode]) -> Iterator[tuple]:
    """Rows for Download CSV, streamed from a server-side cursor; prices are read once."""
    today = timezone.localdate()
    contract_prices = {}
    rows = (
        queryset.order_by("id")
        .values_list(
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
            "created_at",
        )
        .iterator(chunk_size=5_000)
    )
    local = timezone.get_current_timezone()
    for (
        code,
        price_id,
        status,
        archived,
        uses,
        max_uses,
        valid_from,
        valid_until,
        first_name,
        last_name,
        email,
        batch_id,
        created_at,
    ) in rows:
        price = contract_prices.get(price_id)
        if price is None:
            p = ContractPrice.objects.select_related("product").get(pk=price_id)
            price = contract_prices[price_id] = (p.product.name, p.price_code, p.amount, p.currency)
        state = code_state(
            is_archived=archived,
            status=status,
            uses=uses,
            max_uses=max_uses,
            valid_from=valid_from,
            valid_until=valid_until,
            today=today,
        )
        yield (
            code,
            price[0],
            price[1],
            price[2],
            price[3],
            state,
            uses,
            max_uses,
            valid_from.isoformat() if valid_from else "",
            valid_until.isoformat() if valid_until else "",
            f"{first_name} {last_name}" if first_name is not None else "",
            email or "",
            batch_id or "",
            created_at.astimezone(local).strftime("%Y-%m-%d %H:%M:%S"),
        )


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
