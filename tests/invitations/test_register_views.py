"""The public registration page: lookup, booking form, refusals, throttling, bad input."""

import re

import pytest
from django.core import signing
from django.test import Client as HttpClient
from django.urls import reverse

from contracts.models import Participant
from core import codes as codelib
from invitations.forms import TOKEN_SALT
from invitations.models import Booking, InvitationCode, RedemptionAttempt
from tests.factories import InvitationCodeFactory, ParticipantFactory

pytestmark = pytest.mark.django_db
Result = RedemptionAttempt.Result


@pytest.fixture
def assigned(price):
    person = ParticipantFactory(
        contract=price.contract,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        phone="0100",
    )
    return InvitationCodeFactory(price=price, participant=person)


def token_of(response) -> str:
    return re.search(r'name="token" value="([^"]+)"', response.content.decode()).group(1)


def book_url(code) -> str:
    return reverse("register:book", args=[code.code])


def test_the_start_page_asks_for_a_code_without_staff_chrome(client):
    page = client.get("/register/").content.decode()
    assert "Invitation code" in page and "Submit code" in page
    assert "Contract Management" not in page and "/staff/" not in page


def test_submitting_a_code_typed_loosely_opens_its_booking_page(client, assigned):
    typed = " ".join([assigned.code[:4].lower(), assigned.code[4:].lower()])
    response = client.post("/register/", {"code": typed})
    assert response.status_code == 302
    assert response["Location"] == book_url(assigned)


def test_an_assigned_code_shows_the_product_price_and_the_persons_details(client, assigned):
    page = client.get(book_url(assigned)).content.decode()
    assert assigned.price.product.name in page
    assert str(assigned.price.amount) in page
    assert 'value="Ada"' in page and 'value="ada@example.com"' in page
    # Only the phone can be changed.
    assert re.search(r'name="email"[^>]*disabled', page)
    assert not re.search(r'name="phone"[^>]*disabled', page)


def test_booking_an_assigned_code_ignores_a_posted_email_and_keeps_the_phone_change(
    client, assigned
):
    token = token_of(client.get(book_url(assigned)))
    response = client.post(
        book_url(assigned),
        {"token": token, "phone": "0777", "email": "mallory@example.com", "first_name": "Mal"},
    )
    assert response.status_code == 302
    booking = Booking.objects.get()
    assert booking.participant.email == "ada@example.com"
    assert Participant.objects.get().phone == "0777"
    page = client.get(response["Location"]).content.decode()
    assert booking.reference in page and "You're booked" in page


def test_an_unassigned_code_asks_for_details_and_adds_the_participant(client, price):
    code = InvitationCodeFactory(price=price)
    token = token_of(client.get(book_url(code)))
    response = client.post(
        book_url(code),
        {"token": token, "first_name": "Nora", "last_name": "Neu", "email": "nora@example.com"},
    )
    assert response.status_code == 302
    assert price.contract.participants.get().email == "nora@example.com"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"first_name": "", "last_name": "Neu", "email": "nora@example.com"}, "first_name"),
        ({"first_name": "Nora", "last_name": "Neu", "email": "not-an-email"}, "email"),
        (
            {
                "first_name": "N",
                "last_name": "N",
                "email": "n@x.org",
                "date_of_birth": "1990-02-31",
            },
            "date_of_birth",
        ),
    ],
)
def test_a_form_with_missing_or_malformed_fields_does_not_use_the_code(client, price, data, field):
    code = InvitationCodeFactory(price=price)
    token = token_of(client.get(book_url(code)))
    response = client.post(book_url(code), {"token": token, **data})
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert InvitationCode.objects.get(pk=code.pk).uses == 0
    assert not Booking.objects.exists()


def test_a_tampered_token_is_refused_and_the_code_is_not_used(client, assigned):
    token = token_of(client.get(book_url(assigned)))
    response = client.post(book_url(assigned), {"token": token[:-2] + "xx", "phone": ""})
    assert response.status_code == 200
    assert "changed or has expired" in response.content.decode()
    assert InvitationCode.objects.get(pk=assigned.pk).uses == 0
    # The page comes back with a fresh token that works.
    assert client.post(book_url(assigned), {"token": token_of(response)}).status_code == 302


def test_a_double_click_shows_the_first_booking_again(client, assigned):
    token = token_of(client.get(book_url(assigned)))
    first = client.post(book_url(assigned), {"token": token})
    second = client.post(book_url(assigned), {"token": token})
    assert first["Location"] == second["Location"]
    assert Booking.objects.count() == 1


def test_a_post_without_csrf_token_is_refused_with_a_plain_message(assigned):
    strict = HttpClient(enforce_csrf_checks=True)
    token = signing.dumps("abc", salt=TOKEN_SALT)
    response = strict.post(book_url(assigned), {"token": token})
    assert response.status_code == 403
    assert "Please reload the page" in response.content.decode()
    assert not Booking.objects.exists()


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ("", "Enter your invitation code"),
        ("X" * 200, "longer than any invitation code"),
        ("ÉCOLE-2026", "letters A–Z"),
    ],
)
def test_text_that_is_no_code_gets_its_own_message(client, typed, words):
    page = client.post("/register/", {"code": typed}).content.decode()
    assert words in page


def test_a_used_code_is_refused_as_already_used(client, assigned):
    InvitationCode.objects.filter(pk=assigned.pk).update(uses=1)
    page = client.post("/register/", {"code": assigned.code}).content.decode()
    assert "Already used" in page
    attempt = RedemptionAttempt.objects.get()
    assert (attempt.result, attempt.code_id) == (Result.USED_UP, assigned.pk)


def test_a_typo_says_so(client, assigned):
    last = codelib.INDEX[assigned.code[-1]]
    typo = assigned.code[:-1] + codelib.ALPHABET[(last + 1) % 32]
    page = client.get(reverse("register:book", args=[typo])).content.decode()
    assert "this code has a typo" in page.lower()


def test_ten_failures_from_one_address_lock_it_out_for_a_while(client, assigned, settings):
    settings.REGISTER_FAILURE_LIMIT = 10
    unknown = [codelib.make_code("", f"ZZZZZ{n:02d}") for n in range(10)]
    for code in unknown:
        assert "could not find" in client.post("/register/", {"code": code}).content.decode()
    response = client.post("/register/", {"code": assigned.code})
    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()
    assert RedemptionAttempt.objects.filter(result=Result.THROTTLED).count() == 1
    # Another address is not affected.
    other = client.post("/register/", {"code": assigned.code}, REMOTE_ADDR="192.0.2.99")
    assert other.status_code == 302


def test_successful_lookups_do_not_count_towards_the_lockout(client, assigned, settings):
    settings.REGISTER_FAILURE_LIMIT = 3
    for _ in range(10):
        assert client.post("/register/", {"code": assigned.code}).status_code == 302


def test_one_code_attacked_from_many_addresses_is_locked_too(client, assigned, settings):
    settings.REGISTER_CODE_FAILURE_LIMIT = 5
    InvitationCode.objects.filter(pk=assigned.pk).update(uses=1)
    for n in range(5):
        client.post("/register/", {"code": assigned.code}, REMOTE_ADDR=f"192.0.2.{n}")
    response = client.post("/register/", {"code": assigned.code}, REMOTE_ADDR="192.0.2.200")
    assert response.status_code == 429


def test_the_confirmation_link_cannot_be_forged(client, assigned):
    token = token_of(client.get(book_url(assigned)))
    client.post(book_url(assigned), {"token": token})
    booking = Booking.objects.get()
    forged = reverse("register:booked", args=[f"{booking.pk}:forged"])
    response = client.get(forged)
    assert response.status_code == 404
    assert booking.reference not in response.content.decode()


def test_a_refusal_about_the_person_keeps_what_they_typed(client, price):
    ParticipantFactory(contract=price.contract, first_name="Zoë", email="zoe@example.com")
    first = InvitationCodeFactory(price=price)
    second = InvitationCodeFactory(price=price)
    details = {"first_name": "Z", "last_name": "Z", "email": "zoe@example.com"}
    client.post(book_url(first), {"token": token_of(client.get(book_url(first))), **details})
    response = client.post(
        book_url(second), {"token": token_of(client.get(book_url(second))), **details}
    )
    page = response.content.decode()
    assert response.status_code == 200 and "one booking per person" in page
    assert 'value="zoe@example.com"' in page
    assert "Zoë" not in page  # the stored name of whoever holds that email is not shown
    assert InvitationCode.objects.get(pk=second.pk).uses == 0


def test_an_assigned_participant_without_a_birth_date_is_not_shown_an_empty_one(client, price):
    person = ParticipantFactory(contract=price.contract, date_of_birth=None)
    code = InvitationCodeFactory(price=price, participant=person)
    assert 'name="date_of_birth"' not in client.get(book_url(code)).content.decode()


def test_the_confirmation_mentions_the_password_link_of_a_new_account(client, price):
    code = InvitationCodeFactory(price=price)
    token = token_of(client.get(book_url(code)))
    response = client.post(
        book_url(code),
        {
            "token": token,
            "first_name": "Nora",
            "last_name": "Neu",
            "email": "nora@example.com",
            "create_account": "on",
        },
        follow=True,
    )
    assert "link to set its password" in response.content.decode()


def test_a_form_sent_again_with_other_details_does_not_show_the_first_booking(client, price):
    code = InvitationCodeFactory(price=price, max_uses=5)
    token = token_of(client.get(book_url(code)))
    anna = {"first_name": "Anna", "last_name": "A", "email": "anna@example.com"}
    bert = {"first_name": "Bert", "last_name": "B", "email": "bert@example.com"}
    first = client.post(book_url(code), {"token": token, **anna})
    assert first.status_code == 302
    # The back button on a shared device: the same token, another person.
    again = client.post(book_url(code), {"token": token, **bert})
    page = again.content.decode()
    assert again.status_code == 200 and "used for a booking already" in page
    assert "anna@example.com" not in page
    booked = client.post(book_url(code), {"token": token_of(again), **bert})
    assert booked.status_code == 302
    assert sorted(Booking.objects.values_list("participant__email", flat=True)) == [
        "anna@example.com",
        "bert@example.com",
    ]


def test_refusals_about_people_do_not_lock_a_shared_code(client, price, settings):
    settings.REGISTER_CODE_FAILURE_LIMIT = 3
    shared = InvitationCodeFactory(price=price, max_uses=None, allowed_regions="North")
    for n in range(5):
        response = client.post(
            book_url(shared),
            {
                "token": token_of(client.get(book_url(shared), REMOTE_ADDR=f"192.0.2.{n}")),
                "first_name": "P",
                "last_name": str(n),
                "email": f"p{n}@example.com",
                "region": "South",
            },
            REMOTE_ADDR=f"192.0.2.{n}",
        )
        assert "not valid for your region" in response.content.decode()
    assert client.get(book_url(shared), REMOTE_ADDR="192.0.2.100").status_code == 200


def test_the_password_note_appears_only_when_the_booking_made_the_account(client, price):
    code = InvitationCodeFactory(price=price)
    token = token_of(client.get(book_url(code)))
    details = {"first_name": "N", "last_name": "N", "email": "n@example.com"}
    response = client.post(book_url(code), {"token": token, **details}, follow=True)
    assert "link to set its password" not in response.content.decode()


def test_a_double_click_keeps_the_password_note_of_a_new_account(client, price):
    code = InvitationCodeFactory(price=price)
    token = token_of(client.get(book_url(code)))
    details = {"token": token, "first_name": "N", "last_name": "N", "email": "n@example.com"}
    client.post(book_url(code), {**details, "create_account": "on"})
    again = client.post(book_url(code), {**details, "create_account": "on"}, follow=True)
    assert "link to set its password" in again.content.decode()


def test_a_confirmation_link_of_the_earlier_form_still_opens(client, assigned):
    token = token_of(client.get(book_url(assigned)))
    client.post(book_url(assigned), {"token": token})
    booking = Booking.objects.get()
    old = signing.dumps(booking.pk, salt="invitations.booking-confirmation", compress=True)
    response = client.get(reverse("register:booked", args=[old]))
    assert response.status_code == 200 and booking.reference in response.content.decode()
