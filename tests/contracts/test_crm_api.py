"""The CRM sync API: organisation tokens and their scopes, batch upserts, change feeds."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from contracts import api_tokens
from contracts.models import ApiToken, Contract, Organisation, Participant
from core import roles
from core.errors import DomainError
from core.throttle import CountingRateThrottle
from invitations import api as invitations_api
from invitations import services
from invitations.models import InvitationCode
from invitations.services import Client, Details
from tests.factories import (
    ContractFactory,
    ContractPriceFactory,
    InvitationCodeFactory,
    OrganisationFactory,
    ParticipantFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
READ, WRITE = ApiToken.Scope.READ, ApiToken.Scope.WRITE
ORGANISATIONS = "/api/v1/crm/organisations"
CONTRACTS = "/api/v1/crm/contracts"
PARTICIPANTS = "/api/v1/crm/participants"
CODES = "/api/v1/crm/codes"
BOOKINGS = "/api/v1/crm/bookings"
DELETED_CODES = "/api/v1/crm/deleted-codes"


@pytest.fixture(autouse=True)
def _no_feed_lag(settings):
    """These tests read at once what they just wrote; the lag has its own test."""
    settings.CRM_FEED_LAG = 0


def token(organisation=None, scopes=(READ, WRITE)) -> tuple[ApiToken, str]:
    return api_tokens.api_token_create(
        actor=None, organisation=organisation, name="Salesforce sync", scopes=list(scopes)
    )


def client_for(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def acme():
    return OrganisationFactory(name="Acme", code="ACME", external_id="org-acme")


@pytest.fixture
def globex():
    return OrganisationFactory(name="Globex", code="GLOBEX", external_id="org-globex")


@pytest.fixture
def everything():
    """A client with a read and write token for all organisations."""
    return client_for(token()[1])


@pytest.fixture
def acme_client(acme):
    return client_for(token(acme)[1])


def person(reference: str, contract: str = "c-1", **fields) -> dict:
    return {
        "external_reference": reference,
        "contract": contract,
        "first_name": "Ada",
        "last_name": f"Lovelace {reference}",
        "email": f"{reference}@example.com",
    } | fields


def results(response) -> list[str]:
    return [item["result"] for item in response.json()["results"]]


# --- Tokens -----------------------------------------------------------------------------


def test_a_call_without_a_token_is_refused_with_401_and_a_bearer_challenge():
    response = APIClient().get(CODES)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_an_unknown_token_is_refused_with_401():
    response = client_for("vdk_" + "x" * 43).get(CODES)
    assert response.status_code == 401
    assert response.json()["detail"] == "Unknown or revoked API token."


def test_a_revoked_token_is_refused_with_401(acme):
    made, key = token(acme)
    assert client_for(key).get(CODES).status_code == 200
    api_tokens.api_token_revoke(actor=None, token=made)
    assert client_for(key).get(CODES).status_code == 401


def test_a_staff_users_token_does_not_open_the_crm_api():
    user = UserFactory(role=roles.ADMINISTRATOR)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    assert client.get(CODES).status_code == 401
    signed_in = APIClient()
    signed_in.force_login(user)  # nor a staff session
    assert signed_in.get(CODES).status_code == 401


def test_a_read_only_token_cannot_write_and_is_told_which_scope_it_lacks(acme):
    client = client_for(token(acme, scopes=[READ])[1])
    response = client.post(PARTICIPANTS, {"items": [person("p1")]}, format="json")
    assert response.status_code == 403
    assert "“write” scope" in response.json()["detail"]
    assert client.get(CODES).status_code == 200
    assert not Participant.objects.exists()


def test_a_write_only_token_cannot_read_the_feeds(acme):
    client = client_for(token(acme, scopes=[WRITE])[1])
    for url in (CODES, BOOKINGS):
        response = client.get(url)
        assert response.status_code == 403
        assert "“read” scope" in response.json()["detail"]


def test_only_a_token_for_all_organisations_upserts_organisations(acme_client, everything):
    item = {"external_id": "org-new", "name": "New", "code": "NEW"}
    response = acme_client.post(ORGANISATIONS, {"items": [item]}, format="json")
    assert response.status_code == 403
    assert "Only a token for all organisations" in response.json()["detail"]
    assert everything.post(ORGANISATIONS, {"items": [item]}, format="json").status_code == 200


def test_only_the_keys_hash_is_stored_with_a_visible_prefix(acme):
    made, key = token(acme)
    made.refresh_from_db()
    assert key.startswith("vdk_") and len(key) > 40
    assert made.prefix == key[:12]
    assert made.key_hash == api_tokens.key_hash(key) != key
    assert not ApiToken.objects.filter(key_hash=key).exists()


def test_last_use_is_noted_at_most_once_a_minute(acme):
    made, key = token(acme)
    client = client_for(key)
    client.get(CODES)
    made.refresh_from_db()
    first = made.last_used_at
    assert first is not None
    client.get(CODES)
    made.refresh_from_db()
    assert made.last_used_at == first
    ApiToken.objects.filter(pk=made.pk).update(last_used_at=first - timedelta(minutes=2))
    client.get(CODES)
    made.refresh_from_db()
    assert made.last_used_at > first - timedelta(minutes=2)


def test_only_administrators_make_a_token_for_all_organisations(acme):
    administrator = UserFactory(role=roles.ADMINISTRATOR)
    assert api_tokens.api_token_create(
        actor=administrator, organisation=None, name="All", scopes=[READ]
    )[0].is_global
    # Holding the permission is not enough for a token that reaches every organisation.
    manager = UserFactory(role=roles.CONTRACT_MANAGER)
    manager.user_permissions.add(Permission.objects.get(codename="manage_api_tokens"))
    manager = type(manager).objects.get(pk=manager.pk)  # fresh permission cache
    with pytest.raises(DomainError, match="Only Administrators"):
        api_tokens.api_token_create(actor=manager, organisation=None, name="All", scopes=[READ])
    made, _ = api_tokens.api_token_create(
        actor=manager, organisation=acme, name="Acme", scopes=[READ]
    )
    assert made.organisation == acme
    # Without the permission, none at all.
    with pytest.raises(DomainError, match="manage organisation API tokens"):
        api_tokens.api_token_create(
            actor=UserFactory(role=roles.CONTRACT_MANAGER),
            organisation=acme,
            name="Acme",
            scopes=[READ],
        )


def test_the_admin_shows_a_new_key_once_and_revokes_tokens(admin_client_role, acme):
    response = admin_client_role.post(
        reverse("admin:contracts_apitoken_add"),
        {"name": "HubSpot", "organisation": acme.pk, "scopes": [READ, WRITE]},
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    made = ApiToken.objects.get(name="HubSpot")
    key = response.context["key"]
    assert key in response.content.decode() and made.key_hash == api_tokens.key_hash(key)
    assert (made.organisation, made.scopes) == (acme, [READ, WRITE])
    page = admin_client_role.get(reverse("admin:contracts_apitoken_change", args=[made.pk]))
    assert page.status_code == 200 and key not in page.content.decode()
    admin_client_role.post(
        reverse("admin:contracts_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [made.pk]},
    )
    made.refresh_from_db()
    assert made.is_revoked
    assert client_for(key).get(CODES).status_code == 401


def test_the_token_list_shows_tokens_for_all_organisations_and_searches(superuser_client, acme):
    token(acme)
    token()
    url = reverse("admin:contracts_apitoken_changelist")
    page = superuser_client.get(url).content.decode()
    assert "All organisations" in page and "Acme" in page
    assert superuser_client.get(url, {"q": "vdk_"}).status_code == 200


def test_api_tokens_in_the_admin_are_for_administrators_only(manager_client):
    assert manager_client.get(reverse("admin:contracts_apitoken_changelist")).status_code == 403
    assert manager_client.get(reverse("admin:contracts_apitoken_add")).status_code == 403


def test_the_admin_links_an_organisation_to_webhook_endpoints(superuser_client, acme):
    from core.models import WebhookEndpoint

    endpoint = WebhookEndpoint.objects.create(url="https://crm.example/hooks")
    response = superuser_client.post(
        reverse("admin:contracts_organisation_change", args=[acme.pk]),
        {
            "name": "Acme",
            "code": "ACME",
            "external_id": "org-acme-2",
            "webhook_endpoints": [endpoint.pk],
        },
    )
    assert response.status_code == 302
    acme.refresh_from_db()
    assert acme.external_id == "org-acme-2"
    assert list(acme.webhook_endpoints.all()) == [endpoint]


def test_calls_are_limited_per_token_with_429_and_retry_after(acme, monkeypatch):
    rates = {**CountingRateThrottle.THROTTLE_RATES, "crm": "3/min"}
    monkeypatch.setattr(CountingRateThrottle, "THROTTLE_RATES", rates)
    client = client_for(token(acme)[1])
    assert [client.get(CODES).status_code for _ in range(3)] == [200, 200, 200]
    # Reads and writes count alike.
    over = client.post(PARTICIPANTS, {"items": [person("p1")]}, format="json")
    assert over.status_code == 429
    assert 0 < int(over["Retry-After"]) <= 60
    assert not Participant.objects.exists()
    # Another token of the same organisation, from the same address, has its own allowance.
    assert client_for(token(acme)[1]).get(CODES).status_code == 200


# --- Upserting organisations -------------------------------------------------------------


def test_organisations_are_created_then_unchanged_then_updated(everything):
    items = [
        {"external_id": "org-1", "name": "Initech", "code": "ini"},
        {"external_id": "org-2", "name": "Umbrella", "code": "UMB"},
    ]
    first = everything.post(ORGANISATIONS, {"items": items}, format="json")
    assert first.status_code == 200
    body = first.json()
    assert (body["created"], body["updated"], body["unchanged"]) == (2, 0, 0)
    initech = Organisation.objects.get(external_id="org-1")
    assert initech.code == "INI"
    assert body["results"][0] == {
        "index": 0,
        "external_id": "org-1",
        "id": initech.pk,
        "result": "created",
    }
    again = everything.post(ORGANISATIONS, {"items": items}, format="json")
    assert results(again) == ["unchanged", "unchanged"]
    assert initech.history.count() == 1  # the replay wrote nothing
    items[1]["name"] = "Umbrella Corporation"
    changed = everything.post(ORGANISATIONS, {"items": items}, format="json")
    assert results(changed) == ["unchanged", "updated"]
    umbrella = Organisation.objects.get(external_id="org-2")
    assert umbrella.name == "Umbrella Corporation"
    assert umbrella.history.latest().history_change_reason.startswith("CRM sync: API token")


def test_an_organisation_staff_made_is_taken_over_by_its_code(everything):
    made = OrganisationFactory(code="HOOLI", external_id="")
    response = everything.post(
        ORGANISATIONS,
        {"items": [{"external_id": "crm-hooli", "name": "Hooli", "code": "hooli"}]},
        format="json",
    )
    assert results(response) == ["updated"]
    made.refresh_from_db()
    assert (made.external_id, made.name) == ("crm-hooli", "Hooli")
    assert Organisation.objects.count() == 1


def test_one_bad_organisation_refuses_the_whole_batch_by_index(everything, acme):
    items = [
        {"external_id": "org-1", "name": "Fine", "code": "FINE"},
        {"external_id": "org-2", "name": "Clash", "code": "acme"},  # Acme's code
        {"external_id": "org-3", "name": "No code"},
        {"external_id": "org-1", "name": "Twice", "code": "TWICE"},
    ]
    response = everything.post(ORGANISATIONS, {"items": items}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "Nothing was written: 3 items have errors."
    assert [(e["index"], e["field"]) for e in body["errors"]] == [
        (1, "code"),
        (2, "code"),
        (3, "external_id"),
    ]
    assert "first at item 0" in body["errors"][2]["message"]
    assert list(Organisation.objects.all()) == [acme]


def test_a_malformed_item_is_reported_by_index_and_field(everything):
    items = [{"external_id": "org-1", "name": "Fine", "code": "FINE"}, {"external_id": "org-2"}]
    response = everything.post(ORGANISATIONS, {"items": items}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"index": 1, "field": "name", "message": "This field is required."}
    ]
    assert not Organisation.objects.exists()


def test_a_null_or_non_object_item_is_reported_by_its_index(everything):
    items = [{"external_id": "org-1", "name": "Fine", "code": "FINE"}, None, 7]
    response = everything.post(ORGANISATIONS, {"items": items}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "Nothing was written: 2 items have errors."
    assert body["errors"] == [
        {"index": 1, "field": "item", "message": "This field may not be null."},
        {
            "index": 2,
            "field": "item",
            "message": "Invalid data. Expected a dictionary, but got int.",
        },
    ]
    assert not Organisation.objects.exists()


def test_a_batch_is_at_most_500_items_and_not_empty(everything):
    items = [{"external_id": f"o{i}", "name": "X", "code": f"C{i}"} for i in range(501)]
    response = everything.post(ORGANISATIONS, {"items": items}, format="json")
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["index"], error["field"]) == (None, "items")
    assert "500" in error["message"]
    empty = everything.post(ORGANISATIONS, {"items": []}, format="json")
    assert empty.status_code == 400
    assert not Organisation.objects.exists()


# --- Upserting contracts -------------------------------------------------------------------


def test_contracts_are_upserted_for_the_tokens_own_organisation(acme_client, acme):
    item = {"external_id": "c-1", "name": "Health checks 2027", "code": "hc27"}
    first = acme_client.post(CONTRACTS, {"items": [item]}, format="json")
    assert results(first) == ["created"]
    contract = Contract.objects.get(external_id="c-1")
    assert (contract.organisation, contract.code, contract.status) == (acme, "HC27", "draft")
    assert contract.participant_identifier == Contract.Identifier.REFERENCE
    assert results(acme_client.post(CONTRACTS, {"items": [item]}, format="json")) == ["unchanged"]
    item |= {"status": "active", "start_date": "2027-01-01", "end_date": "2027-12-31"}
    assert results(acme_client.post(CONTRACTS, {"items": [item]}, format="json")) == ["updated"]
    contract.refresh_from_db()
    assert contract.status == "active" and str(contract.end_date) == "2027-12-31"


def test_a_token_for_one_organisation_cannot_reach_another(acme_client, globex):
    ContractFactory(organisation=globex, external_id="g-1", code="G1")
    item = {"organisation": "org-globex", "external_id": "g-1", "name": "Taken", "code": "G1"}
    response = acme_client.post(CONTRACTS, {"items": [item]}, format="json")
    assert response.status_code == 400
    [error] = response.json()["errors"]
    # The same answer as for an organisation that does not exist: nothing leaks.
    assert (error["field"], error["message"]) == ("organisation", "No organisation org-globex.")
    assert Contract.objects.get(external_id="g-1").name != "Taken"


def test_a_token_for_all_organisations_names_the_organisation(everything, acme):
    item = {"external_id": "c-1", "name": "Plan", "code": "P"}
    response = everything.post(CONTRACTS, {"items": [item]}, format="json")
    assert response.json()["errors"][0]["field"] == "organisation"
    item["organisation"] = "org-acme"
    assert results(everything.post(CONTRACTS, {"items": [item]}, format="json")) == ["created"]


def test_a_bad_contract_refuses_the_batch(acme_client, acme):
    ContractFactory(organisation=acme, code="OLD", external_id="c-old")
    items = [
        {"external_id": "c-1", "name": "Fine", "code": "NEW"},
        {"external_id": "c-2", "name": "Clash", "code": "old"},
        {
            "external_id": "c-3",
            "name": "Backwards",
            "code": "B",
            "start_date": "2027-02-01",
            "end_date": "2027-01-01",
        },
    ]
    response = acme_client.post(CONTRACTS, {"items": items}, format="json")
    assert response.status_code == 400
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [
        (1, "code"),
        (2, "end_date"),
    ]
    assert not Contract.objects.filter(external_id="c-1").exists()


# --- Upserting participants ----------------------------------------------------------------


@pytest.fixture
def crm_contract(acme):
    return ContractFactory(organisation=acme, external_id="c-1")


def test_participants_are_created_then_unchanged_then_updated_with_history(
    acme_client, crm_contract
):
    items = [person("p1", phone="0601", region="North"), person("p2", email="P2@Example.com")]
    first = acme_client.post(PARTICIPANTS, {"items": items}, format="json")
    assert first.status_code == 200
    assert results(first) == ["created", "created"]
    p2 = Participant.objects.get(external_reference="p2")
    assert (p2.contract, p2.email) == (crm_contract, "p2@example.com")
    assert first.json()["results"][1]["external_reference"] == "p2"
    assert results(acme_client.post(PARTICIPANTS, {"items": items}, format="json")) == [
        "unchanged",
        "unchanged",
    ]
    items[0]["last_name"] = "Byron"
    changed = acme_client.post(PARTICIPANTS, {"items": items}, format="json")
    assert results(changed) == ["updated", "unchanged"]
    p1 = Participant.objects.get(external_reference="p1")
    assert (p1.last_name, p1.phone, p1.region) == ("Byron", "0601", "North")
    kinds = list(p1.history.order_by("history_id").values_list("history_type", "last_name"))
    assert kinds == [("+", "Lovelace p1"), ("~", "Byron")]
    assert p1.history.latest().history_change_reason.startswith("CRM sync")


def test_a_left_out_optional_field_is_kept(acme_client, crm_contract):
    acme_client.post(PARTICIPANTS, {"items": [person("p1", phone="0601")]}, format="json")
    response = acme_client.post(PARTICIPANTS, {"items": [person("p1")]}, format="json")
    assert results(response) == ["unchanged"]
    assert Participant.objects.get().phone == "0601"


def test_one_bad_participant_refuses_the_batch_and_names_it(acme_client, crm_contract):
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    items = [
        person("p1"),
        person("p2", email="not an email"),
        person("p3", contract="c-unknown"),
        person("p4", date_of_birth=tomorrow),
        person("p1"),
    ]
    response = acme_client.post(PARTICIPANTS, {"items": items}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"index": 1, "field": "email", "message": "Enter a valid email address."}
    ]
    del items[1]
    response = acme_client.post(PARTICIPANTS, {"items": items}, format="json")
    assert response.status_code == 400
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [
        (1, "contract"),
        (2, "date_of_birth"),
        (3, "external_reference"),
    ]
    assert not Participant.objects.exists()


def test_participants_of_another_organisations_contract_are_out_of_reach(
    acme_client, crm_contract, globex
):
    ContractFactory(organisation=globex, external_id="g-1")
    response = acme_client.post(
        PARTICIPANTS, {"items": [person("p1", contract="g-1")]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "contract"
    response = acme_client.post(
        PARTICIPANTS,
        {"items": [person("p1", contract="g-1", organisation="org-globex")]},
        format="json",
    )
    assert response.json()["errors"][0]["field"] == "organisation"
    assert not Participant.objects.exists()


def test_an_upsert_reads_in_bulk_not_once_per_item(acme_client, crm_contract):
    def statements(count: int, offset: int) -> int:
        items = [person(f"p{offset + i}") for i in range(count)]
        with CaptureQueriesContext(connection) as queries:
            response = acme_client.post(PARTICIPANTS, {"items": items}, format="json")
        assert results(response) == ["created"] * count
        return len(queries)

    statements(1, 0)  # the token's first use is noted: a write the others skip
    # (Under SQLite's limit of 999 parameters a statement, so no insert is split.)
    assert statements(3, 10) == statements(30, 100)


# --- Change feeds ------------------------------------------------------------------------


def walk(client, url: str, **params) -> tuple[list[dict], str | None]:
    """Every page from `url`, following `next`; the rows and the last cursor."""
    rows, response = [], client.get(url, params)
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        rows += body["results"]
        if body["next"] is None:
            return rows, body["cursor"]
        response = client.get(body["next"])


@pytest.fixture
def acme_price(acme):
    return ContractPriceFactory(contract=ContractFactory(organisation=acme, external_id="c-1"))


def test_the_codes_feed_pages_oldest_first_and_picks_up_later_changes(
    acme_client, acme_price, monkeypatch
):
    monkeypatch.setattr(invitations_api, "FEED_PAGE_SIZE", 2)
    codes = [InvitationCodeFactory(price=acme_price) for _ in range(5)]
    rows, cursor = walk(acme_client, CODES)
    assert [r["id"] for r in rows] == [c.pk for c in codes]
    first = rows[0]
    assert first["contract"] == {
        "id": acme_price.contract.pk,
        "code": acme_price.contract.code,
        "external_id": "c-1",
    }
    assert first["organisation"]["external_id"] == "org-acme"
    assert (first["status"], first["state"], first["uses"]) == ("active", "Active", 0)
    # Nothing new since the cursor.
    assert acme_client.get(CODES, {"cursor": cursor}).json() == {
        "results": [],
        "next": None,
        "cursor": cursor,
    }
    services.code_revoke(actor=None, code=codes[1])
    later = acme_client.get(CODES, {"cursor": cursor}).json()
    assert [(r["id"], r["status"]) for r in later["results"]] == [(codes[1].pk, "revoked")]


def test_the_codes_feed_lists_changes_since_a_time(acme_client, acme_price):
    old = InvitationCodeFactory(price=acme_price)
    InvitationCode.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=2))
    fresh = InvitationCodeFactory(price=acme_price)
    since = (timezone.now() - timedelta(days=1)).isoformat()
    rows, _ = walk(acme_client, CODES, since=since)
    assert [r["id"] for r in rows] == [fresh.pk]
    future = (timezone.now() + timedelta(days=1)).isoformat()
    assert walk(acme_client, CODES, since=future)[0] == []


def test_a_token_sees_only_its_organisations_changes(acme_client, acme_price, globex, everything):
    mine = InvitationCodeFactory(price=acme_price)
    theirs = InvitationCodeFactory(price=ContractPriceFactory(contract__organisation=globex))
    assert [r["id"] for r in walk(acme_client, CODES)[0]] == [mine.pk]
    assert {r["id"] for r in walk(everything, CODES)[0]} == {mine.pk, theirs.pk}
    services.booking_redeem(
        code=theirs.code,
        details=Details(first_name="A", last_name="B", email="ab@example.com"),
        client=Client(),
    )
    assert walk(acme_client, BOOKINGS)[0] == []
    assert len(walk(everything, BOOKINGS)[0]) == 1


def test_the_bookings_feed_shows_a_booking_and_again_when_voided(acme_client, acme_price):
    participant = ParticipantFactory(contract=acme_price.contract, external_reference="p-9")
    code = InvitationCodeFactory(price=acme_price, participant=participant)
    booking = services.booking_redeem(code=code.code, details=Details(), client=Client())
    rows, cursor = walk(acme_client, BOOKINGS)
    [row] = rows
    assert (row["reference"], row["status"], row["voided_at"]) == (
        booking.reference,
        "active",
        None,
    )
    assert row["participant"] == {
        "id": participant.pk,
        "external_reference": "p-9",
        "email": participant.email,
    }
    assert row["amount"] == str(acme_price.amount)
    services.booking_void(actor=None, booking=booking, reason="Duplicate")
    [voided] = acme_client.get(BOOKINGS, {"cursor": cursor}).json()["results"]
    assert (voided["status"], voided["void_reason"]) == ("voided", "Duplicate")
    assert voided["voided_at"] is not None
    # The code's use came back: the codes feed shows it too.
    assert [r["uses"] for r in walk(acme_client, CODES)[0]] == [0]


def test_a_code_staff_delete_shows_in_the_deleted_codes_feed_for_its_organisation_only(
    acme_client, acme_price, globex, everything, manager
):
    kept, gone = InvitationCodeFactory(price=acme_price), InvitationCodeFactory(price=acme_price)
    theirs = InvitationCodeFactory(price=ContractPriceFactory(contract__organisation=globex))
    _, cursor = walk(acme_client, DELETED_CODES)
    assert cursor is None  # nothing deleted yet

    services.code_delete(actor=manager, code=gone)
    services.code_delete(actor=None, code=theirs)

    page = acme_client.get(DELETED_CODES, {"cursor": cursor} if cursor else {}).json()
    [row] = page["results"]
    assert row["id"] == gone.pk and row["code"] == gone.code
    assert (row["organisation_id"], row["contract_id"]) == (
        acme_price.contract.organisation_id,
        acme_price.contract_id,
    )
    assert row["deleted_at"]
    assert [r["id"] for r in walk(acme_client, CODES)[0]] == [kept.pk]
    assert {r["id"] for r in walk(everything, DELETED_CODES)[0]} == {gone.pk, theirs.pk}
    # Nothing deleted since: the cursor stays.
    later = acme_client.get(DELETED_CODES, {"cursor": page["cursor"]}).json()
    assert later == {"results": [], "next": None, "cursor": page["cursor"]}


def test_a_code_that_cannot_be_deleted_leaves_no_trace_in_the_feed(acme_client, acme_price):
    used = InvitationCodeFactory(price=acme_price)
    services.booking_redeem(
        code=used.code,
        details=Details(first_name="A", last_name="B", email="ab@example.com"),
        client=Client(),
    )
    with pytest.raises(DomainError):
        services.code_delete(actor=None, code=used)
    assert walk(acme_client, DELETED_CODES)[0] == []


def test_a_change_is_listed_once_it_is_older_than_the_lag(acme_client, acme_price, settings):
    """The feeds stay CRM_FEED_LAG seconds behind the database's clock: a change that an
    earlier statement could still be committing behind is not listed yet."""
    settings.CRM_FEED_LAG = 60

    def set_back(code, seconds: int) -> None:
        stamp = timezone.now() - timedelta(seconds=seconds)
        InvitationCode.objects.filter(pk=code.pk).update(updated_at=stamp)

    old, fresh = InvitationCodeFactory(price=acme_price), InvitationCodeFactory(price=acme_price)
    set_back(old, 90)
    page = acme_client.get(CODES).json()
    assert [r["id"] for r in page["results"]] == [old.pk]
    set_back(fresh, 61)
    assert [r["id"] for r in acme_client.get(CODES).json()["results"]] == [old.pk, fresh.pk]


def test_a_cursor_must_be_one_this_feed_made(acme_client, acme_price):
    InvitationCodeFactory(price=acme_price)
    _, cursor = walk(acme_client, CODES)
    assert acme_client.get(CODES, {"cursor": cursor + "x"}).status_code == 400
    response = acme_client.get(BOOKINGS, {"cursor": cursor})  # a codes cursor
    assert response.status_code == 400
    assert "not valid for this feed" in response.json()["cursor"][0]
    assert acme_client.get(CODES, {"since": "yesterday"}).status_code == 400


def test_a_feed_page_reads_in_bulk(acme_client, acme_price, django_assert_max_num_queries):
    people = [ParticipantFactory(contract=acme_price.contract) for _ in range(20)]
    for participant in people:
        InvitationCodeFactory(price=acme_price, participant=participant)
    # The token, its last use, the horizon, the page: never a query per row.
    with django_assert_max_num_queries(5):
        assert len(acme_client.get(CODES).json()["results"]) == 20
