"""Referral programs in a real browser: join, share a link, bring a company in, earn a reward.

Staff set a program up through the services (a Bronze tier at one referral, a webhook
endpoint on a small local receiver). A referrer signs up on the public page, confirms by
the emailed link and copies their referral link; a second visitor, in a browser of their
own, follows it, signs up and confirms; the referrer's status page then shows the
successful referral and Bronze, and the receiver got signed `referral.created` and
`reward.earned` events. Bad links get their own pages, and only the program's allowed
origins may frame its signup page.

Set SCREENSHOT_DIR to keep screenshots of the pages for a person to look at.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, FrameLocator, Page, expect

from core.models import WebhookDelivery
from core.webhooks import signature_valid
from referrals import links, services
from referrals.models import Referral, Referrer, Reward

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _screenshot(page: Page, name: str) -> None:
    folder = os.environ.get("SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes


class _Handler(BaseHTTPRequestHandler):
    """Records every POST and answers 200; serves `server.html` to a GET."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.received.append(Received(self.path, headers, body))
        self._answer(b'{"ok": true}', "application/json")

    def do_GET(self) -> None:
        self._answer(self.server.html.encode(), "text/html; charset=utf-8")

    def _answer(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        """Keep the test output quiet."""


class LocalSite(ThreadingHTTPServer):
    """A tiny web server on 127.0.0.1 and a random port, in a thread of its own."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[Received] = []
        self.html = ""

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


def _serving() -> Iterator[LocalSite]:
    site = LocalSite()
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    yield site
    site.shutdown()
    site.server_close()
    thread.join(timeout=5)


@pytest.fixture
def webhook_receiver() -> Iterator[LocalSite]:
    """Where the program's webhook endpoint points: records each request, answers 200."""
    yield from _serving()


@pytest.fixture
def partner_site() -> Iterator[LocalSite]:
    """Another origin, whose page frames ours (set its `html`)."""
    yield from _serving()


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    """Browser contexts of their own (one person each), closed after the test."""
    contexts: list[BrowserContext] = []

    def make(**kwargs) -> BrowserContext:
        contexts.append(browser.new_context(**kwargs))
        return contexts[-1]

    yield make
    for context in contexts:
        context.close()


def _email_link(mailoutbox, *, to: str, subject: str, pattern: str) -> str:
    (mail,) = [m for m in mailoutbox if m.to == [to] and m.subject == subject]
    (link,) = re.findall(pattern, mail.body)
    return link


def _sign_up(page: Page | FrameLocator, *, name: str, company: str, email: str) -> None:
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Company").fill(company)
    page.get_by_label("Work email").fill(email)
    page.get_by_role("button", name="Sign up").click()


def test_a_referrer_shares_their_link_and_earns_bronze_when_the_company_they_referred_confirms(
    live_server, new_context, settings, mailoutbox, webhook_receiver
):
    settings.SITE_URL = live_server.url
    # Two people on one network address would be held for review (the same-address
    # fraud guard): the two browsers come through a proxy from addresses of their own.
    settings.TRUSTED_PROXY_COUNT = 1
    program = services.program_create(actor=None, name="Partner Circle")
    services.tier_create(actor=None, program=program, name="Bronze", threshold=1, two_sided=True)
    endpoint = services.endpoint_add(
        actor=None, program=program, url=f"{webhook_receiver.origin}/hooks/voucherdesk"
    )
    site = re.escape(live_server.url)
    confirm_pattern = rf"{site}/refer/confirm/[^/\s]+/"

    # Ann joins the program and confirms her email.
    ann_context = new_context(
        extra_http_headers={"X-Forwarded-For": "198.51.100.7"},
        permissions=["clipboard-read", "clipboard-write"],
    )
    ann = ann_context.new_page()
    page_errors: list[str] = []
    ann.on("pageerror", lambda error: page_errors.append(str(error)))
    ann.goto(f"{live_server.url}/refer/{program.slug}/")
    expect(ann.get_by_role("heading", name="Join Partner Circle")).to_be_visible()
    _screenshot(ann, "referral-signup.png")
    _sign_up(ann, name="Ann Lee", company="Acme Ltd", email="ann@acme.example")

    expect(ann.get_by_role("heading", name="Check your email")).to_be_visible()
    expect(ann.get_by_role("status")).to_contain_text("ann@acme.example")
    confirm = _email_link(
        mailoutbox,
        to="ann@acme.example",
        subject="Confirm your email for Partner Circle",
        pattern=confirm_pattern,
    )
    ann.goto(confirm)
    # Opening the link confirms nothing (mail scanners open links): the button does.
    expect(ann.get_by_text("Confirm ann@acme.example to join Partner Circle.")).to_be_visible()
    assert Referrer.objects.get(email="ann@acme.example").status == Referrer.Status.PENDING
    ann.get_by_role("button", name="Confirm my email").click()
    expect(ann).to_have_url(re.compile(rf"{site}/refer/status/[^/]+/$"))
    expect(ann.get_by_role("heading", name="Your referrals")).to_be_visible()
    expect(ann.get_by_text("Ann Lee, Acme Ltd · Partner Circle")).to_be_visible()
    status_url = ann.url

    ann_record = Referrer.objects.get(email="ann@acme.example")
    assert ann_record.status == Referrer.Status.ACTIVE
    referral_link = ann.locator("#referral-link").input_value()
    assert referral_link == f"{live_server.url}/r/{ann_record.code}/"
    expect(ann.locator("#next-reward")).to_have_text("1 more referral earns Bronze.")

    expect(ann.get_by_role("button", name="Copy link")).to_be_visible()
    # Located by what stays: the button's name changes while it says "Copied".
    copy = ann.locator("button[data-copy='#referral-link']")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert ann.evaluate("navigator.clipboard.readText()") == referral_link
    expect(copy).to_have_text("Copy link")

    # Bo, in a browser of their own, follows Ann's link and joins.
    bo = new_context(extra_http_headers={"X-Forwarded-For": "203.0.113.20"}).new_page()
    bo.goto(referral_link)
    expect(bo).to_have_url(f"{live_server.url}/refer/{program.slug}/?ref={ann_record.code}")
    expect(bo.locator("input[name=ref]")).to_have_value(ann_record.code)
    _sign_up(bo, name="Bo Chen", company="Bolt GmbH", email="bo@bolt.example")
    expect(bo.get_by_role("heading", name="Check your email")).to_be_visible()
    confirm = _email_link(
        mailoutbox,
        to="bo@bolt.example",
        subject="Confirm your email for Partner Circle",
        pattern=confirm_pattern,
    )
    bo.goto(confirm)
    bo.get_by_role("button", name="Confirm my email").click()
    expect(bo.get_by_role("heading", name="Your referrals")).to_be_visible()
    # Bronze is two-sided: the company Ann brought in gets one for joining.
    expect(bo.locator("#rewards")).to_contain_text("Bronze Earned · for joining")
    _screenshot(bo, "referral-status-referred.png")

    # Ann's status page now counts the referral and shows Bronze.
    ann.goto(status_url)
    expect(ann.locator("#visits")).to_have_text("1")
    expect(ann.locator("#signups")).to_have_text("1")
    expect(ann.locator("#successful")).to_have_text("1")
    expect(ann.locator("#reward-count")).to_have_text("1")
    expect(ann.locator("#next-reward")).to_have_text("You have earned every reward of the program.")
    rewards = ann.locator("#rewards")
    expect(rewards.get_by_role("heading", name="Your rewards")).to_be_visible()
    expect(rewards.get_by_role("listitem")).to_have_count(1)
    expect(rewards.get_by_role("listitem")).to_contain_text("Bronze Earned")
    _screenshot(ann, "referral-status-reward.png")
    ann.set_viewport_size({"width": 375, "height": 812})
    _screenshot(ann, "referral-status-reward-phone.png")
    assert page_errors == []

    referral = Referral.objects.get()
    assert referral.referrer_id == ann_record.pk
    assert referral.referred.email == "bo@bolt.example"
    assert (referral.stage, referral.review, referral.flags) == ("confirmed", "clean", [])
    assert referral.counted_at is not None
    rewards = {(r.side, r.email, r.tier.name, r.state) for r in Reward.objects.all()}
    assert rewards == {
        ("referrer", "ann@acme.example", "Bronze", "earned"),
        ("referred", "bo@bolt.example", "Bronze", "earned"),
    }
    assert any(
        m.to == ["ann@acme.example"] and m.subject == "You earned a reward: Bronze"
        for m in mailoutbox
    )

    # The receiver got each event once, signed with the endpoint's secret.
    deliveries = {d.event_id: d for d in WebhookDelivery.objects.filter(endpoint=endpoint)}
    assert sorted(d.event for d in deliveries.values()) == [
        "referral.created",
        "reward.earned",
        "reward.earned",
    ]
    for delivery in deliveries.values():
        assert delivery.status == WebhookDelivery.Status.DELIVERED
        assert delivery.attempts == 1
        (attempt,) = delivery.log.all()
        assert (attempt.status_code, attempt.error) == (200, "")
    assert len(webhook_receiver.received) == 3
    events = {}
    for request in webhook_receiver.received:
        assert request.path == "/hooks/voucherdesk"
        assert request.headers["content-type"] == "application/json"
        assert signature_valid(
            endpoint.secret, request.headers["voucherdesk-signature"], request.body
        )
        assert not signature_valid(
            "another secret", request.headers["voucherdesk-signature"], request.body
        )
        payload = json.loads(request.body)
        delivery = deliveries[payload["id"]]
        assert request.headers["voucherdesk-delivery"] == payload["id"]
        assert request.headers["voucherdesk-event"] == payload["type"] == delivery.event
        assert payload["data"]["program"] == program.slug
        events.setdefault(payload["type"], []).append(payload["data"])

    (created,) = events["referral.created"]
    assert created["referral"]["id"] == referral.pk
    assert created["referral"]["email"] == "bo@bolt.example"
    assert created["referral"]["review"] == "clean"
    assert created["referral"]["referrer"]["code"] == ann_record.code
    assert created["referral"]["referrer"]["referral_link"] == referral_link
    earned = {data["reward"]["side"]: data["reward"] for data in events["reward.earned"]}
    assert set(earned) == {"referrer", "referred"}
    for side, email in (("referrer", "ann@acme.example"), ("referred", "bo@bolt.example")):
        reward = earned[side]
        assert (reward["email"], reward["state"]) == (email, "earned")
        assert reward["tier"]["name"] == "Bronze" and reward["tier"]["threshold"] == 1
    assert earned["referrer"]["referrer"]["email"] == "ann@acme.example"
    assert earned["referred"]["referral_id"] == referral.pk


def test_bad_links_get_their_own_pages_and_only_allowed_origins_may_frame_the_signup_page(
    live_server, page: Page, settings, partner_site
):
    settings.SITE_URL = live_server.url
    program = services.program_create(
        actor=None, name="Partner Circle", allowed_origins="https://partner.example"
    )
    ann = services.referrer_signup(
        program=program, person=services.Person.clean(name="Ann Lee", email="ann@acme.example")
    )

    # A status link with one character of its signature changed.
    token = links.status_token(ann)
    response = page.goto(f"{live_server.url}{links.status_path(ann)}")
    assert response.status == 200
    i = token.rindex(":") + 5
    tampered = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
    response = page.goto(f"{live_server.url}/refer/status/{tampered}/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="This link does not work")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text(
        "This status link is not valid. Use the link from your email."
    )

    # A referral link that belongs to nobody counts nothing and remembers nothing.
    response = page.goto(f"{live_server.url}/r/ZZZZZZZZ/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Referral link not found")).to_be_visible()
    assert not [c for c in page.context.cookies() if c["name"].startswith("vd_ref_")]
    ann.refresh_from_db()
    assert ann.visits == 0

    # The signup page may be framed by the site itself and the program's allowed origins.
    signup_url = f"{live_server.url}/refer/{program.slug}/"
    headers = page.goto(signup_url).all_headers()
    assert headers["content-security-policy"] == "frame-ancestors 'self' https://partner.example"
    assert "x-frame-options" not in headers

    # A partner site on another origin frames the signup page: refused while not allowed…
    partner_site.html = (
        "<!doctype html><title>Partner</title><h1>Our partners</h1>"
        f'<iframe id="signup" src="{signup_url}" width="480" height="640" '
        "onload=\"document.body.dataset.framed = 'yes'\"></iframe>"
    )
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.goto(partner_site.origin + "/")
    expect(page.locator("body[data-framed=yes]")).to_have_count(1)
    (frame,) = page.main_frame.child_frames
    assert not frame.url.startswith(live_server.url)
    expect(page.frame_locator("#signup").get_by_label("Your name")).to_have_count(0)
    assert any("frame-ancestors" in text for text in console), console

    # …and shown once staff add the partner's origin.
    services.program_update(
        actor=None,
        program=program,
        allowed_origins=f"https://partner.example\n{partner_site.origin}",
    )
    page.reload()
    framed = page.frame_locator("#signup")
    expect(framed.get_by_role("heading", name="Join Partner Circle")).to_be_visible()
    (frame,) = page.main_frame.child_frames
    assert frame.url == signup_url
    _screenshot(page, "referral-signup-framed.png")
    # The form works in the frame, where the site's cookies are third-party.
    _sign_up(framed, name="Bo Chen", company="Bolt GmbH", email="bo@bolt.example")
    expect(framed.get_by_role("heading", name="Check your email")).to_be_visible()
    assert Referrer.objects.filter(program=program, email="bo@bolt.example").exists()
