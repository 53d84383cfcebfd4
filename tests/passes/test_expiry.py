"""The nightly expiry sweep of passes: active passes past their date become expired, once,
with an event each; redemption refuses them clearly and the pass pages show it."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from core import pins
from passes import services
from passes.models import Pass, PassEvent
from passes.tasks import expire_passes
from tests.passes.test_services import plan

pytestmark = pytest.mark.django_db


@pytest.fixture
def gift():
    gift = plan(quantity=4)
    services.pass_plan_activate(actor=None, plan=gift)
    return gift


def passes(gift) -> list[Pass]:
    return list(gift.passes.order_by("id"))


def test_the_sweep_expires_active_passes_past_their_date_and_leaves_the_rest(gift):
    today = timezone.localdate()
    old, last_day, redeemed, cancelled = passes(gift)
    Pass.objects.filter(pk__in=[old.pk, redeemed.pk, cancelled.pk]).update(
        expires_on=today - timedelta(days=1)
    )
    Pass.objects.filter(pk=last_day.pk).update(expires_on=today)
    Pass.objects.filter(pk=redeemed.pk).update(status=Pass.Status.REDEEMED)
    Pass.objects.filter(pk=cancelled.pk).update(status=Pass.Status.CANCELLED)
    assert services.passes_expire(today=today) == 1
    statuses = dict(Pass.objects.values_list("pk", "status"))
    assert statuses == {
        old.pk: "expired",
        last_day.pk: "active",
        redeemed.pk: "redeemed",
        cancelled.pk: "cancelled",
    }
    event = PassEvent.objects.get(pass_obj=old, type=PassEvent.Type.STATUS_CHANGED)
    assert event.data == {"from": "active", "to": "expired"}
    assert services.passes_expire(today=today) == 0


def test_the_sweep_works_in_chunks(gift, monkeypatch):
    monkeypatch.setattr(services, "EXPIRE_CHUNK", 3)
    gift.passes.update(expires_on=timezone.localdate() - timedelta(days=3))
    assert services.passes_expire() == 4
    assert set(gift.passes.values_list("status", flat=True)) == {"expired"}
    assert PassEvent.objects.filter(type=PassEvent.Type.STATUS_CHANGED).count() == 4


def test_an_expired_pass_is_refused_with_its_date(gift):
    pass_obj = passes(gift)[0]
    pin = pins.new_pin()
    Pass.objects.filter(pk=pass_obj.pk).update(
        pin_hash=pins.pin_hash(pin),
        expires_on=timezone.localdate() - timedelta(days=2),
        status=Pass.Status.EXPIRED,
    )
    with pytest.raises(services.PassRefused, match=r"This pass expired on \d\d \w{3} \d{4}\."):
        services.pass_redeem(code=pass_obj.code, pin=pin)
    assert Pass.objects.get(pk=pass_obj.pk).status == Pass.Status.EXPIRED


def test_moving_an_expired_pass_s_date_later_makes_it_active_again(gift):
    pass_obj = passes(gift)[0]
    Pass.objects.filter(pk=pass_obj.pk).update(
        expires_on=timezone.localdate() - timedelta(days=2), status=Pass.Status.EXPIRED
    )
    later = timezone.localdate() + timedelta(days=30)
    updated, _ = services.pass_update(actor=None, pass_obj=pass_obj, expires_on=later)
    assert (updated.status, updated.expires_on) == (Pass.Status.ACTIVE, later)
    assert PassEvent.objects.filter(pass_obj=pass_obj, type="status_changed").exists()


def test_the_plan_page_shows_an_expired_pass_as_expired(manager_client, gift):
    Pass.objects.filter(pk=passes(gift)[0].pk).update(status=Pass.Status.EXPIRED)
    page = manager_client.get(reverse("pass_plans:plan_detail", args=[gift.pk])).content.decode()
    assert '<span class="state state-expired">Expired</span>' in page


def test_the_sweep_runs_every_night_from_beat():
    task = PeriodicTask.objects.get(name="Expiry sweep: passes")
    assert task.task == "passes.tasks.expire_passes" and task.crontab.hour == "0"
    assert expire_passes() == 0
