"""Anomaly detection: each kind fires at its threshold and not below, one alert per thing
per day that grows, dismissed alerts re-open when they grow, managers are emailed once."""

from __future__ import annotations

import datetime
import itertools
from unittest import mock
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from campaigns import services, tasks
from campaigns.alert_selectors import alert_log_url
from campaigns.models import Alert
from core import roles
from invitations.models import Booking, RedemptionAttempt
from tests.factories import (
    ContractPriceFactory,
    InvitationCodeFactory,
    ParticipantFactory,
    UserFactory,
)
from tests.test_settings import _python as run_settings

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
NOW = datetime.datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
MINUTE = datetime.timedelta(minutes=1)
DAY = datetime.timedelta(days=1)
Kind = Alert.Kind
_references = itertools.count(1)


@pytest.fixture(autouse=True)
def _thresholds(settings):
    settings.ALERT_WINDOW_MINUTES = 10
    settings.ALERT_FAILED_BURST = 15
    settings.ALERT_ADDRESS_REDEMPTIONS = 5
    settings.ALERT_PARTICIPANT_REDEMPTIONS = 3
    settings.ALERT_SPIKE_FACTOR = 3
    settings.ALERT_SPIKE_MIN = 20
    settings.TIME_ZONE = "UTC"


def failed_attempts(n: int, *, address: str = "203.0.113.9", at=NOW, contract=None) -> None:
    RedemptionAttempt.objects.bulk_create(
        RedemptionAttempt(
            created_at=at,
            channel="web",
            result=RedemptionAttempt.Result.UNKNOWN,
            code_typed=f"WRONG{i}",
            contract=contract,
            address=address,
        )
        for i in range(n)
    )


def booking(*, price, participant=None, at=NOW, address: str = "198.51.100.7", assigned=False):
    """A booking and its line in the log, as the registration page writes them."""
    participant = participant or ParticipantFactory(contract=price.contract)
    code = InvitationCodeFactory(price=price, participant=participant if assigned else None)
    made = Booking.objects.create(
        reference=f"REF{next(_references)}",
        contract=price.contract,
        code=code,
        participant=participant,
        price=price,
        amount=price.amount,
        currency=price.currency,
        exclusive=False,
        created_at=at,
    )
    RedemptionAttempt.objects.create(
        created_at=at,
        channel="web",
        result=RedemptionAttempt.Result.BOOKED,
        code_typed=code.code,
        code=code,
        contract=price.contract,
        booking=made,
        email=participant.email,
        address=address,
    )
    return made


def bookings_per_day(n: int, *, price, day: datetime.datetime) -> None:
    """`n` bookings on one day, for a contract's history (not in any window)."""
    participant = ParticipantFactory(contract=price.contract)
    codes = [InvitationCodeFactory(price=price) for _ in range(n)]
    Booking.objects.bulk_create(
        Booking(
            reference=f"REF{next(_references)}",
            contract=price.contract,
            code=code,
            participant=participant,
            price=price,
            amount=price.amount,
            currency=price.currency,
            exclusive=False,
            created_at=day,
        )
        for code in codes
    )


# --- Bursts of failed attempts --------------------------------------------------------


def test_a_burst_of_failed_attempts_from_one_address_raises_an_alert_at_the_threshold():
    failed_attempts(14)
    assert services.alerts_detect(now=NOW) == []

    failed_attempts(1)
    (alert,) = services.alerts_detect(now=NOW)

    assert alert.kind == Kind.FAILED_BURST
    assert alert.key == "203.0.113.9"
    assert alert.count == 15
    assert alert.day == NOW.date()
    assert alert.status == Alert.Status.OPEN
    assert alert.contract is None
    assert alert.message == "15 failed attempts from 203.0.113.9, 15 of them within 10 minutes"
    assert alert.first_seen == alert.last_seen == NOW


def test_failed_attempts_spread_over_more_than_the_window_are_no_burst():
    failed_attempts(10, at=NOW - 11 * MINUTE)
    failed_attempts(10, at=NOW - 5 * MINUTE)

    assert services.alerts_detect(now=NOW) == []


def test_attempts_after_now_are_not_counted():
    failed_attempts(15, at=NOW + MINUTE)

    assert services.alerts_detect(now=NOW) == []


def test_a_bursts_count_is_the_addresss_failures_that_day():
    failed_attempts(30, at=NOW - 3 * 60 * MINUTE)
    failed_attempts(40, at=NOW - DAY)  # yesterday
    failed_attempts(15, at=NOW - 2 * MINUTE)

    (alert,) = services.alerts_detect(now=NOW)

    assert alert.count == 45
    assert alert.details["peak"] == 15


def test_successful_bookings_and_other_addresses_are_not_failures(price):
    failed_attempts(8, address="203.0.113.9")
    failed_attempts(8, address="203.0.113.10")
    for _ in range(7):
        booking(price=price, address="203.0.113.9")

    found = services.alerts_detect(now=NOW)

    assert [a.kind for a in found] == [Kind.ADDRESS_REDEMPTIONS]


def test_a_burst_on_one_contracts_codes_is_that_contracts_and_links_to_its_log(price):
    failed_attempts(15, contract=price.contract)

    (alert,) = services.alerts_detect(now=NOW)

    assert alert.contract == price.contract
    assert alert_log_url(alert) == (
        f"/staff/contracts/{price.contract.pk}/redemptions/"
        "?result=refused&since=2026-03-10&until=2026-03-10&q=203.0.113.9"
    )


def test_a_burst_of_unknown_codes_links_to_the_full_log_in_the_admin(superuser_client):
    failed_attempts(15)

    (alert,) = services.alerts_detect(now=NOW)

    url = alert_log_url(alert)
    assert url.startswith("/admin/invitations/redemptionattempt/?")
    query = parse_qs(urlsplit(url).query)
    assert query["address"] == ["203.0.113.9"]
    assert query["created_at__gte"] == ["2026-03-10T00:00:00+00:00"]
    assert query["created_at__lt"] == ["2026-03-11T00:00:00+00:00"]
    page = superuser_client.get(url)
    assert page.status_code == 200 and page.context["cl"].result_count == 15


def test_the_admin_link_spans_the_sites_day_whatever_zone_the_reader_uses(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    failed_attempts(15)

    (alert,) = services.alerts_detect(now=NOW)

    with timezone.override(ZoneInfo("America/New_York")):
        query = parse_qs(urlsplit(alert_log_url(alert)).query)
    assert query["created_at__gte"] == ["2026-03-10T00:00:00+01:00"]
    assert query["created_at__lt"] == ["2026-03-11T00:00:00+01:00"]


# --- Many bookings from one address ----------------------------------------------------


def test_many_bookings_from_one_address_raise_an_alert_at_the_threshold(price):
    for _ in range(4):
        booking(price=price, at=NOW - 3 * MINUTE)
    assert services.alerts_detect(now=NOW) == []

    booking(price=price, at=NOW - MINUTE)
    (alert,) = services.alerts_detect(now=NOW)

    assert alert.kind == Kind.ADDRESS_REDEMPTIONS
    assert alert.key == "198.51.100.7"
    assert alert.count == 5
    assert alert.contract == price.contract
    assert alert.message == "5 bookings from 198.51.100.7, 5 of them within 10 minutes"
    assert "result=booked" in alert_log_url(alert) and "q=198.51.100.7" in alert_log_url(alert)


def test_bookings_from_one_address_over_more_than_the_window_are_no_alert(price):
    for _ in range(3):
        booking(price=price, at=NOW - 20 * MINUTE)
    for _ in range(3):
        booking(price=price, at=NOW - MINUTE)

    assert services.alerts_detect(now=NOW) == []


# --- Many bookings by one participant --------------------------------------------------


def test_a_participant_booking_three_times_in_a_day_raises_an_alert(price):
    ann = ParticipantFactory(contract=price.contract, first_name="Ann", last_name="Lee")
    booking(price=price, participant=ann, at=NOW - 5 * 60 * MINUTE, address="10.0.0.1")
    booking(price=price, participant=ann, at=NOW - MINUTE, address="10.0.0.2")
    assert services.alerts_detect(now=NOW) == []

    booking(price=price, participant=ann, at=NOW, address="10.0.0.3")
    (alert,) = services.alerts_detect(now=NOW)

    assert alert.kind == Kind.PARTICIPANT_REDEMPTIONS
    assert alert.key == str(ann.pk)
    assert alert.count == 3
    assert alert.contract == price.contract
    assert alert.message == f"Ann Lee ({ann.email}) booked 3 times in one day"
    assert f"q={ann.email.replace('@', '%40')}" in alert_log_url(alert)


def test_a_participants_bookings_of_yesterday_do_not_count_today(price):
    ann = ParticipantFactory(contract=price.contract)
    booking(price=price, participant=ann, at=NOW - DAY, address="10.0.0.1")
    booking(price=price, participant=ann, at=NOW - DAY, address="10.0.0.2")
    booking(price=price, participant=ann, at=NOW, address="10.0.0.3")

    assert services.alerts_detect(now=NOW) == []


# --- Codes booked far from their participant's region ----------------------------------


def test_codes_of_participants_in_two_regions_booked_from_one_address_raise_an_alert(price):
    north = ParticipantFactory(contract=price.contract, region="North")
    south = ParticipantFactory(contract=price.contract, region="South")
    booking(price=price, participant=north, assigned=True, at=NOW - 60 * MINUTE)
    booking(price=price, participant=south, assigned=True, at=NOW - MINUTE)

    (alert,) = services.alerts_detect(now=NOW)

    assert alert.kind == Kind.FAR_REGION
    assert alert.key == "198.51.100.7"
    assert alert.count == 2
    assert alert.details["regions"] == [
        {"region": "North", "bookings": 1},
        {"region": "South", "bookings": 1},
    ]
    assert alert.message == (
        "2 codes of participants in 2 regions booked from 198.51.100.7: North (1), South (1)"
    )


def test_one_region_spelled_differently_is_not_far(price):
    for region in ("North", " north", "NORTH "):
        person = ParticipantFactory(contract=price.contract, region=region)
        booking(price=price, participant=person, assigned=True, at=NOW - MINUTE)

    assert services.alerts_detect(now=NOW) == []


def test_unassigned_codes_and_participants_without_a_region_are_not_compared(price):
    north = ParticipantFactory(contract=price.contract, region="North")
    walk_in = ParticipantFactory(contract=price.contract, region="South")
    nowhere = ParticipantFactory(contract=price.contract, region="")
    booking(price=price, participant=north, assigned=True, at=NOW - MINUTE)
    booking(price=price, participant=walk_in, assigned=False, at=NOW - MINUTE)
    booking(price=price, participant=nowhere, assigned=True, at=NOW - MINUTE)

    assert services.alerts_detect(now=NOW) == []


def test_regions_booked_from_one_address_on_different_days_are_not_far(price):
    north = ParticipantFactory(contract=price.contract, region="North")
    south = ParticipantFactory(contract=price.contract, region="South")
    booking(price=price, participant=north, assigned=True, at=NOW - DAY)
    booking(price=price, participant=south, assigned=True, at=NOW - MINUTE)

    assert services.alerts_detect(now=NOW) == []


# --- Spikes against the daily average --------------------------------------------------


def _spike_contract(*, per_day: int, today: int):
    price = ContractPriceFactory()
    for days_ago in range(1, 15):
        bookings_per_day(per_day, price=price, day=NOW - days_ago * DAY)
    bookings_per_day(today - 1, price=price, day=NOW - 60 * MINUTE)
    booking(price=price, at=NOW - MINUTE, address="")  # the latest, in the window
    return price.contract


def test_a_spike_fires_at_three_times_the_daily_average():
    calm = _spike_contract(per_day=10, today=29)
    spiking = _spike_contract(per_day=10, today=30)

    (alert,) = services.alerts_detect(now=NOW)

    assert alert.kind == Kind.SPIKE
    assert alert.contract == spiking != calm
    assert alert.count == 30
    assert alert.message == (
        f"30 bookings in one day on {spiking.name}: 3.0 times the daily average of 10.0 over "
        "the previous 14 days"
    )
    assert alert_log_url(alert).endswith("?result=booked&since=2026-03-10&until=2026-03-10")


def test_a_spike_needs_at_least_twenty_bookings_today():
    _spike_contract(per_day=1, today=19)
    quiet_start = _spike_contract(per_day=0, today=20)

    (alert,) = services.alerts_detect(now=NOW)

    assert alert.contract == quiet_start
    assert "with none in the previous 14 days" in alert.message


def test_bookings_older_than_the_fourteen_days_do_not_make_the_average(price):
    bookings_per_day(500, price=price, day=NOW - 15 * DAY)
    bookings_per_day(19, price=price, day=NOW - 60 * MINUTE)
    booking(price=price, at=NOW - MINUTE, address="")

    (alert,) = services.alerts_detect(now=NOW)

    assert alert.kind == Kind.SPIKE and alert.count == 20


def test_the_spike_baseline_is_counted_once_a_day_and_kept():
    spiking = _spike_contract(per_day=10, today=30)
    (alert,) = services.alerts_detect(now=NOW)

    # Were the past to change (it never does: bookings are not backdated), today's runs
    # would keep the average they started the day with.
    bookings_per_day(1000, price=spiking.prices.get(), day=NOW - 2 * DAY)
    booking(price=spiking.prices.get(), at=NOW + MINUTE, address="")
    (again,) = services.alerts_detect(now=NOW + 2 * MINUTE)

    assert again.pk == alert.pk and again.count == 31


def test_a_threshold_of_zero_is_refused_when_the_app_starts():
    result = run_settings("import django; django.setup()", ALERT_FAILED_BURST="0")

    assert result.returncode != 0
    assert "ALERT_FAILED_BURST must be more than 0." in result.stderr


# --- One alert per thing per day, growing ----------------------------------------------


def test_an_alert_grows_instead_of_repeating_and_a_new_day_makes_a_new_one():
    failed_attempts(15, at=NOW - MINUTE)
    (first,) = services.alerts_detect(now=NOW)
    (again,) = services.alerts_detect(now=NOW)
    assert again.pk == first.pk and again.count == 15

    failed_attempts(5, at=NOW + 2 * MINUTE)
    (grown,) = services.alerts_detect(now=NOW + 3 * MINUTE)

    assert grown.pk == first.pk
    assert grown.count == 20
    assert grown.details["peak"] == 20
    assert grown.first_seen == NOW and grown.last_seen == NOW + 3 * MINUTE
    assert "20 failed attempts" in grown.message
    assert Alert.objects.count() == 1

    failed_attempts(15, at=NOW + DAY)
    (tomorrows,) = services.alerts_detect(now=NOW + DAY)
    assert tomorrows.pk != first.pk and tomorrows.day == (NOW + DAY).date()
    assert Alert.objects.count() == 2


def test_a_dismissed_alert_stays_dismissed_until_it_grows_past_its_count():
    failed_attempts(15, at=NOW - MINUTE)
    (alert,) = services.alerts_detect(now=NOW)
    services.alert_dismiss(actor=None, alert=alert)
    assert alert.status == Alert.Status.DISMISSED

    (seen_again,) = services.alerts_detect(now=NOW + MINUTE)
    assert seen_again.status == Alert.Status.DISMISSED and seen_again.count == 15

    failed_attempts(1, at=NOW + MINUTE)
    (reopened,) = services.alerts_detect(now=NOW + 2 * MINUTE)
    assert reopened.pk == alert.pk
    assert reopened.status == Alert.Status.OPEN
    assert reopened.count == 16


def test_a_dismissed_spike_stays_dismissed_as_bookings_go_on_and_reopens_at_twice_the_threshold():
    spiking = _spike_contract(per_day=10, today=30)  # the threshold: 3 x 10 a day
    price = spiking.prices.get()
    (alert,) = services.alerts_detect(now=NOW)
    services.alert_dismiss(actor=None, alert=alert)

    booking(price=price, at=NOW + MINUTE, address="")
    (seen,) = services.alerts_detect(now=NOW + 2 * MINUTE)
    assert seen.pk == alert.pk and seen.count == 31
    assert seen.status == Alert.Status.DISMISSED

    bookings_per_day(27, price=price, day=NOW + 3 * MINUTE)
    booking(price=price, at=NOW + 4 * MINUTE, address="")
    (still,) = services.alerts_detect(now=NOW + 5 * MINUTE)
    assert still.count == 59 and still.status == Alert.Status.DISMISSED

    booking(price=price, at=NOW + 6 * MINUTE, address="")
    (reopened,) = services.alerts_detect(now=NOW + 7 * MINUTE)
    assert reopened.pk == alert.pk and reopened.count == 60
    assert reopened.status == Alert.Status.OPEN


def test_a_dismissed_spike_without_history_reopens_at_twice_the_minimum():
    price = ContractPriceFactory()
    bookings_per_day(19, price=price, day=NOW - 60 * MINUTE)
    booking(price=price, at=NOW - MINUTE, address="")
    (alert,) = services.alerts_detect(now=NOW)
    services.alert_dismiss(actor=None, alert=alert)

    bookings_per_day(18, price=price, day=NOW + MINUTE)
    booking(price=price, at=NOW + 2 * MINUTE, address="")
    (still,) = services.alerts_detect(now=NOW + 3 * MINUTE)
    assert still.count == 39 and still.status == Alert.Status.DISMISSED

    booking(price=price, at=NOW + 4 * MINUTE, address="")
    (reopened,) = services.alerts_detect(now=NOW + 5 * MINUTE)
    assert reopened.count == 40 and reopened.status == Alert.Status.OPEN


# --- Emails to the managers ------------------------------------------------------------


@pytest.fixture
def managers(db):
    return [
        UserFactory(role=roles.ADMINISTRATOR, email="ada@example.com"),
        UserFactory(role=roles.CONTRACT_MANAGER, email="max@example.com"),
        UserFactory(role=roles.CONTRACT_MANAGER, email=""),
        UserFactory(role=roles.CONTRACT_MANAGER, email="gone@example.com", is_active=False),
        UserFactory(role=roles.SUPPORT, email="sue@example.com"),
    ]


def test_a_new_alert_is_emailed_once_to_the_managers(
    price, managers, django_capture_on_commit_callbacks
):
    price.contract.alert_emails = True
    price.contract.save()
    failed_attempts(15, contract=price.contract, at=NOW - MINUTE)

    with django_capture_on_commit_callbacks(execute=True):
        (alert,) = services.alerts_detect(now=NOW)

    (message,) = mail.outbox
    assert message.to == ["ada@example.com", "max@example.com"]
    assert message.subject == (
        f"Alert on {price.contract.name}: Burst of failed attempts from one address"
    )
    assert alert.message in message.body
    assert "http://127.0.0.1:8000/staff/contracts/" in message.body
    alert.refresh_from_db()
    assert alert.emailed_at is not None

    failed_attempts(5, contract=price.contract, at=NOW)
    with django_capture_on_commit_callbacks(execute=True):
        services.alerts_detect(now=NOW + MINUTE)
    assert tasks.send_alert_email(alert.pk) is False
    assert len(mail.outbox) == 1


def test_an_alert_emailed_in_a_staff_members_request_gives_the_sites_times(
    price, managers, settings
):
    """Without a broker the task runs in the request that queued it (an administrator's
    Run task, in their own zone): the email's times are still the site's it names."""
    settings.TIME_ZONE = "UTC"
    price.contract.alert_emails = True
    price.contract.save()
    failed_attempts(15, contract=price.contract, at=NOW - MINUTE)
    (alert,) = services.alerts_detect(now=NOW)

    with timezone.override(ZoneInfo("Asia/Tokyo")):
        assert tasks.send_alert_email(alert.pk) is True

    (message,) = mail.outbox
    first = alert.first_seen.astimezone(UTC)
    assert f"First seen {first:%-d %b %Y %H:%M}, " in message.body
    assert "(UTC)." in message.body


def test_alerts_are_not_emailed_when_the_contract_does_not_ask_for_it(
    price, managers, django_capture_on_commit_callbacks
):
    failed_attempts(15, contract=price.contract)
    failed_attempts(15, address="192.0.2.1")  # no contract at all

    with django_capture_on_commit_callbacks(execute=True):
        assert len(services.alerts_detect(now=NOW)) == 2

    assert mail.outbox == []
    assert not Alert.objects.filter(emailed_at__isnull=False).exists()


def test_an_email_that_fails_gives_its_claim_back_for_the_retry(price, managers):
    price.contract.alert_emails = True
    price.contract.save()
    failed_attempts(15, contract=price.contract)
    (alert,) = services.alerts_detect(now=NOW)

    broken = mock.patch("django.core.mail.EmailMessage.send", side_effect=OSError("SMTP down"))
    with broken, pytest.raises(OSError):
        services.alert_email_send(alert_id=alert.pk)
    alert.refresh_from_db()
    assert alert.emailed_at is None

    assert services.alert_email_send(alert_id=alert.pk) is True
    assert len(mail.outbox) == 1


# --- The periodic job ------------------------------------------------------------------


def test_the_detection_runs_every_minute_from_the_periodic_task():
    job = PeriodicTask.objects.get(name="Detect anomalies")
    assert job.task == "campaigns.tasks.detect_anomalies"
    assert (job.interval.every, job.interval.period) == (1, "minutes")


def test_the_task_runs_the_detection_on_the_recent_log():
    failed_attempts(15, at=timezone.now())

    assert tasks.detect_anomalies() == 1
    assert Alert.objects.get().kind == Kind.FAILED_BURST
