"""The public registration page in a real browser: enter a code, book, see the confirmation.

An invited participant types their code loosely, finds their details filled in, corrects
the phone and books; the same code is then refused. Someone with an unassigned code's
booking link fills in their details, and sending the form twice still books once.
"""

import datetime

import pytest
from playwright.sync_api import Page, expect

from contracts.models import Contract, Participant
from invitations.models import Booking, InvitationCode
from tests.factories import ContractPriceFactory, InvitationCodeFactory, ParticipantFactory

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("restore_roles"),
]


@pytest.fixture
def health_check():
    return ContractPriceFactory(
        contract__name="Wellbeing 2026",
        contract__status=Contract.Status.ACTIVE,
        product__name="Health Check",
        amount="80.00",
        currency="EUR",
    )


def test_an_invited_participant_books_with_a_loosely_typed_code_and_cannot_use_it_again(
    live_server, page: Page, health_check, mailoutbox
):
    ada = ParticipantFactory(
        contract=health_check.contract,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        phone="+44 20 7946 0000",
        date_of_birth=datetime.date(1985, 12, 10),
    )
    code = InvitationCodeFactory(price=health_check, participant=ada)
    typed = f"{code.code[:4].lower()} {code.code[4:6].lower()}  {code.code[6:].lower()}"
    assert typed.upper().replace(" ", "") == code.code and typed != code.code

    page.goto(live_server.url + "/register/")
    page.get_by_label("Invitation code").fill(typed)
    page.get_by_role("button", name="Submit code").click()

    expect(page).to_have_url(f"{live_server.url}/register/{code.code}/")
    expect(page.get_by_text("Health Check", exact=True)).to_be_visible()
    expect(page.get_by_text("80.00 EUR")).to_be_visible()
    for label, value in (
        ("First name", "Ada"),
        ("Last name", "Lovelace"),
        ("Email", "ada@example.com"),
        ("Date of birth", "1985-12-10"),
    ):
        field = page.get_by_label(label, exact=True)
        expect(field).to_have_value(value)
        expect(field).to_be_disabled()
    phone = page.get_by_label("Phone")
    expect(phone).to_have_value("+44 20 7946 0000")
    expect(phone).to_be_editable()
    phone.fill("+44 7700 900123")
    page.get_by_role("button", name="Book").click()

    expect(page.get_by_role("heading", name="You're booked")).to_be_visible()
    reference = page.locator("#reference").inner_text().strip()
    assert reference
    expect(page.get_by_text("Health Check, 80.00 EUR.")).to_be_visible()

    booking = Booking.objects.get()
    assert booking.reference == reference
    assert booking.participant_id == ada.pk and booking.code_id == code.pk
    ada.refresh_from_db()
    assert ada.phone == "+44 7700 900123"
    code.refresh_from_db()
    assert code.uses == 1
    # The live server runs in this process, and Celery is eager: sent when the booking committed.
    (mail,) = mailoutbox
    assert mail.to == ["ada@example.com"]
    assert reference in mail.subject and "Health Check" in mail.subject

    page.goto(live_server.url + "/register/")
    page.get_by_label("Invitation code").fill(typed)
    page.get_by_role("button", name="Submit code").click()
    expect(page.get_by_role("alert")).to_contain_text("Already used")
    expect(page.get_by_role("button", name="Book")).to_have_count(0)
    assert Booking.objects.count() == 1
    code.refresh_from_db()
    assert code.uses == 1


def test_an_unassigned_codes_booking_link_books_once_even_when_the_form_is_sent_twice(
    live_server, page: Page, health_check, mailoutbox
):
    code = InvitationCodeFactory(price=health_check)

    page.goto(f"{live_server.url}/register/{code.code}/")
    expect(page.get_by_text("Health Check", exact=True)).to_be_visible()
    page.get_by_label("First name").fill("Grace")
    page.get_by_label("Last name").fill("Hopper")
    page.get_by_label("Email", exact=True).fill("grace@example.com")
    expect(page.get_by_label("Create an account with this email address")).not_to_be_checked()

    # A double click: the first POST is held until the second is sent, then both reach the
    # server in turn. The second carries the same one-time token and finds the first booking.
    held = []

    def hold_the_first_post(route):
        if route.request.method != "POST":
            route.continue_()
        elif not held:
            held.append(route)
        else:
            held.append(held[0].fetch(max_redirects=0))  # the first POST, to the server
            route.continue_()

    page.route(f"{live_server.url}/register/{code.code}/", hold_the_first_post)
    page.get_by_role("button", name="Book").click(click_count=2, delay=50)

    expect(page.get_by_role("heading", name="You're booked")).to_be_visible()
    assert len(held) == 2, "both clicks sent the form"
    assert held[1].status == 302, "the first POST booked"
    reference = page.locator("#reference").inner_text().strip()
    # The first POST's answer leads to the same booking.
    page.goto(live_server.url + held[1].headers["location"])
    expect(page.locator("#reference")).to_have_text(reference)
    booking = Booking.objects.get()
    assert booking.reference == reference
    grace = Participant.objects.get(email="grace@example.com")
    assert (grace.first_name, grace.last_name, grace.user_id) == ("Grace", "Hopper", None)
    assert InvitationCode.objects.get(pk=code.pk).uses == 1
    assert len(mailoutbox) == 1
