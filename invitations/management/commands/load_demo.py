"""Demo data for the embedded mode: organisations, contracts, prices, participants, codes."""

import secrets
import unicodedata
from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from contracts import services as contract_services
from contracts.models import Contract, Organisation
from core.roles import ADMINISTRATOR
from invitations import services as code_services

FIRST = [
    "Anna",
    "Ben",
    "Chloé",
    "David",
    "Emma",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Katrin",
    "Liam",
    "Maja",
    "Noah",
    "Olivia",
    "Pavel",
    "Quinn",
    "Rosa",
    "Sami",
    "Tess",
]
LAST = [
    "Andersen",
    "Brown",
    "Carvalho",
    "Dubois",
    "Evans",
    "Fischer",
    "García",
    "Hansen",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "López",
    "Müller",
    "Nowak",
    "O'Brien",
    "Petrov",
]
REGIONS = ["North", "South", "East", "West"]
GROUPS = ["Sales", "Engineering", "Operations", "Finance"]


def _ascii(name: str) -> str:
    """Chloé → chloe, for the demo email addresses."""
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()


PARTICIPANTS_WITH_CODES = 8


class Command(BaseCommand):
    help = (
        "Load demo organisations, contracts, prices, participants and codes; print a staff login."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options):
        if not Organisation.objects.filter(code="ACME").exists():
            self._load()
            self.stdout.write(self.style.SUCCESS("Demo data loaded."))
        else:
            self.stdout.write("Demo data already present.")
        password = secrets.token_urlsafe(9)
        user, _ = get_user_model().objects.get_or_create(
            username=username, defaults={"first_name": "Demo", "last_name": "Staff"}
        )
        user.is_staff = True
        user.is_superuser = True
        user.set_password(password)
        user.save()
        user.groups.add(Group.objects.get(name=ADMINISTRATOR))
        self.stdout.write(
            self.style.SUCCESS(
                f"\n  Staff login: http://127.0.0.1:8000/admin/login/\n"
                f"  Public registration page: http://127.0.0.1:8000/register/ "
                f"(try the shared code OPENDAY2026)\n"
                f"  Referral signup page: http://127.0.0.1:8000/refer/agency-partners/\n"
                f"  username: {username}\n  password: {password}\n"
            )
        )

    @transaction.atomic
    def _load(self) -> None:
        today = timezone.localdate()
        year_end = date(today.year, 12, 31) + timedelta(days=180)
        products = {
            key: contract_services.product_create(
                actor=None, name=name, base_price=Decimal(price), description=desc
            )
            for key, name, price, desc in [
                ("std", "Health Check – Standard", "120.00", "45-minute check with a nurse."),
                ("prem", "Health Check – Premium", "240.00", "90 minutes with a doctor, bloods."),
                ("flu", "Flu Vaccination", "25.00", "Seasonal flu jab."),
                ("eye", "Eye Test", "45.00", "Full eye examination."),
            ]
        }
        plan = [
            (
                "Acme Industries",
                "ACME",
                "Wellbeing 2026",
                "WB26",
                "ACME",
                Contract.Status.ACTIVE,
                [("STD", "std", "95.00", 200), ("PREM", "prem", "199.00", 50)],
            ),
            (
                "Northwind Traders",
                "NWT",
                "Flu Season 2026",
                "FLU26",
                "NW",
                Contract.Status.ACTIVE,
                [("FLU", "flu", "19.50", 100)],
            ),
            (
                "Globex Health",
                "GLOBEX",
                "Eye Care Pilot",
                "EYE",
                "",
                Contract.Status.DRAFT,
                [("EYE", "eye", "40.00", 0)],
            ),
        ]
        n = 0
        for org_name, org_code, contract_name, contract_code, prefix, status, prices in plan:
            organisation = contract_services.organisation_create(
                actor=None, name=org_name, code=org_code
            )
            contract = contract_services.contract_create(
                actor=None,
                organisation=organisation,
                name=contract_name,
                code=contract_code,
                invitation_prefix=prefix,
                start_date=today - timedelta(days=30),
                end_date=year_end,
                status=status,
            )
            for i in range(20):
                first = FIRST[(n + i) % len(FIRST)]
                contract_services.participant_create(
                    actor=None,
                    contract=contract,
                    first_name=first,
                    last_name=LAST[(n * 3 + i) % len(LAST)],
                    email=f"{_ascii(first)}.{i}@{org_code.lower()}.example",
                    external_reference=f"E{1000 + i}",
                    region=REGIONS[i % len(REGIONS)],
                    group=GROUPS[i % len(GROUPS)],
                )
            n += 7
            for price_code, product_key, amount, quantity in prices:
                price = contract_services.contract_price_create(
                    actor=None,
                    contract=contract,
                    product=products[product_key],
                    price_code=price_code,
                    amount=Decimal(amount),
                )
                if quantity:
                    code_services.code_batch_create(
                        actor=None,
                        contract=contract,
                        price=price,
                        quantity=quantity,
                        width=8,
                        note="Demo batch",
                    )
            # Some participants already hold a code, as after a CSV import.
            first_price = contract.prices.order_by("pk").first()
            for participant in contract.participants.order_by("pk")[:PARTICIPANTS_WITH_CODES]:
                code_services.participant_code_generate(
                    actor=None, participant=participant, price=first_price, width=8
                )
        self._bookings()
        self._referrals()

    def _referrals(self) -> None:
        """A referral program with tiers, referrers, referrals (one flagged) and rewards."""
        from referrals import links
        from referrals import services as referral_services

        program = referral_services.program_create(
            actor=None,
            name="Agency partners",
            contract=Contract.objects.get(code="WB26"),
            flag_same_domain=True,
        )
        for name, threshold, kind, extra in [
            ("Bronze: thank-you hamper", 1, "manual", {}),
            ("Silver: 50 EUR credit", 3, "wallet", {"credit_amount": Decimal("50.00")}),
            ("Gold: partner of the year", 5, "manual", {}),
        ]:
            referral_services.tier_create(
                actor=None,
                program=program,
                name=name,
                threshold=threshold,
                kind=kind,
                credit_currency="EUR" if kind == "wallet" else "",
                **extra,
            )
        upload = referral_services.referrer_import_check(
            actor=None,
            program=program,
            file_name="agencies.csv",
            data=(
                b"Name,Company,Email\nMaya Stone,Brightside Agency,maya@brightside.example\n"
                b"Tom Becker,Northlight Media,tom@northlight.example\n"
                b"Ines Duarte,Cobalt Studio,ines@cobalt.example\n"
            ),
        )
        referral_services.referrer_import_complete(actor=None, upload=upload)
        maya = program.referrers.get(email="maya@brightside.example")
        tom = program.referrers.get(email="tom@northlight.example")
        for n, (by, name, email) in enumerate(
            [
                (maya, "Lena Fischer", "lena@harbour.example"),
                (maya, "Omar Haddad", "omar@quarry.example"),
                (maya, "Priya Nair", "priya@meadow.example"),
                (tom, "Sam Okafor", "sam@delta.example"),
                (tom, "Tom Becker", "tom+second@northlight.example"),  # flagged: same mailbox
            ]
        ):
            person = referral_services.Person.clean(name=name, email=email, company="")
            referred = referral_services.referrer_signup(
                program=program, person=person, referral_code=by.code, address=f"192.0.2.{n}"
            )
            referral_services.referrer_confirm(token=links.confirm_token(referred))

    def _bookings(self) -> None:
        """A shared event code and a few bookings, so the Bookings and log pages show some."""
        contract = Contract.objects.get(code="WB26")
        shared = code_services.shared_code_create(
            actor=None,
            contract=contract,
            code="OPENDAY2026",
            price=contract.prices.get(price_code="STD"),
            max_uses=100,
        )
        client = code_services.Client(address="127.0.0.1", user_agent="demo data")
        for code in contract.invitation_codes.filter(participant__isnull=False)[:2]:
            code_services.booking_redeem(
                code=code.code, details=code_services.Details(), client=client
            )
        code_services.booking_redeem(
            code=shared.display,
            details=code_services.Details(
                first_name="Robin", last_name="Walker", email="robin.walker@example.com"
            ),
            client=client,
        )
