"""The CRM sync API under real concurrency: identical batches at once, and the change feeds
while a writer's transaction is still open."""

import threading

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from contracts import api_tokens, crm
from contracts.models import ApiToken, Contract, Organisation, Participant
from invitations import services
from invitations.models import InvitationCode
from tests.factories import (
    ContractFactory,
    ContractPriceFactory,
    InvitationCodeFactory,
    OrganisationFactory,
)
from tests.threads import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
READ, WRITE = ApiToken.Scope.READ, ApiToken.Scope.WRITE


def person(reference: str) -> dict:
    return {
        "external_reference": reference,
        "contract": "c-1",
        "first_name": "Ada",
        "last_name": reference,
        "email": f"{reference}@example.com",
    }


def test_two_identical_batches_at_once_write_each_record_once():
    acme = OrganisationFactory(external_id="org-acme")
    ContractFactory(organisation=acme, external_id="c-1")
    organisations = [
        {"external_id": f"org-{i}", "name": f"Org {i}", "code": f"O{i}"} for i in range(20)
    ]
    contracts = [{"external_id": f"c-{i}", "name": f"C {i}", "code": f"K{i}"} for i in range(2, 22)]
    people = [person(f"p{i}") for i in range(50)]

    def call(service, items, **options):
        def run():
            return [r.result for r in service(actor=None, items=items, reason="test", **options)]

        return run

    for service, items, options in (
        (crm.organisations_upsert, organisations, {}),
        (crm.contracts_upsert, contracts, {"within": acme}),
        (crm.participants_upsert, people, {"within": acme}),
    ):
        outcomes = run_together([call(service, items, **options)] * 2)
        # Both succeed: one makes every record, the other finds them made.
        assert sorted(outcomes) == [["created"] * len(items), ["unchanged"] * len(items)], outcomes
    assert Organisation.objects.filter(external_id__startswith="org-").count() == 21
    assert Contract.objects.count() == 21
    assert Participant.objects.count() == 50


def test_a_change_committed_late_is_not_skipped_by_the_feed(settings):
    """A transaction stamps a code and commits only after later changes were listed: the
    feed holds its cursor back until it commits, then lists the code (with no lag: the
    open transaction alone holds it back)."""
    settings.CRM_FEED_LAG = 0
    acme = OrganisationFactory(external_id="org-acme")
    price = ContractPriceFactory(contract=ContractFactory(organisation=acme))
    slow_code, *others = [InvitationCodeFactory(price=price) for _ in range(3)]
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION="Bearer "
        + api_tokens.api_token_create(actor=None, organisation=acme, name="CRM", scopes=[READ])[1]
    )
    cursor = client.get("/api/v1/crm/codes").json()["cursor"]
    stamped, release = threading.Event(), threading.Event()

    def slow_writer():
        try:
            with transaction.atomic():
                services.code_revoke(actor=None, code=slow_code)
                stamped.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    try:
        assert stamped.wait(timeout=30)
        # Changes made and committed after the slow one was stamped.
        for code in others:
            services.code_archive(actor=None, code=code)
        page = client.get("/api/v1/crm/codes", {"cursor": cursor}).json()
        assert page["results"] == []  # held back: an older change may still commit
    finally:
        release.set()
        writer.join(timeout=30)
    rows = client.get("/api/v1/crm/codes", {"cursor": cursor}).json()["results"]
    assert [r["id"] for r in rows] == [slow_code.pk, *(c.pk for c in others)]
    assert InvitationCode.objects.get(pk=slow_code.pk).status == "revoked"
