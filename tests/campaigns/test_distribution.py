"""Distribution services: who gets a code and who is skipped and why, sending it once,
failures and resends, the rate limit, schedules, opting out, and the SMS backends."""

import json
import threading
from datetime import timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, HTTPServer
from smtplib import SMTPRecipientsRefused

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.mail.backends.locmem import EmailBackend as LocmemEmail
from django.urls import reverse
from django.utils import timezone

from campaigns import selectors, services, templating
from campaigns.models import Distribution, Message
from campaigns.services import distribution as distribution_module
from core import notifications
from core.errors import DomainError
from core.notifications import SMSError, e164
from invitations.models import InvitationCode
from tests.factories import InvitationCodeFactory, ParticipantFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quick_and_local(settings):
    """No pause between chunks unless a test asks; text messages kept in memory."""
    settings.CAMPAIGN_SEND_RATE = 0
    settings.SMS_BACKEND = "core.notifications.LocmemSMSBackend"
    settings.SITE_URL = "https://vouchers.example.com"
    notifications.sms_outbox.clear()
    yield
    notifications.sms_outbox.clear()


@pytest.fixture
def holder(price):
    """Ann, holding an unused code."""
    ann = ParticipantFactory(
        contract=price.contract, first_name="Ann", email="ann@example.com", phone="+447700900123"
    )
    InvitationCodeFactory(price=price, participant=ann)
    return ann


def code_of(participant) -> InvitationCode:
    return participant.invitation_codes.get()


def email_template(contract, body="Hello {first_name}, your code is {code}: {link}", **extra):
    return services.template_create(
        actor=None,
        contract=contract,
        name=extra.pop("name", "Invitation"),
        channel="email",
        subject=extra.pop("subject", "Your code for {contract}"),
        body=body,
    )


def sms_template(contract, body="Hi {first_name}, your code {code}: {link}"):
    return services.template_create(
        actor=None, contract=contract, name="Text", channel="sms", body=body
    )


def send(capture, contract, template, **options) -> Distribution:
    """Confirm a send and run what the commit starts (the sending task, in-process)."""
    with capture(execute=True):
        distribution = services.distribution_create(
            actor=None, contract=contract, template=template, **options
        )
    distribution.refresh_from_db()
    return distribution


def statuses(distribution) -> dict[str, tuple[str, str]]:
    return {
        m.participant.first_name: (m.status, m.reason)
        for m in distribution.messages.select_related("participant")
    }


# --- who gets a message ----------------------------------------------------------------


def test_each_holder_of_an_unused_code_gets_their_own_code_by_email(
    contract, holder, price, django_capture_on_commit_callbacks
):
    bo = ParticipantFactory(contract=contract, first_name="Bo", email="bo@example.com")
    InvitationCodeFactory(price=price, participant=bo)
    ParticipantFactory(contract=contract, first_name="Cy")  # holds no code: not a recipient

    distribution = send(django_capture_on_commit_callbacks, contract, email_template(contract))

    assert (distribution.total, distribution.skipped, distribution.status) == (2, 0, "done")
    assert statuses(distribution) == {"Ann": ("sent", ""), "Bo": ("sent", "")}
    by_address = {m.to[0]: m for m in mail.outbox}
    ann = by_address["ann@example.com"]
    code = code_of(holder).code
    assert ann.subject == f"Your code for {contract.name}"
    assert f"Hello Ann, your code is {code}: https://vouchers.example.com/register/{code}/" in (
        ann.body
    )
    assert code_of(bo).code in by_address["bo@example.com"].body


def test_every_email_carries_a_one_click_unsubscribe(
    contract, holder, django_capture_on_commit_callbacks
):
    send(django_capture_on_commit_callbacks, contract, email_template(contract))
    (email,) = mail.outbox
    link = services.unsubscribe_url(holder.pk)
    assert link.startswith("https://vouchers.example.com/unsubscribe/")
    assert email.extra_headers["List-Unsubscribe"] == f"<{link}>"
    assert email.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"To stop receiving these messages: {link}" in email.body
    assert "mailto:" not in email.message().as_string()


def test_the_qr_code_is_an_inline_image_of_the_link_and_the_text_part_says_the_link(
    contract, holder, django_capture_on_commit_callbacks
):
    template = email_template(contract, body="Scan this:\n{qr}\nor open {link}")
    send(django_capture_on_commit_callbacks, contract, template)
    (email,) = mail.outbox
    link = f"https://vouchers.example.com/register/{code_of(holder).code}/"
    assert f"Scan this:\n{link}\nor open {link}" in email.body

    parsed = message_from_bytes(email.message().as_bytes())
    assert parsed.get_content_type() == "multipart/related"
    alternative, image = parsed.get_payload()
    assert alternative.get_content_type() == "multipart/alternative"
    text, html = alternative.get_payload()
    assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    cid = image["Content-ID"].strip("<>")
    assert image.get_content_type() == "image/png"
    assert f'src="cid:{cid}"' in html.get_payload(decode=True).decode()
    assert image.get_payload(decode=True).startswith(b"\x89PNG")


def test_a_participant_without_an_email_is_skipped_and_reported(
    contract, holder, price, django_capture_on_commit_callbacks
):
    nameless = ParticipantFactory(contract=contract, first_name="Di", email="")
    InvitationCodeFactory(price=price, participant=nameless)

    distribution = send(django_capture_on_commit_callbacks, contract, email_template(contract))

    assert statuses(distribution) == {"Ann": ("sent", ""), "Di": ("skipped", "No email address")}
    assert (distribution.total, distribution.skipped) == (2, 1)
    assert [m.to for m in mail.outbox] == [["ann@example.com"]]


def test_an_sms_number_that_is_not_e164_is_reported_not_sent(
    contract, holder, price, django_capture_on_commit_callbacks
):
    for name, phone in [("Bo", "0170 1234567"), ("Cy", ""), ("Di", "+49 (151) 1234-5678")]:
        person = ParticipantFactory(contract=contract, first_name=name, phone=phone)
        InvitationCodeFactory(price=price, participant=person)

    distribution = send(django_capture_on_commit_callbacks, contract, sms_template(contract))

    assert statuses(distribution) == {
        "Ann": ("sent", ""),
        "Bo": ("skipped", selectors.BAD_PHONE),
        "Cy": ("skipped", "No phone number"),
        "Di": ("sent", ""),
    }
    assert sorted(sms.to for sms in notifications.sms_outbox) == ["+447700900123", "+4915112345678"]
    assert not mail.outbox


def test_participants_who_unsubscribed_get_nothing(
    contract, holder, price, django_capture_on_commit_callbacks
):
    gone = ParticipantFactory(contract=contract, first_name="Ed", opted_out_at=timezone.now())
    InvitationCodeFactory(price=price, participant=gone)

    distribution = send(django_capture_on_commit_callbacks, contract, email_template(contract))

    assert statuses(distribution)["Ed"] == ("skipped", "Unsubscribed")
    assert len(mail.outbox) == 1


def test_someone_who_unsubscribes_before_a_scheduled_send_is_skipped_then(
    contract, holder, django_capture_on_commit_callbacks
):
    template = email_template(contract)
    later = timezone.now() + timedelta(hours=2)
    distribution = services.distribution_create(
        actor=None, contract=contract, template=template, send_at=later
    )
    services.participant_unsubscribe(token=services.unsubscribe_token(holder.pk))

    with django_capture_on_commit_callbacks(execute=True):
        services.distributions_start_due(now=later + timedelta(minutes=1))
    distribution.refresh_from_db()

    assert statuses(distribution) == {"Ann": ("skipped", "Unsubscribed")}
    assert (distribution.status, distribution.skipped) == ("done", 1)
    assert not mail.outbox


def test_a_code_archived_or_used_before_a_scheduled_send_is_skipped_then(
    three, django_capture_on_commit_callbacks
):
    at = timezone.now() + timedelta(hours=1)
    distribution = send(
        django_capture_on_commit_callbacks, three, email_template(three), send_at=at
    )
    InvitationCode.objects.filter(participant__first_name="Bo").update(is_archived=True)
    InvitationCode.objects.filter(participant__first_name="Cy").update(uses=1)

    with django_capture_on_commit_callbacks(execute=True):
        services.distributions_start_due(now=at + timedelta(seconds=1))

    distribution.refresh_from_db()
    assert statuses(distribution) == {
        "Ann": ("sent", ""),
        "Bo": ("skipped", "Code is archived"),
        "Cy": ("skipped", "Code is used"),
    }
    assert (distribution.status, distribution.skipped) == ("done", 2)
    assert [m.to for m in mail.outbox] == [["ann@example.com"]]


def test_participants_named_without_an_unused_code_are_counted_as_skipped(
    contract, holder, price, django_capture_on_commit_callbacks
):
    used = ParticipantFactory(contract=contract, first_name="Fay")
    InvitationCodeFactory(price=price, participant=used, uses=1)
    empty = ParticipantFactory(contract=contract, first_name="Gus")

    plan = selectors.distribution_plan(
        contract=contract, channel="email", participant_ids=[holder.pk, used.pk, empty.pk]
    )
    assert (plan.sending, plan.skipped, plan.reasons) == (1, 2, [("No unused code", 2)])

    distribution = send(
        django_capture_on_commit_callbacks,
        contract,
        email_template(contract),
        participant_ids=[holder.pk, used.pk, empty.pk],
    )
    assert (distribution.total, distribution.skipped) == (3, 2)
    assert selectors.distribution_progress(distribution=distribution).without_code == 2


def test_codes_named_go_to_their_holders_and_used_or_unissued_ones_do_not(
    contract, holder, price, django_capture_on_commit_callbacks
):
    used = ParticipantFactory(contract=contract, first_name="Fay")
    used_code = InvitationCodeFactory(price=price, participant=used, uses=1)
    loose = InvitationCodeFactory(price=price)

    plan = selectors.distribution_plan(
        contract=contract,
        channel="email",
        code_ids=[code_of(holder).pk, used_code.pk, loose.pk],
    )
    assert (plan.sending, plan.skipped, plan.not_issued) == (1, 1, 1)
    assert plan.reasons == [("Code is used", 1)]


def test_the_same_code_is_never_sent_to_the_same_person_twice(
    contract, holder, price, django_capture_on_commit_callbacks
):
    template = email_template(contract)
    send(django_capture_on_commit_callbacks, contract, template)
    newcomer = ParticipantFactory(contract=contract, first_name="Hal")
    InvitationCodeFactory(price=price, participant=newcomer)

    again = send(django_capture_on_commit_callbacks, contract, template)

    assert statuses(again) == {"Ann": ("skipped", "Already sent"), "Hal": ("sent", "")}
    assert sorted(m.to[0] for m in mail.outbox) == ["ann@example.com", newcomer.email]
    with pytest.raises(DomainError, match=r"Nobody would get a message \(skipped — Already sent"):
        services.distribution_create(actor=None, contract=contract, template=template)


def test_a_code_queued_or_failed_in_another_send_is_skipped_with_that_reason(contract, holder):
    template = email_template(contract)
    later = timezone.now() + timedelta(days=1)
    services.distribution_create(actor=None, contract=contract, template=template, send_at=later)
    plan = selectors.distribution_plan(contract=contract, channel="email")
    assert plan.reasons == [("Already queued in another send", 1)]

    Message.objects.update(status="failed")
    plan = selectors.distribution_plan(contract=contract, channel="email")
    assert plan.reasons == [("Failed in an earlier send: use its Resend failed", 1)]


def test_the_database_refuses_a_second_send_of_a_code_planned_at_the_same_time(contract, holder):
    """Two sends planned before either was written: the unique index decides."""
    template = email_template(contract)
    plan = selectors.distribution_plan(contract=contract, channel="email")
    services.distribution_create(actor=None, contract=contract, template=template)
    late = Distribution.objects.create(contract=contract, template=template, channel="email")

    lost = distribution_module._insert_messages(late, plan.recipients)

    assert lost == 1
    assert statuses(late) == {"Ann": ("skipped", "Already sent")}


def test_a_code_sent_by_email_may_still_go_by_sms(
    contract, holder, django_capture_on_commit_callbacks
):
    send(django_capture_on_commit_callbacks, contract, email_template(contract))
    by_sms = send(django_capture_on_commit_callbacks, contract, sms_template(contract))
    assert statuses(by_sms) == {"Ann": ("sent", "")}


def test_a_send_that_would_reach_nobody_is_refused(contract, holder):
    holder.email = ""
    holder.save()
    with pytest.raises(DomainError, match="No email address: 1"):
        services.distribution_create(
            actor=None, contract=contract, template=email_template(contract)
        )
    assert not Distribution.objects.exists()


def test_a_template_of_another_contract_is_refused(contract, holder, price):
    other = email_template(ParticipantFactory().contract)
    with pytest.raises(DomainError, match="another contract"):
        services.distribution_create(actor=None, contract=contract, template=other)


# --- templates -------------------------------------------------------------------------


def test_an_unknown_placeholder_is_refused_at_save_by_name(contract):
    with pytest.raises(ValidationError) as caught:
        email_template(contract, body="Your {coupon} and {code}, {first_name}")
    assert caught.value.message_dict["body"][0].startswith("Unknown placeholder {coupon}.")
    with pytest.raises(ValidationError) as caught:
        email_template(contract, subject="Hi {firstname}")
    assert "Unknown placeholder {firstname}" in caught.value.message_dict["subject"][0]


def test_a_placeholder_with_a_format_is_refused_as_written(contract):
    with pytest.raises(ValidationError) as caught:
        email_template(contract, body="Hi {first_name:>10}, {code!r}")
    (message,) = caught.value.message_dict["body"]
    assert message.startswith("Unknown placeholders {first_name:>10}, {code!r}. Known: ")


def test_a_stray_brace_is_refused_and_a_doubled_one_is_a_brace(contract):
    with pytest.raises(ValidationError, match="A brace is not closed"):
        email_template(contract, body="Your code {code")
    template = email_template(contract, body="{{literally}} {code}")
    rendered = templating.render(template, {**templating.SAMPLE})
    assert rendered.text.startswith("{literally} ACME7K3QX9M2")


def test_an_sms_template_refuses_the_qr_image_and_warns_past_160_characters(contract):
    with pytest.raises(ValidationError, match=r"\{qr\} is an image and cannot go in a text"):
        sms_template(contract, body="Scan {qr}")
    long = "x" * 150 + " {link}"
    assert sms_template(contract, body=long).body == long  # saved: a warning, not a refusal
    (warning,) = templating.warnings(channel="sms", body=long)
    assert "past 160 it is sent as 2 messages" in warning
    assert templating.warnings(channel="sms", body="Code {code}") == []
    assert templating.warnings(channel="email", body=long) == []


def test_the_qr_image_cannot_go_in_a_subject(contract):
    with pytest.raises(ValidationError, match="cannot go in a subject line"):
        email_template(contract, subject="Scan {qr}")


def test_an_email_template_needs_a_subject_and_names_are_unique_per_contract(contract):
    with pytest.raises(ValidationError, match="An email needs a subject"):
        email_template(contract, subject=" ")
    email_template(contract, name="Welcome")
    with pytest.raises(ValidationError, match="already has a template called “Welcome”"):
        email_template(contract, name="Welcome")


def test_a_template_saved_with_a_bad_placeholder_cannot_be_sent(contract, holder):
    template = email_template(contract)
    type(template).objects.filter(pk=template.pk).update(body="Hi {nickname}")
    template.refresh_from_db()
    with pytest.raises(DomainError, match=r"cannot be sent: Unknown placeholder \{nickname\}"):
        services.distribution_create(actor=None, contract=contract, template=template)


def test_a_template_with_a_send_waiting_keeps_its_channel_until_the_send_is_done(
    contract, holder, django_capture_on_commit_callbacks
):
    template = sms_template(contract)
    at = timezone.now() + timedelta(hours=1)
    distribution = send(django_capture_on_commit_callbacks, contract, template, send_at=at)

    with pytest.raises(ValidationError) as caught:
        services.template_update(
            actor=None,
            template=template,
            name="Text",
            channel="email",
            subject="Your code",
            body="Scan this: {qr}",
        )
    assert caught.value.message_dict == {
        "channel": [
            "A send of this template is waiting (scheduled or sending) by text message: "
            "cancel it or let it finish before changing the channel."
        ]
    }
    template.refresh_from_db()
    assert template.channel == "sms"
    # The text may still change; the waiting send carries the new one, by its channel.
    services.template_update(
        actor=None, template=template, name="Text", channel="sms", body="New {code}"
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.distributions_start_due(now=at + timedelta(seconds=1))
    distribution.refresh_from_db()
    assert distribution.status == "done"
    assert [m.body for m in notifications.sms_outbox] == [f"New {code_of(holder).code}"]


def test_a_template_whose_sends_are_done_may_change_channel(
    contract, holder, django_capture_on_commit_callbacks
):
    template = sms_template(contract)
    send(django_capture_on_commit_callbacks, contract, template)
    services.template_update(
        actor=None, template=template, name="Text", channel="email", subject="S", body="{qr}"
    )
    template.refresh_from_db()
    assert (template.channel, template.body) == ("email", "{qr}")


def test_a_test_email_goes_to_the_staff_members_own_address_with_a_real_participants_values(
    contract, holder
):
    me = UserFactory(email="sam@staff.example")
    sent_to = services.template_test_send(
        actor=me, template=email_template(contract), real_data=True
    )
    (email,) = mail.outbox
    assert sent_to == "sam@staff.example" and email.to == ["sam@staff.example"]
    assert email.subject == f"[Test] Your code for {contract.name}"
    assert f"Hello Ann, your code is {code_of(holder).code}" in email.body
    assert not Message.objects.exists()  # Ann was sent nothing


def test_a_test_sms_needs_a_number_in_international_format(contract):
    template = sms_template(contract)
    with pytest.raises(ValidationError, match="international format"):
        services.template_test_send(actor=UserFactory(), template=template, to="0170 1234")
    services.template_test_send(
        actor=UserFactory(), template=template, to="+44 7700 900999", real_data=False
    )
    (sms,) = notifications.sms_outbox
    assert sms.to == "+447700900999"
    assert sms.body.startswith("Hi Ann, your code ACME7K3QX9M2: ")


# --- sending: failures, resends, retries, pace -----------------------------------------


class RefusingEmail(LocmemEmail):
    """A mail server that refuses one recipient in the middle of a send (others pass)."""

    refused = "bo@example.com"

    def send_messages(self, messages):
        for message in messages:
            if self.refused in message.to:
                raise SMTPRecipientsRefused({self.refused: (550, b"Mailbox unavailable")})
        return super().send_messages(messages)


@pytest.fixture
def three(contract, price, holder):
    """Ann, Bo and Cy, each holding a code, Bo in the middle."""
    for name in ("Bo", "Cy"):
        person = ParticipantFactory(
            contract=contract, first_name=name, email=f"{name.lower()}@example.com"
        )
        InvitationCodeFactory(price=price, participant=person)
    return contract


def test_an_email_backend_failing_mid_send_fails_only_that_message(
    three, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "tests.campaigns.test_distribution.RefusingEmail"
    distribution = send(django_capture_on_commit_callbacks, three, email_template(three))

    assert statuses(distribution) == {
        "Ann": ("sent", ""),
        "Bo": ("failed", "The mail server refused the address: 550 Mailbox unavailable"),
        "Cy": ("sent", ""),
    }
    assert distribution.status == "done"
    assert sorted(m.to[0] for m in mail.outbox) == ["ann@example.com", "cy@example.com"]


def test_a_value_that_cannot_be_made_fails_only_that_message_with_its_reason(
    three, monkeypatch, django_capture_on_commit_callbacks
):
    make = selectors.ValueMaker.values

    def values(self, **fields):
        if fields["first_name"] == "Bo":
            raise ValueError("day is out of range for month")
        return make(self, **fields)

    monkeypatch.setattr(selectors.ValueMaker, "values", values)
    distribution = send(django_capture_on_commit_callbacks, three, email_template(three))

    assert statuses(distribution) == {
        "Ann": ("sent", ""),
        "Bo": ("failed", "ValueError: day is out of range for month"),
        "Cy": ("sent", ""),
    }
    assert distribution.status == "done"
    assert sorted(m.to[0] for m in mail.outbox) == ["ann@example.com", "cy@example.com"]


def test_failed_messages_are_resent_and_nobody_gets_theirs_twice(
    three, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "tests.campaigns.test_distribution.RefusingEmail"
    distribution = send(django_capture_on_commit_callbacks, three, email_template(three))
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"  # mailbox fixed

    with django_capture_on_commit_callbacks(execute=True):
        again = services.distribution_resend(actor=None, distribution=distribution)

    distribution.refresh_from_db()
    assert again == 1
    assert statuses(distribution)["Bo"] == ("sent", "")
    assert distribution.messages.get(participant__first_name="Bo").attempts == 2
    assert sorted(m.to[0] for m in mail.outbox) == [
        "ann@example.com",
        "bo@example.com",
        "cy@example.com",
    ]
    with pytest.raises(DomainError, match="No failed message"):
        services.distribution_resend(actor=None, distribution=distribution)


def test_a_task_run_again_sends_nothing_already_sent(three, django_capture_on_commit_callbacks):
    distribution = send(django_capture_on_commit_callbacks, three, email_template(three))
    Distribution.objects.filter(pk=distribution.pk).update(status="sending")  # redelivered

    services.distribution_send(distribution_id=distribution.pk)

    assert len(mail.outbox) == 3
    assert set(distribution.messages.values_list("attempts", flat=True)) == {1}


def test_a_mail_server_that_is_down_leaves_the_messages_queued_for_the_retry(
    three, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    distribution = services.distribution_create(
        actor=None, contract=three, template=email_template(three), send_at=None
    )
    with pytest.raises(OSError):
        services.distribution_send(distribution_id=distribution.pk)
    assert set(distribution.messages.values_list("status", flat=True)) == {"queued"}


def test_the_rate_limit_pauses_between_chunks(three, settings, monkeypatch):
    pauses = []
    monkeypatch.setattr(distribution_module, "_sleep", pauses.append)
    settings.CAMPAIGN_SEND_RATE = 2  # two messages a second: chunks of two, a second each
    distribution = services.distribution_create(
        actor=None, contract=three, template=email_template(three)
    )

    services.distribution_send(distribution_id=distribution.pk)

    assert len(mail.outbox) == 3
    assert len(pauses) == 1  # between the chunk of two and the chunk of one
    assert 0.5 < pauses[0] <= 1.0


def test_without_a_rate_limit_it_never_pauses(three, monkeypatch):
    pauses = []
    monkeypatch.setattr(distribution_module, "_sleep", pauses.append)
    monkeypatch.setattr(distribution_module, "CHUNK_SIZE", 1)
    distribution = services.distribution_create(
        actor=None, contract=three, template=email_template(three)
    )
    services.distribution_send(distribution_id=distribution.pk)
    assert len(mail.outbox) == 3 and pauses == []


# --- schedules -------------------------------------------------------------------------


def test_a_schedule_in_the_past_is_refused(contract, holder):
    with pytest.raises(ValidationError) as caught:
        services.distribution_create(
            actor=None,
            contract=contract,
            template=email_template(contract),
            send_at=timezone.now() - timedelta(minutes=1),
        )
    assert caught.value.message_dict == {
        "send_at": ["This time has passed: choose a later one, or none."]
    }
    assert not Distribution.objects.exists()


def test_a_scheduled_send_waits_for_its_time_then_the_minute_job_starts_it(
    contract, holder, django_capture_on_commit_callbacks
):
    at = timezone.now() + timedelta(hours=1)
    distribution = send(
        django_capture_on_commit_callbacks, contract, email_template(contract), send_at=at
    )
    assert (distribution.status, len(mail.outbox)) == ("queued", 0)
    services.distribution_send(distribution_id=distribution.pk)  # a task too early: nothing
    assert services.distributions_start_due(now=at - timedelta(minutes=1)) == 0
    assert not mail.outbox

    with django_capture_on_commit_callbacks(execute=True):
        assert services.distributions_start_due(now=at + timedelta(seconds=30)) == 1
    distribution.refresh_from_db()
    assert (distribution.status, len(mail.outbox)) == ("done", 1)
    assert services.distributions_start_due(now=at + timedelta(minutes=2)) == 0


def test_a_send_whose_task_was_lost_is_started_by_the_minute_job(contract, holder):
    distribution = services.distribution_create(
        actor=None, contract=contract, template=email_template(contract)
    )  # its commit never came: no task ran
    soon = timezone.now() + timedelta(minutes=1)
    assert services.distributions_start_due(now=soon) == 0
    later = timezone.now() + timedelta(seconds=distribution_module.LOST_AFTER_SECONDS + 1)
    assert services.distributions_start_due(now=later) == 1
    distribution.refresh_from_db()
    assert distribution.status == "sending"  # claimed: its task is queued


def test_a_send_left_sending_with_queued_messages_is_taken_up_again(
    contract, holder, django_capture_on_commit_callbacks
):
    distribution = services.distribution_create(
        actor=None, contract=contract, template=email_template(contract)
    )  # its task gave up (retries spent) after the send was claimed: nothing went out
    Distribution.objects.filter(pk=distribution.pk).update(status="sending")
    later = timezone.now() + timedelta(seconds=distribution_module.LOST_AFTER_SECONDS + 1)
    assert services.distributions_start_due(now=timezone.now()) == 0  # not yet: may be running
    with django_capture_on_commit_callbacks(execute=True):
        assert services.distributions_start_due(now=later) == 1
    distribution.refresh_from_db()
    assert (distribution.status, len(mail.outbox)) == ("done", 1)


def test_a_resent_send_is_not_taken_up_a_second_time_by_the_minute_job(
    three, settings, django_capture_on_commit_callbacks
):
    """A resend queues an old send again: its own task sends it, and the minute job must
    not count it as lost (a second worker would double the send rate)."""
    settings.EMAIL_BACKEND = "tests.campaigns.test_distribution.RefusingEmail"
    distribution = send(django_capture_on_commit_callbacks, three, email_template(three))
    hour_ago = timezone.now() - timedelta(hours=1)
    Distribution.objects.filter(pk=distribution.pk).update(created_at=hour_ago, active_at=hour_ago)

    services.distribution_resend(actor=None, distribution=distribution)  # its task is queued

    assert services.distributions_start_due(now=timezone.now() + timedelta(minutes=1)) == 0
    lost = timezone.now() + timedelta(seconds=distribution_module.LOST_AFTER_SECONDS + 1)
    assert services.distributions_start_due(now=lost) == 1  # the task never came after all


def test_a_send_whose_messages_all_fail_gains_no_worker_while_one_is_at_it(contract, holder):
    distribution = services.distribution_create(
        actor=None, contract=contract, template=email_template(contract)
    )
    Distribution.objects.filter(pk=distribution.pk).update(
        status="sending", created_at=timezone.now() - timedelta(hours=1)
    )  # a worker started an hour ago and has sent nothing: every message so far failed
    Distribution.objects.filter(pk=distribution.pk).update(active_at=timezone.now())
    assert services.distributions_start_due(now=timezone.now() + timedelta(minutes=1)) == 0

    lost = timezone.now() + timedelta(seconds=distribution_module.LOST_AFTER_SECONDS + 1)
    assert services.distributions_start_due(now=lost) == 1  # no sign of life: taken up
    assert services.distributions_start_due(now=lost + timedelta(minutes=1)) == 0  # once


def test_a_resent_scheduled_send_is_not_started_a_second_time_by_the_minute_job(
    three, settings, django_capture_on_commit_callbacks
):
    """Its time has passed, so the resend queues its task at once: the minute job must not
    take it for a scheduled send whose time has come and start another."""
    settings.EMAIL_BACKEND = "tests.campaigns.test_distribution.RefusingEmail"
    now = timezone.now()
    distribution = send(
        django_capture_on_commit_callbacks,
        three,
        email_template(three),
        send_at=now + timedelta(hours=1),
    )
    Distribution.objects.filter(pk=distribution.pk).update(
        send_at=now - timedelta(hours=1),
        created_at=now - timedelta(hours=2),
        active_at=now - timedelta(hours=2),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert services.distributions_start_due(now=now) == 1  # its time came: sent
    assert statuses(distribution)["Bo"][0] == "failed"
    distribution.refresh_from_db()

    with django_capture_on_commit_callbacks() as queued:
        services.distribution_resend(actor=None, distribution=distribution)
    assert len(queued) == 1  # its task

    assert services.distributions_start_due(now=timezone.now() + timedelta(minutes=1)) == 0
    lost = timezone.now() + timedelta(seconds=distribution_module.LOST_AFTER_SECONDS + 1)
    assert services.distributions_start_due(now=lost) == 1  # the task never came after all


def test_failed_messages_are_not_resent_while_a_worker_is_at_the_send(
    three, settings, django_capture_on_commit_callbacks
):
    """A resend would start a second worker beside the running one (twice the rate)."""
    settings.EMAIL_BACKEND = "tests.campaigns.test_distribution.RefusingEmail"
    distribution = send(django_capture_on_commit_callbacks, three, email_template(three))
    Distribution.objects.filter(pk=distribution.pk).update(
        status="sending", active_at=timezone.now()
    )

    with (
        django_capture_on_commit_callbacks() as queued,
        pytest.raises(DomainError, match="still going"),
    ):
        services.distribution_resend(actor=None, distribution=distribution)
    assert queued == []
    assert statuses(distribution)["Bo"][0] == "failed"

    # No sign of life for a while: the worker is gone, the failed messages can go again.
    hour_ago = timezone.now() - timedelta(hours=1)
    Distribution.objects.filter(pk=distribution.pk).update(active_at=hour_ago)
    with django_capture_on_commit_callbacks() as queued:
        assert services.distribution_resend(actor=None, distribution=distribution) == 1
    assert len(queued) == 1
    assert services.distributions_start_due(now=timezone.now() + timedelta(minutes=1)) == 0


def test_a_cancelled_send_cannot_be_resent(three, settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "tests.campaigns.test_distribution.RefusingEmail"
    distribution = send(django_capture_on_commit_callbacks, three, email_template(three))
    Distribution.objects.filter(pk=distribution.pk).update(status="cancelled")
    distribution.refresh_from_db()

    with pytest.raises(DomainError, match="was cancelled"):
        services.distribution_resend(actor=None, distribution=distribution)
    assert statuses(distribution)["Bo"][0] == "failed"


def test_the_minute_job_is_scheduled_by_a_migration():
    from django_celery_beat.models import PeriodicTask

    job = PeriodicTask.objects.get(name="Start scheduled distributions")
    assert job.task == "campaigns.tasks.start_scheduled_distributions"
    assert (job.interval.every, job.interval.period) == (1, "minutes")


# --- progress --------------------------------------------------------------------------


def test_progress_counts_each_status(three, settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "tests.campaigns.test_distribution.RefusingEmail"
    distribution = send(django_capture_on_commit_callbacks, three, email_template(three))
    progress = selectors.distribution_progress(distribution=distribution).as_json()
    assert progress["counts"] == {"queued": 0, "sent": 2, "failed": 1, "skipped": 0}
    assert (progress["status"], progress["percent"]) == ("done", 100)
    assert progress["text"] == "2 sent, 1 failed, 0 queued, 0 skipped"


# --- unsubscribing ---------------------------------------------------------------------


def unsubscribe_path(participant) -> str:
    return reverse(
        "campaigns_public:unsubscribe", args=[services.unsubscribe_token(participant.pk)]
    )


def test_the_unsubscribe_link_shows_a_button_and_a_get_changes_nothing(client, holder):
    page = client.get(unsubscribe_path(holder))
    assert page.status_code == 200
    assert "<button" in page.content.decode() and "Unsubscribe" in page.content.decode()
    holder.refresh_from_db()
    assert holder.opted_out_at is None


def test_the_button_unsubscribes_and_nothing_more_is_sent(client, contract, holder):
    csrf_client = client.__class__(enforce_csrf_checks=True)
    page = csrf_client.post(unsubscribe_path(holder))
    assert "You are unsubscribed" in page.content.decode()
    holder.refresh_from_db()
    first = holder.opted_out_at
    assert first is not None
    client.post(unsubscribe_path(holder))  # twice: the first time is kept
    holder.refresh_from_db()
    assert holder.opted_out_at == first
    with pytest.raises(DomainError, match="Unsubscribed: 1"):
        services.distribution_create(
            actor=None, contract=contract, template=email_template(contract)
        )


def test_a_mail_programs_one_click_post_unsubscribes(holder):
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post(
        unsubscribe_path(holder),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    holder.refresh_from_db()
    assert holder.opted_out_at is not None


def test_an_altered_unsubscribe_link_is_refused(client, holder):
    token = services.unsubscribe_token(holder.pk)
    for method in (client.get, client.post):
        response = method(reverse("campaigns_public:unsubscribe", args=[token[:-2] + "xx"]))
        assert response.status_code == 400
        assert "This unsubscribe link is not valid" in response.content.decode()
    holder.refresh_from_db()
    assert holder.opted_out_at is None


# --- SMS backends ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("+447700900123", "+447700900123"),
        ("+49 (151) 1234-5678", "+4915112345678"),
        ("+1 415.555.0100", "+14155550100"),
        ("07700 900123", None),  # no country code
        ("+0447700900123", None),  # a country code never starts with 0
        ("+1234567", None),  # 7 digits: too short
        ("+1234567890123456", None),  # 16 digits: too long
        ("+44 7700 9001a3", None),
        # "(0)": the trunk prefix for callers at home; kept, it makes another number.
        ("+44 (0)7700 900123", None),
        ("+44(0)20 7946 0018", None),
        ("", None),
    ],
)
def test_e164_numbers_are_checked_in_one_place(number, expected):
    assert e164(number) == expected


def test_the_locmem_backend_keeps_what_it_sends():
    notifications.send_sms("+447700900123", "Your code ABC")
    assert notifications.sms_outbox == [notifications.SMS("+447700900123", "Your code ABC")]


def test_the_console_backend_prints_the_message(settings, capsys):
    settings.SMS_BACKEND = "core.notifications.ConsoleSMSBackend"
    notifications.send_sms("+447700900123", "Your code ABC")
    assert "SMS to +447700900123\nYour code ABC" in capsys.readouterr().out


class ProviderHandler(BaseHTTPRequestHandler):
    received: list = []
    answer = 202

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), json.loads(body)))
        self.send_response(self.answer)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        """Keep the test output quiet."""


@pytest.fixture
def provider(settings):
    """A local SMS provider on 127.0.0.1 answering ProviderHandler.answer."""
    ProviderHandler.received = []
    ProviderHandler.answer = 202
    server = HTTPServer(("127.0.0.1", 0), ProviderHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.SMS_BACKEND = "core.notifications.HttpSMSBackend"
    settings.SMS_HTTP_URL = f"http://127.0.0.1:{server.server_port}/messages"
    settings.SMS_HTTP_TOKEN = "s3cret"
    settings.SMS_FROM = "Voucherdesk"
    yield ProviderHandler
    server.shutdown()
    server.server_close()


def test_the_http_backend_posts_json_with_a_bearer_token(provider):
    notifications.send_sms("+447700900123", "Your code ABC")
    ((headers, payload),) = provider.received
    assert headers["Authorization"] == "Bearer s3cret"
    assert headers["Content-Type"] == "application/json"
    assert payload == {"to": "+447700900123", "body": "Your code ABC", "from": "Voucherdesk"}


def test_the_http_backend_raises_on_an_answer_that_is_not_2xx(provider):
    provider.answer = 500
    with pytest.raises(SMSError, match="answered HTTP 500"):
        notifications.send_sms("+447700900123", "Your code ABC")


def test_a_provider_refusing_a_message_fails_it_with_the_reason(
    contract, holder, provider, django_capture_on_commit_callbacks
):
    provider.answer = 400
    distribution = send(django_capture_on_commit_callbacks, contract, sms_template(contract))
    assert statuses(distribution) == {
        "Ann": ("failed", "The SMS provider answered HTTP 400 Bad Request")
    }


def test_an_unreachable_provider_is_an_sms_error(settings):
    settings.SMS_BACKEND = "core.notifications.HttpSMSBackend"
    settings.SMS_HTTP_URL = "http://127.0.0.1:9/messages"
    settings.SMS_HTTP_TIMEOUT = 2
    with pytest.raises(SMSError, match="could not be reached"):
        notifications.send_sms("+447700900123", "Your code ABC")
