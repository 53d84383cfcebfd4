"""Counting and rewards under real concurrency: threads with their own PostgreSQL connections."""

import pytest

from referrals import links, services
from referrals.models import Referral, Referrer, Reward
from tests.threads import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def _after_commit_now():
    """These tests commit for real: what the services queue runs after each commit."""


@pytest.fixture
def program():
    program = services.program_create(actor=None, name="Partner program")
    for name, threshold in (("Bronze", 1), ("Silver", 5), ("Gold", 20)):
        services.tier_create(
            actor=None, program=program, name=name, threshold=threshold, two_sided=name == "Gold"
        )
    return program


def person(email: str) -> services.Person:
    return services.Person.clean(name=email.split("@")[0], email=email)


def active(program, email: str) -> Referrer:
    referrer = services.referrer_signup(program=program, person=person(email))
    return services.referrer_confirm(token=links.confirm_token(referrer))


def test_twenty_referrals_confirmed_at_once_count_twenty_and_fire_each_tier_once(program):
    ann = active(program, "ann@acme.com")
    referred = [
        services.referrer_signup(
            program=program, person=person(f"guest{n}@corp{n}.com"), referral_code=ann.code
        )
        for n in range(20)
    ]
    outcomes = run_together(
        [lambda r=r: services.referrer_confirm(token=links.confirm_token(r)) for r in referred],
        threads=20,
    )
    assert all(isinstance(o, Referrer) for o in outcomes), outcomes
    ann.refresh_from_db()
    assert (ann.signups, ann.successful) == (20, 20)
    assert Referral.objects.filter(counted_at__isnull=False).count() == 20
    mine = Reward.objects.filter(referrer=ann, side="referrer")
    assert sorted(mine.values_list("tier__threshold", flat=True)) == [1, 5, 20]
    assert Reward.objects.filter(side="referred").count() == 1  # Gold is two-sided


def test_one_confirmation_link_clicked_ten_times_at_once_counts_once(program):
    ann = active(program, "ann@acme.com")
    bo = services.referrer_signup(
        program=program, person=person("bo@beta.com"), referral_code=ann.code
    )
    token = links.confirm_token(bo)
    outcomes = run_together([lambda: services.referrer_confirm(token=token)] * 10)
    assert all(isinstance(o, Referrer) for o in outcomes), outcomes
    ann.refresh_from_db()
    assert ann.successful == 1
    assert Reward.objects.filter(referrer=ann).count() == 1


def test_one_conversion_reported_ten_times_at_once_counts_once(program):
    services.program_update(actor=None, program=program, success_event="conversion")
    ann = active(program, "ann@acme.com")
    bo = services.referrer_signup(
        program=program, person=person("bo@beta.com"), referral_code=ann.code
    )
    services.referrer_confirm(token=links.confirm_token(bo))
    report = lambda: services.referral_convert(  # noqa: E731
        actor=None, program=program, email="bo@beta.com", external_id="order-1"
    )
    outcomes = run_together([report] * 10)
    assert all(isinstance(o, tuple) for o in outcomes), outcomes
    assert sum(changed for _, changed in outcomes) == 1
    ann.refresh_from_db()
    assert ann.successful == 1


def test_one_email_signing_up_twice_at_once_joins_once(program):
    outcomes = run_together(
        [lambda: services.referrer_signup(program=program, person=person("ann@acme.com"))] * 8
    )
    joined = [o for o in outcomes if isinstance(o, Referrer)]
    refused = [o for o in outcomes if isinstance(o, services.AlreadyInProgram)]
    assert (len(joined), len(refused)) == (1, 7), outcomes
    assert Referrer.objects.count() == 1


def test_a_new_conversion_reported_twice_at_once_is_recorded_once(program):
    services.program_update(actor=None, program=program, success_event="conversion")
    ann = active(program, "ann@acme.com")
    report = lambda: services.referral_convert(  # noqa: E731
        actor=None,
        program=program,
        email="cy@gamma.com",
        external_id="order-7",
        referral_code=ann.code,
    )
    outcomes = run_together([report] * 6)
    assert all(isinstance(o, tuple) for o in outcomes), outcomes
    assert sum(changed for _, changed in outcomes) == 1
    assert Referral.objects.count() == 1
    ann.refresh_from_db()
    assert (ann.signups, ann.successful) == (1, 1)
