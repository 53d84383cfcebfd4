"""What an organisation's own systems hear of: events sent to its webhook endpoints.

The domains that book and redeem build each event's data and call `organisation_announce`
inside the transaction of the change, so an event is queued if and only if the change
commits (core.webhooks sends it after the commit).
"""

from __future__ import annotations

from contracts.models import Contract, Organisation
from core.models import WebhookEndpoint
from core.webhooks import webhook_event_send

CODE_REDEEMED = "code.redeemed"
BOOKING_CREATED = "booking.created"
BOOKING_VOIDED = "booking.voided"
PASS_REDEEMED = "pass.redeemed"
ORGANISATION_EVENTS = (CODE_REDEEMED, BOOKING_CREATED, BOOKING_VOIDED, PASS_REDEEMED)


def organisation_data(organisation: Organisation) -> dict:
    return {
        "id": organisation.pk,
        "code": organisation.code,
        "external_id": organisation.external_id,
        "name": organisation.name,
    }


def contract_data(contract: Contract) -> dict:
    return {
        "id": contract.pk,
        "code": contract.code,
        "external_id": contract.external_id,
        "name": contract.name,
    }


def organisation_endpoints(*, organisation_id: int) -> list[WebhookEndpoint]:
    """The organisation's active endpoints."""
    return list(WebhookEndpoint.objects.filter(organisations=organisation_id, is_active=True))


def contract_endpoints(*, contract_id: int) -> list[WebhookEndpoint]:
    """The active endpoints of the contract's organisation."""
    return list(
        WebhookEndpoint.objects.filter(organisations__contracts=contract_id, is_active=True)
    )


def organisation_announce(*, endpoints: list[WebhookEndpoint], events: dict[str, dict]) -> None:
    """Queue each event (name → data) for the endpoints that want it; sent after the commit."""
    for event, data in events.items():
        webhook_event_send(endpoints=endpoints, event=event, data=data)
