"""Token authentication for the API: the same answers as DRF's, from one prepared query."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core import roles
from tests.factories import InvitationCodeFactory, UserFactory

pytestmark = pytest.mark.django_db


def call(key: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.post("/api/v1/codes/validate", {"code": "!"}, format="json")


def test_a_valid_token_signs_in_its_user_with_every_field(price):
    user = UserFactory(role=roles.SUPPORT, first_name="Tia")
    token = Token.objects.create(user=user)
    assert call(token.key).status_code == 200
    from core.auth import PreparedTokenAuthentication

    found, found_token = PreparedTokenAuthentication().authenticate_credentials(token.key)
    assert (found.pk, found.username, found.first_name) == (user.pk, user.username, "Tia")
    assert found.is_staff is True and found.is_superuser is False
    assert found_token.created == token.created and found_token.user == found


def test_an_unknown_token_is_refused():
    assert call("0" * 40).status_code == 401


def test_a_deactivated_user_is_refused_at_once(price):
    user = UserFactory(role=roles.SUPPORT)
    token = Token.objects.create(user=user)
    assert call(token.key).status_code == 200
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert call(token.key).status_code == 401
    InvitationCodeFactory(price=price)
