"""Reminders before a code expires: a contract's rule sends its template once to holders of
unused codes that were sent to them, through the distribution services, never twice."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from campaigns import services
from campaigns.models import Distribution, Message, Purpose, ReminderRule
from campaigns.tasks import send_reminders
from invitations.models import InvitationCode
from tests.campaigns.test_distribution import email_template, send
from tests.factories import ContractFactory, InvitationCodeFactory, ParticipantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quick(settings):
    settings.CAMPAIGN_SEND_RATE = 0
    settings.SITE_URL = "https://vouchers.example.com"


@pytest.fixture
def today():
    return timezone.localdate()


def holder(price, name, *, expires_in, today):
    person = ParticipantFactory(contract=price.contract, first_name=name, email=f"{name}@x.org")
    InvitationCodeFactory(
        price=price, participant=person, valid_until=today + timedelta(days=expires_in)
    )
    return person


@pytest.fixture
def rule(contract):
    template = email_template(
        contract,
        name="Reminder",
        subject="Your code expires soon",
        body="{code} until {valid_until}",
    )
    return services.reminder_rule_create(
        actor=None, contract=contract, template=template, days_before=7
    )


def remind(capture, today=None) -> list[Distribution]:
    with capture(execute=True):
        made = services.reminders_send(today=today)
    return made


def test_holders_of_unused_sent_codes_expiring_within_the_days_are_reminded_once(
    contract, price, rule, today, django_capture_on_commit_callbacks
):
    soon = holder(price, "ann", expires_in=5, today=today)
    later = holder(price, "bob", expires_in=30, today=today)
    never_sent = holder(price, "cy", expires_in=3, today=today)
    send(
        django_capture_on_commit_callbacks,
        contract,
        email_template(contract),
        participant_ids=[soon.pk, later.pk],
    )
    mail.outbox.clear()
    [distribution] = remind(django_capture_on_commit_callbacks, today)
    distribution.refresh_from_db()
    assert distribution.purpose == Purpose.REMINDER and distribution.reminder_rule == rule
    assert distribution.status == Distribution.Status.DONE
    assert [m.to for m in mail.outbox] == [["ann@x.org"]]
    assert mail.outbox[0].subject == "Your code expires soon"
    assert never_sent.pk not in {m.participant_id for m in distribution.messages.all()}
    assert remind(django_capture_on_commit_callbacks, today) == []
    assert remind(django_capture_on_commit_callbacks, today + timedelta(days=1)) == []
    assert len(mail.outbox) == 1


def test_a_used_or_expired_code_gets_no_reminder(
    contract, price, rule, today, django_capture_on_commit_callbacks
):
    used = holder(price, "ann", expires_in=5, today=today)
    gone = holder(price, "bob", expires_in=5, today=today)
    send(django_capture_on_commit_callbacks, contract, email_template(contract))
    InvitationCode.objects.filter(participant=used).update(uses=1)
    InvitationCode.objects.filter(participant=gone).update(valid_until=today - timedelta(days=1))
    assert remind(django_capture_on_commit_callbacks, today) == []


def test_a_paused_rule_or_a_closed_contract_reminds_nobody(
    contract, price, rule, today, django_capture_on_commit_callbacks
):
    holder(price, "ann", expires_in=5, today=today)
    send(django_capture_on_commit_callbacks, contract, email_template(contract))
    services.reminder_rule_update(
        actor=None, rule=rule, template=rule.template, days_before=7, is_active=False
    )
    assert remind(django_capture_on_commit_callbacks, today) == []
    services.reminder_rule_update(
        actor=None, rule=rule, template=rule.template, days_before=7, is_active=True
    )
    type(contract).objects.filter(pk=contract.pk).update(status="closed")
    assert remind(django_capture_on_commit_callbacks, today) == []


def test_a_holder_who_unsubscribed_is_not_skipped_again_every_day(
    contract, price, rule, today, django_capture_on_commit_callbacks
):
    holder(price, "ann", expires_in=5, today=today)
    bob = holder(price, "bob", expires_in=5, today=today)
    invitation = email_template(contract)
    send(django_capture_on_commit_callbacks, contract, invitation)
    type(bob).objects.filter(pk=bob.pk).update(opted_out_at=timezone.now())
    [first] = remind(django_capture_on_commit_callbacks, today)
    cy = holder(price, "cy", expires_in=5, today=today)
    send(django_capture_on_commit_callbacks, contract, invitation)
    [second] = remind(django_capture_on_commit_callbacks, today + timedelta(days=1))

    reminded = Message.objects.filter(purpose=Purpose.REMINDER)
    assert sorted(reminded.values_list("participant__first_name", flat=True)) == ["ann", "cy"]
    assert not reminded.filter(participant=bob).exists()
    assert first.skipped == second.skipped == 0
    assert second.messages.get().participant == cy


def test_two_rules_remind_a_code_once(
    contract, price, rule, today, django_capture_on_commit_callbacks
):
    holder(price, "ann", expires_in=2, today=today)
    send(django_capture_on_commit_callbacks, contract, email_template(contract))
    services.reminder_rule_create(
        actor=None, contract=contract, template=rule.template, days_before=3
    )
    made = remind(django_capture_on_commit_callbacks, today)
    assert len(made) == 1
    assert Message.objects.filter(purpose=Purpose.REMINDER).count() == 1


def test_the_database_refuses_a_second_reminder_of_a_code(
    contract, price, rule, today, django_capture_on_commit_callbacks
):
    holder(price, "ann", expires_in=2, today=today)
    send(django_capture_on_commit_callbacks, contract, email_template(contract))
    remind(django_capture_on_commit_callbacks, today)
    first = Message.objects.get(purpose=Purpose.REMINDER)
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(
            distribution=first.distribution,
            contract=contract,
            participant=first.participant,
            code=first.code,
            channel=first.channel,
            purpose=Purpose.REMINDER,
        )


def test_a_reminder_is_not_counted_as_sending_the_code_again(
    contract, price, rule, today, django_capture_on_commit_callbacks
):
    ann = holder(price, "ann", expires_in=2, today=today)
    send(django_capture_on_commit_callbacks, contract, email_template(contract))
    remind(django_capture_on_commit_callbacks, today)
    statuses = set(
        Message.objects.filter(participant=ann, purpose=Purpose.CODE).values_list(
            "status", flat=True
        )
    )
    assert statuses == {Message.Status.SENT}


@pytest.mark.parametrize(
    ("days", "field"), [(0, "days_before"), (366, "days_before"), (7, "template")]
)
def test_a_rule_needs_days_in_range_and_a_template_of_its_contract(contract, days, field):
    template = email_template(contract)
    if field == "template":
        template = email_template(ContractFactory())
    with pytest.raises(ValidationError) as caught:
        services.reminder_rule_create(
            actor=None, contract=contract, template=template, days_before=days
        )
    assert field in caught.value.message_dict
    assert not ReminderRule.objects.exists()


def test_reminders_run_every_morning_from_beat():
    task = PeriodicTask.objects.get(name="Send expiry reminders")
    assert task.task == "campaigns.tasks.send_reminders" and task.crontab.hour == "9"
    assert send_reminders() == 0
