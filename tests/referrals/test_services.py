"""Referral programs through their services: joining, referring, counting, rewarding."""

import re
from decimal import Decimal

import pytest
from django.core import mail, signing
from django.core.exceptions import ValidationError

from core import codes as codelib
from core import pins
from core.errors import DomainError
from passes import services as pass_services
from referrals import links, selectors, services
from referrals.models import Referral, ReferralProgram, Referrer, Reward, RewardTier
from tests.factories import OrganisationFactory
from tests.referrals.conftest import confirm_path, join
from wallets.models import WalletTransaction

pytestmark = pytest.mark.django_db


def signup(program, email, *, by=None, address=""):
    return services.referrer_signup(
        program=program,
        person=services.Person.clean(name="Someone", email=email),
        address=address,
        referral_code=by.code if by else "",
    )


# --- Programs and tiers ------------------------------------------------------------------


def test_a_program_gets_a_readable_unique_slug_avoiding_reserved_words():
    first = services.program_create(actor=None, name="Partner Program")
    second = services.program_create(actor=None, name="Partner program")
    status = services.program_create(actor=None, name="Status")
    assert (first.slug, second.slug, status.slug) == (
        "partner-program",
        "partner-program-2",
        "status-program",
    )


def test_allowed_origins_are_cleaned_and_a_path_is_refused():
    program = services.program_create(
        actor=None, name="P", allowed_origins="https://A.example/\n\nhttps://b.example:8443"
    )
    assert program.origins == ["https://a.example", "https://b.example:8443"]
    with pytest.raises(ValidationError) as exc:
        services.program_update(
            actor=None, program=program, allowed_origins="https://a.example/page"
        )
    assert "https://a.example/page" in exc.value.message_dict["allowed_origins"][0]


def test_an_unknown_placeholder_is_refused_by_name(program):
    with pytest.raises(ValidationError) as exc:
        services.program_update(
            actor=None, program=program, welcome_body="Hi {name}, your {coupon} and {name}"
        )
    assert "{coupon}" in exc.value.message_dict["welcome_body"][0]
    with pytest.raises(ValidationError) as exc:
        services.program_update(actor=None, program=program, reward_subject="Oops {name")
    assert "brace" in exc.value.message_dict["reward_subject"][0]


def test_a_tier_needs_what_its_kind_gives(program):
    with pytest.raises(ValidationError) as exc:
        services.tier_create(actor=None, program=program, name="Code", threshold=1, kind="code")
    assert "price" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.tier_create(actor=None, program=program, name="W", threshold=1, kind="wallet")
    assert {"credit_amount", "credit_currency"} <= set(exc.value.message_dict)
    services.tier_create(actor=None, program=program, name="Bronze", threshold=1)
    with pytest.raises(ValidationError) as exc:
        services.tier_create(actor=None, program=program, name="Again", threshold=1)
    assert "already fires at 1" in exc.value.message_dict["threshold"][0]


def test_an_earned_tier_cannot_be_deleted(program):
    tier = services.tier_create(actor=None, program=program, name="Bronze", threshold=1)
    ann = join(program, "ann@acme.com")
    join(program, "bo@beta.com", by=ann)
    with pytest.raises(DomainError, match="earned already"):
        services.tier_delete(actor=None, tier=tier)
    unused = services.tier_create(actor=None, program=program, name="Gold", threshold=9)
    services.tier_delete(actor=None, tier=unused)
    assert not RewardTier.objects.filter(pk=unused.pk).exists()


# --- Joining -------------------------------------------------------------------------------


def test_signup_waits_for_the_email_to_be_confirmed(program):
    ann = signup(program, "Ann@Acme.com")
    assert ann.email == "ann@acme.com"
    assert ann.status == Referrer.Status.PENDING
    assert len(ann.code) == 8 and codelib.has_valid_check(ann.code)
    assert [m.subject for m in mail.outbox] == ["Confirm your email for Partner program"]

    confirmed = services.referrer_confirm(token=confirm_path("ann@acme.com").split("/")[-2])
    assert confirmed.status == Referrer.Status.ACTIVE and confirmed.confirmed_at
    welcome = mail.outbox[-1]
    assert welcome.subject == "Welcome to Partner program"
    assert links.referral_link(ann) in welcome.body and links.status_link(ann) in welcome.body


def test_a_second_click_on_the_confirmation_link_changes_nothing(program):
    signup(program, "ann@acme.com")
    token = confirm_path("ann@acme.com").split("/")[-2]
    services.referrer_confirm(token=token)
    sent = len(mail.outbox)
    services.referrer_confirm(token=token)
    assert len(mail.outbox) == sent


def test_a_tampered_or_expired_confirmation_link_is_refused(program, settings):
    signup(program, "ann@acme.com")
    token = confirm_path("ann@acme.com").split("/")[-2]
    with pytest.raises(links.LinkInvalid, match="not valid"):
        services.referrer_confirm(token=token[:-2] + "xx")
    settings.REFERRAL_CONFIRM_DAYS = -1
    with pytest.raises(links.LinkInvalid, match="expired"):
        services.referrer_confirm(token=signing.dumps(1, salt="referrals.confirm") + "")
    assert Referrer.objects.get().status == Referrer.Status.PENDING


def test_an_email_already_in_the_program_is_refused(program):
    signup(program, "ann@acme.com")
    with pytest.raises(services.AlreadyInProgram, match="already joined Partner program"):
        signup(program, "ANN@acme.com")
    assert Referrer.objects.count() == 1


def test_a_paused_program_takes_no_signups(program):
    services.program_update(actor=None, program=program, status=ReferralProgram.Status.PAUSED)
    with pytest.raises(DomainError, match="not taking new members"):
        signup(program, "ann@acme.com")


def test_the_person_is_checked():
    with pytest.raises(ValidationError) as exc:
        services.Person.clean(name=" ", email="not-an-email")
    assert set(exc.value.message_dict) == {"name", "email"}


# --- Referral links and referrals ------------------------------------------------------------


def test_a_visit_is_counted_for_a_code_typed_loosely(program):
    ann = join(program, "ann@acme.com")
    assert services.referrer_visit(code=ann.code.lower()[:4] + "-" + ann.code[4:]) == ann
    assert services.referrer_visit(code="ZZZZZZZZ") is None
    assert services.referrer_visit(code="../etc") is None
    ann.refresh_from_db()
    assert ann.visits == 1


def test_a_signup_through_a_link_counts_once_its_email_is_confirmed(program):
    ann = join(program, "ann@acme.com")
    bo = signup(program, "bo@beta.com", by=ann)
    referral = Referral.objects.get()
    assert (referral.referrer, referral.referred, referral.stage) == (ann, bo, "signed_up")
    ann.refresh_from_db()
    assert (ann.signups, ann.successful) == (1, 0)

    services.referrer_confirm(token=confirm_path("bo@beta.com").split("/")[-2])
    ann.refresh_from_db()
    referral.refresh_from_db()
    assert referral.stage == "confirmed" and referral.counted_at
    assert ann.successful == 1
    assert mail.outbox[-1].subject == "Someone joined through your link"
    assert mail.outbox[-1].to == ["ann@acme.com"]


def test_a_tier_fires_once_when_the_count_reaches_it(program):
    services.tier_create(actor=None, program=program, name="Bronze", threshold=1)
    services.tier_create(actor=None, program=program, name="Silver", threshold=2)
    ann = join(program, "ann@acme.com")
    join(program, "bo@beta.com", by=ann)
    assert list(Reward.objects.values_list("tier__name", "state")) == [("Bronze", "earned")]
    join(program, "cy@gamma.com", by=ann)
    join(program, "di@delta.com", by=ann)
    assert sorted(Reward.objects.values_list("tier__name", flat=True)) == ["Bronze", "Silver"]
    status = selectors.referrer_status(referrer=Referrer.objects.get(pk=ann.pk))
    assert status.next_tier is None
    assert status.next_reward_text == "You have earned every reward of the program."
    assert "You earned a reward: Silver" in [m.subject for m in mail.outbox]


def test_the_status_says_how_many_more_referrals_the_next_reward_needs(program):
    services.tier_create(actor=None, program=program, name="Gold", threshold=3)
    ann = join(program, "ann@acme.com")
    join(program, "bo@beta.com", by=ann)
    ann.refresh_from_db()
    status = selectors.referrer_status(referrer=ann)
    assert (status.next_tier.name, status.needed) == ("Gold", 2)
    assert status.next_reward_text == "2 more referrals earns Gold."


def test_a_two_sided_tier_rewards_the_referred_company_too(program):
    services.tier_create(actor=None, program=program, name="Welcome", threshold=1, two_sided=True)
    ann = join(program, "ann@acme.com")
    bo = join(program, "bo@beta.com", by=ann)
    rewards = {r.side: r for r in Reward.objects.all()}
    assert rewards["referrer"].email == "ann@acme.com"
    assert (rewards["referred"].email, rewards["referred"].referrer) == ("bo@beta.com", bo)
    assert [r.side for r in selectors.referrer_status(referrer=bo, with_rewards=True).rewards] == [
        "referred"
    ]


# --- Fraud guards ----------------------------------------------------------------------------


def test_a_plus_addressed_copy_of_the_referrers_mailbox_is_a_self_referral(program):
    ann = join(program, "ann.lee@gmail.com")
    join(program, "annlee+deal@googlemail.com", by=ann)
    referral = Referral.objects.get()
    assert referral.review == "flagged" and "self_referral" in referral.flags
    assert referral.counted_at is None
    ann.refresh_from_db()
    assert ann.successful == 0


def test_the_same_domain_is_flagged_only_when_the_program_says_so(program):
    ann = join(program, "ann@acme.com")
    join(program, "bo@acme.com", by=ann)
    assert Referral.objects.get(email="bo@acme.com").flags == []
    services.program_update(actor=None, program=program, flag_same_domain=True)
    join(program, "cy@acme.com", by=ann)
    assert Referral.objects.get(email="cy@acme.com").flags == ["same_domain"]


def test_the_referrers_own_address_and_repeated_signups_are_flagged(program):
    services.program_update(actor=None, program=program, signup_limit_per_address=2)
    ann = join(program, "ann@acme.com", address="10.0.0.1")
    join(program, "bo@beta.com", by=ann, address="10.0.0.1")
    assert Referral.objects.get(email="bo@beta.com").flags == ["same_address"]
    join(program, "cy@gamma.com", by=ann, address="10.0.0.2")
    join(program, "di@delta.com", by=ann, address="10.0.0.2")
    join(program, "ed@eps.com", by=ann, address="10.0.0.2")
    flags = dict(Referral.objects.values_list("email", "flags"))
    assert flags["cy@gamma.com"] == [] and flags["di@delta.com"] == []
    assert flags["ed@eps.com"] == ["repeated_signups"]


def test_disposable_and_duplicate_mailboxes_are_flagged(program):
    ann = join(program, "ann@acme.com")
    join(program, "bo@mailinator.com", by=ann)
    join(program, "cy@beta.com", by=ann)
    join(program, "cy+2@beta.com", by=ann)
    flags = dict(Referral.objects.values_list("email", "flags"))
    assert flags["bo@mailinator.com"] == ["disposable_email"]
    assert flags["cy@beta.com"] == []
    assert flags["cy+2@beta.com"] == ["duplicate_mailbox"]


def test_an_approved_referral_counts_and_a_rejected_one_never_does(program):
    services.tier_create(actor=None, program=program, name="Bronze", threshold=1)
    ann = join(program, "ann@acme.com")
    join(program, "bo@mailinator.com", by=ann)
    join(program, "cy@mailinator.com", by=ann)
    first, second = Referral.objects.order_by("pk")
    services.referral_review(actor=None, referral=second, approve=False)
    ann.refresh_from_db()
    assert ann.successful == 0 and not Reward.objects.exists()
    services.referral_review(actor=None, referral=first, approve=True)
    ann.refresh_from_db()
    assert ann.successful == 1 and Reward.objects.count() == 1
    with pytest.raises(DomainError, match="counted already"):
        services.referral_review(actor=None, referral=first, approve=False)


def test_a_clean_referral_has_nothing_to_review(program):
    ann = join(program, "ann@acme.com")
    join(program, "bo@beta.com", by=ann)
    with pytest.raises(DomainError, match="not flagged"):
        services.referral_review(actor=None, referral=Referral.objects.get(), approve=True)


# --- Conversions ---------------------------------------------------------------------------


@pytest.fixture
def conversion_program(program):
    return services.program_update(
        actor=None, program=program, success_event=ReferralProgram.Success.CONVERSION
    )


def test_with_conversions_a_confirmed_signup_does_not_count_until_it_converts(conversion_program):
    ann = join(conversion_program, "ann@acme.com")
    join(conversion_program, "bo@beta.com", by=ann)
    ann.refresh_from_db()
    assert ann.successful == 0
    referral, changed = services.referral_convert(
        actor=None, program=conversion_program, email="BO@beta.com", external_id="ord-1"
    )
    assert changed and referral.stage == "converted" and referral.counted_at
    ann.refresh_from_db()
    assert ann.successful == 1


def test_a_conversion_reported_twice_counts_once(conversion_program):
    ann = join(conversion_program, "ann@acme.com")
    join(conversion_program, "bo@beta.com", by=ann)
    kwargs = {"actor": None, "program": conversion_program, "external_id": "ord-1"}
    services.referral_convert(email="bo@beta.com", **kwargs)
    again, changed = services.referral_convert(email="bo@beta.com", **kwargs)
    assert not changed and again.external_id == "ord-1"
    with pytest.raises(services.ConversionConflict):
        services.referral_convert(email="cy@beta.com", **kwargs)
    with pytest.raises(services.ConversionConflict, match="converts once"):
        services.referral_convert(
            actor=None, program=conversion_program, email="bo@beta.com", external_id="ord-2"
        )
    ann.refresh_from_db()
    assert ann.successful == 1


def test_a_conversion_without_a_referral_needs_the_referrers_code(conversion_program):
    ann = join(conversion_program, "ann@acme.com")
    with pytest.raises(DomainError, match=r"No referral of cy@gamma\.com"):
        services.referral_convert(
            actor=None, program=conversion_program, email="cy@gamma.com", external_id="x1"
        )
    referral, _ = services.referral_convert(
        actor=None,
        program=conversion_program,
        email="cy@gamma.com",
        external_id="x1",
        referral_code=ann.code,
    )
    assert (referral.referrer, referral.referred, referral.stage) == (ann, None, "converted")
    ann.refresh_from_db()
    assert (ann.signups, ann.successful) == (1, 1)


# --- Rewards -------------------------------------------------------------------------------


def test_a_manual_reward_is_delivered_by_hand_once(program):
    services.tier_create(actor=None, program=program, name="Hamper", threshold=1)
    ann = join(program, "ann@acme.com")
    join(program, "bo@beta.com", by=ann)
    reward = Reward.objects.get()
    assert [m.subject for m in mail.outbox].count("You earned a reward: Hamper") == 1
    delivered = services.reward_deliver(actor=None, reward=reward, note="Sent by courier")
    assert delivered.state == "delivered" and delivered.delivered_at
    assert delivered.note == "Sent by courier"
    # Announced when earned: delivering by hand sends no second email.
    assert [m.subject for m in mail.outbox].count("You earned a reward: Hamper") == 1
    with pytest.raises(DomainError, match="delivered already"):
        services.reward_deliver(actor=None, reward=reward)


def test_a_code_reward_is_issued_and_emailed(program, price):
    services.tier_create(
        actor=None, program=program, name="Free visit", threshold=1, kind="code", price=price
    )
    ann = join(program, "ann@acme.com")
    join(program, "bo@beta.com", by=ann)
    reward = Reward.objects.get()
    assert reward.state == "delivered" and reward.code.price == price
    [email] = [m for m in mail.outbox if m.subject == "You earned a reward: Free visit"]
    assert email.to == ["ann@acme.com"] and reward.code.code in email.body


def test_a_revoked_code_reward_revokes_its_unused_code(program, price):
    services.tier_create(
        actor=None, program=program, name="Free visit", threshold=1, kind="code", price=price
    )
    ann = join(program, "ann@acme.com")
    join(program, "bo@beta.com", by=ann)
    reward = services.reward_revoke(actor=None, reward=Reward.objects.get(), note="Fraud")
    assert reward.state == "revoked"
    reward.code.refresh_from_db()
    assert reward.code.status == "revoked"
    with pytest.raises(DomainError, match="revoked already"):
        services.reward_revoke(actor=None, reward=reward)


def test_a_wallet_reward_credits_one_wallet_per_referrer(program):
    services.tier_create(
        actor=None,
        program=program,
        name="Credit",
        threshold=1,
        kind="wallet",
        credit_amount=Decimal("25.00"),
        credit_currency="eur",
    )
    services.tier_create(
        actor=None,
        program=program,
        name="More credit",
        threshold=2,
        kind="wallet",
        credit_amount=Decimal("10.00"),
        credit_currency="EUR",
    )
    ann = join(program, "ann@acme.com")
    join(program, "bo@beta.com", by=ann)
    join(program, "cy@gamma.com", by=ann)
    ann.refresh_from_db()
    credits = WalletTransaction.objects.filter(wallet=ann.wallet).order_by("pk")
    assert [t.amount for t in credits] == [Decimal("25.00"), Decimal("10.00")]
    assert credits.last().balance_after == Decimal("35.00")
    emails = [m.body for m in mail.outbox if m.subject.startswith("You earned a reward")]
    assert len(emails) == 2 and all(f"/wallet/{ann.wallet.page_token}/" in b for b in emails)
    assert set(Reward.objects.values_list("state", flat=True)) == {"delivered"}


def test_a_pass_reward_comes_from_its_plan(program):
    plan = pass_services.pass_plan_create(
        actor=None, name="Gift", type="gift", format="electronic", value_min=20, pin_required=True
    )
    pass_services.pass_plan_activate(actor=None, plan=plan)
    services.tier_create(
        actor=None, program=program, name="Gift pass", threshold=1, kind="pass", pass_plan=plan
    )
    ann = join(program, "ann@acme.com")
    join(program, "bo@beta.com", by=ann)
    reward = Reward.objects.get()
    assert reward.state == "delivered" and reward.pass_obj.plan == plan
    assert reward.pass_obj.code in reward.delivery and "PIN" not in reward.delivery  # never kept
    [email] = [m for m in mail.outbox if m.subject == "You earned a reward: Gift pass"]
    pin = re.search(r"PIN: (\d+)", email.body)[1]
    reward.pass_obj.refresh_from_db()
    assert pins.pin_matches(pin, reward.pass_obj.pin_hash)
    assert "/passes/redeem/" in email.body


def test_a_reward_that_cannot_be_issued_stays_earned_with_the_reason(program):
    plan = pass_services.pass_plan_create(
        actor=None, name="Gift", type="gift", format="electronic", value_min=20
    )
    pass_services.pass_plan_activate(actor=None, plan=plan)
    services.tier_create(
        actor=None, program=program, name="Gift pass", threshold=1, kind="pass", pass_plan=plan
    )
    pass_services.pass_plan_close(actor=None, plan=plan)
    ann = join(program, "ann@acme.com")
    join(program, "bo@beta.com", by=ann)
    reward = Reward.objects.get()
    assert reward.state == "earned"
    assert "not active" in reward.delivery_error


# --- Instant signup links ---------------------------------------------------------------------


def test_an_instant_link_makes_a_confirmed_referrer_in_one_click(program):
    token = links.join_token(program_id=program.pk, email="Ann@Acme.com", name="Ann", company="A")
    ann, created = services.referrer_join(token=token)
    assert created and ann.status == "active" and ann.source == "instant"
    assert (ann.email, ann.company) == ("ann@acme.com", "A")
    again, created = services.referrer_join(token=token)
    assert again == ann and not created
    assert Referrer.objects.count() == 1


def test_an_instant_link_confirms_a_pending_referrer_and_their_referral_counts(program):
    services.tier_create(actor=None, program=program, name="Bronze", threshold=1)
    ann = join(program, "ann@acme.com")
    signup(program, "bo@beta.com", by=ann)
    bo, created = services.referrer_join(
        token=links.join_token(program_id=program.pk, email="bo@beta.com")
    )
    assert not created and bo.status == "active"
    assert Referral.objects.get().stage == "confirmed"
    ann.refresh_from_db()
    assert ann.successful == 1 and Reward.objects.filter(referrer=ann).count() == 1
    assert "Welcome to Partner program" in [m.subject for m in mail.outbox if m.to == [bo.email]]


def test_a_signup_after_its_conversion_was_reported_becomes_that_referral(program):
    services.program_update(actor=None, program=program, success_event="conversion")
    ann = join(program, "ann@acme.com")
    cy = join(program, "cy@gamma.com")
    referral, _ = services.referral_convert(
        actor=None, program=program, email="bo@beta.com", external_id="o1", referral_code=ann.code
    )
    bo = join(program, "bo@beta.com", by=cy)  # through another referrer's link, later
    referral.refresh_from_db()
    assert (referral.referred, referral.referrer) == (bo, ann)  # the first referrer keeps it
    assert Referral.objects.count() == 1
    ann.refresh_from_db()
    cy.refresh_from_db()
    assert (ann.successful, cy.signups) == (1, 0)


def test_origins_that_would_widen_or_break_the_policy_are_refused(program):
    for origin in ("https://*", "https://x; script-src 'unsafe-inline'", "https://u:p@a.example"):
        with pytest.raises(ValidationError):
            services.program_update(actor=None, program=program, allowed_origins=origin)
    program = services.program_update(
        actor=None, program=program, allowed_origins="https://*.partner.example:8443"
    )
    assert program.origins == ["https://*.partner.example:8443"]


def test_a_webhook_endpoint_is_an_http_address(program):
    with pytest.raises(ValidationError) as exc:
        services.endpoint_add(actor=None, program=program, url="ftp://files.example/hook")
    assert "http" in exc.value.message_dict["url"][0]


def test_an_endpoint_an_organisation_also_uses_stays_active_when_a_program_drops_it(program):
    endpoint = services.endpoint_add(actor=None, program=program, url="https://hooks.example/x")
    OrganisationFactory().webhook_endpoints.add(endpoint)
    services.endpoint_remove(actor=None, program=program, endpoint=endpoint)
    endpoint.refresh_from_db()
    assert endpoint.is_active


def test_an_expired_or_tampered_instant_link_is_refused(program, settings):
    token = links.join_token(program_id=program.pk, email="ann@acme.com")
    with pytest.raises(links.LinkInvalid, match="not valid"):
        services.referrer_join(token=token.replace(token[-5:], "AAAAA"))
    settings.REFERRAL_JOIN_LINK_DAYS = -1
    with pytest.raises(links.LinkInvalid, match="expired"):
        services.referrer_join(token=token)
    assert not Referrer.objects.exists()


def test_a_status_link_names_its_referrer_and_nothing_else(program):
    ann = join(program, "ann@acme.com")
    token = links.status_token(ann)
    assert links.status_reader(token) == (ann.pk, ann.code, ann.status_key)
    assert ann.status_key  # a referrer of today has a key of their own
    with pytest.raises(links.LinkInvalid):
        links.status_reader(links.confirm_token(ann))  # another kind of link
    with pytest.raises(links.LinkInvalid):
        links.status_reader(token + "x")


def test_a_code_reward_refused_by_the_generator_stays_earned_with_the_reason(program, price):
    services.tier_create(
        actor=None, program=program, name="Free visit", threshold=1, kind="code", price=price
    )
    price.contract.status = "closed"
    price.contract.save()
    ann = join(program, "ann@acme.com")
    join(program, "bo@beta.com", by=ann)
    reward = Reward.objects.get()
    assert reward.state == "earned" and reward.code is None
    assert (
        reward.delivery_error
        == f"The contract {price.contract.name} is closed: no new codes can be generated."
    )
    with pytest.raises(DomainError, match="is closed"):
        services.reward_deliver(actor=None, reward=reward)
    assert not Reward.objects.filter(state="delivered").exists()
