from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from contracts.models import Contract, ContractPrice, Organisation, Participant, Product
from core.codes import draw_codes
from referrals import fraud


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = "Sam"
    last_name = factory.Sequence(lambda n: f"Staff{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests-1")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))
        if create:
            self.save()


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Organisation {n}")
    code = factory.Sequence(lambda n: f"ORG{n}")


class ContractFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contract

    organisation = factory.SubFactory(OrganisationFactory)
    name = factory.Sequence(lambda n: f"Contract {n}")
    code = factory.Sequence(lambda n: f"C{n}")
    invitation_prefix = ""
    status = Contract.Status.ACTIVE
    currency = "EUR"
    default_code_width = 8


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    name = factory.Sequence(lambda n: f"Product {n}")
    base_price = Decimal("100.00")


class ContractPriceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContractPrice

    contract = factory.SubFactory(ContractFactory)
    product = factory.SubFactory(ProductFactory)
    price_code = factory.Sequence(lambda n: f"P{n}")
    amount = Decimal("80.00")
    currency = "EUR"


class ParticipantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Participant

    contract = factory.SubFactory(ContractFactory)
    first_name = "Alex"
    last_name = factory.Sequence(lambda n: f"Person{n}")
    email = factory.Sequence(lambda n: f"person{n}@example.com")


class InvitationCodeFactory(factory.django.DjangoModelFactory):
    """A single-use code of width 8 with a valid check symbol, on the price's contract."""

    class Meta:
        model = "invitations.InvitationCode"

    price = factory.SubFactory(ContractPriceFactory)
    contract = factory.LazyAttribute(lambda c: c.price.contract)
    code = factory.LazyAttribute(lambda c: draw_codes(c.contract.invitation_prefix, 8, 1)[0])


class ReferralProgramFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "referrals.ReferralProgram"

    name = factory.Sequence(lambda n: f"Partner program {n}")
    slug = factory.Sequence(lambda n: f"partners-{n}")


class ReferrerFactory(factory.django.DjangoModelFactory):
    """An active referrer with a referral code of the width the program uses."""

    class Meta:
        model = "referrals.Referrer"

    program = factory.SubFactory(ReferralProgramFactory)
    name = factory.Sequence(lambda n: f"Referrer {n}")
    company = "Acme Ltd"
    email = factory.Sequence(lambda n: f"referrer{n}@example.com")
    mailbox = factory.LazyAttribute(lambda r: fraud.mailbox(r.email))
    code = factory.LazyFunction(lambda: draw_codes("", 8, 1)[0])
    status = "active"
