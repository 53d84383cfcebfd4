"""POST /api/v1/referrals/conversions with token authentication."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core import roles
from referrals import services
from referrals.models import Referral, Reward
from tests.factories import UserFactory
from tests.referrals.conftest import join

pytestmark = pytest.mark.django_db
URL = "/api/v1/referrals/conversions"


def api_as(role: str | None, **user) -> APIClient:
    client = APIClient()
    person = UserFactory(role=role, **user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=person).key}")
    return client


@pytest.fixture
def shop(program):
    services.tier_create(actor=None, program=program, name="Bronze", threshold=1)
    return services.program_update(actor=None, program=program, success_event="conversion")


@pytest.fixture
def ann(shop):
    return join(shop, "ann@acme.com")


def test_a_conversion_counts_and_fires_the_tier(shop, ann):
    join(shop, "bo@beta.com", by=ann)
    response = api_as(roles.SUPPORT).post(
        URL, {"program": shop.slug, "email": "BO@beta.com", "external_id": "ord-1"}, format="json"
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["stage"], data["counted"], data["referrer_code"]) == ("converted", True, ann.code)
    assert Reward.objects.get().tier.name == "Bronze"


def test_a_replayed_conversion_answers_the_same_and_changes_nothing(shop, ann):
    join(shop, "bo@beta.com", by=ann)
    client = api_as(roles.SUPPORT)
    body = {"program": shop.slug, "email": "bo@beta.com", "external_id": "ord-1"}
    first = client.post(URL, body, format="json")
    again = client.post(URL, body, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Reward.objects.count() == 1


def test_the_same_external_id_for_another_email_is_a_conflict(shop, ann):
    join(shop, "bo@beta.com", by=ann)
    client = api_as(roles.SUPPORT)
    client.post(URL, {"program": shop.slug, "email": "bo@beta.com", "external_id": "o1"})
    response = client.post(URL, {"program": shop.slug, "email": "cy@x.com", "external_id": "o1"})
    assert response.status_code == 409
    assert "reported before" in response.json()["detail"]


def test_a_person_nobody_referred_needs_a_referral_code(shop, ann):
    client = api_as(roles.SUPPORT)
    body = {"program": shop.slug, "email": "cy@gamma.com", "external_id": "o9"}
    refused = client.post(URL, body)
    assert refused.status_code == 422 and "referral_code" in refused.json()["detail"]
    assert not Referral.objects.exists()
    accepted = client.post(URL, {**body, "referral_code": ann.code.lower()})
    assert accepted.status_code == 201 and accepted.json()["referrer_email"] == "ann@acme.com"


def test_bad_input_is_named_by_field(shop):
    response = api_as(roles.SUPPORT).post(URL, {"program": shop.slug, "email": "nope"})
    assert response.status_code == 400
    assert set(response.json()) == {"email", "external_id"}
    unknown = api_as(roles.SUPPORT).post(
        URL, {"program": "nothing", "email": "a@b.com", "external_id": "1"}
    )
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (roles.ADMINISTRATOR, True),
        (roles.CONTRACT_MANAGER, True),
        (roles.SUPPORT, True),
        (roles.FINANCE, False),
        (roles.VIEWER, False),
    ],
)
def test_only_roles_that_change_referrals_report_conversions(shop, ann, role, allowed):
    join(shop, "bo@beta.com", by=ann)
    response = api_as(role).post(
        URL, {"program": shop.slug, "email": "bo@beta.com", "external_id": "o1"}
    )
    assert response.status_code == (201 if allowed else 403)


def test_a_token_of_someone_who_is_not_staff_is_refused(shop):
    response = api_as(roles.ADMINISTRATOR, is_staff=False).post(
        URL, {"program": shop.slug, "email": "bo@beta.com", "external_id": "o1"}
    )
    assert response.status_code == 403


def test_no_token_no_conversion(shop):
    assert APIClient().post(URL, {}).status_code in (401, 403)
