"""The Schedules section of the Messages tab: scheduled sends (cancel), batch releases
(move, release now) and reminder rules (add, edit, pause, delete), times in the site's
time zone."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns import services
from campaigns.models import Distribution, Message, ReminderRule, Wave
from core import roles
from invitations import services as code_services
from invitations.models import CodeBatch, InvitationCode
from tests.campaigns.test_distribution import email_template
from tests.factories import InvitationCodeFactory, ParticipantFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _berlin(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    timezone.deactivate()


def messages_tab(client, contract) -> str:
    url = reverse("campaigns:distribution_list", args=[contract.pk])
    return client.get(url).content.decode()


@pytest.fixture
def template(contract):
    return email_template(contract)


@pytest.fixture
def scheduled(contract, price, template) -> Distribution:
    ann = ParticipantFactory(contract=contract, email="ann@x.org")
    InvitationCodeFactory(price=price, participant=ann)
    return services.distribution_create(
        actor=None,
        contract=contract,
        template=template,
        send_at=timezone.now() + timedelta(days=2),
    )


@pytest.fixture
def waiting(price) -> CodeBatch:
    return code_services.code_batch_create(
        actor=None,
        contract=price.contract,
        price=price,
        quantity=2,
        width=8,
        release_at=timezone.now() + timedelta(days=1),
    )


def local(at) -> str:
    return f"{timezone.localtime(at):%-d %b %Y %H:%M}"


def test_the_messages_tab_lists_each_schedule_in_the_site_time_zone(
    manager_client, contract, scheduled, waiting, template
):
    services.reminder_rule_create(actor=None, contract=contract, template=template, days_before=5)
    page = messages_tab(manager_client, contract)
    assert 'id="schedules"' in page and "Europe/Berlin" in page
    assert local(scheduled.send_at) in page
    assert local(waiting.release_at) in page and f"Batch {waiting.pk}" in page
    assert "Cancel send" in page and "Change or release now" in page and "New Reminder" in page


def test_a_viewer_sees_the_schedules_without_their_buttons(client, contract, scheduled, waiting):
    client.force_login(UserFactory(role=roles.VIEWER))
    page = messages_tab(client, contract)
    assert local(scheduled.send_at) in page
    assert "Cancel send" not in page and "Change or release now" not in page
    assert "New Reminder" not in page


def test_cancelling_a_scheduled_send_frees_its_codes_to_be_sent_again(
    manager_client, contract, scheduled
):
    url = reverse("campaigns:distribution_cancel", args=[scheduled.pk])
    response = manager_client.post(url, follow=True)
    assert "Scheduled send cancelled" in response.content.decode()
    scheduled.refresh_from_db()
    assert scheduled.status == Distribution.Status.CANCELLED
    message = scheduled.messages.get()
    assert (message.status, message.reason) == (Message.Status.SKIPPED, "Send cancelled")
    assert services.distributions_start_due(now=scheduled.send_at) == 0
    assert local(scheduled.send_at) not in messages_tab(manager_client, contract)


def test_a_send_that_started_cannot_be_cancelled(manager_client, scheduled):
    Distribution.objects.filter(pk=scheduled.pk).update(status=Distribution.Status.SENDING)
    url = reverse("campaigns:distribution_cancel", args=[scheduled.pk])
    response = manager_client.post(url, follow=True)
    assert "can no longer be cancelled" in response.content.decode()
    assert Distribution.objects.get(pk=scheduled.pk).status == Distribution.Status.SENDING


def test_staff_move_a_release_to_another_time_entered_in_the_site_time_zone(
    manager_client, waiting
):
    url = reverse("campaigns:batch_release_edit", args=[waiting.pk])
    form = manager_client.get(url).content.decode()
    assert f"{timezone.localtime(waiting.release_at):%Y-%m-%dT%H:%M}" in form
    day = (timezone.localdate() + timedelta(days=3)).isoformat()
    response = manager_client.post(url, {"release_at": f"{day}T08:15"})
    assert response.status_code == 302 and response["Location"].endswith("#schedules")
    waiting.refresh_from_db()
    moved = timezone.localtime(waiting.release_at)
    assert (moved.date().isoformat(), moved.hour, moved.minute) == (day, 8, 15)


def test_a_release_moved_into_the_past_is_refused_with_a_clear_message(manager_client, waiting):
    url = reverse("campaigns:batch_release_edit", args=[waiting.pk])
    day = (timezone.localdate() - timedelta(days=1)).isoformat()
    response = manager_client.post(url, {"release_at": f"{day}T08:15"})
    assert response.status_code == 200
    assert "This time has passed" in response.content.decode()


def test_release_now_makes_the_codes_bookable(manager_client, waiting):
    url = reverse("campaigns:batch_release_edit", args=[waiting.pk])
    response = manager_client.post(url, {"release_now": "1"}, follow=True)
    assert f"Batch {waiting.pk} released" in response.content.decode()
    assert set(waiting.codes.values_list("status", flat=True)) == {InvitationCode.Status.ACTIVE}


def test_staff_add_edit_pause_and_delete_a_reminder(manager_client, contract, template):
    create = reverse("campaigns:reminder_create", args=[contract.pk])
    assert (
        manager_client.post(create, {"template": template.pk, "days_before": 10}).status_code == 302
    )
    rule = ReminderRule.objects.get()
    assert (rule.days_before, rule.is_active) == (10, True)
    edit = reverse("campaigns:reminder_edit", args=[rule.pk])
    manager_client.post(edit, {"template": template.pk, "days_before": 3})
    rule.refresh_from_db()
    assert (rule.days_before, rule.is_active) == (3, False)
    assert "Paused" in messages_tab(manager_client, contract)
    manager_client.post(reverse("campaigns:reminder_delete", args=[rule.pk]))
    assert not ReminderRule.objects.exists()


def test_a_reminder_with_bad_days_is_refused_on_the_form(manager_client, contract, template):
    create = reverse("campaigns:reminder_create", args=[contract.pk])
    response = manager_client.post(create, {"template": template.pk, "days_before": 0})
    assert response.status_code == 200
    assert "Ensure this value is greater than or equal to 1." in response.content.decode()
    assert not ReminderRule.objects.exists()


def test_staff_add_edit_pause_and_delete_a_wave(manager_client, contract, template):
    create = reverse("campaigns:wave_create", args=[contract.pk])
    today = timezone.localdate().isoformat()
    data = {"template": template.pk, "per_day": 50, "starts_on": today}
    assert manager_client.post(create, data).status_code == 302
    wave = Wave.objects.get()
    assert (wave.per_day, wave.is_active) == (50, True)
    manager_client.post(reverse("campaigns:wave_edit", args=[wave.pk]), data | {"per_day": 20})
    wave.refresh_from_db()
    assert (wave.per_day, wave.is_active) == (20, False)
    page = messages_tab(manager_client, contract)
    assert "New Wave" in page and "Paused" in page
    manager_client.post(reverse("campaigns:wave_delete", args=[wave.pk]))
    assert not Wave.objects.exists()


def test_a_wave_starting_in_the_past_is_refused_on_the_form(manager_client, contract, template):
    create = reverse("campaigns:wave_create", args=[contract.pk])
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    response = manager_client.post(
        create, {"template": template.pk, "per_day": 5, "starts_on": yesterday}
    )
    assert response.status_code == 200
    assert "This day has passed" in response.content.decode()
