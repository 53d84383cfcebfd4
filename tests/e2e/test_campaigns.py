"""Distribution, analytics and alerts in a real browser, the way staff and participants meet them.

Staff send codes to a contract's participants from the Messages tab (Send Codes: review who
gets a message and who is skipped, then confirm), see each recipient's status, and the
emails land in Django's locmem outbox. Three participants open the registration link from
their email and book; the Analytics tab counts them. Then someone guesses codes on the
registration page, and the Alerts page lists the burst.

Set SCREENSHOT_DIR to keep screenshots of the pages for a person to look at.
"""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from campaigns import services as campaign_services
from campaigns.models import Alert, Distribution, Message
from core import roles
from core.codes import draw_codes
from invitations import services as invitation_services
from invitations.models import Booking, InvitationCode
from tests.factories import ContractPriceFactory, ParticipantFactory, UserFactory

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("restore_roles"),
]

# Twenty people who get a message; Oscar unsubscribed from the contract's messages before.
INVITED = [
    ("Ada", "Lovelace"),
    ("Alan", "Turing"),
    ("Barbara", "Liskov"),
    ("Claude", "Shannon"),
    ("Donald", "Knuth"),
    ("Edsger", "Dijkstra"),
    ("Frances", "Allen"),
    ("Grace", "Hopper"),
    ("Hedy", "Lamarr"),
    ("Ivan", "Sutherland"),
    ("John", "Backus"),
    ("Ken", "Thompson"),
    ("Leslie", "Lamport"),
    ("Margaret", "Hamilton"),
    ("Niklaus", "Wirth"),
    ("Radia", "Perlman"),
    ("Shafi", "Goldwasser"),
    ("Tim", "Berners-Lee"),
    ("Vint", "Cerf"),
    ("Yukihiro", "Matsumoto"),
]
BURST = 15  # ALERT_FAILED_BURST's default: this many refused attempts make a burst


def _screenshot(page: Page, name: str) -> None:
    folder = os.environ.get("SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def _kpi(page: Page, label: str) -> Locator:
    """The figure under a heading of the Analytics summary."""
    return (
        page.locator("dl.kpis > div")
        .filter(has=page.get_by_text(label, exact=True))
        .locator("dd")
        .first
    )


@pytest.fixture
def wellbeing():
    """A contract with a price, 21 participants each holding an unused code (one of them
    unsubscribed), and an email template: set up the way staff and participants would."""
    maria = UserFactory(
        username="maria", first_name="Maria", last_name="Lopez", role=roles.CONTRACT_MANAGER
    )
    price = ContractPriceFactory(
        contract__name="Wellbeing 2026",
        contract__organisation__name="Acme Industries",
        product__name="Health Check",
        amount="80.00",
        currency="EUR",
    )
    contract = price.contract
    people = [
        ParticipantFactory(
            contract=contract,
            first_name=first,
            last_name=last,
            email=f"{first.lower()}@example.com",
        )
        for first, last in [*INVITED, ("Oscar", "Optout")]
    ]
    for person in people:
        invitation_services.participant_code_generate(
            actor=maria, participant=person, price=price, width=8
        )
    oscar = people[-1]
    # What the unsubscribe link of an earlier email does.
    campaign_services.participant_unsubscribe(token=campaign_services.unsubscribe_token(oscar.pk))
    campaign_services.template_create(
        actor=maria,
        contract=contract,
        name="Invitation",
        channel="email",
        subject="{first_name}, your {product} invitation",
        body=(
            "Hello {first_name},\n\nyour invitation code for a {product} ({price}) is {code}.\n"
            "Book here: {link}\n"
        ),
    )
    return contract


def test_staff_send_codes_to_20_participants_three_book_and_analytics_and_alerts_follow(
    live_server, page: Page, browser: Browser, settings, mailoutbox, wellbeing
):
    # The links in the emails point at the live server; no pause between messages.
    settings.SITE_URL = live_server.url
    settings.CAMPAIGN_SEND_RATE = 0
    # The page's own lockout would refuse (and not log) attempts past 10: the guesser at the
    # end gets them all through, as a slow or spread-out one would.
    settings.REGISTER_FAILURE_LIMIT = 100
    contract = wellbeing

    page.goto(live_server.url + "/")
    page.get_by_label("Username").fill("maria")
    page.get_by_label("Password").fill("pw-for-tests-1")
    page.get_by_role("button", name="Log in").click()
    page.get_by_text("Maria Lopez").click()
    page.get_by_role("menuitem", name="Contract Management").click()
    page.get_by_role("link", name="Acme Industries").click()
    page.get_by_role("link", name="Wellbeing 2026").click()

    # --- Send Codes: review, then confirm ---------------------------------------------
    tabs = page.get_by_role("navigation", name="Contract")
    tabs.get_by_role("link", name="Messages").click()
    expect(page.get_by_text("No codes sent from here yet.")).to_be_visible()
    page.get_by_role("link", name="Send Codes").first.click()
    page.get_by_label("Template").select_option(label="Invitation")
    page.get_by_label("All participants holding an unused code").check()
    page.get_by_role("button", name="Check recipients").click()

    plan = page.locator(".plan")
    expect(plan.locator(".stats")).to_contain_text("20 will get a message")
    expect(plan.locator(".stats")).to_contain_text("1 skipped")
    reasons = plan.locator("table tbody tr")
    expect(reasons).to_have_count(1)
    expect(reasons.locator("td")).to_have_text(["Unsubscribed", "1"])
    _screenshot(page, "campaigns-1-review.png")
    page.get_by_role("button", name="Send Codes").click()

    # Celery is eager here: the send ran when its transaction committed, before the redirect.
    expect(page.get_by_text("Sending 20 messages. 1 skipped.")).to_be_visible()
    stats = page.locator("ul.stats")
    for figure in ("20 sent", "0 failed", "0 queued", "1 skipped"):
        expect(stats).to_contain_text(figure)
    rows = page.locator("table.table tbody tr")
    expect(rows).to_have_count(21)
    statuses = rows.locator("td:nth-child(4)").all_inner_texts()
    assert sorted(statuses) == ["Sent"] * 20 + ["Skipped"]
    oscar_row = rows.filter(has_text="Oscar Optout")
    expect(oscar_row).to_contain_text("Skipped")
    expect(oscar_row).to_contain_text("Unsubscribed")
    expect(rows.filter(has_text="Ada Lovelace")).to_contain_text("ada@example.com")
    _screenshot(page, "campaigns-2-statuses.png")

    distribution = Distribution.objects.get()
    assert distribution.total == 21 and distribution.skipped == 1
    assert Message.objects.filter(status=Message.Status.SENT).count() == 20

    # --- the outbox: one personal email each, with the unsubscribe header -------------
    assert len(mailoutbox) == 20
    held = InvitationCode.objects.filter(contract=contract).values_list(
        "participant__email", "code", "participant_id"
    )
    codes = {email: code for email, code, _ in held}
    holders = {email: participant_id for email, _, participant_id in held}
    emails = {mail.to[0]: mail for mail in mailoutbox}
    assert set(emails) == {f"{first.lower()}@example.com" for first, _ in INVITED}
    assert "oscar@example.com" not in emails
    for first, _ in INVITED:
        mail = emails[f"{first.lower()}@example.com"]
        code = codes[mail.to[0]]
        assert mail.subject == f"{first}, your Health Check invitation"
        assert f"Hello {first}," in mail.body
        assert f"is {code}." in mail.body
        assert f"Book here: {live_server.url}/register/{code}/" in mail.body
        unsubscribe = campaign_services.unsubscribe_url(holders[mail.to[0]])
        assert unsubscribe.startswith(f"{live_server.url}/unsubscribe/")
        assert mail.extra_headers["List-Unsubscribe"] == f"<{unsubscribe}>"
    assert len(set(codes.values())) == 21

    # --- the Analytics tab before anyone books ------------------------------------------
    # Counted live: a contract this small (under ANALYTICS_ROLLUP_FROM_CODES codes) is
    # never read from the rollup, so no refresh job has to run for a booking to show.
    tabs.get_by_role("link", name="Analytics").click()
    expect(_kpi(page, "Codes generated")).to_have_text("21")
    expect(_kpi(page, "Distributed")).to_have_text("20")
    expect(_kpi(page, "Redeemed")).to_have_text("0")

    # --- three participants book from the link in their email -------------------------
    for first, last in INVITED[:3]:
        mail = emails[f"{first.lower()}@example.com"]
        link = re.search(r"Book here: (\S+)", mail.body).group(1)
        context = browser.new_context()  # their own browser: no staff session
        try:
            visitor = context.new_page()
            visitor.goto(link)
            expect(visitor.get_by_text("Health Check", exact=True)).to_be_visible()
            expect(visitor.get_by_label("First name")).to_have_value(first)
            expect(visitor.get_by_label("Last name")).to_have_value(last)
            expect(visitor.get_by_label("Email", exact=True)).to_have_value(mail.to[0])
            visitor.get_by_role("button", name="Book").click()
            expect(visitor.get_by_role("heading", name="You're booked")).to_be_visible()
            if first == INVITED[0][0]:
                _screenshot(visitor, "campaigns-3-booked.png")
        finally:
            context.close()
    booked = Booking.objects.filter(status=Booking.Status.ACTIVE)
    assert sorted(booked.values_list("participant__email", flat=True)) == sorted(
        f"{first.lower()}@example.com" for first, _ in INVITED[:3]
    )

    # --- the Analytics tab counts them ----------------------------------------------------
    page.reload()
    expect(_kpi(page, "Codes generated")).to_have_text("21")
    expect(_kpi(page, "Distributed")).to_have_text("20")
    expect(_kpi(page, "Redeemed")).to_have_text("3")
    expect(page.get_by_text("240.00 EUR booked")).to_be_visible()
    expect(_kpi(page, "Rate of distributed")).to_have_text("15.0%")
    # Of the 21 codes generated (Oscar's was never sent): 3 / 21.
    expect(_kpi(page, "Redemption rate")).to_have_text("14.3%")
    _screenshot(page, "campaigns-4-analytics.png")

    # --- a burst of failed attempts, and the alert --------------------------------------
    guesser = browser.new_context()
    try:
        guess_page = guesser.new_page()
        for guess in draw_codes("", 8, BURST):
            guess_page.goto(live_server.url + "/register/")
            guess_page.get_by_label("Invitation code").fill(guess)
            guess_page.get_by_role("button", name="Submit code").click()
            expect(guess_page.get_by_role("alert")).to_contain_text("We could not find this code")
    finally:
        guesser.close()

    # The every-minute job (the periodic task "Detect anomalies"), run now.
    (alert,) = campaign_services.alerts_detect()
    assert alert.kind == Alert.Kind.FAILED_BURST

    page.get_by_text("Maria Lopez").click()
    page.get_by_role("menuitem", name="Alerts").click()
    expect(page.get_by_role("heading", name="Alerts")).to_be_visible()
    row = page.locator("table.alerts tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Burst of failed attempts from one address")
    expect(row).to_contain_text(f"{BURST} failed attempts from 127.0.0.1")
    expect(row.locator("td.num")).to_have_text(str(BURST))
    _screenshot(page, "campaigns-5-alerts.png")
