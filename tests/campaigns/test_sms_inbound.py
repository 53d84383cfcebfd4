"""Replies to text messages: the SMS provider posts them to /api/v1/sms/inbound, and a STOP
opts its sender out of every contract's messages."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns import services
from contracts.models import Participant
from core import notifications
from core.errors import DomainError
from tests.campaigns.test_distribution import send, sms_template
from tests.factories import ContractPriceFactory, InvitationCodeFactory, ParticipantFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/sms/inbound"
TOKEN = "inbound-secret-123"


@pytest.fixture(autouse=True)
def _inbound(settings):
    settings.SMS_INBOUND_TOKEN = TOKEN
    settings.SMS_BACKEND = "core.notifications.LocmemSMSBackend"
    notifications.sms_outbox.clear()


def provider() -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    return client


def reply(number: str, text: str):
    return provider().post(URL, {"from": number, "body": text}, format="json")


@pytest.mark.parametrize(
    ("text", "stop"),
    [
        ("STOP", True),
        ("stop", True),
        (" Stop please", True),
        ("UNSUBSCRIBE", True),
        ("Quit.", True),
        ("STOPALL", True),
        ("Stop, please", True),
        ("STOP,thanks", True),
        ("stop?", True),
        ("End;", True),
        ("STOPPED", False),
        ("1 stop", False),
        ("Thanks, see you there", False),
        ("Don't stop", False),
        ("", False),
    ],
)
def test_which_replies_ask_to_stop(text, stop):
    assert services.is_stop_message(text) is stop


def test_a_stop_opts_out_that_number_in_every_contract_however_it_was_typed():
    ann = ParticipantFactory(phone="+44 7700 900123")
    ann_elsewhere = ParticipantFactory(phone="+44-7700-900-123")
    bo = ParticipantFactory(phone="+44 7700 900124")

    response = reply("+447700900123", "STOP")

    assert response.status_code == 200
    assert response.json() == {"stop": True, "opted_out": 2}
    opted = set(Participant.objects.filter(opted_out_at__isnull=False).values_list("pk", flat=True))
    assert opted == {ann.pk, ann_elsewhere.pk}
    assert bo.pk not in opted


def test_an_ordinary_reply_changes_nothing():
    ParticipantFactory(phone="+447700900123")
    assert reply("+447700900123", "See you on Friday").json() == {"stop": False, "opted_out": 0}
    assert not Participant.objects.filter(opted_out_at__isnull=False).exists()


def test_a_second_stop_keeps_the_first_time():
    earlier = timezone.now() - timedelta(days=3)
    ann = ParticipantFactory(phone="+447700900123", opted_out_at=earlier)
    assert reply("+447700900123", "STOP").json()["opted_out"] == 0
    ann.refresh_from_db()
    assert ann.opted_out_at == earlier


def test_after_a_stop_the_next_send_skips_them(django_capture_on_commit_callbacks):
    price = ContractPriceFactory()
    ann = ParticipantFactory(contract=price.contract, first_name="Ann", phone="+447700900123")
    InvitationCodeFactory(price=price, participant=ann)
    reply("+447700900123", "STOP")

    with pytest.raises(DomainError, match=r"skipped — Unsubscribed: 1"):
        send(django_capture_on_commit_callbacks, price.contract, sms_template(price.contract))
    assert notifications.sms_outbox == []


def test_the_sender_must_be_an_e164_number():
    response = reply("07700 900123", "STOP")
    assert response.status_code == 400
    assert "is not a number in E.164 form" in response.json()["from"][0]
    assert provider().post(URL, {"body": "STOP"}, format="json").status_code == 400


def test_the_provider_must_send_the_token(settings):
    ParticipantFactory(phone="+447700900123")
    anonymous = APIClient().post(URL, {"from": "+447700900123", "body": "STOP"}, format="json")
    assert anonymous.status_code == 401
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION="Bearer guess")
    stop = {"from": "+447700900123", "body": "STOP"}
    assert wrong.post(URL, stop, format="json").status_code == 401
    assert not Participant.objects.filter(opted_out_at__isnull=False).exists()
    settings.SMS_INBOUND_TOKEN = ""
    assert reply("+447700900123", "STOP").status_code == 404  # not configured: off


@pytest.mark.parametrize(
    "stored",
    ["+44\u00a07700\u00a0900123", "+44\t7700 900123", "+44\u202f7700\u202f900\u202f123"],
)
def test_a_stop_reaches_a_number_typed_with_a_no_break_space_or_a_tab(stored):
    """Sends text such a number (e164 drops any white space); its STOP must reach it too."""
    assert notifications.e164(stored) == "+447700900123"
    ann = ParticipantFactory(phone=stored)
    assert reply("+447700900123", "STOP").json() == {"stop": True, "opted_out": 1}
    ann.refresh_from_db()
    assert ann.opted_out_at is not None


def test_the_database_drops_every_separator_e164_drops():
    import re
    import sys

    dropped = {c for c in map(chr, range(sys.maxunicode + 1)) if notifications._SEPARATORS.match(c)}
    assert set(notifications.SEPARATOR_CHARS) == dropped
    assert not re.search(r"[0-9+]", notifications.SEPARATOR_CHARS)
