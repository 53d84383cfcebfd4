import io

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from contracts.models import Contract, ContractPrice, Organisation, Participant
from invitations.models import Booking, InvitationCode, RedemptionAttempt
from referrals.models import ReferralProgram

pytestmark = pytest.mark.django_db


def test_demo_data_loads_and_prints_a_working_staff_login(django_capture_on_commit_callbacks):
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):  # as the command's commit would
        call_command("load_demo", stdout=out)
    assert Organisation.objects.count() == 3
    assert Contract.objects.count() == 3
    assert ContractPrice.objects.count() == 4
    # The shared code's booking added one person to the 60 on the lists.
    assert Participant.objects.count() == 61
    assert InvitationCode.objects.count() == 350 + 3 * 8 + 1
    assert InvitationCode.objects.filter(is_shared=True, code="0PENDAY2026").exists()
    assert Booking.objects.count() == 3 and RedemptionAttempt.objects.count() == 3
    assert InvitationCode.objects.filter(participant__isnull=False).count() == 3 * 8
    # A referral program: 3 imported agencies and 5 referred, one referral held for review.
    program = ReferralProgram.objects.get(slug="agency-partners")
    assert program.referrers.count() == 8
    assert list(program.referrals.filter(review="flagged").values_list("flags", flat=True)) == [
        ["self_referral"]
    ]
    assert sorted(program.rewards.values_list("tier__threshold", "state")) == [
        (1, "earned"),
        (1, "earned"),
        (3, "delivered"),
    ]
    password = next(
        line.split(": ", 1)[1] for line in out.getvalue().splitlines() if "password:" in line
    )
    user = authenticate(username="admin", password=password.strip())
    assert user is not None and user.is_staff
    assert user.groups.filter(name="Administrator").exists()


def test_loading_the_demo_twice_adds_nothing():
    call_command("load_demo", stdout=io.StringIO())
    call_command("load_demo", stdout=io.StringIO())
    assert InvitationCode.objects.count() == 350 + 3 * 8 + 1
    assert Booking.objects.count() == 3
    assert ReferralProgram.objects.get().referrers.count() == 8
