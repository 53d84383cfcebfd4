"""POST /api/v1/codes/validate and /api/v1/codes/redeem with token authentication."""

import time
from unittest.mock import patch

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core import roles
from invitations.models import Booking, InvitationCode, RedemptionAttempt
from tests.factories import InvitationCodeFactory, ParticipantFactory, UserFactory

pytestmark = pytest.mark.django_db


def api_as(role: str | None) -> APIClient:
    client = APIClient()
    user = UserFactory(role=role)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def integration():
    return api_as(roles.SUPPORT)


@pytest.fixture
def assigned(price):
    person = ParticipantFactory(contract=price.contract, email="ada@example.com")
    return InvitationCodeFactory(price=price, participant=person)


def redeem(client, body, key="order-1"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post("/api/v1/codes/redeem", body, format="json", **headers)


def test_validate_says_a_code_can_be_booked_and_changes_nothing(integration, assigned):
    response = integration.post("/api/v1/codes/validate", {"code": assigned.code.lower()})
    assert response.status_code == 200
    data = response.json()
    assert data["valid"] is True and data["reason"] is None
    assert data["product"] == assigned.price.product.name
    assert (data["uses_left"], data["assigned"]) == (1, True)
    assert InvitationCode.objects.get(pk=assigned.pk).uses == 0
    assert not RedemptionAttempt.objects.exists()


def test_validate_names_the_reason_a_code_cannot_be_booked(integration, assigned):
    InvitationCode.objects.filter(pk=assigned.pk).update(uses=1)
    data = integration.post("/api/v1/codes/validate", {"code": assigned.code}).json()
    assert (data["valid"], data["reason"]) == (False, "used_up")
    assert "Already used" in data["detail"]
    typo = integration.post("/api/v1/codes/validate", {"code": assigned.code[:-1] + "!"}).json()
    assert typo["reason"] == "malformed" and typo["code"] is None


def test_validate_checks_the_person_when_details_are_given(integration, price):
    code = InvitationCodeFactory(price=price, allowed_regions="North")
    body = {"code": code.code, "email": "x@example.com", "region": "South"}
    data = integration.post("/api/v1/codes/validate", body).json()
    assert data["reason"] == "region"


def test_redeem_books_and_answers_201_with_the_booking(integration, assigned):
    response = redeem(integration, {"code": assigned.code})
    assert response.status_code == 201
    data = response.json()
    booking = Booking.objects.get()
    assert data["reference"] == booking.reference
    assert data["participant"]["email"] == "ada@example.com"
    assert booking.channel == Booking.Channel.API
    attempt = RedemptionAttempt.objects.get()
    assert attempt.user.auth_token.key == integration._credentials["HTTP_AUTHORIZATION"][6:]


def test_the_same_key_and_body_return_the_same_booking(integration, assigned):
    first = redeem(integration, {"code": assigned.code})
    again = redeem(integration, {"code": assigned.code})
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert InvitationCode.objects.get(pk=assigned.pk).uses == 1


def test_the_same_key_with_another_body_is_a_conflict(integration, price, assigned):
    redeem(integration, {"code": assigned.code})
    other = InvitationCodeFactory(price=price)
    response = redeem(
        integration, {"code": other.code, "first_name": "A", "last_name": "B", "email": "a@b.org"}
    )
    assert response.status_code == 409
    assert InvitationCode.objects.get(pk=other.pk).uses == 0


def test_keys_of_two_clients_never_meet(assigned, price):
    redeem(api_as(roles.SUPPORT), {"code": assigned.code}, key="k")
    other = InvitationCodeFactory(price=price)
    body = {"code": other.code, "first_name": "A", "last_name": "B", "email": "a@b.org"}
    assert redeem(api_as(roles.SUPPORT), body, key="k").status_code == 201


def test_a_refusal_is_422_with_its_reason(integration, assigned):
    InvitationCode.objects.filter(pk=assigned.pk).update(status="revoked")
    response = redeem(integration, {"code": assigned.code})
    assert response.status_code == 422
    assert response.json()["reason"] == "revoked"


def test_missing_details_for_an_unassigned_code_are_400_and_use_nothing(integration, price):
    code = InvitationCodeFactory(price=price)
    response = redeem(integration, {"code": code.code, "email": "a@b.org"})
    assert response.status_code == 400
    assert set(response.json()) == {"first_name", "last_name"}
    assert InvitationCode.objects.get(pk=code.pk).uses == 0


def test_an_overlong_key_is_refused(integration, assigned):
    assert redeem(integration, {"code": assigned.code}, key="k" * 81).status_code == 400


@pytest.mark.parametrize("role", [roles.FINANCE, roles.VIEWER])
def test_roles_without_booking_rights_are_refused(role, assigned):
    assert redeem(api_as(role), {"code": assigned.code}).status_code == 403
    assert InvitationCode.objects.get(pk=assigned.pk).uses == 0


def test_anonymous_requests_are_refused(client, assigned):
    response = client.post(
        "/api/v1/codes/redeem", {"code": assigned.code}, content_type="application/json"
    )
    assert response.status_code in (401, 403)


def test_a_token_is_rate_limited_but_not_locked_out_by_refusals(integration, price, settings):
    from rest_framework.settings import api_settings

    from core.throttle import CountingRateThrottle

    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "codes": "5/min"}
    original = CountingRateThrottle.THROTTLE_RATES
    CountingRateThrottle.THROTTLE_RATES = rates
    try:
        used = InvitationCodeFactory(price=price, uses=1)
        # Refusals are answered as refusals, never as a lockout, up to the rate.
        for _ in range(5):
            assert redeem(integration, {"code": used.code}, key="").status_code == 422
        assert redeem(integration, {"code": used.code}, key="").status_code == 429
        # Another integration has its own allowance.
        assert redeem(api_as(roles.SUPPORT), {"code": used.code}, key="").status_code == 422
        # A new window starts afresh.
        with patch.object(CountingRateThrottle, "timer", lambda self: time.time() + 60):
            assert redeem(integration, {"code": used.code}, key="").status_code == 422
    finally:
        CountingRateThrottle.THROTTLE_RATES = original


def test_the_schema_lists_both_operations(superuser_client):
    schema = superuser_client.get("/api/schema/").content.decode()
    assert "/api/v1/codes/validate" in schema and "/api/v1/codes/redeem" in schema


def test_a_user_who_is_not_staff_is_refused_even_with_the_permission(assigned):
    client = APIClient()
    user = UserFactory(role=roles.SUPPORT, is_staff=False)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    assert redeem(client, {"code": assigned.code}).status_code == 403
