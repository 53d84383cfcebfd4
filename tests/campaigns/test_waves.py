"""Waves: each day the next participants in the list who hold an unused code never sent
get it, N a day, once a day, through the distribution services."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from campaigns import services
from campaigns.models import Distribution, Wave
from campaigns.tasks import send_waves
from core import notifications
from tests.campaigns.test_distribution import email_template, sms_template
from tests.factories import InvitationCodeFactory, ParticipantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quick(settings):
    settings.CAMPAIGN_SEND_RATE = 0
    settings.SITE_URL = "https://vouchers.example.com"
    settings.SMS_BACKEND = "core.notifications.LocmemSMSBackend"
    notifications.sms_outbox.clear()
    yield
    notifications.sms_outbox.clear()


@pytest.fixture
def today():
    return timezone.localdate()


@pytest.fixture
def people(price):
    """Five participants holding an unused code, in list order."""
    found = []
    for n in range(5):
        person = ParticipantFactory(contract=price.contract, email=f"p{n}@x.org")
        InvitationCodeFactory(price=price, participant=person)
        found.append(person)
    return found


@pytest.fixture
def wave(contract, today):
    return services.wave_create(
        actor=None, contract=contract, template=email_template(contract), per_day=2, starts_on=today
    )


def run(capture, today) -> list[Distribution]:
    with capture(execute=True):
        return services.waves_send(today=today)


def recipients() -> list[str]:
    return [m.to[0] for m in mail.outbox]


def test_each_day_the_next_participants_in_the_list_get_their_codes(
    people, wave, today, django_capture_on_commit_callbacks
):
    [first] = run(django_capture_on_commit_callbacks, today)
    assert first.wave == wave
    assert recipients() == ["p0@x.org", "p1@x.org"]
    assert run(django_capture_on_commit_callbacks, today) == []  # once a day
    run(django_capture_on_commit_callbacks, today + timedelta(days=1))
    run(django_capture_on_commit_callbacks, today + timedelta(days=2))
    assert recipients() == [f"p{n}@x.org" for n in range(5)]
    assert run(django_capture_on_commit_callbacks, today + timedelta(days=3)) == []


def test_a_wave_skips_people_already_sent_unsubscribed_or_unreachable(
    contract, people, wave, today, django_capture_on_commit_callbacks
):
    people[0].opted_out_at = timezone.now()
    people[0].save(update_fields=["opted_out_at"])
    type(people[1]).objects.filter(pk=people[1].pk).update(email="")
    services.distribution_create(
        actor=None, contract=contract, template=wave.template, participant_ids=[people[2].pk]
    )
    mail.outbox.clear()
    run(django_capture_on_commit_callbacks, today)
    assert recipients() == ["p3@x.org", "p4@x.org"]


def test_a_wave_waits_for_its_start_and_a_paused_wave_sends_nothing(
    people, wave, today, django_capture_on_commit_callbacks
):
    Wave.objects.filter(pk=wave.pk).update(starts_on=today + timedelta(days=1))
    assert run(django_capture_on_commit_callbacks, today) == []
    wave.refresh_from_db()
    services.wave_update(
        actor=None,
        wave=wave,
        template=wave.template,
        per_day=2,
        starts_on=wave.starts_on,
        is_active=False,
    )
    assert run(django_capture_on_commit_callbacks, today + timedelta(days=1)) == []


def test_a_participant_whose_newest_code_was_sent_gets_the_older_code_never_sent(
    contract, price, people, wave, today, django_capture_on_commit_callbacks
):
    # p0 and p1 were given a second code, sent to them by hand; their first is unsent.
    for person in people[:2]:
        InvitationCodeFactory(price=price, participant=person)
        services.distribution_create(
            actor=None, contract=contract, template=wave.template, participant_ids=[person.pk]
        )
    mail.outbox.clear()
    first_codes = {p.email: p.invitation_codes.order_by("pk").first().code for p in people[:2]}

    [day_one] = run(django_capture_on_commit_callbacks, today)
    assert day_one.skipped == 0
    assert recipients() == ["p0@x.org", "p1@x.org"]
    for message in mail.outbox:
        assert first_codes[message.to[0]] in message.body
    run(django_capture_on_commit_callbacks, today + timedelta(days=1))
    assert recipients()[2:] == ["p2@x.org", "p3@x.org"]


def test_a_participant_the_wave_could_not_reach_does_not_hold_up_the_next_ones(
    contract, price, today, django_capture_on_commit_callbacks
):
    for name, phone in [("Bo", "0170 1234567"), ("Cy", "+447700900124"), ("Di", "+447700900125")]:
        person = ParticipantFactory(contract=contract, first_name=name, phone=phone)
        InvitationCodeFactory(price=price, participant=person)
    services.wave_create(
        actor=None, contract=contract, template=sms_template(contract), per_day=1, starts_on=today
    )

    [day_one] = run(django_capture_on_commit_callbacks, today)
    [day_two] = run(django_capture_on_commit_callbacks, today + timedelta(days=1))

    assert [sms.to for sms in notifications.sms_outbox] == ["+447700900124", "+447700900125"]
    assert day_one.skipped == day_two.skipped == 0
    assert run(django_capture_on_commit_callbacks, today + timedelta(days=2)) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [({"per_day": 0}, "per_day"), ({"starts_on": -1}, "starts_on")],
)
def test_a_wave_needs_a_positive_number_and_a_start_not_past(contract, today, change, field):
    values = {"per_day": 10, "starts_on": today} | {
        k: today + timedelta(days=v) if k == "starts_on" else v for k, v in change.items()
    }
    with pytest.raises(ValidationError) as caught:
        services.wave_create(
            actor=None, contract=contract, template=email_template(contract), **values
        )
    assert field in caught.value.message_dict


def test_waves_run_every_morning_from_beat():
    task = PeriodicTask.objects.get(name="Send waves of codes")
    assert task.task == "campaigns.tasks.send_waves" and task.crontab.hour == "8"
    assert send_waves() == 0
