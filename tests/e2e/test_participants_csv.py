"""The participant CSV round-trip in a real browser, through the seed's labels.

Contract Management → organisation → contract → Participants → Download CSV → edit the
file → Upload CSV → CSV Import Validation (an unknown Price Code) → Upload again →
Complete Import → Download CSV.

Set SCREENSHOT_DIR to keep screenshots of the pages for a person to look at.
"""

import csv
import io
import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from contracts.models import Contract, Participant
from core import roles
from invitations.models import InvitationCode
from tests.factories import ContractPriceFactory, ParticipantFactory, UserFactory

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("restore_roles"),
]

HEADERS = [
    "ID",
    "First Name",
    "Last Name",
    "Email",
    "Phone",
    "Date of Birth",
    "External Reference",
    "Group",
    "Region",
    "Notes",
    "Price Code",
    "Invitation Code",
    "Code Status",
]


def _screenshot(page: Page, name: str) -> None:
    folder = os.environ.get("SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def _download(page: Page) -> tuple[str, list[dict]]:
    """Click Download CSV; the file's text (BOM checked and removed) and its rows."""
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    raw = Path(download.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "the export starts with a UTF-8 byte-order mark"
    text = raw.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = list(reader)
    assert reader.fieldnames == HEADERS
    return text, rows


def _csv_bytes(rows: list[dict]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=HEADERS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def _choose_file(page: Page, rows: list[dict]) -> None:
    page.get_by_label("CSV file").set_input_files(
        {"name": "participants.csv", "mimeType": "text/csv", "buffer": _csv_bytes(rows)}
    )
    page.get_by_role("button", name="Upload", exact=True).click()


def test_staff_download_edit_and_upload_the_participant_csv(live_server, page: Page):
    UserFactory(
        username="maria", first_name="Maria", last_name="Lopez", role=roles.CONTRACT_MANAGER
    )
    std = ContractPriceFactory(
        contract__name="Wellbeing 2026",
        contract__status=Contract.Status.ACTIVE,
        contract__invitation_prefix="ACME",
        contract__organisation__name="Acme Industries",
        price_code="STD",
        product__name="Health Check",
    )
    contract = std.contract
    ContractPriceFactory(contract=contract, price_code="VIP", product__name="Full Check")
    uk = ParticipantFactory(
        contract=contract, first_name="Olivia", last_name="Brown", phone="+44 20 7946 0958"
    )
    padded = ParticipantFactory(
        contract=contract, first_name="Liam", last_name="Smith", external_reference="00123"
    )
    plain = ParticipantFactory(contract=contract, first_name="Emma", last_name="Jones")

    page.goto(live_server.url + "/")
    page.get_by_label("Username").fill("maria")
    page.get_by_label("Password").fill("pw-for-tests-1")
    page.get_by_role("button", name="Log in").click()

    page.get_by_text("Maria Lopez").click()
    page.get_by_role("menuitem", name="Contract Management").click()
    page.get_by_role("link", name="Acme Industries").click()
    page.get_by_role("link", name="Wellbeing 2026").click()
    page.get_by_role("link", name="Participants").click()
    expect(page.get_by_text("3 participants")).to_be_visible()

    # Download CSV: the participants as they are, no codes yet.
    text, rows = _download(page)
    assert [row["ID"] for row in rows] == [str(p.pk) for p in (uk, padded, plain)]
    by_id = {int(row["ID"]): row for row in rows}
    assert by_id[uk.pk]["Phone"] == "'+44 20 7946 0958"  # defused for spreadsheets
    assert by_id[padded.pk]["External Reference"] == "00123"
    assert ",00123," in text  # written as text, not as the number 123
    assert all(row["Price Code"] == row["Invitation Code"] == "" for row in rows)

    # Price codes for everyone, a new participant, and one price code that does not exist.
    by_id[uk.pk]["Price Code"] = "STD"
    by_id[padded.pk]["Price Code"] = "VIP"
    by_id[plain.pk]["Price Code"] = "NOPE"
    new_row = dict.fromkeys(HEADERS, "")
    new_row |= {
        "First Name": "Noah",
        "Last Name": "Taylor",
        "Email": "noah.taylor@example.com",
        "Price Code": "STD",
    }
    rows.append(new_row)

    page.get_by_role("link", name="Upload CSV").click()
    expect(page.get_by_role("heading", name="Upload CSV")).to_be_visible()
    _choose_file(page, rows)

    expect(page.get_by_role("heading", name="CSV Import Validation")).to_be_visible()
    expect(page.get_by_role("alert").filter(has_text="1 issue")).to_be_visible()
    issues = page.locator("table.issues tbody tr")
    expect(issues).to_have_count(1)
    cells = issues.first.locator("td")
    expect(cells.nth(0)).to_have_text("4")  # the header is row 1, Emma Jones is row 4
    expect(cells.nth(1)).to_have_text("Price Code")
    expect(cells.nth(2)).to_have_text("NOPE")
    expect(cells.nth(3)).to_have_text(
        "Unknown price code. Accepted values: STD, VIP (or leave it empty for no code)."
    )
    expect(page.get_by_role("button", name="Complete Import")).to_be_disabled()
    _screenshot(page, "participants-csv-validation.png")
    assert Participant.objects.count() == 3
    assert InvitationCode.objects.count() == 0

    # Fix the row and upload again from the validation page.
    by_id[plain.pk]["Price Code"] = "VIP"
    expect(page.get_by_role("heading", name="Upload again")).to_be_visible()
    _choose_file(page, rows)

    expect(page.get_by_role("heading", name="CSV Import Validation")).to_be_visible()
    expect(page.locator("table.issues")).to_have_count(0)
    expect(page.get_by_text("No issues.")).to_be_visible()
    expect(page.get_by_text("issue 4 invitation codes (2 × STD, 2 × VIP)")).to_be_visible()
    complete = page.get_by_role("button", name="Complete Import")
    expect(complete).to_be_enabled()
    complete.click()

    expect(page.get_by_role("heading", name="Import complete")).to_be_visible()
    expect(page.get_by_text("4 invitation codes issued").first).to_be_visible()
    issued = page.locator("table tbody tr")
    expect(issued).to_have_count(4)
    shown = {}  # code -> price code, as the page lists them
    for i in range(4):
        cells = issued.nth(i).locator("td")
        shown[cells.nth(2).inner_text().strip()] = cells.nth(3).inner_text().strip()
    _screenshot(page, "participants-csv-import-complete.png")

    # The database: one new participant, one code each, the details as they were.
    assert Participant.objects.filter(contract=contract).count() == 4
    assert InvitationCode.objects.count() == 4
    noah = Participant.objects.get(email="noah.taylor@example.com")
    assert (noah.first_name, noah.last_name) == ("Noah", "Taylor")
    uk.refresh_from_db()
    padded.refresh_from_db()
    assert uk.phone == "+44 20 7946 0958"
    assert padded.external_reference == "00123"
    stored = {
        code.participant_id: code
        for code in InvitationCode.objects.select_related("price").filter(participant__isnull=False)
    }
    assert set(stored) == {uk.pk, padded.pk, plain.pk, noah.pk}
    assert {code.code: code.price.price_code for code in stored.values()} == shown
    expected_price = {uk.pk: "STD", padded.pk: "VIP", plain.pk: "VIP", noah.pk: "STD"}
    assert {pid: code.price.price_code for pid, code in stored.items()} == expected_price
    assert all(code.code.startswith("ACME") for code in stored.values())

    # Download CSV again: every participant with their code and its price.
    _, exported = _download(page)
    assert len(exported) == 4
    for row in exported:
        code = stored[int(row["ID"])]
        assert row["Invitation Code"] == code.code
        assert row["Price Code"] == expected_price[int(row["ID"])]
        assert row["Code Status"] == "Active"
    again = {int(row["ID"]): row for row in exported}
    assert again[uk.pk]["Phone"] == "'+44 20 7946 0958"
    assert again[padded.pk]["External Reference"] == "00123"
    assert again[noah.pk]["Email"] == "noah.taylor@example.com"

    page.get_by_role("link", name="Back to Participants").click()
    expect(page.get_by_text("4 participants")).to_be_visible()
    for code in stored.values():
        expect(page.get_by_text(code.code, exact=True)).to_be_visible()
    _screenshot(page, "participants-csv-participants.png")
