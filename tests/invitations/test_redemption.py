"""Booking with a code: who books, every refusal, idempotency, voiding, the log."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

from contracts.models import Contract, Participant
from core import codes as codelib
from core.errors import DomainError
from invitations import services
from invitations.models import Booking, InvitationCode, RedemptionAttempt
from invitations.services import Client, Details, RedemptionRefused
from tests.factories import InvitationCodeFactory, ParticipantFactory, UserFactory

pytestmark = pytest.mark.django_db
Result = RedemptionAttempt.Result
WEB = Client(address="203.0.113.7", user_agent="pytest-browser")
NEW_PERSON = Details(first_name="Nora", last_name="Neu", email="nora@example.com", phone="0601")


def redeem(code, details=NEW_PERSON, **kwargs):
    text = code.code if isinstance(code, InvitationCode) else code
    return services.booking_redeem(code=text, details=details, client=WEB, **kwargs)


def refusal(code, details=NEW_PERSON, **kwargs) -> RedemptionRefused:
    with pytest.raises(RedemptionRefused) as caught:
        redeem(code, details, **kwargs)
    return caught.value


@pytest.fixture
def code(price):
    return InvitationCodeFactory(price=price)


@pytest.fixture
def assigned(price):
    person = ParticipantFactory(
        contract=price.contract,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        phone="0100",
        region="North",
        group="Sales",
    )
    return InvitationCodeFactory(price=price, participant=person)


def test_it_books_an_unassigned_code_and_adds_the_person_to_the_contract(code):
    booking = redeem(code)
    assert booking.status == Booking.Status.ACTIVE
    assert booking.participant.contract == code.contract
    assert (booking.participant.email, booking.participant.phone) == ("nora@example.com", "0601")
    assert (booking.amount, booking.currency) == (code.price.amount, code.price.currency)
    assert len(booking.reference) == 10 and codelib.has_valid_check(booking.reference)
    code.refresh_from_db()
    assert code.uses == 1


def test_it_books_an_assigned_code_for_its_participant_taking_only_the_phone(assigned):
    booking = redeem(assigned, Details(phone="0999"))
    person = Participant.objects.get(pk=assigned.participant_id)
    assert booking.participant == person
    assert (person.first_name, person.email, person.phone) == ("Ada", "ada@example.com", "0999")
    assert Participant.objects.count() == 1


def test_it_refuses_another_email_for_an_assigned_code_and_keeps_the_use(assigned):
    with pytest.raises(ValidationError) as caught:
        redeem(assigned, Details(email="mallory@example.com"))
    assert "email" in caught.value.message_dict
    assigned.refresh_from_db()
    assert assigned.uses == 0 and not Booking.objects.exists()


def test_the_code_is_found_however_it_is_typed(price):
    code = InvitationCodeFactory(price=price, code=codelib.make_code("", "7K3Q0A1"))
    typed = " 7k3q-oa1" + code.code[-1].lower()
    assert redeem(typed).code == code


@pytest.mark.parametrize(
    ("typed", "reason", "words"),
    [
        ("", Result.MALFORMED, "Enter your invitation code"),
        ("A" * 200, Result.MALFORMED, "longer than any invitation code"),
        ("ÄBC123456", Result.MALFORMED, "letters A–Z and the digits"),
        ("ABC😀1234", Result.MALFORMED, "letters A–Z and the digits"),
    ],
)
def test_it_refuses_text_that_cannot_be_a_code(code, typed, reason, words):
    caught = refusal(typed)
    assert caught.reason == reason and words in caught.message


def test_a_typo_is_caught_by_the_check_symbol_without_a_lookup_of_codes(
    code, django_assert_num_queries
):
    last = code.code[-1]
    typo = code.code[:-1] + codelib.ALPHABET[(codelib.INDEX[last] + 1) % 32]
    with django_assert_num_queries(0), pytest.raises(RedemptionRefused) as caught:
        services.code_find(typo)
    assert caught.value.reason == Result.TYPO
    assert "typo" in caught.value.message


def test_an_unknown_well_formed_code_is_refused_as_unknown(code):
    caught = refusal(codelib.make_code("", "ZZZZZZZ"))
    assert caught.reason == Result.UNKNOWN


@pytest.mark.parametrize(
    ("change", "reason", "words"),
    [
        ({"valid_from": 1}, Result.NOT_YET_VALID, "can be used from"),
        ({"valid_until": -1}, Result.EXPIRED, "expired on"),
        ({"uses": 1}, Result.USED_UP, "Already used"),
        ({"status": InvitationCode.Status.REVOKED}, Result.REVOKED, "withdrawn"),
        ({"is_archived": True}, Result.REVOKED, "withdrawn"),
    ],
)
def test_each_state_of_a_code_has_its_own_refusal_and_nothing_changes(code, change, reason, words):
    today = timezone.localdate()
    values = {
        k: today + timedelta(days=v) if k.startswith("valid") else v for k, v in change.items()
    }
    InvitationCode.objects.filter(pk=code.pk).update(**values)
    uses_before = InvitationCode.objects.get(pk=code.pk).uses
    caught = refusal(code)
    assert caught.reason == reason and words in caught.message
    assert InvitationCode.objects.get(pk=code.pk).uses == uses_before
    assert not Booking.objects.exists() and not Participant.objects.exists()


@pytest.mark.parametrize("status", [Contract.Status.DRAFT, Contract.Status.CLOSED])
def test_a_contract_that_is_not_active_takes_no_booking(code, status):
    Contract.objects.filter(pk=code.contract_id).update(status=status)
    caught = refusal(code)
    assert caught.reason == Result.CONTRACT_INACTIVE
    assert "not open yet" in caught.message or "are closed" in caught.message


def test_region_and_group_rules_refuse_a_participant_outside_them(assigned):
    InvitationCode.objects.filter(pk=assigned.pk).update(allowed_regions="South, East")
    caught = refusal(assigned, Details())
    assert caught.reason == Result.REGION and "North" in caught.message
    InvitationCode.objects.filter(pk=assigned.pk).update(
        allowed_regions="north", allowed_groups="Marketing"
    )
    caught = refusal(assigned, Details())
    assert caught.reason == Result.GROUP and "Sales" in caught.message
    InvitationCode.objects.filter(pk=assigned.pk).update(allowed_groups="Sales,Marketing")
    assert redeem(assigned, Details()).participant_id == assigned.participant_id


def test_a_new_person_is_checked_against_the_rules_with_what_they_entered(code):
    InvitationCode.objects.filter(pk=code.pk).update(allowed_regions="South")
    caught = refusal(code, Details(**{**NEW_PERSON.__dict__, "region": "West"}))
    assert caught.reason == Result.REGION
    booking = redeem(code, Details(**{**NEW_PERSON.__dict__, "region": "south"}))
    assert booking.participant.region == "south"


def test_one_booking_per_person_refuses_a_second_code_of_the_contract(price, assigned):
    redeem(assigned, Details())
    second = InvitationCodeFactory(price=price, participant=assigned.participant)
    caught = refusal(second, Details())
    assert caught.reason == Result.ALREADY_BOOKED and "one booking per person" in caught.message
    second.refresh_from_db()
    assert second.uses == 0


def test_an_email_already_booked_on_the_contract_is_refused_for_an_unassigned_code(price, code):
    redeem(code)
    other = InvitationCodeFactory(price=price)
    caught = refusal(other, Details(**{**NEW_PERSON.__dict__, "email": "NORA@example.com"}))
    assert caught.reason == Result.ALREADY_BOOKED


def test_without_one_per_person_a_person_may_book_again_with_another_code(price, assigned):
    InvitationCode.objects.filter(pk=assigned.pk).update(one_per_person=False)
    redeem(assigned, Details())
    second = InvitationCodeFactory(
        price=price, participant=assigned.participant, one_per_person=False
    )
    assert redeem(second, Details()).participant_id == assigned.participant_id


def test_a_closed_group_books_only_people_on_its_list(price, code):
    Contract.objects.filter(pk=price.contract_id).update(is_closed_group=True)
    caught = refusal(code)
    assert caught.reason == Result.NOT_ON_LIST and "nora@example.com" in caught.message
    listed = ParticipantFactory(contract=price.contract, email="nora@example.com")
    booking = redeem(code)
    assert booking.participant == listed
    assert Participant.objects.count() == 1


def test_the_same_idempotency_key_returns_the_first_booking(code):
    first = redeem(code, idempotency_key="web:abc")
    again = redeem(code, idempotency_key="web:abc")
    assert again.pk == first.pk and again.replayed and not first.replayed
    assert InvitationCode.objects.get(pk=code.pk).uses == 1
    results = list(RedemptionAttempt.objects.order_by("id").values_list("result", flat=True))
    assert results == [Result.BOOKED, Result.REPLAYED]


def test_an_idempotency_key_with_another_request_is_a_conflict(code):
    redeem(code, idempotency_key="api:1:k", request_hash="one")
    with pytest.raises(services.IdempotencyConflict):
        redeem(code, idempotency_key="api:1:k", request_hash="two")


def test_a_shared_code_takes_its_use_limit_and_then_refuses(price):
    shared = services.shared_code_create(
        actor=None, contract=price.contract, code="summer-gala-2026", price=price, max_uses=2
    )
    assert (shared.display, shared.code) == ("SUMMERGALA2026", "SUMMERGA1A2026")
    for n in range(2):
        redeem("Summer Gala 2026", Details(first_name="P", last_name=str(n), email=f"p{n}@x.org"))
    caught = refusal("summergala2026", Details(first_name="Q", last_name="Q", email="q@x.org"))
    assert caught.reason == Result.USED_UP and "2 times" in caught.message


def test_a_shared_code_without_a_limit_takes_every_booking(price):
    services.shared_code_create(
        actor=None, contract=price.contract, code="OPENHOUSE2026", price=price, max_uses=None
    )
    for n in range(5):
        redeem("openhouse2026", Details(first_name="P", last_name=str(n), email=f"p{n}@x.org"))
    shared = InvitationCode.objects.get(is_shared=True)
    assert shared.uses == 5 and shared.state == "Active" and shared.uses_left is None


@pytest.mark.parametrize(
    ("text", "field"), [("SHORT", "code"), ("GALA 2026 ÜBER", "code"), ("X" * 31, "code")]
)
def test_a_shared_code_must_be_long_and_plain(price, text, field):
    with pytest.raises(ValidationError) as caught:
        services.shared_code_create(
            actor=None, contract=price.contract, code=text, price=price, max_uses=None
        )
    assert field in caught.value.message_dict


def test_a_shared_code_cannot_take_a_code_that_exists(price, code):
    services.shared_code_create(
        actor=None, contract=price.contract, code="GALA-EVENING-1", price=price, max_uses=5
    )
    with pytest.raises(ValidationError, match="taken"):
        services.shared_code_create(
            actor=None, contract=price.contract, code="gala evening 1", price=price, max_uses=5
        )


def test_a_mistyped_shared_code_is_a_typo(price):
    services.shared_code_create(
        actor=None, contract=price.contract, code="OPENHOUSE2026", price=price, max_uses=None
    )
    assert refusal("OPENHOUSE2027").reason == Result.TYPO


def test_voiding_records_the_reason_and_frees_the_use_of_a_valid_code(code):
    staff = UserFactory()
    booking = redeem(code)
    void = services.booking_void(actor=staff, booking=booking, reason="Booked twice by phone")
    booking.refresh_from_db()
    assert booking.status == Booking.Status.VOIDED
    assert (void.reason, void.voided_by, void.use_freed) == ("Booked twice by phone", staff, True)
    assert InvitationCode.objects.get(pk=code.pk).uses == 0
    # The person can book again: the code and the contract are free for them.
    assert redeem(code).participant == booking.participant
    assert Booking.objects.count() == 2


def test_voiding_keeps_the_use_of_an_expired_code(code):
    booking = redeem(code)
    InvitationCode.objects.filter(pk=code.pk).update(
        valid_until=timezone.localdate() - timedelta(days=1)
    )
    void = services.booking_void(actor=None, booking=booking, reason="No show")
    assert not void.use_freed
    assert InvitationCode.objects.get(pk=code.pk).uses == 1


def test_voiding_needs_a_reason_and_happens_once(code):
    booking = redeem(code)
    with pytest.raises(ValidationError):
        services.booking_void(actor=None, booking=booking, reason="  ")
    services.booking_void(actor=None, booking=booking, reason="Duplicate")
    with pytest.raises(DomainError, match="already voided"):
        services.booking_void(actor=None, booking=booking, reason="Again")


def test_every_attempt_is_logged_with_address_browser_and_what_was_typed(code):
    refusal("nonsense!")
    redeem(" " + code.code.lower())
    rows = list(RedemptionAttempt.objects.order_by("id"))
    assert [r.result for r in rows] == [Result.MALFORMED, Result.BOOKED]
    assert rows[1].code_typed == code.code.lower()
    assert (rows[1].address, rows[1].user_agent) == ("203.0.113.7", "pytest-browser")
    assert rows[1].booking.code == code and rows[1].contract_id == code.contract_id


def test_a_booking_emails_its_confirmation(code, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        booking = redeem(code)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["nora@example.com"]
    assert booking.reference in message.subject and booking.reference in message.body


def test_an_account_is_made_with_a_password_link_and_the_contracts_access(
    code, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        booking = redeem(code, create_account=True)
    user = get_user_model().objects.get(email="nora@example.com")
    assert not user.has_usable_password()
    assert booking.participant.user == user
    assert user.groups.filter(name=f"Contract {code.contract_id} participants").exists()
    assert "/register/account/" in mail.outbox[0].body


def test_an_existing_account_is_linked_only_when_it_is_the_one_signed_in(
    price, django_capture_on_commit_callbacks
):
    user = UserFactory(email="nora@example.com", is_staff=False)
    # Someone else typing Nora's address grants her account nothing.
    with django_capture_on_commit_callbacks(execute=True):
        booking = redeem(InvitationCodeFactory(price=price), create_account=True)
    assert booking.participant.user is None
    assert not user.groups.exists()
    assert get_user_model().objects.filter(email__iexact="nora@example.com").count() == 1
    assert "/register/account/" not in mail.outbox[0].body
    # Nora herself, signed in, gets it linked.
    services.booking_void(actor=None, booking=booking, reason="test")
    signed_in = Client(address="203.0.113.7", user=user)
    linked = services.booking_redeem(
        code=InvitationCodeFactory(price=price).code,
        details=NEW_PERSON,
        client=signed_in,
        create_account=True,
    )
    assert linked.participant.user == user
    assert user.groups.filter(name=f"Contract {price.contract_id} participants").exists()


def test_a_code_for_anyone_does_not_book_as_someone_sent_their_own(price, assigned):
    shared = InvitationCodeFactory(price=price, max_uses=None)
    caught = refusal(shared, Details(first_name="M", last_name="M", email="ADA@example.com"))
    assert caught.reason == Result.HAS_INVITATION
    assert not Booking.objects.exists()
    assert InvitationCode.objects.get(pk=shared.pk).uses == 0


def test_a_code_for_anyone_never_changes_a_listed_persons_details(price):
    listed = ParticipantFactory(contract=price.contract, email="nora@example.com", phone="0100")
    booking = redeem(InvitationCodeFactory(price=price))  # NEW_PERSON types phone 0601
    assert booking.participant == listed
    listed.refresh_from_db()
    assert listed.phone == "0100"


def test_a_booking_without_the_rule_cannot_join_one_that_allowed_no_other(price, assigned):
    redeem(assigned, Details())  # one booking per person
    relaxed = InvitationCodeFactory(price=price, participant=assigned.participant)
    InvitationCode.objects.filter(pk=relaxed.pk).update(one_per_person=False)
    caught = refusal(relaxed, Details())
    assert caught.reason == Result.ALREADY_BOOKED


def test_a_booking_stands_when_its_email_cannot_be_sent(
    code, settings, caplog, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "tests.invitations.test_redemption.BrokenEmail"
    with django_capture_on_commit_callbacks(execute=True):  # robust callbacks log, not raise
        booking = redeem(code)
    assert Booking.objects.filter(pk=booking.pk).exists()
    assert "SMTP server down" in caplog.text


class BrokenEmail(BaseEmailBackend):
    """An email backend whose server is down."""

    def send_messages(self, messages):
        raise OSError("SMTP server down")


def test_check_changes_nothing_and_names_the_reason(assigned):
    assert services.code_check(code=assigned.code) == assigned
    redeem(assigned, Details())
    with pytest.raises(RedemptionRefused) as caught:
        services.code_check(code=assigned.code)
    assert caught.value.reason == Result.USED_UP
    assert RedemptionAttempt.objects.count() == 1  # the booking; checks are not attempts


def test_code_find_loads_what_the_orm_would(assigned):
    from datetime import date
    from decimal import Decimal

    Participant.objects.filter(pk=assigned.participant_id).update(date_of_birth=date(1990, 4, 2))
    InvitationCode.objects.filter(pk=assigned.pk).update(
        valid_until=date(2030, 1, 31), one_per_person=False
    )
    found = services.code_find(assigned.code.lower())
    expected = InvitationCode.objects.select_related(
        "contract", "price__product", "participant"
    ).get(pk=assigned.pk)
    for name in ("code", "uses", "max_uses", "valid_until", "one_per_person", "status", "label"):
        assert getattr(found, name) == getattr(expected, name), name
    assert found.valid_until == date(2030, 1, 31) and found.one_per_person is False
    assert found.price.amount == expected.price.amount
    assert isinstance(found.price.amount, Decimal)
    assert found.price.product.name == expected.price.product.name
    assert found.contract.status == expected.contract.status
    assert found.participant.date_of_birth == date(1990, 4, 2)
    assert found.participant.email == "ada@example.com"
    assert (found.participant.region, found.participant.group) == ("North", "Sales")
    assert found.contract.organisation_id == expected.contract.organisation_id  # loads on access
