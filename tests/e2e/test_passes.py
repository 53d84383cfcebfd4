"""The printed gift card workflow in a real browser: staff print, a visitor redeems."""

import io
import re

import pytest
from playwright.sync_api import Browser, Page, expect
from pypdf import PdfReader

from core import roles
from tests.factories import UserFactory
from wallets.models import Wallet

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("restore_roles"),
]


def test_print_20_gift_passes_redeem_one_as_a_visitor_and_claim_the_wallet(
    live_server, page: Page, browser: Browser, settings, tmp_path
):
    settings.SITE_URL = live_server.url
    UserFactory(
        username="maria", first_name="Maria", last_name="Lopez", role=roles.CONTRACT_MANAGER
    )
    page.goto(live_server.url + "/")
    page.get_by_label("Username").fill("maria")
    page.get_by_label("Password").fill("pw-for-tests-1")
    page.get_by_role("button", name="Log in").click()

    page.get_by_text("Maria Lopez").click()
    page.get_by_role("menuitem", name="Pass Plans").click()
    page.get_by_role("link", name="New Pass Plan").first.click()
    page.get_by_label("Name").fill("Winter gift card")
    page.get_by_label("Type").select_option("gift")
    page.get_by_label("Format").select_option("printed")
    page.get_by_label("Value (or lowest value)").fill("40")
    page.get_by_label("…or redeem within (days from issue)").fill("365")
    page.get_by_label("PIN required (gift and top-up only)").check()
    page.get_by_label("Code prefix").fill("WNT")
    page.get_by_label("Quantity").fill("20")
    page.get_by_role("button", name="Create Plan").click()
    expect(page.get_by_text("created as a draft")).to_be_visible()

    page.get_by_role("button", name="Activate and generate 20 passes").click()
    expect(page.get_by_text("20 printed passes.")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download PDF").click()
    pdf = PdfReader(io.BytesIO(download.value.path().read_bytes()))
    assert len(pdf.pages) == 2
    printed = dict(re.findall(r"(WNT[0-9A-Z]{10})\s+PIN (\d{6})", "".join(
        p.extract_text() for p in pdf.pages)))  # fmt: skip
    assert len(printed) == 20
    code, pin = sorted(printed.items())[0]

    # A visitor, in a browser of their own, with the printed card.
    visitor = browser.new_context().new_page()
    visitor.goto(f"{live_server.url}/passes/redeem/?code={code.lower()}")
    expect(visitor.get_by_label("Pass code")).to_have_value(code.lower())
    visitor.get_by_label("PIN").fill(pin)
    visitor.get_by_role("button", name="Redeem").click()
    expect(visitor.get_by_text("40.00 EUR added to a new wallet")).to_be_visible()
    wallet = Wallet.objects.get()
    assert wallet.is_nameless

    visitor.locator("a[href*='/wallet/claim/']").click()
    visitor.get_by_label("Username").fill("zoe")
    visitor.get_by_label("Email").fill("zoe@example.com")
    visitor.get_by_label("Password", exact=True).fill("a-long-pass-42")
    visitor.get_by_label("Password confirmation").fill("a-long-pass-42")
    visitor.get_by_role("button", name="Register and claim").click()

    expect(visitor.get_by_role("heading", name="Your wallet")).to_be_visible()
    expect(visitor.get_by_text("40.00 EUR")).to_be_visible()
    expect(visitor.get_by_text("Gift pass " + code)).to_be_visible()
    wallet.refresh_from_db()
    assert wallet.owner.username == "zoe" and not wallet.is_nameless
