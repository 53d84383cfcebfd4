"""Each staff member reads and types times in their own time zone; business days stay the
site's (core.timezones)."""

import zoneinfo
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core import services
from core.models import UserPreference
from core.timezones import SESSION_KEY, site_today
from invitations import services as code_services
from tests.factories import InvitationCodeFactory

pytestmark = pytest.mark.django_db

PAGE = reverse("core:time_zone")


@pytest.fixture(autouse=True)
def _utc_site(settings):
    settings.TIME_ZONE = "UTC"
    timezone.deactivate()


def far_zone() -> str:
    """A zone whose date is not UTC's right now (+14 h or −11 h, whichever differs)."""
    now = timezone.now()
    for name in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):
        if now.astimezone(zoneinfo.ZoneInfo(name)).date() != now.date():
            return name
    raise AssertionError("one of the two zones always has another date")


def waiting_batch(price):
    """A batch of one code, released tomorrow."""
    return code_services.code_batch_create(
        actor=None,
        contract=price.contract,
        price=price,
        quantity=1,
        width=8,
        release_at=timezone.now() + timedelta(days=1),
    )


def test_the_menu_names_the_zone_and_the_page_offers_every_zone(manager_client):
    menu = manager_client.get(reverse("contracts:organisation_list")).content.decode()
    assert "Time zone: UTC" in menu and f"{PAGE}?next=" in menu
    page = manager_client.get(PAGE).content.decode()
    assert '<option value="Europe/Paris">Europe/Paris</option>' in page
    assert '<option value="America/New_York">America/New York</option>' in page
    assert "The site&#x27;s time zone (UTC)" in page


def test_choosing_a_zone_saves_it_and_returns_to_the_page_the_user_was_on(manager_client, manager):
    back = reverse("contracts:organisation_list")
    response = manager_client.post(PAGE, {"time_zone": "Europe/Paris", "next": back})
    assert response.status_code == 302 and response["Location"] == back
    assert UserPreference.objects.get(user=manager).time_zone == "Europe/Paris"
    page = manager_client.get(back).content.decode()
    assert "Time zone: Europe/Paris" in page
    assert "Times are now shown in Europe/Paris." in page


def test_an_unknown_zone_is_refused_by_name(manager_client, manager):
    response = manager_client.post(PAGE, {"time_zone": "Mars/Olympus_Mons"})
    assert response.status_code == 200
    assert "Select a valid choice. Mars/Olympus_Mons is not one" in response.content.decode()
    assert not UserPreference.objects.filter(user=manager).exists()
    with pytest.raises(Exception, match="is not a time zone"):
        services.set_time_zone(actor=manager, user=manager, time_zone="Mars/Olympus_Mons")


def test_a_next_address_on_another_site_is_ignored(manager_client):
    response = manager_client.post(
        PAGE, {"time_zone": "Asia/Tokyo", "next": "https://evil.example/steal"}
    )
    assert response["Location"] == PAGE


def test_going_back_to_the_site_zone(manager_client, manager):
    services.set_time_zone(actor=manager, user=manager, time_zone="Asia/Tokyo")
    manager_client.post(PAGE, {"time_zone": ""})
    assert UserPreference.objects.get(user=manager).time_zone == ""
    assert "Time zone: UTC" in manager_client.get(PAGE).content.decode()


def test_times_typed_are_read_in_the_users_zone_and_shown_back_in_it(
    manager_client, manager, price
):
    services.set_time_zone(actor=manager, user=manager, time_zone="America/New_York")
    batch = waiting_batch(price)
    day = (timezone.now() + timedelta(days=10)).date()
    url = reverse("campaigns:batch_release_edit", args=[batch.pk])
    response = manager_client.post(url, {"release_at": f"{day.isoformat()}T09:00"})
    assert response.status_code == 302
    batch.refresh_from_db()
    new_york = zoneinfo.ZoneInfo("America/New_York")
    assert batch.release_at == datetime(day.year, day.month, day.day, 9, 0, tzinfo=new_york)
    form = manager_client.get(url).content.decode()
    assert f'value="{day.isoformat()}T09:00"' in form
    assert "America/New_York, your time zone" in form
    tab = manager_client.get(reverse("campaigns:distribution_list", args=[price.contract_id]))
    assert "Times in America/New_York" in tab.content.decode()


def test_a_user_without_a_choice_types_times_in_the_site_zone(manager_client, price):
    batch = waiting_batch(price)
    form = manager_client.get(reverse("campaigns:batch_release_edit", args=[batch.pk]))
    assert "UTC, the site&#x27;s time zone" in form.content.decode()


def test_business_days_stay_the_sites_whatever_zone_is_active(manager_client, manager, price):
    """A code valid until today (the site's day) is bookable, even for a reader whose own
    date is already tomorrow, or still yesterday."""
    code = InvitationCodeFactory(price=price, valid_from=site_today(), valid_until=site_today())
    zone = far_zone()
    services.set_time_zone(actor=manager, user=manager, time_zone=zone)
    with timezone.override(zoneinfo.ZoneInfo(zone)):
        assert timezone.localdate() != site_today()
        assert code.state == "Active"
    page = manager_client.get(reverse("invitations:code_detail", args=[code.pk])).content.decode()
    assert "Expired" not in page and "Not yet valid" not in page


def test_the_zone_is_read_once_a_session_and_never_for_the_public(manager_client, client):
    manager_client.get(PAGE)
    assert manager_client.session[SESSION_KEY] == ""
    with CaptureQueriesContext(connection) as queries:
        manager_client.get(PAGE)
    assert not [q for q in queries if "core_userpreference" in q["sql"]]
    client.logout()
    with CaptureQueriesContext(connection) as queries:
        client.get("/register/")
    assert not [q for q in queries if "core_userpreference" in q["sql"]]


@pytest.mark.parametrize("path", ["/register/", "/passes/redeem/", "/api/v1/passes/"])
def test_a_signed_in_user_on_a_public_page_or_the_api_stays_on_the_site_zone(manager, path):
    """The public pages and the API speak the site's zone whoever is signed in: the API reads
    a naive time in the active zone, and a public page names the zone it shows."""
    from django.contrib.sessions.backends.db import SessionStore
    from django.test import RequestFactory

    from core.timezones import UserTimeZoneMiddleware

    services.set_time_zone(actor=manager, user=manager, time_zone="Asia/Tokyo")
    seen = {}

    def view(request):
        seen[request.path] = timezone.get_current_timezone_name()
        return None

    middleware = UserTimeZoneMiddleware(view)
    for url in (path, PAGE):
        request = RequestFactory().get(url)
        request.user = manager
        request.session = SessionStore()
        middleware(request)
    assert seen == {path: "UTC", PAGE: "Asia/Tokyo"}


def test_a_public_page_costs_a_signed_in_user_no_preference_query(manager_client, manager):
    services.set_time_zone(actor=manager, user=manager, time_zone="Asia/Tokyo")
    with CaptureQueriesContext(connection) as queries:
        manager_client.get("/register/")
    assert not [q for q in queries if "core_userpreference" in q["sql"]]
    assert SESSION_KEY not in manager_client.session
