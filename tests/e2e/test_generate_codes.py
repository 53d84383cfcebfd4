"""The seed workflow in a real browser: Contract Management → … → Generate Codes → Download CSV."""

import csv
import io

import pytest
from playwright.sync_api import Page, expect

from core import roles
from invitations.models import InvitationCode
from tests.factories import ContractPriceFactory, UserFactory

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("restore_roles"),
]


def test_staff_generate_50_codes_open_the_menu_and_download_them(live_server, page: Page):
    UserFactory(
        username="maria", first_name="Maria", last_name="Lopez", role=roles.CONTRACT_MANAGER
    )
    price = ContractPriceFactory(
        contract__name="Wellbeing 2026",
        contract__invitation_prefix="ACME",
        contract__organisation__name="Acme Industries",
        price_code="STD",
        product__name="Health Check",
    )

    page.goto(live_server.url + "/")
    page.get_by_label("Username").fill("maria")
    page.get_by_label("Password").fill("pw-for-tests-1")
    page.get_by_role("button", name="Log in").click()

    page.get_by_text("Maria Lopez").click()
    page.get_by_role("menuitem", name="Contract Management").click()
    page.get_by_role("link", name="Acme Industries").click()
    page.get_by_role("link", name="Wellbeing 2026").click()
    page.get_by_role("link", name="Invitation Codes").click()
    page.get_by_role("link", name="Generate Codes").first.click()

    page.get_by_label("Quantity").fill("50")
    page.get_by_label("Code width").select_option("8")
    page.get_by_label("Price").select_option(label=str(price))
    expect(page.locator("[data-odds-text]")).to_contain_text("random guesses hits a code")
    page.get_by_role("button", name="Generate").click()

    expect(page.get_by_text("Generated 50 codes.")).to_be_visible()
    rows = page.locator("table.codes tbody tr")
    expect(rows).to_have_count(50)

    first_code = rows.first.locator("td").first.inner_text().strip()
    assert first_code.startswith("ACME") and len(first_code) == 12
    page.get_by_label(f"Actions for {first_code}").click()
    menu = rows.first.get_by_role("menu")
    for label in ("Open Product", "View", "Edit", "Archive", "Delete"):
        expect(menu.get_by_role("menuitem", name=label)).to_be_visible()
    expect(menu.get_by_role("menuitem", name="Open Product")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(menu.get_by_role("menuitem", name="View")).to_be_focused()
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    expect(menu.get_by_role("menuitem", name="Delete")).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    with open(download.path(), encoding="utf-8-sig") as f:
        exported = list(csv.DictReader(io.StringIO(f.read())))
    assert len(exported) == 50
    stored = set(InvitationCode.objects.values_list("code", flat=True))
    assert {row["Code"] for row in exported} == stored
    assert {row["Price Code"] for row in exported} == {"STD"}
    assert first_code in stored


def test_open_product_from_the_code_menu(live_server, page: Page, client):
    user = UserFactory(username="viewer1", role=roles.VIEWER)
    price = ContractPriceFactory(product__name="Flu Vaccination")
    from invitations import services

    services.code_batch_create(
        actor=None, contract=price.contract, price=price, quantity=1, width=8
    )
    page.goto(f"{live_server.url}/staff/contracts/{price.contract.pk}/codes/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("pw-for-tests-1")
    page.get_by_role("button", name="Log in").click()
    code = InvitationCode.objects.get().code
    page.get_by_label(f"Actions for {code}").click()
    # A viewer sees only what they may do.
    expect(page.get_by_role("menuitem", name="Edit")).to_have_count(0)
    page.get_by_role("menuitem", name="Open Product").click()
    expect(page.get_by_role("heading", name="Flu Vaccination")).to_be_visible()
