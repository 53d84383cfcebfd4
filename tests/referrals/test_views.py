"""Staff pages of referral programs: set-up, referrers, review, rewards, import, links, export."""

import csv
import io
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from core import roles
from core.models import WebhookDelivery, WebhookEndpoint
from referrals import links, services
from referrals.models import Referral, ReferralProgram, Referrer, ReferrerImport, Reward
from referrals.views.imports import parse_join_lines
from tests.factories import ContractPriceFactory, ReferrerFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def partners(db):
    return services.program_create(
        actor=None, name="Partners", allowed_origins="https://shop.example"
    )


@pytest.fixture
def support_client(client):
    client.force_login(UserFactory(role=roles.SUPPORT))
    return client


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
    return reverse(f"referrals:{name}", args=args)


def referred(program, by: Referrer, email: str, *, confirm: bool = True) -> Referral:
    """Someone joins through `by`'s link (and confirms their email)."""
    person = services.Person.clean(name=email.split("@")[0].title(), email=email)
    joined = services.referrer_signup(program=program, person=person, referral_code=by.code)
    if confirm:
        services.referrer_confirm(token=links.confirm_token(joined))
    return Referral.objects.get(referred=joined)


def earned_reward(program, *, threshold: int = 1) -> Reward:
    services.tier_create(actor=None, program=program, name="Thank-you hamper", threshold=threshold)
    ann = ReferrerFactory(program=program, name="Ann Lee", email="ann@acme.example")
    referred(program, ann, "bo@beta.example")
    return Reward.objects.get(referrer=ann)


def csv_rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body)))


# --- Program list, create, edit -------------------------------------------------------------


def test_the_program_list_starts_empty_with_a_new_program_button(manager_client):
    page = page_of(manager_client.get(url("program_list")))
    assert "No referral programs yet." in page
    assert "New Referral Program" in page


def test_the_program_list_searches_by_name(manager_client, partners):
    services.program_create(actor=None, name="Customers")
    page = page_of(manager_client.get(url("program_list"), {"q": "partn"}))
    assert "Partners" in page and "Customers" not in page
    page = page_of(manager_client.get(url("program_list"), {"q": "nobody"}))
    assert "No program matches" in page


def test_a_viewer_sees_the_list_without_the_new_program_button(viewer_client, partners):
    page = page_of(viewer_client.get(url("program_list")))
    assert "Partners" in page and "New Referral Program" not in page


def test_the_user_menu_links_to_referral_programs(manager_client):
    page = page_of(manager_client.get(url("program_list")))
    assert f'href="{url("program_list")}">Referral Programs</a>' in page


def test_create_a_program_and_see_its_signup_page_and_embed_snippet(manager_client):
    response = manager_client.post(
        url("program_create"),
        {
            "name": "Friends of Acme",
            "status": "active",
            "success_event": "signup",
            "cookie_days": "30",
            "allowed_origins": "https://Partner.example/",
            "signup_limit_per_address": "3",
            "signup_window_minutes": "60",
        },
    )
    program = ReferralProgram.objects.get()
    assert response["Location"] == url("program_detail", program.pk)
    assert program.slug == "friends-of-acme" and program.origins == ["https://partner.example"]
    page = page_of(manager_client.get(response["Location"]))
    assert "http://127.0.0.1:8000/refer/friends-of-acme/" in page
    # The snippet is shown as text to copy, with its script forwarding ?ref= into the frame.
    assert "&lt;iframe id=&quot;voucherdesk-friends-of-acme&quot;" in page
    assert "encodeURIComponent(ref)" in page and "<iframe" not in page
    assert "status page" in page and "<code>https://partner.example</code>" in page
    assert "No reward tiers yet" in page


def test_a_program_with_a_path_as_origin_is_refused_on_the_form(manager_client):
    page = page_of(
        manager_client.post(
            url("program_create"),
            {
                "name": "Friends",
                "status": "active",
                "success_event": "signup",
                "cookie_days": "30",
                "allowed_origins": "https://partner.example/shop",
                "signup_limit_per_address": "3",
                "signup_window_minutes": "60",
            },
        )
    )
    assert "Not an origin" in page and "https://partner.example/shop" in page
    assert not ReferralProgram.objects.exists()


def test_edit_a_program(manager_client, partners):
    data = {
        "name": "Partners 2026",
        "status": "paused",
        "success_event": "conversion",
        "cookie_days": "60",
        "allowed_origins": "",
        "signup_limit_per_address": "3",
        "signup_window_minutes": "60",
    }
    response = manager_client.post(url("program_edit", partners.pk), data)
    assert response["Location"] == url("program_detail", partners.pk)
    partners.refresh_from_db()
    assert (partners.name, partners.status, partners.slug) == (
        "Partners 2026",
        "paused",
        "partners",
    )
    page = page_of(manager_client.get(response["Location"]))
    assert "takes no new members" in page
    assert "none: browsers show the pages only on this site" in page


def test_an_invalid_edit_keeps_the_saved_name_in_the_heading(manager_client, partners):
    page = page_of(
        manager_client.post(
            url("program_edit", partners.pk),
            {"name": "Renamed", "status": "active", "success_event": "signup", "cookie_days": ""},
        )
    )
    assert "<h1>Partners" in page and "This field is required." in page
    partners.refresh_from_db()
    assert partners.name == "Partners"


# --- Overview: tiers, endpoints, deliveries -------------------------------------------------


def test_the_overview_counts_and_lists_tiers_endpoints_and_deliveries(manager_client, partners):
    services.tier_create(actor=None, program=partners, name="Bronze", threshold=1)
    services.tier_create(
        actor=None,
        program=partners,
        name="Gold",
        threshold=5,
        kind="wallet",
        credit_amount=25,
        credit_currency="EUR",
    )
    ann = ReferrerFactory(program=partners)
    referred(partners, ann, "bo@beta.example")
    # Added after the referral: these tests send no real webhooks.
    endpoint = services.endpoint_add(
        actor=None, program=partners, url="https://hooks.example/referrals"
    )
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event="reward.earned",
        event_id="evt_1",
        payload={"program": partners.slug},
        status=WebhookDelivery.Status.FAILED,
        attempts=7,
    )
    # Another program's event on a shared endpoint is not this program's.
    WebhookDelivery.objects.create(
        endpoint=endpoint, event="referral.created", event_id="evt_2", payload={"program": "x"}
    )
    page = page_of(manager_client.get(url("program_detail", partners.pk)))
    assert "<b>2</b> referrers" in page and "<b>1</b> successful" in page
    assert "Bronze" in page and "25.00 EUR" in page
    assert endpoint.secret in page and "Reveal" in page
    assert "reward.earned" in page and "referral.created" not in page.split("Recent deliveries")[1]
    assert ">7</td>" in page and "Failed" in page
    assert reverse("admin:core_webhookdelivery_change", args=[delivery.pk]) in page


def test_a_viewer_sees_endpoints_without_their_secret_or_buttons(viewer_client, partners):
    endpoint = services.endpoint_add(actor=None, program=partners, url="https://hooks.example/r")
    page = page_of(viewer_client.get(url("program_detail", partners.pk)))
    assert "https://hooks.example/r" in page and endpoint.secret not in page
    assert endpoint.secret[-4:] in page
    assert "Add endpoint" not in page and "Add tier" not in page and ">Edit<" not in page


def test_add_a_code_tier_chooses_among_the_program_contracts_prices(manager_client, partners):
    price = ContractPriceFactory()
    other = ContractPriceFactory()
    services.program_update(actor=None, program=partners, contract=price.contract)
    page = page_of(manager_client.get(url("tier_create", partners.pk)))
    assert price.price_code in page and other.price_code not in page

    data = {"name": "Free visit", "threshold": "3", "kind": "code", "credit_currency": "EUR"}
    page = page_of(manager_client.post(url("tier_create", partners.pk), data))
    assert "Choose the contract price the reward code is for." in page
    assert not partners.tiers.exists()

    response = manager_client.post(url("tier_create", partners.pk), data | {"price": price.pk})
    assert response.status_code == 302
    tier = partners.tiers.get()
    assert (tier.kind, tier.price, tier.threshold) == ("code", price, 3)
    page = page_of(manager_client.get(url("program_detail", partners.pk)))
    assert f"<code>{price.price_code}</code>" in page


def test_a_second_tier_at_the_same_threshold_is_refused(manager_client, partners):
    services.tier_create(actor=None, program=partners, name="Bronze", threshold=2)
    data = {"name": "Silver", "threshold": "2", "kind": "manual", "credit_currency": "EUR"}
    page = page_of(manager_client.post(url("tier_create", partners.pk), data))
    assert "A tier already fires at 2 referrals." in page


def test_delete_a_tier_after_confirming(manager_client, partners):
    tier = services.tier_create(actor=None, program=partners, name="Bronze", threshold=2)
    page = page_of(manager_client.get(url("tier_delete", tier.pk)))
    assert "Delete tier Bronze?" in page
    response = manager_client.post(url("tier_delete", tier.pk), follow=True)
    assert "Tier Bronze deleted." in messages_of(response)
    assert not partners.tiers.exists()


def test_an_earned_tier_cannot_be_deleted(manager_client, partners):
    reward = earned_reward(partners)
    response = manager_client.post(url("tier_delete", reward.tier_id), follow=True)
    assert "has been earned already and stays on record" in messages_of(response)[0]
    assert partners.tiers.exists()


def test_add_and_remove_a_webhook_endpoint(manager_client, partners):
    page = page_of(
        manager_client.post(url("endpoint_add", partners.pk), {"url": "not a url at all"})
    )
    assert "Enter a valid URL." in page
    response = manager_client.post(
        url("endpoint_add", partners.pk),
        {"url": "https://hooks.example/in", "events": ["reward.earned"]},
    )
    endpoint = partners.webhook_endpoints.get()
    assert endpoint.events == ["reward.earned"]
    assert response["Location"].endswith("#webhooks")

    manager_client.post(url("endpoint_remove", partners.pk), {"endpoint": endpoint.pk})
    assert not partners.webhook_endpoints.exists()
    assert not WebhookEndpoint.objects.get(pk=endpoint.pk).is_active


def test_removing_another_programs_endpoint_is_refused(manager_client, partners):
    other = services.program_create(actor=None, name="Other")
    endpoint = services.endpoint_add(actor=None, program=other, url="https://hooks.example/o")
    response = manager_client.post(
        url("endpoint_remove", partners.pk), {"endpoint": endpoint.pk}, follow=True
    )
    assert "That endpoint is not one of this program's." in messages_of(response)
    assert other.webhook_endpoints.get() == endpoint


def test_removing_an_endpoint_needs_a_post(manager_client, partners):
    assert manager_client.get(url("endpoint_remove", partners.pk)).status_code == 405


# --- Emails ---------------------------------------------------------------------------------


def test_the_emails_page_previews_the_defaults_and_lists_the_placeholders(viewer_client, partners):
    page = page_of(viewer_client.get(url("program_emails", partners.pk)))
    assert "Welcome to Partner program" in page  # the sample values fill the default
    assert "Bo Chen joined through your link" in page
    assert "{referral_link}" in page and "the referrer&#x27;s link to share" in page
    assert "Preview" in page and ">Save<" not in page


def test_preview_shows_the_typed_email_without_saving_it(viewer_client, partners):
    data = {"welcome_subject": "Hi {name} from {company}", "welcome_body": "Link: {referral_link}"}
    page = page_of(viewer_client.post(url("program_emails", partners.pk), data | {"preview": "1"}))
    assert "Hi Ann Lee from Acme Ltd" in page
    assert "Link: https://example.com/r/7K3QX9M2/" in page
    assert "not saved yet" in page
    partners.refresh_from_db()
    assert partners.welcome_subject == ""


def test_a_viewer_cannot_save_the_emails(viewer_client, partners):
    response = viewer_client.post(url("program_emails", partners.pk), {"welcome_subject": "Hi"})
    assert response.status_code == 403


def test_an_unknown_placeholder_is_refused_by_name(manager_client, partners):
    for preview in ({}, {"preview": "1"}):
        page = page_of(
            manager_client.post(
                url("program_emails", partners.pk),
                {"reward_subject": "Well done {nmae}"} | preview,
            )
        )
        assert "Unknown placeholder {nmae}." in page
    partners.refresh_from_db()
    assert partners.reward_subject == ""


def test_save_the_emails(manager_client, partners):
    response = manager_client.post(
        url("program_emails", partners.pk),
        {"referral_subject": "{referred_name} joined", "referral_body": "Hello {name}"},
        follow=True,
    )
    assert "The emails of Partners are saved." in messages_of(response)
    partners.refresh_from_db()
    assert partners.referral_subject == "{referred_name} joined"
    assert "Bo Chen joined" in response.content.decode()


# --- Referrers, referrals and their review ---------------------------------------------------


def test_the_referrer_list_shows_counts_and_searches(manager_client, partners):
    ann = ReferrerFactory(
        program=partners, name="Ann Lee", company="Acme", email="ann@acme.example"
    )
    ReferrerFactory(program=partners, name="Cy Dee", email="cy@other.example")
    referred(partners, ann, "bo@beta.example")
    page = page_of(manager_client.get(url("referrer_list", partners.pk)))
    assert "3 referrers" in page and f"<code>{ann.code}</code>" in page
    assert "Signup form" in page and "Download CSV" in page
    page = page_of(manager_client.get(url("referrer_list", partners.pk), {"q": ann.code.lower()}))
    assert "Ann Lee" in page and "Cy Dee" not in page


def test_the_referrer_list_is_paginated(manager_client, partners):
    ReferrerFactory.create_batch(51, program=partners)
    page = page_of(manager_client.get(url("referrer_list", partners.pk)))
    assert "Page 1 of 2" in page


def test_flagged_referrals_show_their_reasons_and_can_be_approved(support_client, partners):
    ann = ReferrerFactory(program=partners, email="ann@acme.example")
    flagged = referred(partners, ann, "ann+again@acme.example")
    clean = referred(partners, ann, "bo@beta.example")
    assert flagged.review == "flagged" and clean.review == "clean"

    page = page_of(support_client.get(url("referral_list", partners.pk), {"review": "flagged"}))
    assert "Same mailbox as the referrer" in page and "bo@beta.example" not in page
    assert page.count('value="approve"') == 1 and page.count('value="reject"') == 1

    response = support_client.post(
        url("referral_review", flagged.pk), {"verdict": "approve", "review": "flagged"}
    )
    assert response["Location"] == url("referral_list", partners.pk) + "?review=flagged"
    flagged.refresh_from_db()
    assert flagged.review == "approved" and flagged.counted_at is not None
    ann.refresh_from_db()
    assert ann.successful == 2


def test_a_rejected_referral_never_counts_and_can_be_approved_later(support_client, partners):
    ann = ReferrerFactory(program=partners, email="ann@acme.example")
    flagged = referred(partners, ann, "ann.x@mailinator.com")
    response = support_client.post(
        url("referral_review", flagged.pk), {"verdict": "reject"}, follow=True
    )
    assert "rejected: it never counts" in messages_of(response)[0]
    flagged.refresh_from_db()
    assert flagged.review == "rejected" and flagged.counted_at is None

    page = page_of(support_client.get(url("referral_list", partners.pk), {"review": "rejected"}))
    assert "Disposable email address" in page
    assert 'value="approve"' in page and 'value="reject"' not in page


def test_reviewing_a_clean_referral_says_there_is_nothing_to_review(support_client, partners):
    clean = referred(partners, ReferrerFactory(program=partners), "bo@beta.example", confirm=False)
    response = support_client.post(
        url("referral_review", clean.pk), {"verdict": "reject"}, follow=True
    )
    assert "This referral was not flagged; there is nothing to review." in messages_of(response)


def test_a_review_needs_a_verdict_and_a_post(support_client, partners):
    flagged = referred(partners, ReferrerFactory(program=partners), "x@mailinator.com")
    response = support_client.post(url("referral_review", flagged.pk), follow=True)
    assert "Choose Approve or Reject." in messages_of(response)
    assert support_client.get(url("referral_review", flagged.pk)).status_code == 405


def test_a_viewer_sees_referrals_without_review_buttons(viewer_client, partners):
    referred(partners, ReferrerFactory(program=partners), "x@mailinator.com")
    page = page_of(viewer_client.get(url("referral_list", partners.pk)))
    assert "Flagged for review" in page and 'value="approve"' not in page


# --- Rewards --------------------------------------------------------------------------------


def test_deliver_a_reward_by_hand_with_a_note(support_client, partners):
    reward = earned_reward(partners)
    page = page_of(support_client.get(url("reward_list", partners.pk), {"state": "earned"}))
    assert "Thank-you hamper" in page and "Deliver" in page
    page = page_of(support_client.get(url("reward_deliver", reward.pk)))
    assert "Deliver Thank-you hamper to ann@acme.example?" in page and 'name="note"' in page

    mail.outbox.clear()
    response = support_client.post(
        url("reward_deliver", reward.pk), {"note": "Posted on 3 May"}, follow=True
    )
    assert messages_of(response) == [
        "Thank-you hamper for ann@acme.example delivered: Thank-you hamper, delivered by hand"
    ]
    reward.refresh_from_db()
    assert (reward.state, reward.note) == ("delivered", "Posted on 3 May")
    assert mail.outbox == []  # the reward email went out when it was earned


def test_delivering_twice_says_it_is_delivered_already(support_client, partners):
    reward = earned_reward(partners)
    services.reward_deliver(actor=None, reward=reward)
    response = support_client.post(url("reward_deliver", reward.pk), follow=True)
    assert messages_of(response) == [
        "Thank-you hamper for ann@acme.example: This reward is delivered already."
    ]


def test_revoke_a_reward(support_client, partners):
    reward = earned_reward(partners)
    page = page_of(support_client.get(url("reward_revoke", reward.pk)))
    assert "Revoke Thank-you hamper of ann@acme.example?" in page
    response = support_client.post(
        url("reward_revoke", reward.pk), {"note": "Referred herself"}, follow=True
    )
    assert "Thank-you hamper for ann@acme.example revoked." in messages_of(response)
    reward.refresh_from_db()
    assert (reward.state, reward.note) == ("revoked", "Referred herself")
    page = page_of(support_client.get(url("reward_list", partners.pk)))
    assert "Note: Referred herself" in page and "Revoke</a>" not in page

    response = support_client.post(url("reward_revoke", reward.pk), follow=True)
    assert "This reward is revoked already." in messages_of(response)[0]


def test_a_delivery_error_is_shown_in_the_list(support_client, partners):
    reward = earned_reward(partners)
    Reward.objects.filter(pk=reward.pk).update(delivery_error="The pass plan is closed.")
    page = page_of(support_client.get(url("reward_list", partners.pk)))
    assert "Not delivered: The pass plan is closed." in page


def test_a_viewer_sees_rewards_without_actions(viewer_client, partners):
    earned_reward(partners)
    page = page_of(viewer_client.get(url("reward_list", partners.pk)))
    assert "Thank-you hamper" in page and "Deliver</a>" not in page and "Revoke</a>" not in page


# --- Import ---------------------------------------------------------------------------------


def upload(client, program, content: bytes, **extra):
    return client.post(
        url("import_upload", program.pk),
        {"file": SimpleUploadedFile("people.csv", content, "text/csv"), **extra},
    )


def test_the_upload_page_and_its_template(manager_client, partners):
    page = page_of(manager_client.get(url("import_upload", partners.pk)))
    assert "Complete Import" in page and url("import_template", partners.pk) in page
    response = manager_client.get(url("import_template", partners.pk))
    assert response.content.decode("utf-8-sig") == "Name,Company,Email\r\n"
    assert "attachment" in response["Content-Disposition"]


def test_a_malformed_file_is_refused_on_the_validation_page(manager_client, partners):
    response = upload(
        manager_client,
        partners,
        b"Name,Company,Email\nAnn Lee,Acme,ann@acme.example\n"
        b"Bo,,not-an-email\n,Beta,cy@b.example\n",
    )
    checked = ReferrerImport.objects.get()
    assert response["Location"] == url("import_detail", checked.pk)
    page = page_of(manager_client.get(response["Location"]))
    assert "CSV Import Validation" in page and "2 issues" in page
    assert "<code>not-an-email</code>" in page and "Not a valid email address." in page
    assert "The name is missing." in page
    assert 'disabled aria-disabled="true">Complete Import' in page and "Upload again" in page

    response = manager_client.post(url("import_complete", checked.pk), follow=True)
    assert "Only a checked file without issues can be imported, once." in messages_of(response)
    assert not partners.referrers.exists()


def test_a_file_that_is_not_csv_is_named_as_such(manager_client, partners):
    upload(manager_client, partners, b"PK\x03\x04 a workbook")
    page = page_of(manager_client.get(url("import_detail", ReferrerImport.objects.get().pk)))
    assert "an Excel workbook" in page


def test_complete_a_good_import(manager_client, partners):
    ReferrerFactory(program=partners, email="ann@acme.example")
    response = upload(
        manager_client,
        partners,
        "Email;Name;Company\r\nann@acme.example;Ann Lee;Acme\r\n"
        "bo@beta.example;Bo Chen;Beta\r\ncy@gamma.example;Cy Dür;\r\n".encode("cp1252"),
        send_welcome="on",
    )
    checked = ReferrerImport.objects.get()
    page = page_of(manager_client.get(response["Location"]))
    assert "people.csv, 3 rows" in page
    assert "No issues." in page and "Complete Import will add 2 referrers" in page
    assert "<dt>Rows to import</dt><dd>2</dd>" in page
    assert "<dt>Already members</dt><dd>1 <small" in page
    assert 'disabled aria-disabled="true">Complete Import' not in page

    mail.outbox.clear()
    response = manager_client.post(url("import_complete", checked.pk), follow=True)
    assert response.redirect_chain[-1][0] == url("referrer_list", partners.pk)
    assert messages_of(response) == [
        "2 referrers imported; 1 already in the program were left as they are. "
        "Each new referrer is emailed their referral link."
    ]
    assert set(partners.referrers.filter(source="import").values_list("name", flat=True)) == {
        "Bo Chen",
        "Cy Dür",
    }
    assert sorted(m.to[0] for m in mail.outbox) == ["bo@beta.example", "cy@gamma.example"]
    page = page_of(manager_client.get(url("import_detail", checked.pk)))
    assert "Import complete" in page and "2 referrers imported" in page


# --- Instant signup links and export ---------------------------------------------------------


def test_join_links_lists_the_bad_lines_and_makes_nothing(manager_client, partners):
    page = page_of(
        manager_client.post(
            url("join_links", partners.pk),
            {"emails": "ann@acme.example\nnot an email\nAnn <ann@acme.example>\n"},
        )
    )
    assert "2 lines cannot be used." in page
    assert "Line 2: “not an email” is not a valid email address." in page
    assert "Line 3: ann@acme.example is also on line 1." in page


def test_the_join_links_page_says_when_links_expire(manager_client, partners, settings):
    settings.REFERRAL_JOIN_LINK_DAYS = 14
    page = page_of(manager_client.get(url("join_links", partners.pk)))
    assert "The links expire after 14 days" in page


def test_join_links_download_a_csv_of_links_that_join(manager_client, partners):
    response = manager_client.post(
        url("join_links", partners.pk),
        {
            "emails": "Ann@Acme.example\n\n"
            '"Bo Chen" <bo@beta.example>\n'
            'cy@gamma.example, Cy Dee, "Gamma, Inc"\n'
        },
    )
    assert response["Content-Type"].startswith("text/csv")
    rows = csv_rows(response)
    assert rows[0] == ["Email", "Name", "Company", "Link"]
    assert [row[:3] for row in rows[1:]] == [
        ["ann@acme.example", "", ""],
        ["bo@beta.example", "Bo Chen", ""],
        ["cy@gamma.example", "Cy Dee", "Gamma, Inc"],
    ]
    path = urlsplit(rows[3][3]).path
    assert manager_client.post(path).status_code == 302  # the public page: one click joins
    cy = partners.referrers.get(email="cy@gamma.example")
    assert (cy.name, cy.company, cy.status, cy.source) == (
        "Cy Dee",
        "Gamma, Inc",
        "active",
        "instant",
    )


def test_join_lines_with_too_many_values_are_refused():
    people, errors = parse_join_lines("a@b.example, A, B, C\n")
    assert people == [] and errors[0].startswith("Line 1: 4 values")


def test_export_the_referrers_with_links_and_counts(manager_client, partners):
    ann = ReferrerFactory(program=partners, name="=HYPERLINK()", email="ann@acme.example")
    referred(partners, ann, "bo@beta.example")
    response = manager_client.get(url("referrer_export", partners.pk))
    rows = csv_rows(response)
    assert rows[0][:6] == ["Name", "Company", "Email", "Referral code", "Referral link", "Status"]
    first = rows[1]
    assert first[:5] == [
        "'=HYPERLINK()",
        "Acme Ltd",
        "ann@acme.example",
        ann.code,
        links.referral_link(ann),
    ]
    assert first[5:10] == ["Active", "Signup form", "0", "1", "1"]
    assert len(rows) == 3


def test_an_export_names_the_zone_of_its_times_and_still_imports_back(
    manager_client, manager, partners, settings
):
    from core.services import set_time_zone

    settings.TIME_ZONE = "Europe/Berlin"
    set_time_zone(actor=manager, user=manager, time_zone="America/New_York")
    ann = ReferrerFactory(program=partners, name="Ann Lee", email="ann@acme.example")
    Referrer.objects.filter(pk=ann.pk).update(created_at=datetime(2026, 3, 2, 23, 30, tzinfo=UTC))
    exported = b"".join(manager_client.get(url("referrer_export", partners.pk)).streaming_content)
    rows = list(csv.reader(io.StringIO(exported.decode("utf-8-sig"))))
    assert rows[0][-1] == "Joined (Europe/Berlin)"
    assert rows[1][-1] == "2026-03-03 00:30"
    upload = services.referrer_import_check(
        actor=None, program=partners, file_name="back.csv", data=exported
    )
    assert (upload.status, upload.issues) == ("valid", [])


def test_an_exported_file_imports_back_changing_nothing(manager_client, partners):
    ann = ReferrerFactory(program=partners, name="Ann Lee", email="ann@acme.example")
    referred(partners, ann, "bo@beta.example")
    exported = b"".join(manager_client.get(url("referrer_export", partners.pk)).streaming_content)
    upload = services.referrer_import_check(
        actor=None, program=partners, file_name="back.csv", data=exported
    )
    assert (upload.status, upload.issues) == ("valid", [])
    assert (upload.total_rows, upload.already_members) == (0, 2)
    services.referrer_import_complete(actor=None, upload=upload)
    assert partners.referrers.count() == 2
