"""The Messages tab: templates with their preview and test send, Send Codes, a send's page."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from campaigns import services
from campaigns.models import Distribution, Message, MessageTemplate
from core import roles
from tests.factories import InvitationCodeFactory, ParticipantFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_pause(settings):
    settings.CAMPAIGN_SEND_RATE = 0
    settings.SITE_URL = "https://vouchers.example.com"


@pytest.fixture
def holders(price):
    """Ann and Bo hold codes; Di holds one but has no email address."""
    people = {}
    for name, email in (("Ann", "ann@example.com"), ("Bo", "bo@example.com"), ("Di", "")):
        person = ParticipantFactory(contract=price.contract, first_name=name, email=email)
        InvitationCodeFactory(price=price, participant=person)
        people[name] = person
    return people


@pytest.fixture
def template(contract):
    return services.template_create(
        actor=None,
        contract=contract,
        name="Invitation",
        channel="email",
        subject="Your code",
        body="Hello {first_name}, your code is {code}.",
    )


@pytest.fixture
def viewer_client(client):
    client.force_login(UserFactory(role=roles.VIEWER))
    return client


def page_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def url(name: str, *args) -> str:
    return reverse(f"campaigns:{name}", args=args)


def sent(contract, template, django_capture_on_commit_callbacks, **options) -> Distribution:
    with django_capture_on_commit_callbacks(execute=True):
        return services.distribution_create(
            actor=None, contract=contract, template=template, **options
        )


# --- the Messages tab ------------------------------------------------------------------


def test_the_messages_tab_lists_each_send_with_its_figures_and_the_templates(
    manager_client, contract, holders, template, django_capture_on_commit_callbacks
):
    sent(contract, template, django_capture_on_commit_callbacks)
    page = page_of(manager_client.get(url("distribution_list", contract.pk)))
    assert "Sends" in page and "Message templates" in page
    assert ">Invitation</a>" in page and "Send Codes" in page and "New Template" in page
    row = page.split("<tbody>")[1].split("</tr>")[0]
    # Recipients 3, sent 2, failed 0, queued 0, skipped 1 (Di: no email address).
    cells = [c.split(">")[-1] for c in row.split("</td>") if 'class="num"' in c]
    assert cells == ["3", "2", "0", "0", "1"]
    assert "state-done" in row


def test_a_messages_tab_with_nothing_yet_says_what_to_do(manager_client, contract):
    page = page_of(manager_client.get(url("distribution_list", contract.pk)))
    assert "No codes sent from here yet." in page
    assert "No message templates yet." in page


def test_a_viewer_sees_the_tab_but_no_button_to_send_or_write(viewer_client, contract, template):
    page = page_of(viewer_client.get(url("distribution_list", contract.pk)))
    assert "Invitation" in page
    assert url("distribution_create", contract.pk) not in page
    assert url("template_create", contract.pk) not in page
    assert viewer_client.get(url("distribution_create", contract.pk)).status_code == 403


def test_the_template_list_page_lists_the_contracts_templates(manager_client, contract, template):
    page = page_of(manager_client.get(url("template_list", contract.pk)))
    assert url("template_edit", template.pk) in page


# --- templates -------------------------------------------------------------------------


def test_a_new_template_is_saved_and_opens_in_its_editor(manager_client, contract):
    response = manager_client.post(
        url("template_create", contract.pk),
        {
            "name": "Welcome",
            "channel": "email",
            "subject": "Hi {first_name}",
            "body": "Your code: {code}",
        },
    )
    template = MessageTemplate.objects.get(contract=contract)
    assert response.status_code == 302 and response["Location"] == url("template_edit", template.pk)
    assert (template.name, template.subject, template.body) == (
        "Welcome",
        "Hi {first_name}",
        "Your code: {code}",
    )


def test_an_unknown_placeholder_is_named_and_nothing_is_saved(manager_client, contract):
    response = manager_client.post(
        url("template_create", contract.pk),
        {"name": "Welcome", "channel": "email", "subject": "Hi", "body": "Your {coupon}"},
    )
    page = page_of(response)
    assert "Unknown placeholder {coupon}." in page
    assert "Not saved: correct what is marked below." in page
    assert not MessageTemplate.objects.exists()


def test_preview_fills_in_the_typed_text_with_a_real_participant_without_saving(
    manager_client, contract, holders, template
):
    response = manager_client.post(
        url("template_edit", template.pk),
        {
            "preview": "1",
            "name": "Invitation",
            "channel": "email",
            "subject": "For {first_name}",
            "body": "Code {code}\n{qr}",
        },
    )
    page = page_of(response)
    code = holders["Ann"].invitation_codes.get().code
    assert "Preview of your changes: they are not saved yet." in page
    assert "For Ann" in page and f"Code {code}" in page and "<svg" in page
    assert f"Filled in with {holders['Ann'].full_name}&#x27;s code {code}." in page
    template.refresh_from_db()
    assert template.subject == "Your code"


def test_preview_uses_sample_values_when_nobody_holds_a_code(manager_client, contract, template):
    page = page_of(manager_client.get(url("template_edit", template.pk)))
    assert "Hello Ann, your code is ACME7K3QX9M2." in page
    assert "Filled in with sample values" in page


def test_the_preview_endpoint_renders_typed_text_for_the_editors_script(
    manager_client, holders, template
):
    saved = json.loads(manager_client.get(url("template_preview", template.pk)).content)
    assert "Hello Ann, your code is" in saved["html"] and saved["errors"] == []

    typed = json.loads(
        manager_client.post(
            url("template_preview", template.pk),
            {"channel": "sms", "subject": "", "body": "x" * 160 + " {code}"},
        ).content
    )
    assert "characters" in typed["html"]
    assert typed["warnings"] and "sent as 2 messages" in typed["warnings"][0]

    wrong = json.loads(
        manager_client.post(
            url("template_preview", template.pk), {"channel": "email", "body": "{nope}"}
        ).content
    )
    assert wrong["errors"][0].startswith("Unknown placeholder {nope}.")


def test_a_saved_template_change_is_confirmed(manager_client, template):
    response = manager_client.post(
        url("template_edit", template.pk),
        {"name": "Renamed", "channel": "email", "subject": "S", "body": "B {code}"},
    )
    assert response.status_code == 302
    template.refresh_from_db()
    assert template.name == "Renamed"


def test_send_test_to_me_emails_the_staff_member(client, template, holders):
    me = UserFactory(role=roles.CONTRACT_MANAGER, email="me@staff.example")
    client.force_login(me)
    response = client.post(url("template_test", template.pk), {"real_data": "on"}, follow=True)
    assert "Test of “Invitation” sent to me@staff.example." in messages_of(response)
    (email,) = mail.outbox
    assert email.to == ["me@staff.example"] and email.subject == "[Test] Your code"


def test_send_test_to_me_with_the_mail_server_down_says_so(client, template, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    client.force_login(UserFactory(role=roles.CONTRACT_MANAGER, email="me@staff.example"))

    response = client.post(url("template_test", template.pk), follow=True)

    assert response.redirect_chain == [(url("template_edit", template.pk), 302)]
    (message,) = messages_of(response)
    assert message.startswith("The test email was not sent: ConnectionRefusedError")


def test_send_test_to_me_of_an_sms_asks_for_a_number_in_international_format(
    manager_client, contract, settings
):
    settings.SMS_BACKEND = "core.notifications.LocmemSMSBackend"
    sms = services.template_create(
        actor=None, contract=contract, name="Text", channel="sms", body="Code {code}"
    )
    response = manager_client.post(url("template_test", sms.pk), {"to": "0170 123"}, follow=True)
    assert any("international format" in m for m in messages_of(response))
    response = manager_client.post(
        url("template_test", sms.pk), {"to": "+44 7700 900123"}, follow=True
    )
    assert "Test of “Text” sent to +447700900123." in messages_of(response)
    assert 'value="+447700900123"' in page_of(manager_client.get(url("template_edit", sms.pk)))


# --- Send Codes ------------------------------------------------------------------------


def test_send_codes_shows_who_gets_a_message_and_who_is_skipped_before_confirming(
    manager_client, contract, holders, template
):
    ids = "&".join(f"participant={p.pk}" for p in holders.values())
    page = page_of(manager_client.get(f"{url('distribution_create', contract.pk)}?{ids}"))
    assert "The 3 selected participants" in page
    assert "<b>2</b> will get a message" in page and "<b>1</b> skipped" in page
    assert "<td>No email address</td>" in page
    assert 'name="confirm" value="1"' in page
    assert not Distribution.objects.exists()


def test_codes_chosen_on_the_codes_page_go_to_their_holders(
    manager_client, contract, holders, template, price
):
    loose = InvitationCodeFactory(price=price)
    ann = holders["Ann"].invitation_codes.get()
    page = page_of(
        manager_client.get(
            f"{url('distribution_create', contract.pk)}?code={ann.pk}&code={loose.pk}"
        )
    )
    assert "The holders of the 2 selected codes" in page
    assert "<b>1</b> will get a message" in page
    assert "1 of the selected codes are not issued to anyone" in page


def _send_form(template, **extra) -> dict:
    return {"template": template.pk, "recipients": "all", "send_at": "", **extra}


def test_confirming_sends_and_opens_the_send(
    manager_client, contract, holders, template, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(
            url("distribution_create", contract.pk),
            _send_form(template, confirm="1", reviewed=f"{template.pk}:all"),
        )
    distribution = Distribution.objects.get()
    assert response["Location"] == url("distribution_detail", distribution.pk)
    assert len(mail.outbox) == 2
    followed = manager_client.get(response["Location"])
    assert "Sending 2 messages. 1 skipped." in messages_of(followed)


def test_a_choice_changed_after_the_figures_were_shown_is_not_sent(
    manager_client, contract, holders, template
):
    response = manager_client.post(
        url("distribution_create", contract.pk),
        _send_form(template, confirm="1", reviewed=f"{template.pk}:selected"),
    )
    assert "The choice changed since these figures were shown" in page_of(response)
    assert not Distribution.objects.exists()


def test_a_send_time_is_entered_in_the_sites_time_zone(
    manager_client, contract, holders, template, settings
):
    settings.TIME_ZONE = "Europe/Berlin"
    response = manager_client.post(
        url("distribution_create", contract.pk),
        _send_form(
            template, send_at="2099-01-15T09:30", confirm="1", reviewed=f"{template.pk}:all"
        ),
    )
    distribution = Distribution.objects.get()
    assert distribution.send_at == datetime(2099, 1, 15, 8, 30, tzinfo=UTC)
    followed = manager_client.get(response["Location"])
    assert "2 messages scheduled for 15 Jan 2099 09:30. 1 skipped." in messages_of(followed)
    assert not mail.outbox
    assert "15 Jan 2099 09:30" in page_of(followed)


def test_a_send_time_in_the_past_is_refused_on_the_form(
    manager_client, contract, holders, template
):
    past = timezone.localtime() - timedelta(hours=1)
    response = manager_client.post(
        url("distribution_create", contract.pk),
        _send_form(
            template,
            send_at=past.strftime("%Y-%m-%dT%H:%M"),
            confirm="1",
            reviewed=f"{template.pk}:all",
        ),
    )
    assert "This time has passed: choose a later one, or none." in page_of(response)
    assert not Distribution.objects.exists()


def test_a_send_reaching_nobody_shows_why_and_offers_no_button(
    manager_client, contract, template, price
):
    person = ParticipantFactory(contract=contract, email="")
    InvitationCodeFactory(price=price, participant=person)
    page = page_of(manager_client.get(url("distribution_create", contract.pk)))
    assert "Nobody would get a message with this choice." in page
    assert 'name="confirm"' not in page


def test_send_codes_without_a_template_asks_for_one_first(manager_client, contract):
    page = page_of(manager_client.get(url("distribution_create", contract.pk)))
    assert "A send needs a message template" in page
    assert url("template_create", contract.pk) in page


def test_the_codes_and_participants_pages_offer_send_codes_to_those_allowed(client, contract):
    send_url = url("distribution_create", contract.pk)
    pages = [
        reverse(name, args=[contract.pk])
        for name in ("invitations:code_list", "invitations:participant_list")
    ]
    client.force_login(UserFactory(role=roles.CONTRACT_MANAGER))
    for page in pages:
        assert f'href="{send_url}">Send Codes</a>' in page_of(client.get(page))
    client.force_login(UserFactory(role=roles.VIEWER))
    for page in pages:
        assert send_url not in page_of(client.get(page))


# --- a send's page ---------------------------------------------------------------------


@pytest.fixture
def failing(settings):
    settings.EMAIL_BACKEND = "tests.campaigns.test_distribution.RefusingEmail"


def test_a_sends_page_shows_each_recipients_status_and_reason_filtered(
    manager_client, contract, holders, template, failing, django_capture_on_commit_callbacks
):
    distribution = sent(contract, template, django_capture_on_commit_callbacks)
    page = page_of(manager_client.get(url("distribution_detail", distribution.pk)))
    assert "<b>1</b> sent" in page and "<b>1</b> failed" in page and "<b>1</b> skipped" in page
    assert "The mail server refused the address: 550 Mailbox unavailable" in page
    assert "No email address" in page
    assert "Resend failed" in page
    assert "data-progress-url" not in page  # done: nothing to follow

    only_failed = page_of(
        manager_client.get(url("distribution_detail", distribution.pk) + "?status=failed")
    )
    assert "bo@example.com" in only_failed and "ann@example.com" not in only_failed


def test_resend_failed_sends_them_again(
    manager_client,
    contract,
    holders,
    template,
    failing,
    settings,
    django_capture_on_commit_callbacks,
):
    distribution = sent(contract, template, django_capture_on_commit_callbacks)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(url("distribution_resend", distribution.pk))
    assert response["Location"] == url("distribution_detail", distribution.pk)
    assert Message.objects.filter(status="sent").count() == 2
    nothing_left = manager_client.post(url("distribution_resend", distribution.pk), follow=True)
    assert "No failed message to send again." in messages_of(nothing_left)


def test_a_send_in_progress_shows_a_progress_bar_that_polls_its_figures(
    manager_client, contract, holders, template
):
    distribution = services.distribution_create(actor=None, contract=contract, template=template)
    page = page_of(manager_client.get(url("distribution_detail", distribution.pk)))
    progress_url = url("distribution_detail", distribution.pk) + "?progress=1"
    assert f'data-progress-url="{progress_url}"' in page and "<progress" in page

    figures = json.loads(manager_client.get(progress_url).content)
    assert figures["status"] == "running"
    assert figures["counts"] == {"queued": 2, "sent": 0, "failed": 0, "skipped": 1}
    assert figures["percent"] == 33


def test_a_scheduled_send_says_when_and_does_not_poll(manager_client, contract, holders, template):
    distribution = services.distribution_create(
        actor=None,
        contract=contract,
        template=template,
        send_at=timezone.now() + timedelta(days=1),
    )
    page = page_of(manager_client.get(url("distribution_detail", distribution.pk)))
    assert "Scheduled" in page and "data-progress-url" not in page
    listing = page_of(manager_client.get(url("distribution_list", contract.pk)))
    assert "state-scheduled" in listing
