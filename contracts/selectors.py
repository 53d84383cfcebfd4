"""Reads shared by the staff pages, the admin and exports."""

from __future__ import annotations

from django.apps import apps
from django.db.models import Count, Q, QuerySet

from contracts.models import Contract, ContractPrice, Organisation, Participant, Product


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


def deletion_refusal(
    *, organisation: Organisation | None = None, contract: Contract | None = None
) -> str | None:
    """Why an organisation or contract cannot be deleted (it holds codes or participants)."""
    if contract is not None:
        contracts, what = [contract], f"The contract {contract.name}"
    else:
        contracts, what = (
            list(organisation.contracts.all()),
            f"The organisation {organisation.name}",
        )
    # Looked up by name: contracts must not import the invitations app that builds on it.
    code_model = apps.get_model("invitations", "InvitationCode")
    if refusal := generation_refusal(contracts=contracts):
        return refusal
    codes = code_model.objects.filter(contract__in=contracts).count()
    participants = Participant.objects.filter(contract__in=contracts).count()
    if not (codes or participants):
        return None
    held = []
    if codes:
        held.append(f"{codes:,} invitation code{'s' if codes != 1 else ''}")
    if participants:
        held.append(f"{participants:,} participant{'s' if participants != 1 else ''}")
    advice = "Close the contract instead." if contract else "Close its contracts instead."
    return f"{what} cannot be deleted: it holds {' and '.join(held)}. {advice}"


def price_deletion_refusal(*, price: ContractPrice) -> str | None:
    """Why a contract price cannot be deleted (codes were generated against it)."""
    code_model = apps.get_model("invitations", "InvitationCode")
    if code_model.objects.filter(price=price).exists():
        return f"The price {price.price_code} cannot be deleted: invitation codes use it."
    return generation_refusal(price=price)


def generation_refusal(
    *, contracts: list[Contract] | None = None, price: ContractPrice | None = None
) -> str | None:
    """Why contracts or a price cannot be deleted right now: codes are being generated."""
    batch_model = apps.get_model("invitations", "CodeBatch")
    running = batch_model.objects.filter(status__in=("queued", "running"))
    if contracts:
        busy = running.filter(contract__in=contracts).select_related("contract").first()
        if busy:
            return (
                f"The contract {busy.contract.name} cannot be deleted now: "
                "invitation codes are being generated for it."
            )
    if price is not None and running.filter(price=price).exists():
        return f"The price {price.price_code} cannot be deleted now: codes are being generated."
    return None


def product_deletion_refusal(*, product: Product) -> str | None:
    count = product.contract_prices.count()
    if count:
        return (
            f"The product {product.name} cannot be deleted: "
            f"{count} contract price{'s' if count != 1 else ''} use it."
        )
    return None


def participant_deletion_refusal(*, participant: Participant) -> str | None:
    code_model = apps.get_model("invitations", "InvitationCode")
    if code_model.objects.filter(participant=participant).exists():
        return f"{participant.full_name} cannot be deleted: an invitation code is assigned to them."
    if apps.get_model("invitations", "Booking").objects.filter(participant=participant).exists():
        return (
            f"{participant.full_name} cannot be deleted: they have booked, and bookings are kept."
        )
    return None
