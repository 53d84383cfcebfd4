"""Scheduled release of a batch: its codes cannot be booked until the release time, the
minute job makes them bookable then, and staff set the time on Generate Codes."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from campaigns import selectors as campaign_selectors
from core.errors import DomainError
from invitations import services
from invitations.models import Booking, CodeBatch, InvitationCode
from invitations.selectors import code_list
from invitations.services import Client, Details, RedemptionRefused
from invitations.services.redemption import Result
from invitations.tasks import release_code_batches
from tests.factories import ParticipantFactory

pytestmark = pytest.mark.django_db
LONG_AGO = datetime(2001, 1, 1, tzinfo=UTC)
NORA = Details(first_name="Nora", last_name="Neu", email="nora@example.com")


def generate(price, *, release_at, quantity=3) -> CodeBatch:
    return services.code_batch_create(
        actor=None,
        contract=price.contract,
        price=price,
        quantity=quantity,
        width=8,
        release_at=release_at,
    )


def book(code: InvitationCode) -> Booking:
    return services.booking_redeem(code=code.code, details=NORA, client=Client())


@pytest.fixture
def later():
    return timezone.now() + timedelta(hours=2)


@pytest.fixture
def batch(price, later) -> CodeBatch:
    return generate(price, release_at=later)


def test_codes_of_a_batch_with_a_release_time_are_scheduled(batch, later):
    assert batch.release_at == later and batch.released_at is None
    assert {c.status for c in batch.codes.all()} == {InvitationCode.Status.SCHEDULED}
    assert batch.codes.first().state == "Scheduled"


def test_a_batch_without_a_release_time_is_active_at_once(price):
    batch = generate(price, release_at=None)
    assert {c.status for c in batch.codes.all()} == {InvitationCode.Status.ACTIVE}


def test_a_release_time_in_the_past_is_refused_and_nothing_is_made(price):
    with pytest.raises(ValidationError) as caught:
        generate(price, release_at=timezone.now() - timedelta(minutes=1))
    assert "This time has passed" in str(caught.value.message_dict["release_at"])
    assert not CodeBatch.objects.exists() and not InvitationCode.objects.exists()


def test_a_scheduled_code_is_refused_with_its_release_time_and_nothing_changes(batch, settings):
    code = batch.codes.first()
    with pytest.raises(RedemptionRefused) as caught:
        book(code)
    local = timezone.localtime(batch.release_at)
    assert caught.value.reason == Result.NOT_YET_VALID
    assert caught.value.message.startswith("This code can be used from ")
    assert f"{local:%H:%M}" in caught.value.message and settings.TIME_ZONE in caught.value.message
    assert InvitationCode.objects.get(pk=code.pk).uses == 0
    assert not Booking.objects.exists()


def test_the_release_job_makes_due_codes_bookable_and_stamps_them(batch, later):
    InvitationCode.objects.filter(batch=batch).update(updated_at=LONG_AGO)
    assert services.code_batches_release_due(now=later - timedelta(minutes=1)) == 0
    assert services.code_batches_release_due(now=later) == 3
    codes = batch.codes.all()
    assert {c.status for c in codes} == {InvitationCode.Status.ACTIVE}
    assert all(c.updated_at > LONG_AGO for c in codes)
    batch.refresh_from_db()
    assert batch.released_at == later
    assert book(codes[0]).pk


def test_the_release_job_releases_a_batch_once(batch, later):
    assert services.code_batches_release_due(now=later) == 3
    assert services.code_batches_release_due(now=later + timedelta(minutes=1)) == 0


def test_the_release_job_leaves_other_batches_and_revoked_codes_alone(price, batch, later):
    other = generate(price, release_at=later + timedelta(days=1))
    revoked = batch.codes.first()
    services.code_revoke(actor=None, code=revoked)
    assert services.code_batches_release_due(now=later) == 2
    assert InvitationCode.objects.get(pk=revoked.pk).status == InvitationCode.Status.REVOKED
    assert {c.status for c in other.codes.all()} == {InvitationCode.Status.SCHEDULED}


def test_a_batch_still_generating_is_released_again_until_it_is_done(batch, later):
    CodeBatch.objects.filter(pk=batch.pk).update(status=CodeBatch.Status.RUNNING)
    services.code_batches_release_due(now=later)
    assert CodeBatch.objects.get(pk=batch.pk).released_at is None
    InvitationCode.objects.filter(pk=batch.codes.first().pk).update(
        status=InvitationCode.Status.SCHEDULED
    )  # a chunk committed late
    CodeBatch.objects.filter(pk=batch.pk).update(status=CodeBatch.Status.DONE)
    assert services.code_batches_release_due(now=later + timedelta(minutes=1)) == 1
    assert CodeBatch.objects.get(pk=batch.pk).released_at is not None


def test_codes_generated_after_the_release_time_go_in_active(batch):
    CodeBatch.objects.filter(pk=batch.pk).update(release_at=timezone.now() - timedelta(seconds=1))
    batch.refresh_from_db()
    from invitations.services.generation import _row_values

    assert InvitationCode.Status.ACTIVE in _row_values(batch)


def test_staff_can_move_a_release_to_another_time(batch, later):
    moved = services.code_batch_release_update(
        actor=None, batch=batch, release_at=later + timedelta(days=1)
    )
    assert moved.release_at == later + timedelta(days=1)
    assert services.code_batches_release_due(now=later) == 0


def test_staff_cannot_move_a_release_into_the_past(batch):
    with pytest.raises(ValidationError):
        services.code_batch_release_update(
            actor=None, batch=batch, release_at=timezone.now() - timedelta(hours=1)
        )


def test_releasing_now_makes_the_codes_bookable_and_ends_the_schedule(batch):
    released = services.code_batch_release_update(actor=None, batch=batch, release_at=None)
    assert released.released_at is not None
    assert {c.status for c in batch.codes.all()} == {InvitationCode.Status.ACTIVE}
    with pytest.raises(DomainError):
        services.code_batch_release_update(actor=None, batch=batch, release_at=None)


def test_scheduled_codes_have_their_own_filter_and_are_not_listed_as_active(batch, contract):
    assert code_list(contract=batch.contract, status="scheduled").count() == 3
    assert code_list(contract=batch.contract, status="active").count() == 0


def test_a_participant_holding_a_scheduled_code_can_be_sent_it_ahead(price, later):
    participant = ParticipantFactory(contract=price.contract, email="p@example.com")
    batch = generate(price, release_at=later, quantity=1)
    batch.codes.update(participant=participant)
    held = campaign_selectors.unused_codes(InvitationCode.objects.filter(participant=participant))
    assert held.count() == 1


def test_the_release_job_runs_every_minute_from_beat():
    task = PeriodicTask.objects.get(name="Release scheduled code batches")
    assert task.task == "invitations.tasks.release_code_batches"
    assert task.interval.every == 1 and task.interval.period == "minutes"
    assert release_code_batches() == 0


# --- Generate Codes page --------------------------------------------------------------


def post_generate(client, price, **data):
    url = reverse("invitations:code_generate", args=[price.contract.pk])
    return client.post(url, {"quantity": 4, "width": 8, "price": price.pk, "max_uses": 1, **data})


def test_generate_codes_takes_a_release_time_in_the_site_time_zone(manager_client, price, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    timezone.deactivate()
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    response = post_generate(manager_client, price, release_at=f"{tomorrow}T09:30")
    assert response.status_code == 302
    batch = CodeBatch.objects.get()
    local = timezone.localtime(batch.release_at, timezone.get_fixed_timezone(0))
    berlin = batch.release_at.astimezone(timezone.get_current_timezone())
    assert (berlin.hour, berlin.minute) == (9, 30)
    assert local.hour in (7, 8)  # 09:30 in Berlin is 07:30 or 08:30 UTC
    assert batch.codes.filter(status=InvitationCode.Status.SCHEDULED).count() == 4


def test_generate_codes_refuses_a_release_time_in_the_past(manager_client, price):
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    response = post_generate(manager_client, price, release_at=f"{yesterday}T09:30")
    assert response.status_code == 200
    assert (
        "This time has passed: choose a later release time, or none." in response.content.decode()
    )
    assert not CodeBatch.objects.exists()


def test_generate_codes_shows_the_release_field_with_the_time_zone(manager_client, price, settings):
    page = manager_client.get(reverse("invitations:code_generate", args=[price.contract.pk]))
    content = page.content.decode()
    assert "Release at" in content and settings.TIME_ZONE in content


def test_a_release_that_came_cannot_be_moved_later(batch, later):
    CodeBatch.objects.filter(pk=batch.pk).update(status=CodeBatch.Status.RUNNING)
    services.code_batches_release_due(now=later)  # still generating: released_at stays empty
    CodeBatch.objects.filter(pk=batch.pk).update(release_at=timezone.now() - timedelta(minutes=1))
    with pytest.raises(DomainError, match="can no longer be moved"):
        services.code_batch_release_update(
            actor=None, batch=batch, release_at=timezone.now() + timedelta(days=7)
        )


def test_each_chunk_reads_the_release_time_staff_set_meanwhile(batch):
    from invitations.services.generation import _row_values

    stale = CodeBatch.objects.get(pk=batch.pk)  # what a long generation task holds
    CodeBatch.objects.filter(pk=batch.pk).update(release_at=timezone.now() + timedelta(days=7))
    assert InvitationCode.Status.SCHEDULED in _row_values(stale)
    CodeBatch.objects.filter(pk=batch.pk).update(release_at=timezone.now() - timedelta(seconds=1))
    assert InvitationCode.Status.ACTIVE in _row_values(stale)
