"""The participant CSV import: every bad input is reported and nothing is written;
Complete Import writes everything or nothing; a file we exported comes back unchanged."""

import csv
import io
from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from contracts.models import Contract, Participant
from core import csvio
from core.errors import DomainError
from invitations import selectors, services
from invitations.models import InvitationCode, ParticipantImport
from invitations.resources import HEADERS
from invitations.services import participants as participant_services
from tests.factories import ContractPriceFactory, ParticipantFactory

pytestmark = pytest.mark.django_db

BASIC = "First Name,Last Name,Email,Price Code\n"
ID_HEADER = "ID," + BASIC


def upload(contract, data: bytes | str, *, name="list.csv", **options) -> ParticipantImport:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return services.participant_import_upload(
        actor=None, contract=contract, file=SimpleUploadedFile(name, data), **options
    )


def complete(upload_: ParticipantImport) -> ParticipantImport:
    return services.participant_import_complete(actor=None, participant_import=upload_)


def exported(contract) -> bytes:
    """What Download CSV gives, as bytes."""
    rows = selectors.participant_export_rows(contract=contract)
    text = "".join(
        csvio.iter_csv(HEADERS, rows, trusted_columns=selectors.PARTICIPANT_EXPORT_TRUSTED)
    )
    return text.encode("utf-8")


def parse(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def state(contract) -> tuple:
    """Everything an import could change, to compare before and after."""
    return (
        sorted(
            Participant.objects.filter(contract=contract).values_list(
                "id", "first_name", "last_name", "email", "phone", "date_of_birth",
                "external_reference", "group", "region", "notes",
            )
        ),
        sorted(InvitationCode.objects.filter(contract=contract).values_list("code", "status")),
    )  # fmt: skip


def only_issue(result: ParticipantImport) -> dict:
    assert result.status == ParticipantImport.Status.INVALID, result.summary
    assert result.issue_count == 1, result.issues
    return result.issues[0]


# --- Bad input: each reported with row, column, value and reason; nothing written ----------


@pytest.fixture
def two_prices(price):
    ContractPriceFactory(contract=price.contract, price_code="VIP")
    price.price_code = "STD"
    price.save()
    return price.contract


def rejected(contract, data, **options) -> dict:
    before = state(contract)
    result = upload(contract, data, **options)
    issue = only_issue(result)
    with pytest.raises(DomainError, match="fix its issues"):
        complete(result)
    assert state(contract) == before
    return issue


def test_an_unknown_price_code_lists_the_accepted_values(two_prices):
    issue = rejected(two_prices, BASIC + "Ann,Lee,ann@example.com,GOLD\n")
    assert issue == {
        "row": 2,
        "column": "Price Code",
        "value": "GOLD",
        "message": "Unknown price code. Accepted values: STD, VIP (or leave it empty for no code).",
    }


def test_a_malformed_email_is_reported(contract):
    issue = rejected(contract, BASIC + "Ann,Lee,ann@@example,\n")
    assert (issue["row"], issue["column"], issue["value"]) == (2, "Email", "ann@@example")
    assert issue["message"] == "Not a valid email address."


def test_two_addresses_in_one_cell_are_explained(contract):
    issue = rejected(contract, BASIC + 'Ann,Lee,"ann@example.com; bo@example.com",\n')
    assert "more than one address" in issue["message"]


def test_a_missing_required_value_is_reported(contract):
    issue = rejected(contract, BASIC + ",Lee,ann@example.com,\n")
    assert (issue["row"], issue["column"], issue["message"]) == (
        2,
        "First Name",
        "Missing required value.",
    )


def test_a_duplicate_external_reference_in_the_file_names_the_first_row(contract):
    data = "First Name,Last Name,Email,External Reference\n"
    data += "Ann,Lee,ann@example.com,00123\nBo,Kim,bo@example.com,00123\n"
    issue = rejected(contract, data)
    assert issue["row"] == 3 and issue["value"] == "00123"
    assert issue["message"] == "The external reference 00123 appears again (first on row 2)."


def test_a_duplicate_id_in_the_file_is_reported(contract):
    p = ParticipantFactory(contract=contract)
    data = f"ID,First Name,Last Name,Email\n{p.pk},A,B,a@example.com\n{p.pk},C,D,c@example.com\n"
    issue = rejected(contract, data)
    assert issue["row"] == 3 and issue["column"] == "ID"
    assert issue["message"] == f"The ID {p.pk} appears again (first on row 2)."


def test_an_id_of_another_contract_belongs_to_no_participant_of_this_one(contract):
    stranger = ParticipantFactory()  # on another contract
    issue = rejected(contract, f"ID,First Name,Last Name,Email\n{stranger.pk},A,B,a@example.com\n")
    assert issue["column"] == "ID" and issue["value"] == str(stranger.pk)
    assert issue["message"].startswith(f"No participant of this contract has the ID {stranger.pk}")
    assert Participant.objects.get(pk=stranger.pk).first_name == "Alex"


def test_a_row_with_too_few_cells_is_reported(contract):
    issue = rejected(contract, BASIC + "Ann,Lee\n")
    assert issue["row"] == 2
    assert issue["message"].startswith("This row has 2 cells but the header has 4")


def test_a_row_with_too_many_cells_suggests_an_unquoted_comma(contract):
    issue = rejected(contract, BASIC + "Ann,Lee,Jr,ann@example.com,\n")
    assert issue["message"].startswith("This row has 5 cells but the header has 4")
    assert "without quotes" in issue["message"]


def test_unknown_and_missing_headers_are_reported(contract):
    result = upload(contract, "First Name,Surname Typo,Email\nAnn,Lee,ann@example.com\n")
    messages = {(i["column"], i["value"], i["message"]) for i in result.issues}
    assert result.issue_count == 2
    assert any(
        c == "column 2" and v == "Surname Typo" and m.startswith("Unknown column. The accepted")
        for c, v, m in messages
    )
    assert ("Last Name", "", "The column Last Name is missing; it is required.") in messages


def test_a_repeated_header_is_reported(contract):
    issue = rejected(contract, "First Name,Last Name,Email,email\nA,B,a@example.com,x\n")
    assert issue["message"] == "The column Email appears twice (columns 3 and 4)."


def test_an_empty_file_is_reported(contract):
    assert rejected(contract, b"")["message"] == "The file is empty."


def test_headers_without_rows_are_reported(contract):
    issue = rejected(contract, BASIC)
    assert issue["message"] == "The file has column names but no rows of participants."


def test_a_binary_file_renamed_csv_is_not_csv_text(contract):
    issue = rejected(contract, b"PK\x03\x04" + bytes(range(256)) * 4, name="list.csv")
    assert issue["row"] is None
    assert "not CSV text" in issue["message"] and "Save As" in issue["message"]


def test_a_file_above_the_size_limit_is_refused_and_not_stored(contract, settings):
    settings.PARTICIPANT_IMPORT_MAX_BYTES = 1_000
    issue = rejected(contract, BASIC + "Ann,Lee,ann@example.com,\n" * 60)
    assert issue["message"] == "The file is 0.0 MB; the limit is 0 MB. Split it into smaller files."
    assert not ParticipantImport.objects.get().file


def test_the_default_size_limit_is_20_mb(contract, settings):
    assert settings.PARTICIPANT_IMPORT_MAX_BYTES == 20_000_000
    big = SimpleUploadedFile("big.csv", b"")
    big.size = 23_400_000  # the check reads the size, not the bytes
    result = services.participant_import_upload(actor=None, contract=contract, file=big)
    assert only_issue(result)["message"] == (
        "The file is 23.4 MB; the limit is 20 MB. Split it into smaller files."
    )


def test_a_file_with_more_rows_than_the_limit_is_refused(contract, settings):
    settings.PARTICIPANT_IMPORT_MAX_ROWS = 5
    data = BASIC + "".join(f"A,B,p{i}@example.com,\n" for i in range(6))
    issue = rejected(contract, data)
    assert issue["message"] == (
        "The file has more than 5 rows; import at most 5 at a time: "
        "split the file and upload each part."
    )


def test_two_files_joined_with_a_bom_in_the_middle_are_reported(contract):
    part = BASIC + "Ann,Lee,ann@example.com,\n"
    issue = rejected(
        contract, "\ufeff" + part + "\ufeff" + part.replace("Ann,Lee,ann", "Bo,Kim,bo")
    )
    assert issue["row"] == 3
    assert "repeats the column names" in issue["message"]


def test_an_invisible_bom_inside_a_cell_is_reported(contract):
    issue = rejected(contract, BASIC + "Ann\ufeff,Lee,ann@example.com,\n")
    assert issue["column"] == "First Name" and "byte-order mark" in issue["message"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1990-13-45", "Not a date we can read."),
        ("03/25/1990", "month first (US style)"),
        ("1 March 1990", "Not a date we can read."),
        ("01/03/90", "Not a date we can read."),
        ("01/03/2999", "in the future"),
    ],
)
def test_dates_we_cannot_read_are_explained(contract, value, expected):
    data = f"First Name,Last Name,Email,Date of Birth\nAnn,Lee,ann@example.com,{value}\n"
    issue = rejected(contract, data)
    assert issue["column"] == "Date of Birth" and expected in issue["message"]


def test_a_phone_number_the_spreadsheet_turned_into_a_number_is_reported(contract):
    data = "First Name,Last Name,Email,Phone\nAnn,Lee,ann@example.com,4.42079E+11\n"
    assert "format the Phone column as Text" in rejected(contract, data)["message"]


def test_leading_zeros_dropped_from_a_known_reference_are_caught(contract):
    ParticipantFactory(contract=contract, external_reference="00123")
    data = "First Name,Last Name,Email,External Reference\nAnn,Lee,ann@example.com,123\n"
    issue = rejected(contract, data)
    assert "dropped leading zeros" in issue["message"] and "00123" in issue["message"]


def test_a_reference_that_belongs_to_another_participant_is_reported(contract):
    owner = ParticipantFactory(contract=contract, external_reference="E-7")
    data = "First Name,Last Name,Email,External Reference\nAnn,Lee,ann@example.com,E-7\n"
    issue = rejected(contract, data)
    assert issue["message"] == (
        f"The external reference E-7 already belongs to {owner.first_name} {owner.last_name} "
        f"(ID {owner.pk}, {owner.email})."
    )


def test_every_issue_is_listed_not_only_the_first(contract):
    data = BASIC + "Ann,Lee,bad,\n,Kim,bo@example.com,\nCy,Ng,cy@example.com,NOPE\n"
    result = upload(contract, data)
    assert result.issue_count == 3
    assert [i["row"] for i in result.issues] == [2, 3, 4]


def test_issues_past_the_listed_thousand_are_counted(contract):
    data = BASIC + "A,B,not-an-email,\n" * 1_200
    result = upload(contract, data)
    assert result.issue_count == 1_200 and len(result.issues) == 1_000


# --- What spreadsheets save -------------------------------------------------------------


def test_excel_windows_1252_semicolons_crlf_reordered_headers_and_day_first_dates(contract):
    data = (
        "EMAIL;last name;FIRST_NAME;Date Of Birth;phone;External Reference\r\n"
        "zoe@example.com;Müller;Zoë;01/03/1990;0044 20 7946 0000;00123\r\n"
        '"bo@example.com";"Kim; Jr";Bo;1990-03-02;;\r\n'
        "\r\n;;;;;\r\n"
    ).encode("cp1252")
    result = complete(upload(contract, data))
    assert result.status == ParticipantImport.Status.DONE, result.issues
    zoe = Participant.objects.get(email="zoe@example.com")
    assert (zoe.first_name, zoe.last_name, zoe.date_of_birth) == ("Zoë", "Müller", date(1990, 3, 1))
    assert (zoe.phone, zoe.external_reference) == ("0044 20 7946 0000", "00123")
    assert Participant.objects.get(email="bo@example.com").last_name == "Kim; Jr"


def test_quoted_cells_with_commas_and_newlines_are_kept_whole(contract):
    data = "First Name,Last Name,Email,Notes\n"
    data += 'Ann,Lee,ann@example.com,"Wheelchair, ground floor\nCall first"\n'
    complete(upload(contract, data))
    assert Participant.objects.get().notes == "Wheelchair, ground floor\nCall first"


# --- Complete Import ----------------------------------------------------------------------


def test_complete_import_adds_updates_and_issues_one_code_per_price_code(
    two_prices, django_capture_on_commit_callbacks
):
    contract = two_prices
    known = ParticipantFactory(contract=contract, first_name="Old")
    data = (
        "ID,First Name,Last Name,Email,Price Code\n"
        f"{known.pk},New,{known.last_name},{known.email},vip\n"
        ",Ann,Lee,ann@example.com,STD\n"
        ",Bo,Kim,bo@example.com,\n"
    )
    checked = upload(contract, data, update_existing=True, width=10)
    assert checked.status == ParticipantImport.Status.VALID
    assert checked.summary["codes_by_price"] == {"STD": 1, "VIP": 1}
    assert Participant.objects.count() == 1  # nothing before Complete Import

    with django_capture_on_commit_callbacks(execute=True):
        result = complete(checked)
    assert result.status == ParticipantImport.Status.DONE
    assert (result.summary["new"], result.summary["updated"], result.summary["codes"]) == (2, 1, 2)
    known.refresh_from_db()
    assert known.first_name == "New"
    vip = InvitationCode.objects.get(participant=known)
    assert vip.price.price_code == "VIP" and len(vip.code) == 10
    ann = Participant.objects.get(email="ann@example.com")
    assert InvitationCode.objects.get(participant=ann).price.price_code == "STD"
    assert not InvitationCode.objects.filter(participant__email="bo@example.com").exists()
    assert list(selectors.participant_import_codes(participant_import=result)) == list(
        InvitationCode.objects.order_by("participant__last_name")
    )
    result.refresh_from_db()
    assert not result.file  # the uploaded copy is not kept once imported


def test_existing_participants_keep_their_details_unless_update_is_ticked(contract, price):
    known = ParticipantFactory(contract=contract, phone="+44 1")
    data = "ID,First Name,Last Name,Email,Phone,Price Code\n"
    data += f"{known.pk},Changed,X,x@example.com,+44 2,{price.price_code}\n"
    checked = upload(contract, data)
    assert checked.summary["kept"] == 1
    assert any("keep theirs" in note for note in checked.summary["notes"])
    complete(checked)
    known.refresh_from_db()
    assert (known.first_name, known.phone) == ("Alex", "+44 1")
    assert (
        InvitationCode.objects.filter(participant=known, price=price).count() == 1
    )  # still issued


def test_no_second_code_when_the_participant_holds_an_unused_one_of_that_price(contract, price):
    known = ParticipantFactory(contract=contract)
    services.participant_code_generate(actor=None, participant=known, price=price, width=8)
    data = f"{ID_HEADER}{known.pk},A,B,c@example.com,{price.price_code}\n"
    result = complete(upload(contract, data))
    assert result.summary["already_hold"] == 1 and result.summary["codes"] == 0
    assert InvitationCode.objects.filter(participant=known).count() == 1


def test_a_used_code_does_not_stop_a_new_one(contract, price):
    known = ParticipantFactory(contract=contract)
    code = services.participant_code_generate(actor=None, participant=known, price=price, width=8)
    InvitationCode.objects.filter(pk=code.pk).update(uses=1)
    data = f"{ID_HEADER}{known.pk},A,B,c@example.com,{price.price_code}\n"
    complete(upload(contract, data))
    assert InvitationCode.objects.filter(participant=known).count() == 2


def test_a_failure_during_complete_import_rolls_back_every_row(contract, price, monkeypatch):
    data = BASIC + f"Ann,Lee,ann@example.com,{price.price_code}\nBo,Kim,bo@example.com,\n"
    checked = upload(contract, data)
    before = state(contract)

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(participant_services, "codes_issue_to_participants", broken)
    result = complete(checked)
    assert result.status == ParticipantImport.Status.FAILED
    assert result.error == "The import stopped and nothing was written: disk full"
    assert state(contract) == before  # the participants written before the failure are gone too


def test_complete_import_checks_again_and_writes_nothing_when_the_contract_changed(contract, price):
    known = ParticipantFactory(contract=contract)
    data = f"{ID_HEADER}{known.pk},A,B,c@example.com,{price.price_code}\n"
    checked = upload(contract, data)
    known_id = known.pk
    known.delete()  # deleted by someone else between the upload and Complete Import
    result = complete(checked)
    assert result.status == ParticipantImport.Status.INVALID
    assert result.issues[0]["message"].startswith(
        f"No participant of this contract has the ID {known_id}"
    )
    assert not InvitationCode.objects.exists()


def test_clicking_complete_import_twice_imports_once(contract, price):
    checked = upload(contract, BASIC + f"Ann,Lee,ann@example.com,{price.price_code}\n")
    first = complete(checked)
    again = complete(checked)
    assert first.status == again.status == ParticipantImport.Status.DONE
    assert Participant.objects.count() == 1 and InvitationCode.objects.count() == 1


def test_a_second_upload_while_an_import_runs_is_refused(contract):
    running = upload(contract, BASIC + "Ann,Lee,ann@example.com,\n")
    ParticipantImport.objects.filter(pk=running.pk).update(status="importing")
    with pytest.raises(DomainError, match="An import into this contract is running"):
        upload(contract, BASIC + "Bo,Kim,bo@example.com,\n")
    assert ParticipantImport.objects.count() == 1


def test_a_second_complete_import_on_the_same_contract_waits_its_turn(contract):
    first = upload(contract, BASIC + "Ann,Lee,ann@example.com,\n")
    second = upload(contract, BASIC + "Bo,Kim,bo@example.com,\n")
    ParticipantImport.objects.filter(pk=first.pk).update(status="importing")
    with pytest.raises(DomainError, match="An import into this contract is running"):
        complete(second)
    assert ParticipantImport.objects.get(pk=second.pk).status == ParticipantImport.Status.VALID
    assert not Participant.objects.exists()


def test_a_closed_contract_issues_no_codes_from_an_import(contract, price):
    contract.status = Contract.Status.CLOSED
    contract.save()
    issue = rejected(contract, BASIC + f"Ann,Lee,ann@example.com,{price.price_code}\n")
    assert "is closed: no codes can be issued" in issue["message"]


def test_codes_that_would_become_guessable_are_reported_on_the_validation_page(contract, price):
    data = BASIC + "".join(f"A,B,p{i}@example.com,{price.price_code}\n" for i in range(3))
    services.code_batch_create(actor=None, contract=contract, price=price, quantity=3_354, width=6)
    issue = rejected(contract, data, width=6)
    assert (issue["column"], issue["value"]) == ("Code width", "6")
    assert issue["message"].endswith("Upload again with a code width of at least 7.")


def test_codes_made_guessable_meanwhile_are_refused_at_complete_import(contract, price):
    data = BASIC + "".join(f"A,B,p{i}@example.com,{price.price_code}\n" for i in range(3))
    checked = upload(contract, data, width=6)
    assert checked.status == ParticipantImport.Status.VALID
    services.code_batch_create(actor=None, contract=contract, price=price, quantity=3_354, width=6)
    result = complete(checked)
    assert result.status == ParticipantImport.Status.INVALID
    assert result.issues[0]["column"] == "Code width"
    assert not Participant.objects.exists()


def test_an_import_that_would_now_do_something_else_asks_again(contract, price):
    """Two uploads of one new list: once the first is imported, the second would add
    everyone a second time, which is not what its validation page showed."""
    data = BASIC + f"Ann,Lee,ann@example.com,{price.price_code}\n"
    first, second = upload(contract, data), upload(contract, data)
    complete(first)
    result = complete(second)
    assert result.status == ParticipantImport.Status.VALID and result.summary["changed"]
    assert any("added as new participants" in note for note in result.summary["notes"])
    assert Participant.objects.count() == 1 and InvitationCode.objects.count() == 1
    # Staff saw the new figures; a second Complete Import does what they now say.
    assert complete(result).status == ParticipantImport.Status.DONE
    assert Participant.objects.count() == 2


def test_a_redelivered_import_task_does_not_import_twice(contract, price):
    checked = upload(contract, BASIC + f"Ann,Lee,ann@example.com,{price.price_code}\n")
    ParticipantImport.objects.filter(pk=checked.pk).update(status="importing")
    first = services.participant_import_run(import_id=checked.pk)
    again = services.participant_import_run(import_id=checked.pk)
    assert first.status == again.status == ParticipantImport.Status.DONE
    assert Participant.objects.count() == 1 and InvitationCode.objects.count() == 1


def test_an_id_that_is_not_a_plain_number_is_reported_not_a_crash(contract):
    for value in ("²", "1" * 5_000, "٣", "12.0"):
        issue = rejected(contract, f"ID,First Name,Last Name,Email\n{value},A,B,a@example.com\n")
        assert issue["column"] == "ID" and issue["message"].startswith("An ID is a number")
        ParticipantImport.objects.all().delete()


def test_large_files_are_checked_and_imported_in_the_background(
    contract, price, settings, django_capture_on_commit_callbacks
):
    settings.PARTICIPANT_IMPORT_SYNC_ROWS = 2
    data = BASIC + "".join(f"A,B,p{i}@example.com,{price.price_code}\n" for i in range(5))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        checked = upload(contract, data)
        assert checked.status == ParticipantImport.Status.VALIDATING  # handed to the worker
    assert len(callbacks) == 1
    checked.refresh_from_db()
    assert checked.status == ParticipantImport.Status.VALID and checked.progress == 100
    with django_capture_on_commit_callbacks(execute=True):
        started = complete(checked)
        assert started.status == ParticipantImport.Status.IMPORTING
    started.refresh_from_db()
    assert started.status == ParticipantImport.Status.DONE
    assert InvitationCode.objects.filter(participant__isnull=False).count() == 5


# --- Unique Identifier -------------------------------------------------------------------


def test_email_as_identifier_matches_rows_without_an_id(contract, price):
    contract.participant_identifier = Contract.Identifier.EMAIL
    contract.save()
    known = ParticipantFactory(contract=contract, email="ann@example.com", first_name="Old")
    data = BASIC.replace("\n", ",Group\n") + f"Ann,Lee,ANN@example.com,{price.price_code},Sales\n"
    result = complete(upload(contract, data, update_existing=True))
    assert (result.summary["new"], result.summary["updated"]) == (0, 1)
    known.refresh_from_db()
    assert (known.first_name, known.group) == ("Ann", "Sales")
    assert InvitationCode.objects.get().participant == known


def test_email_as_identifier_refuses_a_row_that_changes_the_email_of_an_id(contract):
    contract.participant_identifier = Contract.Identifier.EMAIL
    contract.save()
    known = ParticipantFactory(contract=contract, email="ann@example.com")
    issue = rejected(contract, f"ID,First Name,Last Name,Email\n{known.pk},A,B,new@example.com\n")
    assert "cannot change in an import" in issue["message"]


def test_email_as_identifier_refuses_the_same_email_twice(contract):
    contract.participant_identifier = Contract.Identifier.EMAIL
    contract.save()
    issue = rejected(contract, BASIC + "A,B,a@example.com,\nC,D,A@example.com,\n")
    assert issue["row"] == 3 and "appears again (first on row 2)" in issue["message"]


def test_reference_as_identifier_matches_by_reference_and_requires_the_column(contract):
    contract.participant_identifier = Contract.Identifier.REFERENCE
    contract.save()
    known = ParticipantFactory(contract=contract, external_reference="00042")
    header_issue = rejected(contract, BASIC + "A,B,a@example.com,\n")
    assert header_issue["message"] == "The column External Reference is missing; it is required."
    data = "First Name,Last Name,Email,External Reference\nNew,Name,n@example.com,00042\n"
    result = complete(upload(contract, data, update_existing=True))
    assert (result.summary["new"], result.summary["updated"]) == (0, 1)
    known.refresh_from_db()
    assert known.first_name == "New"


def test_id_as_identifier_notes_new_rows_whose_email_is_already_known(contract):
    ParticipantFactory(contract=contract, email="ann@example.com")
    checked = upload(contract, BASIC + "Ann,Lee,ann@example.com,\n")
    assert checked.status == ParticipantImport.Status.VALID
    assert "added as new participants" in checked.summary["notes"][0]


# --- Round-trip ---------------------------------------------------------------------------


@pytest.fixture
def populated(contract, price):
    """Participants with the awkward values spreadsheets damage, some with codes."""
    people = [
        ParticipantFactory(
            contract=contract,
            first_name="Zoë",
            phone="+44 20 7946 0000",
            external_reference="00123",
            date_of_birth=date(1990, 3, 1),
            notes="Ground floor, please\nCall first",
        ),
        ParticipantFactory(contract=contract, first_name="=cmd|' /C calc'!A0", phone="0044 1"),
        ParticipantFactory(contract=contract, group="-Sales", region="@North"),
    ]
    services.participant_code_generate(actor=None, participant=people[0], price=price, width=8)
    used = services.participant_code_generate(
        actor=None, participant=people[1], price=price, width=8
    )
    InvitationCode.objects.filter(pk=used.pk).update(uses=1)
    return contract


def test_the_export_defuses_formulas_and_keeps_what_spreadsheets_lose(populated, price):
    data = exported(populated)
    assert data.startswith(csvio.BOM.encode())
    rows = parse(data)
    assert list(rows[0]) == HEADERS
    zoe, attacker, sales = rows
    assert (zoe["Phone"], zoe["External Reference"], zoe["Date of Birth"]) == (
        "'+44 20 7946 0000",
        "00123",
        "1990-03-01",
    )
    assert zoe["Price Code"] == price.price_code and zoe["Code Status"] == "Active"
    assert attacker["First Name"] == "'=cmd|' /C calc'!A0"
    assert attacker["Price Code"] == "" and attacker["Code Status"] == "Used"
    assert (sales["Group"], sales["Region"], sales["Invitation Code"]) == ("'-Sales", "'@North", "")


@pytest.mark.parametrize("update_existing", [False, True])
def test_uploading_an_unchanged_export_changes_nothing(populated, update_existing):
    before = state(populated)
    checked = upload(populated, exported(populated), update_existing=update_existing)
    assert checked.status == ParticipantImport.Status.VALID, checked.issues
    summary = checked.summary
    assert (summary["new"], summary["updated"], summary["kept"], summary["codes"]) == (0, 0, 0, 0)
    assert summary["unchanged"] == 3 and summary["already_hold"] == 1
    assert complete(checked).status == ParticipantImport.Status.DONE
    assert state(populated) == before


def test_an_export_resaved_by_a_european_spreadsheet_still_changes_nothing(populated):
    """Semicolons, Windows-1252, CRLF, day-first dates, columns reordered, header case."""
    rows = parse(exported(populated))
    out = io.StringIO()
    header = list(reversed(HEADERS))
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([h.upper() for h in header])
    for row in rows:
        if row["Date of Birth"]:
            y, m, d = row["Date of Birth"].split("-")
            row["Date of Birth"] = f"{d}/{m}/{y}"
        writer.writerow([row[h] for h in header])
    before = state(populated)
    checked = upload(populated, out.getvalue().encode("cp1252") + b"\r\n\r\n", update_existing=True)
    assert checked.status == ParticipantImport.Status.VALID, checked.issues
    assert (checked.summary["updated"], checked.summary["codes"]) == (0, 0)
    complete(checked)
    assert state(populated) == before


def test_a_month_first_resave_of_a_known_date_is_caught_before_it_overwrites(populated):
    rows = parse(exported(populated))
    rows[0]["Date of Birth"] = "03/01/1990"  # 1 March 1990 written month first
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HEADERS)
    writer.writeheader()
    writer.writerows(rows)
    issue = rejected(populated, out.getvalue(), update_existing=True)
    assert issue["column"] == "Date of Birth" and "month first" in issue["message"]


# --- Generate Code for one participant ----------------------------------------------------


def test_generate_code_assigns_a_new_code_to_the_participant(contract, price):
    contract.invitation_prefix = "ACME"
    contract.save()
    person = ParticipantFactory(contract=contract)
    code = services.participant_code_generate(actor=None, participant=person, price=price, width=9)
    assert code.participant == person and code.price == price
    assert code.code.startswith("ACME") and len(code.code) == 13
    assert code.batch.quantity == 1 and code.batch.note == f"Generated for {person.full_name}"


def test_generate_code_asks_before_replacing_an_unused_code(contract, price):
    person = ParticipantFactory(contract=contract)
    first = services.participant_code_generate(actor=None, participant=person, price=price, width=8)
    with pytest.raises(services.CodeAlreadyHeld) as held:
        services.participant_code_generate(actor=None, participant=person, price=price, width=8)
    assert held.value.message == (
        f"{person.full_name} already holds the unused code {first.code} ({price.price_code}). "
        "Revoke it and issue a new one?"
    )
    assert InvitationCode.objects.count() == 1
    second = services.participant_code_generate(
        actor=None, participant=person, price=price, width=8, replacing=[first.pk]
    )
    first.refresh_from_db()
    assert first.status == InvitationCode.Status.REVOKED
    assert second.status == InvitationCode.Status.ACTIVE and second.participant == person


def test_replacing_revokes_only_the_codes_staff_were_shown(contract, price):
    """A double click on Revoke and Generate must not revoke the code the first click issued."""
    person = ParticipantFactory(contract=contract)
    shown = services.participant_code_generate(actor=None, participant=person, price=price, width=8)
    fresh = services.participant_code_generate(
        actor=None, participant=person, price=price, width=8, replacing=[shown.pk]
    )
    with pytest.raises(services.CodeAlreadyHeld) as again:
        services.participant_code_generate(
            actor=None, participant=person, price=price, width=8, replacing=[shown.pk]
        )
    assert again.value.codes == [fresh]
    fresh.refresh_from_db()
    assert fresh.status == InvitationCode.Status.ACTIVE
    assert InvitationCode.objects.filter(participant=person).count() == 2


def test_generate_code_refuses_a_price_of_another_contract(contract):
    person = ParticipantFactory(contract=contract)
    foreign = ContractPriceFactory()
    with pytest.raises(Exception, match="this contract's prices"):
        services.participant_code_generate(actor=None, participant=person, price=foreign, width=8)
    assert not InvitationCode.objects.exists()


def test_a_million_row_file_under_the_size_limit_is_refused_by_the_row_limit(contract, settings):
    assert settings.PARTICIPANT_IMPORT_MAX_ROWS == 200_000
    data = b"First Name,Last Name,Email\n" + b"A,B,a@b.io\n" * 1_000_000
    assert len(data) < settings.PARTICIPANT_IMPORT_MAX_BYTES
    settings.PARTICIPANT_IMPORT_SYNC_ROWS = 2_000_000  # check it here, not in the background
    result = upload(contract, data)
    assert result.issues[-1]["message"] == (
        "The file has more than 200,000 rows; import at most 200,000 at a time: "
        "split the file and upload each part."
    )
    assert result.status == ParticipantImport.Status.INVALID
    assert not Participant.objects.exists()


def test_an_expired_unused_code_does_not_stop_a_new_one(contract, price):
    known = ParticipantFactory(contract=contract)
    old = services.participant_code_generate(actor=None, participant=known, price=price, width=8)
    InvitationCode.objects.filter(pk=old.pk).update(valid_until=date(2020, 1, 1))
    assert parse(exported(contract))[0]["Price Code"] == ""  # nothing usable to show
    data = f"{ID_HEADER}{known.pk},A,B,c@example.com,{price.price_code}\n"
    assert complete(upload(contract, data)).summary["codes"] == 1
    assert InvitationCode.objects.filter(participant=known).count() == 2


def test_details_the_app_accepts_make_the_round_trip(contract):
    ParticipantFactory(contract=contract, phone="+44 20 1234 ext 5", notes="x" * 5_000)
    checked = upload(contract, exported(contract))
    assert checked.status == ParticipantImport.Status.VALID, checked.issues
    assert checked.summary["unchanged"] == 1


def test_files_with_a_sep_line_and_mixed_encodings(contract):
    ok = upload(contract, b"sep=;\r\nFirst Name;Last Name;Email\r\nAnn;Lee;ann@example.com\r\n")
    assert ok.status == ParticipantImport.Status.VALID, ok.issues
    mixed = "First Name,Last Name,Email\nJosé,Lee,j@example.com\n".encode()
    mixed += "Jürgen,Kim,k@example.com\n".encode("cp1252")
    issue = rejected(contract, mixed)
    assert "mixes two text encodings" in issue["message"] and "row 3" in issue["message"]


def test_the_import_is_kept_in_each_participants_history(contract, price):
    from tests.factories import UserFactory

    staff = UserFactory()
    known = ParticipantFactory(contract=contract, first_name="Old")
    data = (
        f"{ID_HEADER}{known.pk},New,{known.last_name},{known.email},\n,Ann,Lee,ann@example.com,\n"
    )
    checked = services.participant_import_upload(
        actor=staff,
        contract=contract,
        file=SimpleUploadedFile("staff.csv", data.encode()),
        update_existing=True,
    )
    complete(checked)
    ann = Participant.objects.get(email="ann@example.com")
    created = ann.history.get()
    assert (created.history_type, created.history_user, created.first_name) == ("+", staff, "Ann")
    assert created.history_change_reason == f"CSV import {checked.pk}: staff.csv"
    assert created.created_at == ann.created_at and created.contract_id == contract.pk
    changed = known.history.order_by("history_date", "history_id").last()
    assert (changed.history_type, changed.first_name, changed.history_user) == ("~", "New", staff)
    assert changed.prev_record.first_name == "Old"


def test_uploads_never_imported_expire_after_a_week_and_their_file_goes(contract):
    from datetime import timedelta

    from django.utils import timezone

    checked = upload(contract, BASIC + "Ann,Lee,ann@example.com,\n")
    fresh = upload(contract, BASIC + "Bo,Kim,bo@example.com,\n")
    ParticipantImport.objects.filter(pk=checked.pk).update(
        created_at=timezone.now() - timedelta(days=8)
    )
    assert services.participant_imports_expire() == 1
    checked.refresh_from_db()
    assert checked.status == "expired" and not checked.file
    assert ParticipantImport.objects.get(pk=fresh.pk).file  # a recent one stays
    with pytest.raises(DomainError, match="not imported in time"):
        complete(checked)
    assert not Participant.objects.exists()
