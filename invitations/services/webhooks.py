"""The booking and code events an organisation's systems receive (contracts.webhooks)."""

from __future__ import annotations

from contracts import webhooks
from contracts.models import Contract
from invitations.models import Booking, InvitationCode

CODE_FIELDS = ("code", "label", "status", "uses", "max_uses", "valid_from", "valid_until")


def code_data(code: InvitationCode) -> dict:
    return {
        "id": code.pk,
        "code": code.display,
        "status": code.status,
        "uses": code.uses,
        "max_uses": code.max_uses,
        "valid_from": code.valid_from.isoformat() if code.valid_from else None,
        "valid_until": code.valid_until.isoformat() if code.valid_until else None,
    }


def booking_data(booking: Booking) -> dict:
    participant = booking.participant
    return {
        "id": booking.pk,
        "reference": booking.reference,
        "status": booking.status,
        "channel": booking.channel,
        "price_code": booking.price.price_code,
        "product": booking.price.product.name,
        "amount": str(booking.amount),
        "currency": booking.currency,
        "created_at": booking.created_at.isoformat(),
        "participant": {
            "id": participant.pk,
            "external_reference": participant.external_reference,
            "first_name": participant.first_name,
            "last_name": participant.last_name,
            "email": participant.email,
        },
    }


def _envelope(contract: Contract, booking: Booking, code: dict) -> dict:
    return {
        "organisation": webhooks.organisation_data(contract.organisation),
        "contract": webhooks.contract_data(contract),
        "code": code,
        "booking": booking_data(booking),
    }


def booking_created_announce(*, booking: Booking, code: InvitationCode) -> None:
    """code.redeemed and booking.created, in the booking's transaction.

    Costs no query when the organisation has no active endpoint: the code's lookup said
    so (`has_webhooks`, see redemption._code_query).
    """
    contract = code.contract
    if not getattr(contract.organisation, "has_webhooks", True):
        return
    endpoints = webhooks.organisation_endpoints(organisation_id=contract.organisation_id)
    if not endpoints:
        return
    # `code` was read before the booking's UPDATE took its use, and other bookings of a
    # shared code may have taken theirs in between: read the row again. Our UPDATE holds
    # its lock until the commit, so this is the state the event reports as committed.
    current = InvitationCode.objects.only(*CODE_FIELDS).get(pk=code.pk)
    data = _envelope(contract, booking, code_data(current))
    webhooks.organisation_announce(
        endpoints=endpoints, events={webhooks.CODE_REDEEMED: data, webhooks.BOOKING_CREATED: data}
    )


def booking_voided_announce(*, booking: Booking, reason: str, use_freed: bool) -> None:
    """booking.voided, in the void's transaction."""
    endpoints = webhooks.contract_endpoints(contract_id=booking.contract_id)
    if not endpoints:
        return
    booking = Booking.objects.select_related(
        "contract__organisation", "code", "participant", "price__product"
    ).get(pk=booking.pk)
    data = _envelope(booking.contract, booking, code_data(booking.code))
    data["void"] = {"reason": reason, "use_freed": use_freed}
    webhooks.organisation_announce(endpoints=endpoints, events={webhooks.BOOKING_VOIDED: data})
