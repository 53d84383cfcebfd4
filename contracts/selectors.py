"""Reads shared by the staff pages, the admin and exports."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from contracts.models import Contract, ContractPrice, Organisation, Participant


def organisation_list(*, search: str = "") -> QuerySet[Organisation]:
    qs = Organisation.objects.annotate(contract_count=Count("contracts"))
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(code__icontains=search))
    return qs.order_by("name")


def contract_list(*, organisation: Organisation, search: str = "") -> QuerySet[Contract]:
    qs = organisation.contracts.all()
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(code__icontains=search))
    return qs.order_by("name")


def contract_prices(*, contract: Contract) -> QuerySet[ContractPrice]:
    return contract.prices.select_related("product").order_by("price_code")


def participant_list(*, contract: Contract, search: str = "") -> QuerySet[Participant]:
    qs = contract.participants.all()
    if search:
        qs = qs.filter(
            Q(first_name__icontains=search)
            | Q(last_name__icontains=search)
            | Q(email__icontains=search)
            | Q(external_reference__icontains=search)
        )
    return qs.order_by("last_name", "first_name", "id")
