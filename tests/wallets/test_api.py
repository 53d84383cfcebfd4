"""POST /api/v1/wallets/{id}/debit and GET /api/v1/wallets/{id}/ with token authentication."""

from decimal import Decimal

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core import roles
from tests.factories import UserFactory
from wallets import services
from wallets.models import WalletBalance, WalletTransaction

pytestmark = pytest.mark.django_db


@pytest.fixture
def wallet():
    wallet = services.wallet_create(owner=UserFactory(), currency="EUR")
    services.wallet_credit(actor=None, wallet=wallet, amount=Decimal("50.00"))
    return wallet


def api_as(role: str | None) -> APIClient:
    client = APIClient()
    user = UserFactory(role=role)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def till():
    return api_as(roles.FINANCE)


def debit(client, wallet, key="receipt-1", **body):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(
        f"/api/v1/wallets/{wallet.pk}/debit", {"amount": "12.50", **body}, format="json", **headers
    )


def test_a_debit_returns_its_ledger_row(till, wallet):
    response = debit(till, wallet, description="Coffee")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["kind"], body["amount"], body["balance_after"]) == ("debit", "-12.50", "37.50")
    assert body["description"] == "Coffee"
    assert WalletBalance.objects.get(wallet=wallet).amount == Decimal("37.50")


def test_a_retried_debit_is_answered_as_the_first_and_takes_nothing_more(till, wallet):
    first = debit(till, wallet)
    again = debit(till, wallet)
    assert again.status_code == 201 and again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert WalletBalance.objects.get(wallet=wallet).amount == Decimal("37.50")


def test_the_same_key_with_another_body_is_409(till, wallet):
    debit(till, wallet)
    response = debit(till, wallet, amount="13.00")
    assert response.status_code == 409
    assert "already used for a different request" in response.json()["detail"]
    assert WalletTransaction.objects.filter(kind="debit").count() == 1


def test_a_debit_above_the_balance_is_422_and_takes_nothing(till, wallet):
    response = debit(till, wallet, amount="50.01")
    assert response.status_code == 422
    assert response.json()["detail"].startswith("Not enough money")
    assert WalletBalance.objects.get(wallet=wallet).amount == Decimal("50.00")


def test_a_debit_without_an_idempotency_key_is_refused(till, wallet):
    response = debit(till, wallet, key=None)
    assert response.status_code == 400
    assert response.json()["detail"] == "Send an Idempotency-Key header with each debit."


@pytest.mark.parametrize("amount", ["0", "-1", "abc", "1.234"])
def test_bad_amounts_are_400(till, wallet, amount):
    response = debit(till, wallet, amount=amount)
    assert response.status_code == 400 and "amount" in response.json()
    assert WalletTransaction.objects.filter(kind="debit").count() == 0


def test_another_currency_is_refused(till, wallet):
    response = debit(till, wallet, currency="GBP")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "This wallet holds EUR; it cannot take GBP.",
        "field": "currency",
    }


def test_debiting_needs_the_permission_and_a_token(wallet):
    assert debit(api_as(roles.VIEWER), wallet).status_code == 403
    assert debit(APIClient(), wallet).status_code == 401
    assert WalletTransaction.objects.filter(kind="debit").count() == 0


def test_a_wallet_shows_its_balances_to_its_owner_and_staff_only(wallet):
    owner = APIClient()
    owner.force_authenticate(wallet.owner)
    body = owner.get(f"/api/v1/wallets/{wallet.pk}/").json()
    assert body["balances"] == [{"name": "main", "amount": "50.00"}]
    assert body["recent_transactions"][0]["amount"] == "50.00"
    assert api_as(roles.VIEWER).get(f"/api/v1/wallets/{wallet.pk}/").status_code == 200
    assert api_as(None).get(f"/api/v1/wallets/{wallet.pk}/").status_code == 403


def test_the_openapi_schema_describes_the_debit(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    text = schema.content.decode()
    assert "/api/v1/wallets/{id}/debit" in text and "Idempotency-Key" in text
