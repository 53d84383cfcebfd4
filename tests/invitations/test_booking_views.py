"""Staff pages of bookings: code rules, shared codes, booking links, Void, the log."""

import csv
import io
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from core import roles
from invitations import services
from invitations.models import Booking, BookingVoid, InvitationCode, RedemptionAttempt
from invitations.services import Client, Details, RedemptionRefused
from tests.factories import InvitationCodeFactory, UserFactory

pytestmark = pytest.mark.django_db
PERSON = Details(first_name="Nora", last_name="Neu", email="nora@example.com")


def book(code, details=PERSON, client=None):
    return services.booking_redeem(
        code=code.code, details=details, client=client or Client(address="198.51.100.4")
    )


@pytest.fixture
def support_client(client):
    client.force_login(UserFactory(role=roles.SUPPORT))
    return client


def test_generate_codes_applies_the_rules_to_every_code_of_the_batch(manager_client, contract):
    price = contract.prices.get()
    response = manager_client.post(
        reverse("invitations:code_generate", args=[contract.pk]),
        {
            "quantity": 3,
            "width": 8,
            "price": price.pk,
            "max_uses": 2,
            "allowed_regions": "North,  South ,North",
            "allowed_groups": "",
            # one_per_person left unticked
        },
    )
    assert response.status_code == 302
    rules = set(InvitationCode.objects.values_list("max_uses", "allowed_regions", "one_per_person"))
    assert rules == {(2, "North, South", False)}


def test_code_edit_changes_the_rules_of_one_code(manager_client, price):
    code = InvitationCodeFactory(price=price)
    response = manager_client.post(
        reverse("invitations:code_edit", args=[code.pk]),
        {
            "price": price.pk,
            "max_uses": "",
            "status": "active",
            "allowed_groups": "Sales",
            "one_per_person": "on",
        },
    )
    assert response.status_code == 302
    code.refresh_from_db()
    assert (code.max_uses, code.allowed_groups, code.one_per_person) == (None, "Sales", True)


def test_add_shared_code_page_creates_it_and_shows_its_booking_link(manager_client, contract):
    price = contract.prices.get()
    url = reverse("invitations:shared_code_create", args=[contract.pk])
    response = manager_client.post(
        url, {"code": "Gala-Night-2026", "price": price.pk, "max_uses": "", "one_per_person": "on"}
    )
    code = InvitationCode.objects.get(is_shared=True)
    assert response["Location"] == reverse("invitations:code_detail", args=[code.pk])
    page = manager_client.get(response["Location"]).content.decode()
    assert "GALANIGHT2026" in page
    assert "/register/GALANIGHT2026/" in page
    assert "<svg" in page and "Copy link" in page
    assert "no limit" in page


def test_add_shared_code_page_explains_a_short_code(manager_client, contract):
    price = contract.prices.get()
    url = reverse("invitations:shared_code_create", args=[contract.pk])
    response = manager_client.post(url, {"code": "GALA", "price": price.pk})
    assert response.status_code == 200
    assert "at least 10 characters" in response.content.decode()
    assert not InvitationCode.objects.exists()


@pytest.mark.parametrize(("kind", "magic"), [("png", b"\x89PNG"), ("svg", b"<?xml")])
def test_the_qr_code_of_the_booking_link_downloads(manager_client, price, kind, magic):
    code = InvitationCodeFactory(price=price)
    response = manager_client.get(reverse("invitations:code_qr", args=[code.pk, kind]))
    assert response.status_code == 200
    assert response.content.startswith(magic)
    assert f"booking-link-{code.code}.{kind}" in response["Content-Disposition"]


def test_the_bookings_tab_lists_bookings_and_finds_them_by_email(manager_client, price):
    booking = book(InvitationCodeFactory(price=price))
    url = reverse("invitations:booking_list", args=[price.contract_id])
    page = manager_client.get(url, {"q": "NORA@example.com"}).content.decode()
    assert booking.reference in page
    assert booking.reference not in manager_client.get(url, {"q": "nobody@x.org"}).content.decode()


def test_support_voids_a_booking_with_a_reason(support_client, price):
    code = InvitationCodeFactory(price=price)
    booking = book(code)
    url = reverse("invitations:booking_void", args=[booking.pk])
    assert "Say why" in support_client.post(url, {"reason": ""}).content.decode()
    response = support_client.post(url, {"reason": "Cancelled by phone"}, follow=True)
    assert "can be used again" in response.content.decode()
    booking.refresh_from_db()
    assert booking.status == Booking.Status.VOIDED
    assert BookingVoid.objects.get().reason == "Cancelled by phone"
    assert InvitationCode.objects.get(pk=code.pk).uses == 0


def test_a_manager_cannot_void(manager_client, price):
    booking = book(InvitationCodeFactory(price=price))
    url = reverse("invitations:booking_void", args=[booking.pk])
    assert manager_client.post(url, {"reason": "x"}).status_code == 403
    assert Booking.objects.get().status == Booking.Status.ACTIVE


def test_the_redemption_log_filters_refusals_and_exports_them(manager_client, price):
    code = InvitationCodeFactory(price=price)
    book(code)
    with pytest.raises(RedemptionRefused):
        book(code, Details(first_name="Eve", last_name="E", email="eve@example.com"))
    url = reverse("invitations:redemption_log", args=[price.contract_id])
    page = manager_client.get(url, {"result": "refused"}).content.decode()
    assert "eve@example.com" in page and "nora@example.com" not in page
    response = manager_client.get(
        reverse("invitations:redemption_log_export", args=[price.contract_id])
    )
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0][:3] == ["Time", "Result", "Code as typed"]
    assert [r[1] for r in rows[1:]] == ["Already used", "Booked"]
    assert rows[2][4] == Booking.objects.get().reference
    assert rows[1][7] == "198.51.100.4"
    assert RedemptionAttempt.objects.count() == 2


def test_the_redemption_logs_days_are_the_sites_for_a_reader_in_another_zone(
    manager_client, manager, price, settings
):
    from core.services import set_time_zone

    settings.TIME_ZONE = "Europe/Berlin"
    set_time_zone(actor=manager, user=manager, time_zone="America/New_York")
    code = InvitationCodeFactory(price=price)
    book(code)
    with pytest.raises(RedemptionRefused):
        book(code, Details(first_name="Eve", last_name="E", email="eve@example.com"))
    # 23:30 UTC on 2 March: 3 March in Berlin, still 2 March in New York.
    late = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
    RedemptionAttempt.objects.update(created_at=late)
    url = reverse("invitations:redemption_log", args=[price.contract_id])
    page = manager_client.get(url, {"since": "2026-03-03", "until": "2026-03-03"})
    assert "eve@example.com" in page.content.decode()
    assert "Days in Europe/Berlin, the site&#x27;s time zone" in page.content.decode()
    page = manager_client.get(url, {"since": "2026-03-02", "until": "2026-03-02"})
    assert "eve@example.com" not in page.content.decode()


def test_the_redemption_log_download_names_the_zone_of_its_times(
    manager_client, manager, price, settings
):
    """Its rows are chosen by the site's days and their times are the site's too (a row of
    3 March reads 3 March); a reader in another zone is told so."""
    from core.services import set_time_zone

    settings.TIME_ZONE = "Europe/Berlin"
    set_time_zone(actor=manager, user=manager, time_zone="America/New_York")
    book(InvitationCodeFactory(price=price))
    RedemptionAttempt.objects.update(created_at=datetime(2026, 3, 2, 23, 30, tzinfo=UTC))
    response = manager_client.get(
        reverse("invitations:redemption_log_export", args=[price.contract_id]),
        {"since": "2026-03-03", "until": "2026-03-03"},
    )
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0][:2] == ["Time (Europe/Berlin)", "Result"]
    assert rows[1][0] == "2026-03-03 00:30:00"


def test_a_code_with_a_booking_cannot_be_deleted_even_after_a_void(manager_client, price):
    code = InvitationCodeFactory(price=price)
    services.booking_void(actor=None, booking=book(code), reason="test")
    response = manager_client.post(reverse("invitations:code_delete", args=[code.pk]))
    assert response.status_code == 302
    assert InvitationCode.objects.filter(pk=code.pk).exists()


def test_a_participant_who_booked_cannot_be_deleted(manager_client, price):
    booking = book(InvitationCodeFactory(price=price))
    url = reverse("invitations:participant_delete", args=[booking.participant_id])
    assert "bookings are kept" in manager_client.get(url).content.decode()


def test_the_active_filter_lists_a_shared_code_without_a_limit(manager_client, price):
    shared = services.shared_code_create(
        actor=None, contract=price.contract, code="OPENHOUSE2026", price=price, max_uses=None
    )
    url = reverse("invitations:code_list", args=[price.contract_id])
    assert shared.display == "OPENHOUSE2026"
    assert shared.display in manager_client.get(url, {"status": "active"}).content.decode()
