"""Participants and imports under real concurrent transactions on PostgreSQL."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DEFAULT_DB_ALIAS, connections

from contracts.models import Contract, Participant
from core.errors import DomainError
from invitations import services
from invitations.models import InvitationCode, ParticipantImport
from invitations.services import participants as participant_services
from tests.factories import ContractPriceFactory, ParticipantFactory
from tests.threads import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_generate_code_clicks_at_once_issue_one_code():
    price = ContractPriceFactory()
    person = ParticipantFactory(contract=price.contract)

    def generate():
        return services.participant_code_generate(
            actor=None, participant=person, price=price, width=8
        )

    outcomes = run_together([generate, generate])
    issued = [o for o in outcomes if isinstance(o, InvitationCode)]
    refused = [o for o in outcomes if isinstance(o, services.CodeAlreadyHeld)]
    assert len(issued) == 1 and len(refused) == 1, outcomes
    assert InvitationCode.objects.filter(participant=person).count() == 1


def test_the_same_list_completed_twice_at_once_adds_each_person_and_code_once():
    price = ContractPriceFactory(contract__participant_identifier=Contract.Identifier.EMAIL)
    contract = price.contract
    data = "First Name,Last Name,Email,Price Code\n" + "".join(
        f"P,{i},p{i}@example.com,{price.price_code}\n" for i in range(200)
    )
    uploads = [
        services.participant_import_upload(
            actor=None, contract=contract, file=SimpleUploadedFile("l.csv", data.encode())
        )
        for _ in range(2)
    ]

    def complete(upload):
        return lambda: services.participant_import_complete(actor=None, participant_import=upload)

    outcomes = run_together([complete(uploads[0]), complete(uploads[1])])
    done = [o for o in outcomes if isinstance(o, ParticipantImport) and o.status == "done"]
    # The other was refused while the first ran, or ran after it and found that it would
    # now do something else than its validation page showed (no one to add, no code).
    refused = [o for o in outcomes if isinstance(o, DomainError)]
    asked_again = [o for o in outcomes if isinstance(o, ParticipantImport) and o.status == "valid"]
    assert len(done) == 1 and len(refused) + len(asked_again) == 1, outcomes
    for refusal in refused:
        assert "An import into this contract is running" in refusal.message
    for upload in asked_again:
        assert upload.summary["changed"] and upload.summary["codes"] == 0
    assert Participant.objects.filter(contract=contract).count() == 200
    codes = InvitationCode.objects.filter(contract=contract)
    assert codes.count() == 200 and codes.values("participant").distinct().count() == 200


def test_progress_is_visible_to_other_connections_while_the_import_transaction_is_open(
    monkeypatch, settings
):
    settings.PARTICIPANT_IMPORT_SYNC_ROWS = 0  # the worker's path, which reports progress
    price = ContractPriceFactory()
    data = "First Name,Last Name,Email,Price Code\nAnn,Lee,ann@example.com,{}\n"
    upload = services.participant_import_upload(
        actor=None,
        contract=price.contract,
        file=SimpleUploadedFile("l.csv", data.format(price.price_code).encode()),
    )
    seen = []
    issue = participant_services.codes_issue_to_participants

    def watching(**kwargs):
        # Another connection, as the progress page would use, while the import is uncommitted.
        other = connections.create_connection(DEFAULT_DB_ALIAS)
        try:
            with other.cursor() as cursor:
                cursor.execute(
                    "SELECT progress, status FROM invitations_participantimport WHERE id = %s",
                    [upload.pk],
                )
                seen.append(cursor.fetchone())
                cursor.execute("SELECT count(*) FROM contracts_participant")
                seen.append(cursor.fetchone())
        finally:
            other.close()
        return issue(**kwargs)

    monkeypatch.setattr(participant_services, "codes_issue_to_participants", watching)
    result = services.participant_import_complete(actor=None, participant_import=upload)
    assert result.status == "done"
    assert seen == [(60, "importing"), (0,)]  # progress shown, participants not yet visible
