"""The Alerts page: the list, its filters, the menu's badge, following an alert to the log,
and who may dismiss."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse

from campaigns import services
from campaigns.alert_selectors import alert_open_count
from campaigns.models import Alert
from core import roles
from tests.campaigns.test_alerts import NOW, failed_attempts
from tests.factories import ContractFactory, UserFactory

pytestmark = pytest.mark.django_db

LIST = reverse("campaigns:alert_list")


def make_alert(**fields) -> Alert:
    fields = {
        "kind": Alert.Kind.FAILED_BURST,
        "key": "203.0.113.9",
        "day": NOW.date(),
        "count": 15,
        "message": "15 failed attempts from 203.0.113.9",
        "details": {"address": "203.0.113.9", "whole_contract": True},
        **fields,
    }
    alert = Alert.objects.create(**fields)
    Alert.objects.filter(pk=alert.pk).update(first_seen=NOW, last_seen=NOW)
    return alert


def sign_in(client, role: str):
    user = UserFactory(role=role)
    client.force_login(user)
    return user


def rows(response) -> list[str]:
    return [a.message for a in response.context["page"].object_list]


def test_the_list_shows_open_alerts_first_with_their_count_times_and_log_link(client, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    sign_in(client, roles.VIEWER)
    contract = ContractFactory(name="Wellbeing 2026")
    dismissed = make_alert(key="a", message="Dismissed one", status=Alert.Status.DISMISSED)
    Alert.objects.filter(pk=dismissed.pk).update(last_seen=NOW + datetime.timedelta(hours=1))
    make_alert(key="b", message="Open one", contract=contract, count=42)

    response = client.get(LIST)

    assert response.status_code == 200
    assert rows(response) == ["Open one", "Dismissed one"]
    page = response.content.decode()
    assert "Wellbeing 2026" in page and ">42<" in page
    assert "10 Mar 2026 13:00" in page  # 12:00 UTC, shown in Berlin time
    assert "times in Europe/Berlin" in page
    assert "See in the redemption log" in page
    assert (
        f"/staff/contracts/{contract.pk}/redemptions/?result=refused&amp;since=2026-03-10" in page
    )


def test_the_list_filters_by_contract_kind_and_status(client):
    sign_in(client, roles.VIEWER)
    mine, other = ContractFactory(), ContractFactory()
    make_alert(key="1", message="Mine, burst", contract=mine)
    make_alert(key="2", message="Mine, spike", contract=mine, kind=Alert.Kind.SPIKE)
    make_alert(key="3", message="Other, burst", contract=other, status=Alert.Status.DISMISSED)

    assert rows(client.get(LIST, {"contract": mine.pk})) == ["Mine, spike", "Mine, burst"]
    assert rows(client.get(LIST, {"kind": "spike"})) == ["Mine, spike"]
    assert rows(client.get(LIST, {"status": "dismissed"})) == ["Other, burst"]
    assert rows(client.get(LIST, {"contract": mine.pk, "kind": "failed_burst"})) == ["Mine, burst"]


def test_the_list_is_paginated(client):
    sign_in(client, roles.VIEWER)
    for i in range(30):
        make_alert(key=str(i), message=f"Alert {i}")

    first = client.get(LIST)
    second = client.get(LIST, {"page": 2})

    assert len(rows(first)) == 25 and len(rows(second)) == 5
    assert "Page 1 of 2" in first.content.decode()


def test_an_empty_list_says_what_will_appear(client):
    sign_in(client, roles.VIEWER)

    page = client.get(LIST).content.decode()
    filtered = client.get(LIST, {"kind": "spike"}).content.decode()

    assert "No alerts: nothing unusual in the redemption log so far." in page
    assert "No alert matches these filters." in filtered


def test_the_menu_shows_alerts_with_the_open_count(client):
    sign_in(client, roles.VIEWER)
    make_alert(key="1")
    make_alert(key="2")
    make_alert(key="3", status=Alert.Status.DISMISSED)

    page = client.get(reverse("contracts:organisation_list")).content.decode()

    badge = '<span class="badge state-flagged" title="Open alerts">2</span>'
    assert f'href="{LIST}">Alerts {badge}' in page


def test_the_open_count_is_read_from_the_cache_and_forgotten_on_dismiss(
    client, django_assert_num_queries, django_capture_on_commit_callbacks
):
    sign_in(client, roles.SUPPORT)
    alert = make_alert()
    client.get(LIST)  # counts once

    with django_assert_num_queries(0):
        assert alert_open_count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("campaigns:alert_dismiss", args=[alert.pk]))
    assert alert_open_count() == 0


def test_support_dismisses_an_alert_and_returns_to_the_filtered_list(client):
    sign_in(client, roles.SUPPORT)
    alert = make_alert()
    back = f"{LIST}?kind=failed_burst"

    response = client.post(reverse("campaigns:alert_dismiss", args=[alert.pk]), {"next": back})

    assert response.status_code == 302 and response["Location"] == back
    alert.refresh_from_db()
    assert alert.status == Alert.Status.DISMISSED
    assert "Alert dismissed." in client.get(back).content.decode()


@pytest.mark.parametrize("role", [roles.FINANCE, roles.VIEWER])
def test_roles_without_change_alert_cannot_dismiss_and_see_no_button(client, role):
    sign_in(client, role)
    alert = make_alert()

    assert client.get(LIST).status_code == 200
    assert ">Dismiss</button>" not in client.get(LIST).content.decode()
    response = client.post(reverse("campaigns:alert_dismiss", args=[alert.pk]))

    assert response.status_code == 403
    alert.refresh_from_db()
    assert alert.status == Alert.Status.OPEN


def test_dismiss_is_a_post_and_never_leaves_the_site(client):
    sign_in(client, roles.ADMINISTRATOR)
    alert = make_alert()
    url = reverse("campaigns:alert_dismiss", args=[alert.pk])

    assert client.get(url).status_code == 405
    response = client.post(url, {"next": "https://evil.example.com/"})
    assert response["Location"] == LIST


def test_a_burst_of_unknown_codes_opens_the_admins_full_log_filtered_to_it(client):
    sign_in(client, roles.SUPPORT)
    failed_attempts(15, at=NOW)
    failed_attempts(3, address="192.0.2.50", at=NOW)
    assert len(services.alerts_detect(now=NOW)) == 1

    page = client.get(LIST)
    (listed,) = page.context["page"].object_list
    response = client.get(listed.log_url)

    assert response.status_code == 200
    assert response.context["cl"].result_count == 15
    assert "192.0.2.50" not in response.content.decode()
