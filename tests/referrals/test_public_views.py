"""The public referral pages as a visitor meets them."""

import re

import pytest
from django.core import mail

from referrals import links, services
from referrals.models import Referral, Referrer
from tests.referrals.conftest import confirm_path, join

pytestmark = pytest.mark.django_db


def sign_up(client, program, email, **extra):
    data = {"name": "Bo Chen", "company": "Beta", "email": email, **extra}
    return client.post(f"/refer/{program.slug}/", data, REMOTE_ADDR=extra.pop("addr", "10.1.1.1"))


def test_the_signup_page_may_be_framed_only_by_the_programs_origins(client, program):
    services.program_update(actor=None, program=program, allowed_origins="https://partner.example")
    response = client.get(f"/refer/{program.slug}/")
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == "frame-ancestors 'self' https://partner.example"
    assert "X-Frame-Options" not in response
    assert b"Join Partner program" in response.content


def test_without_origins_only_the_site_itself_may_frame_it(client, program):
    response = client.get(f"/refer/{program.slug}/")
    assert response["Content-Security-Policy"] == "frame-ancestors 'self'"


def test_signing_up_asks_to_check_the_email(client, program):
    response = sign_up(client, program, "bo@beta.com")
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert b"Check your email" in page.content and b"bo@beta.com" in page.content
    assert Referrer.objects.get().status == "pending"
    assert mail.outbox[0].subject == "Confirm your email for Partner program"


def test_the_form_names_what_is_missing(client, program):
    response = client.post(f"/refer/{program.slug}/", {"name": "", "email": "x"})
    assert response.status_code == 200
    assert b"This field is required." in response.content
    assert b"Enter a valid email address." in response.content
    assert not Referrer.objects.exists()


def test_an_email_already_in_the_program_gets_its_links_again_but_not_a_flood(client, program):
    join(program, "bo@beta.com")
    sent = len(mail.outbox)
    response = sign_up(client, program, "Bo@Beta.com")
    assert response.status_code == 200
    page = response.content.decode()
    assert "has already joined Partner program. We have emailed the links" in page
    assert [m.subject for m in mail.outbox[sent:]] == ["Welcome to Partner program"]
    again = sign_up(client, program, "bo@beta.com").content.decode()
    assert "We emailed the links to that address a few minutes ago." in again
    assert len(mail.outbox) == sent + 1
    assert Referrer.objects.count() == 1


def test_a_double_click_answers_like_the_first_submission(client, program):
    form = client.get(f"/refer/{program.slug}/").content.decode()
    nonce = re.search(r'name="nonce" value="([^"]+)"', form)[1]
    first = sign_up(client, program, "bo@beta.com", nonce=nonce)
    second = sign_up(client, program, "bo@beta.com", nonce=nonce)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert Referrer.objects.count() == 1
    assert len(mail.outbox) == 1
    # Another form (a new nonce) with the same email is told it has joined.
    assert b"already joined" in sign_up(client, program, "bo@beta.com", nonce="other").content


def test_a_paused_program_shows_no_form(client, program):
    services.program_update(actor=None, program=program, status="paused")
    response = client.get(f"/refer/{program.slug}/")
    assert b"not taking new members" in response.content and b"<form" not in response.content
    sign_up(client, program, "bo@beta.com")
    assert not Referrer.objects.exists()


def test_too_many_signups_from_one_address_are_refused(client, program, settings):
    settings.REFERRAL_SIGNUP_RATE_LIMIT = 2
    for n in range(2):
        assert sign_up(client, program, f"p{n}@beta.com").status_code == 302
    response = sign_up(client, program, "p9@beta.com")
    assert response.status_code == 429 and b"Too many signups" in response.content
    assert Referrer.objects.count() == 2


def test_a_referral_link_counts_the_visit_and_remembers_the_referrer(client, program):
    ann = join(program, "ann@acme.com")
    response = client.get(f"/r/{ann.code.lower()}/")
    assert response.status_code == 302
    assert response["Location"] == f"/refer/{program.slug}/?ref={ann.code}"
    cookie = response.cookies[links.cookie_name(program.pk)]
    assert cookie["max-age"] == 30 * 86400 and cookie["httponly"]
    ann.refresh_from_db()
    assert ann.visits == 1
    # The signup comes later, without ?ref=: the cookie attributes it.
    sign_up(client, program, "bo@beta.com")
    assert Referral.objects.get().referrer == ann


def test_a_referral_link_leads_to_the_programs_landing_page_with_the_code(client, program):
    services.program_update(
        actor=None, program=program, landing_url="https://example.com/join?src=mail"
    )
    ann = join(program, "ann@acme.com")
    response = client.get(f"/r/{ann.code}/")
    assert response["Location"] == f"https://example.com/join?src=mail&ref={ann.code}"


def test_the_ref_field_attributes_a_signup_when_cookies_are_blocked(client, program):
    ann = join(program, "ann@acme.com")
    page = client.get(f"/refer/{program.slug}/?ref={ann.code}")
    assert f'value="{ann.code}"' in page.content.decode()
    sign_up(client, program, "bo@beta.com", ref=ann.code)
    assert Referral.objects.get().referrer == ann


def test_a_forged_cookie_attributes_nothing(client, program):
    ann = join(program, "ann@acme.com")
    client.cookies[links.cookie_name(program.pk)] = ann.code
    sign_up(client, program, "bo@beta.com")
    assert not Referral.objects.exists()


def test_an_unknown_referral_link_says_so(client, program):
    response = client.get("/r/ZZZZZZZZ/")
    assert response.status_code == 404
    assert b"Referral link not found" in response.content


def test_confirming_takes_a_press_of_the_button_then_leads_to_the_status_page(client, program):
    sign_up(client, program, "bo@beta.com")
    link = confirm_path("bo@beta.com")
    page = client.get(link)  # what a mail scanner opening the link does: nothing
    assert page.status_code == 200 and b"Confirm my email" in page.content
    assert Referrer.objects.get().status == "pending"
    response = client.post(link)
    assert response.status_code == 302 and response["Location"].startswith("/refer/status/")
    assert Referrer.objects.get().status == "active"
    page = client.get(response["Location"]).content.decode()
    assert "Your referrals" in page and "Confirm your email" not in page
    # The link opened again later goes straight to the status page.
    assert client.get(link)["Location"] == response["Location"]


def test_a_tampered_confirmation_link_is_refused(client, program):
    sign_up(client, program, "bo@beta.com")
    for send in (client.get, client.post):
        response = send(confirm_path("bo@beta.com")[:-3] + "xx/")
        assert response.status_code == 400 and b"not valid" in response.content
    assert Referrer.objects.get().status == "pending"


def test_the_status_page_shows_counts_rewards_and_what_the_next_needs(client, program):
    services.tier_create(actor=None, program=program, name="Bronze", threshold=1)
    services.tier_create(actor=None, program=program, name="Gold", threshold=3)
    ann = join(program, "ann@acme.com")
    client.get(f"/r/{ann.code}/")
    join(program, "bo@beta.com", by=ann)
    response = client.get(links.status_path(ann))
    page = response.content.decode()
    assert response["Content-Security-Policy"] == "frame-ancestors 'self'"
    assert links.referral_link(ann) in page
    counts = dict(
        re.findall(r'id="(visits|signups|successful|reward-count)">(?:<strong>)?(\d+)', page)
    )
    assert counts == {"visits": "1", "signups": "1", "successful": "1", "reward-count": "1"}
    assert "2 more referrals earns Gold." in page
    assert "Bronze" in page
    for share in ("mailto:", "linkedin.com/sharing", "x.com/intent", "wa.me/"):
        assert share in page
    assert '<script src="http' not in page  # no third-party scripts


def test_a_tampered_status_link_is_refused(client, program):
    ann = join(program, "ann@acme.com")
    response = client.get(links.status_path(ann)[:-4] + "xyz/")
    assert response.status_code == 404 and b"not valid" in response.content


def test_a_new_status_link_replaces_the_old_one_and_is_emailed(client, program, manager_client):
    ann = join(program, "ann@acme.com")
    old = links.status_path(ann)
    assert client.get(old).status_code == 200
    mail.outbox.clear()

    response = manager_client.post(f"/staff/referrers/{ann.pk}/status-link/", follow=True)

    assert "has a new status page link, emailed to ann@acme.com" in response.content.decode()
    ann.refresh_from_db()
    gone = client.get(old)
    assert gone.status_code == 404 and b"replaced by a new one" in gone.content
    new = links.status_path(ann)
    assert new != old and client.get(new).status_code == 200
    [email] = mail.outbox
    assert email.to == ["ann@acme.com"] and new in email.body
    assert ann.code == Referrer.objects.get(pk=ann.pk).code  # the referral link stays


def test_a_status_link_from_before_keys_opens_until_it_is_replaced(client, program):
    ann = join(program, "ann@acme.com")
    Referrer.objects.filter(pk=ann.pk).update(status_key="")
    ann.refresh_from_db()
    legacy = links.status_path(ann)  # [pk, code], as links were signed before
    assert client.get(legacy).status_code == 200

    services.referrer_status_link_renew(actor=None, referrer=ann)

    assert client.get(legacy).status_code == 404


def test_an_instant_link_joins_only_when_the_button_is_pressed(client, program):
    url = links.join_link(program_id=program.pk, email="cy@gamma.com", name="Cy")
    path = url.removeprefix("http://127.0.0.1:8000")
    page = client.get(path)
    assert b"cy@gamma.com" in page.content and not Referrer.objects.exists()
    response = client.post(path)
    assert response.status_code == 302 and response["Location"].startswith("/refer/status/")
    assert Referrer.objects.get().status == "active"
    assert client.post(path)["Location"] == response["Location"]
    assert Referrer.objects.count() == 1


def test_a_tampered_instant_link_is_refused(client, program):
    response = client.get("/join/not-a-token/")
    assert response.status_code == 400 and b"not valid" in response.content
