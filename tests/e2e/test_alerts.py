"""Anomaly alerts in a real browser: someone guesses codes on the registration page, the
detection raises a burst alert, and staff find it, follow it to the log and dismiss it."""

import re

import pytest
from playwright.sync_api import Page, expect

from campaigns import services
from campaigns.models import Alert
from core import roles
from core.codes import draw_codes
from invitations.models import RedemptionAttempt
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("restore_roles"),
]


def test_a_burst_of_failed_attempts_raises_an_alert_that_staff_follow_and_dismiss(
    live_server, page: Page, settings
):
    # The page's own lockout would refuse (and not log) attempts past 10: this guesser
    # gets all 20 through, as a slow or spread-out one would.
    settings.REGISTER_FAILURE_LIMIT = 100
    UserFactory(
        username="maria", first_name="Maria", last_name="Lopez", role=roles.CONTRACT_MANAGER
    )

    for guess in draw_codes("", 8, 20):
        page.goto(live_server.url + "/register/")
        page.get_by_label("Invitation code").fill(guess)
        page.get_by_role("button", name="Submit code").click()
        expect(page.get_by_role("alert")).to_contain_text("We could not find this code")
    assert RedemptionAttempt.objects.filter(address="127.0.0.1", result="unknown").count() == 20

    # The every-minute job, run now.
    (alert,) = services.alerts_detect()
    assert alert.kind == Alert.Kind.FAILED_BURST

    page.goto(live_server.url + "/")
    page.get_by_label("Username").fill("maria")
    page.get_by_label("Password").fill("pw-for-tests-1")
    page.get_by_role("button", name="Log in").click()
    page.get_by_text("Maria Lopez").click()
    menu_item = page.get_by_role("menuitem", name="Alerts")
    expect(menu_item).to_have_text("Alerts 1")
    menu_item.click()

    expect(page.get_by_role("heading", name="Alerts")).to_be_visible()
    row = page.locator("table.alerts tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Burst of failed attempts from one address")
    expect(row).to_contain_text("20 failed attempts from 127.0.0.1, 20 of them within 10 minutes")
    expect(row.locator("td.num")).to_have_text("20")
    expect(row).to_contain_text("Open")

    row.get_by_role("link", name="See in the redemption log").click()
    # Unknown codes belong to no contract: the full log, in the admin, filtered to them.
    expect(page).to_have_url(re.compile(r"/admin/invitations/redemptionattempt/\?.*address="))
    results = page.locator("#result_list tbody tr")
    expect(results).to_have_count(20)
    expect(results.first).to_contain_text("127.0.0.1")
    expect(results.first).to_contain_text("Unknown code")

    page.go_back()
    row.get_by_role("button", name="Dismiss").click()
    expect(page.get_by_text("Alert dismissed. It opens again if it grows.")).to_be_visible()
    expect(row).to_contain_text("Dismissed")
    expect(row.get_by_role("button", name="Dismiss")).to_have_count(0)
    page.get_by_text("Maria Lopez").click()
    expect(page.get_by_role("menuitem", name="Alerts")).to_have_text("Alerts")
    alert.refresh_from_db()
    assert alert.status == Alert.Status.DISMISSED
