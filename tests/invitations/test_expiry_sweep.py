"""The nightly expiry sweep of codes: codes that expired unused keep their status (expiry
is read from valid_until everywhere) and are stamped once, so the CRM feed reports them."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from invitations import services
from invitations.models import InvitationCode
from invitations.tasks import sweep_expired_codes
from tests.factories import InvitationCodeFactory

pytestmark = pytest.mark.django_db
LONG_AGO = datetime(2001, 1, 1, tzinfo=UTC)


def stamped(code) -> bool:
    return InvitationCode.objects.get(pk=code.pk).updated_at > LONG_AGO


@pytest.fixture
def today():
    return timezone.localdate()


def make(price, *, valid_until, **fields) -> InvitationCode:
    code = InvitationCodeFactory(price=price, **fields)
    InvitationCode.objects.filter(pk=code.pk).update(valid_until=valid_until, updated_at=LONG_AGO)
    return code


def test_codes_that_expired_unused_are_stamped_once_and_stay_active(price, today):
    expired = make(price, valid_until=today - timedelta(days=1))
    assert services.codes_expire_sweep(today=today) == 1
    code = InvitationCode.objects.get(pk=expired.pk)
    assert code.status == InvitationCode.Status.ACTIVE and code.state == "Expired"
    assert stamped(code)
    assert services.codes_expire_sweep(today=today) == 0


def test_the_sweep_leaves_valid_used_revoked_and_archived_codes_alone(price, today):
    yesterday = today - timedelta(days=1)
    codes = [
        make(price, valid_until=today),
        make(price, valid_until=None),
        make(price, valid_until=yesterday, uses=1),
        make(price, valid_until=yesterday, status=InvitationCode.Status.REVOKED),
        make(price, valid_until=yesterday, is_archived=True),
    ]
    assert services.codes_expire_sweep(today=today) == 0
    assert not any(stamped(code) for code in codes)


def test_the_sweep_catches_up_a_week_of_missed_nights_but_no_more(price, today):
    week = make(price, valid_until=today - timedelta(days=7))
    older = make(price, valid_until=today - timedelta(days=8))
    assert services.codes_expire_sweep(today=today) == 1
    assert stamped(week) and not stamped(older)


def test_a_code_changed_after_it_expired_is_not_stamped_again(price, today):
    code = make(price, valid_until=today - timedelta(days=3))
    InvitationCode.objects.filter(pk=code.pk).update(updated_at=timezone.now())
    assert services.codes_expire_sweep(today=today) == 0


def test_the_sweep_reads_the_stamps_day_in_the_site_zone_whoever_runs_it(price, settings):
    """Stamped late on its last valid day (the site's): still the site's last day, though
    already the next day for an administrator in Tokyo running the task from the admin."""
    settings.TIME_ZONE = "UTC"
    last_day = datetime(2026, 3, 2).date()
    code = make(price, valid_until=last_day)
    late = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)  # 3 March, 08:30 in Tokyo
    InvitationCode.objects.filter(pk=code.pk).update(updated_at=late)
    with timezone.override(ZoneInfo("Asia/Tokyo")):
        assert services.codes_expire_sweep(today=last_day + timedelta(days=1)) == 1
    assert InvitationCode.objects.get(pk=code.pk).updated_at > late


def test_the_code_sweep_runs_every_night_from_beat():
    task = PeriodicTask.objects.get(name="Expiry sweep: codes")
    assert task.task == "invitations.tasks.sweep_expired_codes" and task.crontab.hour == "0"
    assert sweep_expired_codes() == 0
