"""A small hand-made data set for the analytics tests, with answers worked out by hand.

Contract A (organisation "North Org", active, EUR), prices P1 (80.00) and P2 (50.00);
participants p1…p5 with regions and groups; ten codes, twelve messages, seven bookings
(one voided). Contract B (organisation "South Org", closed, GBP): two codes, one booking.
T0 is 2 March 2026, 09:00 UTC; the tests pass `today` where the day matters.

    code price holder state                      messages                   booking
    c1   P1    p1     used                       email sent T0, sms queued  b1 T0+30 min
    c2   P1    p2     used                       email sent T0              b2 T0+1 h
    c3   P1    p3     used                       email T0, sms T0-2 h       b3 T0+4 h (sms + 6 h)
    c4   P2    p4     used                       email sent T0              b4 T0+2 d
    c5   P2    p5     used                       email sent T0              b5 T0+10 d
    c6   P2    -      used                       email to p3 T0+2 d         b6 by p3 T0+1 d, unsent
    c7   P1    -      used, valid until past     -                          b7 by p2 T0+3 h, voided
    c8   P1    p4     expired (unused)           email failed
    c9   P2    -      revoked                    -
    c10  P1    p5     valid until future, unused email failed, sms skipped; sms sent T0+5 d
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from campaigns.models import Distribution, Message, MessageTemplate
from contracts.models import Contract
from invitations.models import Booking, InvitationCode
from tests.factories import (
    ContractFactory,
    ContractPriceFactory,
    InvitationCodeFactory,
    OrganisationFactory,
    ParticipantFactory,
    ProductFactory,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TODAY = date(2026, 3, 31)
H = timedelta(hours=1)
D = timedelta(days=1)


@dataclass
class Data:
    a: Contract
    b: Contract
    prices: dict
    codes: dict
    people: dict


def _booking(code, participant, price, at, *, n, status="active", exclusive=True):
    return Booking.objects.create(
        reference=f"REF{n:04d}",
        contract=code.contract,
        code=code,
        participant=participant,
        price=price,
        amount=price.amount,
        currency=price.currency,
        status=status,
        exclusive=exclusive,
        created_at=at,
    )


def make_data() -> Data:
    today = timezone.localdate()
    org_a = OrganisationFactory(name="North Org")
    org_b = OrganisationFactory(name="South Org")
    a = ContractFactory(organisation=org_a, name="Alpha", code="ALPHA")
    b = ContractFactory(
        organisation=org_b, name="Beta", code="BETA", status=Contract.Status.CLOSED, currency="GBP"
    )
    p1 = ContractPriceFactory(
        contract=a, product=ProductFactory(name="Spa day"), price_code="P1", amount=Decimal("80")
    )
    p2 = ContractPriceFactory(
        contract=a, product=ProductFactory(name="Dinner"), price_code="P2", amount=Decimal("50")
    )
    p3 = ContractPriceFactory(
        contract=b,
        product=ProductFactory(name="Cinema"),
        price_code="P3",
        amount=Decimal("20"),
        currency="GBP",
    )
    people = {
        "p1": ParticipantFactory(contract=a, region="North", group="Staff"),
        "p2": ParticipantFactory(contract=a, region="North", group="Staff"),
        "p3": ParticipantFactory(contract=a, region="South", group="Guests"),
        "p4": ParticipantFactory(contract=a, region="", group="Guests"),
        "p5": ParticipantFactory(contract=a, region="South", group=""),
    }
    spec = {
        "c1": (p1, "p1", {"uses": 1}),
        "c2": (p1, "p2", {"uses": 1}),
        "c3": (p1, "p3", {"uses": 1}),
        "c4": (p2, "p4", {"uses": 1}),
        "c5": (p2, "p5", {"uses": 1}),
        "c6": (p2, None, {"uses": 1}),
        "c7": (p1, None, {"uses": 1, "valid_until": today - D}),
        "c8": (p1, "p4", {"valid_until": today - D}),
        "c9": (p2, None, {"status": InvitationCode.Status.REVOKED}),
        "c10": (p1, "p5", {"valid_until": today + D}),
    }
    codes = {
        name: InvitationCodeFactory(
            price=price,
            participant=people[who] if who else None,
            created_at=T0 - D,
            **extra,
        )
        for name, (price, who, extra) in spec.items()
    }
    template = MessageTemplate.objects.create(contract=a, name="Invite", body="{code}")
    distribution = Distribution.objects.create(
        contract=a, template=template, channel="email", status="done", finished_at=T0 + 6 * D
    )

    def message(code, who, channel, status, sent_at=None, reason=""):
        return Message.objects.create(
            distribution=distribution,
            contract=a,
            participant=people[who],
            code=codes[code],
            channel=channel,
            status=status,
            sent_at=sent_at,
            reason=reason,
        )

    message("c1", "p1", "email", "sent", T0)
    message("c2", "p2", "email", "sent", T0)
    message("c3", "p3", "email", "sent", T0)
    message("c3", "p3", "sms", "sent", T0 - 2 * H)
    message("c4", "p4", "email", "sent", T0)
    message("c5", "p5", "email", "sent", T0)
    message("c8", "p4", "email", "failed", reason="Mailbox unavailable")
    message("c10", "p5", "email", "failed", reason="Mailbox unavailable")
    message("c10", "p5", "sms", "skipped", reason="No phone number")
    message("c1", "p1", "sms", "queued")
    message("c6", "p3", "email", "sent", T0 + 2 * D)
    message("c10", "p5", "sms", "sent", T0 + 5 * D)
    Message.objects.update(created_at=T0 - H)

    c = codes
    _booking(c["c1"], people["p1"], p1, T0 + 30 * timedelta(minutes=1), n=1)
    _booking(c["c2"], people["p2"], p1, T0 + H, n=2)
    _booking(c["c3"], people["p3"], p1, T0 + 4 * H, n=3)
    _booking(c["c4"], people["p4"], p2, T0 + 2 * D, n=4)
    _booking(c["c5"], people["p5"], p2, T0 + 10 * D, n=5)
    _booking(c["c6"], people["p3"], p2, T0 + D, n=6, exclusive=False)
    _booking(c["c7"], people["p2"], p1, T0 + 3 * H, n=7, status="voided", exclusive=False)

    b_codes = [InvitationCodeFactory(price=p3, created_at=T0 - D) for _ in range(2)]
    b_person = ParticipantFactory(contract=b, region="North", group="Staff")
    _booking(b_codes[0], b_person, p3, T0 + H, n=8)
    return Data(a=a, b=b, prices={"P1": p1, "P2": p2, "P3": p3}, codes=codes, people=people)
