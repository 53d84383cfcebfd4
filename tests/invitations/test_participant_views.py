"""Manage Participants pages: the list, Generate Code, Download CSV, Upload CSV, the
CSV Import Validation page and Complete Import."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from contracts.models import Participant
from invitations import services
from invitations.models import InvitationCode, ParticipantImport
from invitations.resources import COLUMNS, HEADERS
from tests.factories import ParticipantFactory

pytestmark = pytest.mark.django_db


def _rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    text = body.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def _upload(client, contract, data: bytes, **fields):
    url = reverse("invitations:participant_upload", args=[contract.pk])
    return client.post(url, {"file": SimpleUploadedFile("people.csv", data), **fields})


def test_the_list_shows_each_participants_code_and_finds_them_by_it(manager_client, price):
    contract = price.contract
    ann = ParticipantFactory(contract=contract, first_name="Ann", external_reference="E-1")
    ParticipantFactory(contract=contract, first_name="Bo")
    code = services.participant_code_generate(actor=None, participant=ann, price=price, width=8)
    url = reverse("invitations:participant_list", args=[contract.pk])

    page = manager_client.get(url).content.decode()
    assert code.code in page and "Active" in page
    for label in ("Add Participant", "Upload CSV", "Download CSV", "View", "Edit", "Delete"):
        assert label in page

    typed = f"{code.code[:4].lower()}-{code.code[4:]}".replace("0", "o")
    for search in (typed, "ann", ann.email.upper(), "E-1", f"Ann {ann.last_name}"):
        found = manager_client.get(url, {"q": search}).content.decode()
        assert ann.email in found, search
        assert "Bo " not in found, search
    assert "No participant matches" in manager_client.get(url, {"q": "nobody"}).content.decode()


def test_an_empty_contract_says_how_to_start(manager_client, contract):
    page = manager_client.get(reverse("invitations:participant_list", args=[contract.pk]))
    assert "No participants on this contract yet." in page.content.decode()


def test_add_participant_and_a_clashing_reference_is_explained(manager_client, contract):
    url = reverse("invitations:participant_create", args=[contract.pk])
    data = {"first_name": "Ann", "last_name": "Lee", "email": "Ann@Example.com"}
    response = manager_client.post(url, {**data, "external_reference": "00123"})
    ann = Participant.objects.get()
    assert response["Location"] == reverse("invitations:participant_detail", args=[ann.pk])
    assert (ann.email, ann.external_reference) == ("ann@example.com", "00123")
    again = manager_client.post(url, {**data, "external_reference": "00123"})
    assert "Another participant of this contract has the reference 00123." in again.content.decode()
    assert Participant.objects.count() == 1


def test_a_participant_holding_a_code_cannot_be_deleted(manager_client, price):
    person = ParticipantFactory(contract=price.contract)
    services.participant_code_generate(actor=None, participant=person, price=price, width=8)
    url = reverse("invitations:participant_delete", args=[person.pk])
    assert "an invitation code is assigned to them" in manager_client.get(url).content.decode()
    manager_client.post(url)
    assert Participant.objects.filter(pk=person.pk).exists()


def test_generate_code_for_one_participant_then_the_page_asks_before_replacing(
    manager_client, price
):
    person = ParticipantFactory(contract=price.contract)
    url = reverse("invitations:participant_code_generate", args=[person.pk])
    form = manager_client.get(url).content.decode()
    assert "Code width" in form and "Product price" in form and ">Generate<" in form

    response = manager_client.post(url, {"width": 10, "price": price.pk})
    code = InvitationCode.objects.get(participant=person)
    assert len(code.code) == 10
    detail = manager_client.get(response["Location"]).content.decode()
    assert f"Code {code.code} ({price.price_code}) issued to {person.full_name}." in detail

    asked = manager_client.get(url).content.decode()
    assert f"already holds the unused code <code>{code.code}</code>" in asked
    assert "Revoke and Generate" in asked
    assert f'name="replace" value="{code.pk}"' in asked
    manager_client.post(url, {"width": 10, "price": price.pk, "replace": str(code.pk)})
    code.refresh_from_db()
    assert code.status == InvitationCode.Status.REVOKED
    assert InvitationCode.objects.filter(participant=person, status="active").count() == 1


def test_generate_code_posted_without_confirming_does_not_replace(manager_client, price):
    person = ParticipantFactory(contract=price.contract)
    first = services.participant_code_generate(actor=None, participant=person, price=price, width=8)
    url = reverse("invitations:participant_code_generate", args=[person.pk])
    page = manager_client.post(url, {"width": 8, "price": price.pk}).content.decode()
    assert "Revoke it and issue a new one?" in page
    assert list(InvitationCode.objects.values_list("code", "status")) == [(first.code, "active")]


def test_download_csv_has_the_participants_codes_and_defuses_formulas(manager_client, price):
    person = ParticipantFactory(contract=price.contract, first_name="=HYPERLINK()", phone="+44 1")
    code = services.participant_code_generate(actor=None, participant=person, price=price, width=8)
    response = manager_client.get(
        reverse("invitations:participant_export", args=[price.contract.pk])
    )
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    header, row = _rows(response)
    assert header == HEADERS
    record = dict(zip(header, row, strict=True))
    assert record["ID"] == str(person.pk)
    assert (record["First Name"], record["Phone"]) == ("'=HYPERLINK()", "'+44 1")
    assert (record["Price Code"], record["Invitation Code"], record["Code Status"]) == (
        price.price_code,
        code.code,
        "Active",
    )


def test_the_empty_template_has_the_columns_an_upload_accepts(manager_client, contract):
    response = manager_client.get(
        reverse("invitations:participant_csv_template", args=[contract.pk])
    )
    assert _rows(response) == [[h for h in HEADERS if h not in ("Invitation Code", "Code Status")]]


def test_upload_csv_shows_the_instructions_and_accepted_price_codes(manager_client, price):
    page = manager_client.get(
        reverse("invitations:participant_upload", args=[price.contract.pk])
    ).content.decode()
    for text in ("Upload CSV", "empty CSV template", price.price_code, "Update existing contacts"):
        assert text in page
    assert (
        'name="update_existing"' in page and "checked" not in page.split("update_existing")[1][:80]
    )


def test_an_upload_with_issues_shows_them_and_keeps_complete_import_disabled(manager_client, price):
    data = b"First Name,Last Name,Email,Price Code\nAnn,Lee,ann@example.com,NOPE\n"
    response = _upload(manager_client, price.contract, data)
    upload = ParticipantImport.objects.get()
    assert response["Location"] == reverse("invitations:participant_import", args=[upload.pk])
    page = manager_client.get(response["Location"]).content.decode()
    assert "CSV Import Validation" in page and "1 issue" in page
    assert "<code>NOPE</code>" in page and "Unknown price code. Accepted values:" in page
    assert 'disabled aria-disabled="true">Complete Import' in page
    assert "Upload again" in page
    # Posting anyway imports nothing.
    manager_client.post(reverse("invitations:participant_import_complete", args=[upload.pk]))
    assert not Participant.objects.exists()


def test_upload_then_complete_import_shows_the_codes_and_offers_download_csv(manager_client, price):
    data = f"First Name,Last Name,Email,Price Code\nAnn,Lee,ann@example.com,{price.price_code}\n"
    response = _upload(manager_client, price.contract, data.encode(), width="12")
    page = manager_client.get(response["Location"]).content.decode()
    assert "No issues." in page and "issue 1 invitation code" in page
    assert 'class="btn btn-primary" >Complete Import' in page

    upload = ParticipantImport.objects.get()
    done = manager_client.post(
        reverse("invitations:participant_import_complete", args=[upload.pk]), follow=True
    )
    result = done.content.decode()
    code = InvitationCode.objects.get()
    assert len(code.code) == 12 and code.participant.email == "ann@example.com"
    assert "Import complete" in result
    assert "1 participant added, 0 updated, 0 unchanged; 1 invitation code issued" in result
    assert code.code in result and "Download CSV" in result


def test_an_upload_while_an_import_runs_is_refused_on_the_form(manager_client, contract):
    data = b"First Name,Last Name,Email\nAnn,Lee,ann@example.com\n"
    _upload(manager_client, contract, data)
    ParticipantImport.objects.update(status="importing")
    page = _upload(manager_client, contract, data).content.decode()
    assert "An import into this contract is running" in page
    assert ParticipantImport.objects.count() == 1


def test_an_upload_without_a_file_asks_for_one(manager_client, contract):
    url = reverse("invitations:participant_upload", args=[contract.pk])
    page = manager_client.post(url, {}).content.decode()
    assert "Choose a CSV file to upload." in page
    assert not ParticipantImport.objects.exists()


def test_import_progress_is_reported_as_json(manager_client, contract):
    _upload(manager_client, contract, b"First Name,Last Name,Email\nAnn,Lee,a@example.com\n")
    upload = ParticipantImport.objects.get()
    progress = manager_client.get(
        reverse("invitations:participant_import_progress", args=[upload.pk])
    ).json()
    assert progress == {"status": "valid", "percent": 100, "text": "Ready to import – 100%"}


def test_a_running_import_page_shows_a_progress_bar_that_survives_a_reload(
    manager_client, contract
):
    _upload(manager_client, contract, b"First Name,Last Name,Email\nAnn,Lee,a@example.com\n")
    upload = ParticipantImport.objects.get()
    ParticipantImport.objects.update(status="importing", progress=40)
    url = reverse("invitations:participant_import", args=[upload.pk])
    for _ in range(2):
        page = manager_client.get(url).content.decode()
        assert '<progress max="100" value="40"' in page and "Importing – 40%" in page


def test_the_admin_imports_participants_into_the_chosen_contract(superuser_client, contract):
    url = reverse("admin:contracts_participant_import")
    data = "First Name,Last Name,Email,External Reference\nAnn,Lee,Ann@Example.com,00123\n"
    response = superuser_client.post(
        url,
        {
            "contract": contract.pk,
            "format": "0",
            "import_file": SimpleUploadedFile("p.csv", data.encode()),
        },
    )
    assert response.status_code == 200, response.content[:500]
    confirm = response.context["confirm_form"]
    assert not Participant.objects.exists()  # the first step is a dry run
    superuser_client.post(reverse("admin:contracts_participant_process_import"), confirm.initial)
    ann = Participant.objects.get()
    # Saved through the participant service: the email is normalised, zeros kept.
    assert (ann.contract, ann.email, ann.external_reference) == (
        contract,
        "ann@example.com",
        "00123",
    )


def test_the_admin_export_needs_the_code_export_permission_and_defuses_formulas(client, price):
    from core import roles
    from tests.factories import UserFactory

    ParticipantFactory(contract=price.contract, first_name='=HYPERLINK("http://x")', phone="+1")
    url = reverse("admin:contracts_participant_export")
    client.force_login(UserFactory(role=roles.VIEWER))
    assert client.post(url, {"format": "0"}).status_code == 403
    client.force_login(UserFactory(role=roles.CONTRACT_MANAGER))
    fields = {f"participantresource_{c.field}": "on" for c in COLUMNS}
    response = client.post(url, {"format": "0", "resource": "0", **fields})
    assert response.status_code == 200, response.content[:300]
    header, row = _rows(response)
    assert header == HEADERS
    record = dict(zip(header, row, strict=True))
    assert (record["First Name"], record["Phone"]) == ('\'=HYPERLINK("http://x")', "'+1")
