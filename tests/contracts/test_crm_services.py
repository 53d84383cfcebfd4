"""contracts.crm called directly: what the API's serializers would catch first is still
refused by the services, and an empty id never finds a record without one."""

import pytest

from contracts import crm
from contracts.models import Organisation, Participant
from tests.factories import ContractFactory, OrganisationFactory, ParticipantFactory

pytestmark = pytest.mark.django_db


def refused(call, **options) -> list[tuple[int | None, str]]:
    with pytest.raises(crm.BatchInvalid) as caught:
        call(actor=None, reason="test", **options)
    return [(e.index, e.field) for e in caught.value.errors]


def test_an_empty_external_id_never_finds_an_organisation_without_one():
    staff_made = OrganisationFactory(name="Staff made", external_id="")
    items = [{"external_id": "  ", "name": "Renamed", "code": "X"}]
    assert refused(crm.organisations_upsert, items=items) == [(0, "external_id")]
    staff_made.refresh_from_db()
    assert staff_made.name == "Staff made"


def test_an_empty_reference_never_finds_a_participant_without_one():
    contract = ContractFactory(external_id="c-1")
    ParticipantFactory(contract=contract, external_reference="", first_name="Kept")
    item = {
        "external_reference": "",
        "contract": "c-1",
        "first_name": "Changed",
        "last_name": "L",
        "email": "x@example.com",
    }
    errors = refused(crm.participants_upsert, items=[item], within=contract.organisation)
    assert errors == [(0, "external_reference")]
    assert Participant.objects.get().first_name == "Kept"


def test_the_models_own_checks_apply_to_every_item():
    contract = ContractFactory(external_id="c-1")
    item = {
        "external_reference": "p1",
        "contract": "c-1",
        "first_name": "A",
        "last_name": "B",
        "email": "not-an-email",
        "phone": "0" * 41,
    }
    errors = refused(crm.participants_upsert, items=[item], within=contract.organisation)
    assert errors == [(0, "email"), (0, "phone")]
    bad_status = {"external_id": "c-2", "name": "N", "code": "N", "status": "paused"}
    errors = refused(crm.contracts_upsert, items=[bad_status], within=contract.organisation)
    assert errors == [(0, "status")]
    assert not Participant.objects.exists()


def test_a_batch_has_one_to_500_items():
    assert refused(crm.organisations_upsert, items=[]) == [(None, "items")]
    many = [{"external_id": f"o{i}", "name": "N", "code": f"C{i}"} for i in range(501)]
    assert refused(crm.organisations_upsert, items=many) == [(None, "items")]
    assert not Organisation.objects.exists()
