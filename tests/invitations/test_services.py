import random
from datetime import date

import pytest
from django.core.exceptions import ValidationError

from contracts.models import Contract
from core import codes
from core.errors import DomainError
from invitations.models import CodeBatch, InvitationCode
from invitations.services import generation as services
from tests.factories import ContractFactory, ContractPriceFactory

pytestmark = pytest.mark.django_db


def _generate(price, **kwargs):
    kwargs.setdefault("quantity", 25)
    kwargs.setdefault("width", 8)
    return services.code_batch_create(actor=None, contract=price.contract, price=price, **kwargs)


def test_it_generates_the_exact_quantity_of_valid_unique_codes(price):
    price.contract.invitation_prefix = "ACME"
    price.contract.save()
    batch = _generate(price, quantity=500, width=7)
    assert batch.status == CodeBatch.Status.DONE
    assert batch.generated == 500
    stored = list(InvitationCode.objects.filter(batch=batch).values_list("code", flat=True))
    assert len(stored) == len(set(stored)) == 500
    assert all(c.startswith("ACME") and len(c) == 11 and codes.has_valid_check(c) for c in stored)


def test_codes_take_the_batch_settings_and_default_to_the_contract_dates():
    contract = ContractFactory(start_date=date(2026, 1, 1), end_date=date(2026, 12, 31))
    price = ContractPriceFactory(contract=contract)
    batch = _generate(price, quantity=3, max_uses=5, note="Launch event")
    code = InvitationCode.objects.filter(batch=batch).first()
    assert (code.max_uses, code.uses, code.price, code.contract) == (5, 0, price, contract)
    assert (code.valid_from, code.valid_until) == (date(2026, 1, 1), date(2026, 12, 31))
    assert batch.note == "Launch event"
    own = _generate(price, quantity=1, valid_from=date(2026, 3, 1), valid_until=date(2026, 3, 2))
    assert own.codes.get().valid_until == date(2026, 3, 2)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"quantity": 0}, "quantity"),
        ({"quantity": -5}, "quantity"),
        ({"quantity": 1_000_001}, "quantity"),
        ({"width": 5}, "width"),
        ({"width": 21}, "width"),
        ({"max_uses": 0}, "max_uses"),
        ({"valid_from": date(2026, 2, 1), "valid_until": date(2026, 1, 1)}, "valid_until"),
    ],
)
def test_bad_requests_are_refused_and_nothing_is_generated(price, kwargs, field):
    with pytest.raises(ValidationError) as excinfo:
        _generate(price, **kwargs)
    assert field in excinfo.value.error_dict
    assert not CodeBatch.objects.exists()
    assert not InvitationCode.objects.exists()


def test_a_price_from_another_contract_is_refused(price):
    other = ContractPriceFactory()
    with pytest.raises(ValidationError) as excinfo:
        services.code_batch_create(
            actor=None, contract=price.contract, price=other, quantity=5, width=8
        )
    assert "price" in excinfo.value.error_dict
    assert not InvitationCode.objects.exists()


def test_a_batch_that_would_make_codes_guessable_is_refused_naming_the_safe_width(price):
    with pytest.raises(ValidationError) as excinfo:
        _generate(price, quantity=5_000, width=6)
    message = excinfo.value.error_dict["width"][0].message
    assert "1 in 6,710 random guesses" in message
    assert "at least 7" in message
    assert not InvitationCode.objects.exists()


def test_the_odds_count_the_codes_already_under_the_same_prefix(price):
    _generate(price, quantity=3_000, width=6)
    other_contract_same_prefix = ContractPriceFactory()
    with pytest.raises(ValidationError, match="at least 7"):
        _generate(other_contract_same_prefix, quantity=1_000, width=6)
    other_contract_same_prefix.contract.invitation_prefix = "Z"
    other_contract_same_prefix.contract.save()
    assert _generate(other_contract_same_prefix, quantity=1_000, width=6).generated == 1_000


def test_a_closed_contract_gets_no_codes(price):
    price.contract.status = Contract.Status.CLOSED
    price.contract.save()
    with pytest.raises(DomainError, match="closed"):
        _generate(price)


def _new_batch(price, quantity, width=8):
    return CodeBatch.objects.create(
        contract=price.contract, price=price, quantity=quantity, width=width
    )


def _sources(*seeds):
    """A randbytes that draws from each seeded generator in turn, staying on the last."""
    rngs = [random.Random(seed) for seed in seeds]

    def randbytes(n):
        return (rngs.pop(0) if len(rngs) > 1 else rngs[0]).randbytes(n)

    return randbytes


def test_collisions_with_existing_codes_are_skipped_and_drawn_again(price):
    taken = _new_batch(price, 40)
    services.code_batch_generate(batch_id=taken.pk, randbytes=_sources(0))
    batch = _new_batch(price, 40)
    # Its first draw repeats the 40 codes that exist; the second draw is fresh.
    done = services.code_batch_generate(batch_id=batch.pk, randbytes=_sources(0, 1))
    assert done.generated == 40
    assert InvitationCode.objects.filter(batch=batch).count() == 40
    assert InvitationCode.objects.values("code").distinct().count() == 80


def test_a_chunk_that_cannot_complete_writes_nothing(price):
    batch = _new_batch(price, 2)
    with pytest.raises(DomainError, match="choose a wider code"):
        services.code_batch_generate(batch_id=batch.pk, randbytes=bytes)  # all zeros
    batch.refresh_from_db()
    assert (batch.status, batch.generated) == (CodeBatch.Status.FAILED, 0)
    assert "wider code" in batch.error
    assert not InvitationCode.objects.exists()


def test_a_failed_batch_resumes_where_it_stopped(price, monkeypatch):
    monkeypatch.setattr(services, "CHUNK_SIZE", 10)
    batch = _new_batch(price, 30)
    calls = {"n": 0}

    def flaky(n):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("worker lost")
        return random.Random(calls["n"]).randbytes(n)

    with pytest.raises(OSError):
        services.code_batch_generate(batch_id=batch.pk, randbytes=flaky)
    batch.refresh_from_db()
    assert (batch.status, batch.generated) == (CodeBatch.Status.FAILED, 10)
    assert batch.codes.count() == 10
    done = services.code_batch_generate(batch_id=batch.pk, randbytes=flaky)
    assert (done.status, done.generated, done.codes.count()) == (CodeBatch.Status.DONE, 30, 30)


def test_large_batches_run_as_a_task_and_finish(
    price, settings, django_capture_on_commit_callbacks
):
    settings.CODE_BATCH_SYNC_LIMIT = 10
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        batch = _generate(price, quantity=25)
    assert len(callbacks) == 1
    batch.refresh_from_db()
    assert (batch.status, batch.generated, batch.codes.count()) == ("done", 25, 25)


def _code(price, **kwargs):
    batch = _generate(price, quantity=1)
    code = batch.codes.get()
    if kwargs:
        InvitationCode.objects.filter(pk=code.pk).update(**kwargs)
        code.refresh_from_db()
    return code


def test_a_code_can_be_edited(price):
    code = _code(price)
    other_price = ContractPriceFactory(contract=price.contract)
    code = services.code_update(
        actor=None,
        code=code,
        price=other_price,
        max_uses=3,
        valid_from=None,
        valid_until=date(2030, 1, 1),
        status="revoked",
    )
    code.refresh_from_db()
    assert (code.price, code.max_uses, code.status) == (other_price, 3, "revoked")
    assert code.history.count() == 1  # bulk inserts write no history; the edit does


def test_a_code_cannot_move_to_another_contracts_price_or_below_its_uses(price):
    code = _code(price, uses=2, max_uses=3)
    with pytest.raises(ValidationError) as excinfo:
        services.code_update(
            actor=None,
            code=code,
            price=ContractPriceFactory(),
            max_uses=1,
            valid_from=None,
            valid_until=None,
            status="active",
        )
    assert set(excinfo.value.error_dict) == {"price", "max_uses"}


def test_a_used_code_cannot_be_deleted_only_archived_or_revoked(price):
    code = _code(price, uses=1)
    with pytest.raises(DomainError, match="has been used"):
        services.code_delete(actor=None, code=code)
    assert services.code_archive(actor=None, code=code).is_archived
    assert services.code_revoke(actor=None, code=code).state == "Archived"


def test_an_unused_code_can_be_deleted(price):
    code = _code(price)
    services.code_delete(actor=None, code=code)
    assert not InvitationCode.objects.filter(pk=code.pk).exists()


def test_the_state_shown_to_staff(price):
    assert _code(price).state == "Active"
    assert _code(price, uses=1).state == "Used"
    assert _code(price, valid_until=date(2000, 1, 1)).state == "Expired"
    assert _code(price, valid_from=date(2999, 1, 1)).state == "Not yet valid"
    assert _code(price, status="revoked").state == "Revoked"
    assert _code(price, is_archived=True).state == "Archived"


def test_generation_stops_cleanly_when_the_contract_was_deleted_meanwhile(price):
    batch = _new_batch(price, 10)
    Contract.objects.filter(pk=price.contract.pk).delete()  # as a concurrent delete would
    with pytest.raises(DomainError, match="was deleted meanwhile"):
        services._generate_chunk(batch, 10)  # a chunk that had loaded the batch before
    with pytest.raises(DomainError, match="no longer exists"):
        services.code_batch_generate(batch_id=batch.pk)  # a task that starts after
    assert not InvitationCode.objects.exists()


def test_a_contract_with_a_bad_prefix_gets_a_clear_refusal_not_a_crash(price):
    Contract.objects.filter(pk=price.contract.pk).update(invitation_prefix="io!u")
    price.contract.refresh_from_db()
    with pytest.raises(DomainError, match="Invitation Prefix is not valid"):
        _generate(price)
    assert not CodeBatch.objects.exists()


def test_a_chunk_that_hits_a_deadlock_is_drawn_again(price, monkeypatch):
    import psycopg
    from django.db import OperationalError

    original = services._generate_chunk_once
    calls = {"n": 0}

    def deadlock_once(batch, wanted, randbytes):
        calls["n"] += 1
        if calls["n"] == 1:
            try:
                raise psycopg.errors.DeadlockDetected("deadlock detected")
            except psycopg.errors.DeadlockDetected as cause:
                raise OperationalError("deadlock detected") from cause
        return original(batch, wanted, randbytes)

    monkeypatch.setattr(services, "_generate_chunk_once", deadlock_once)
    done = services.code_batch_generate(batch_id=_new_batch(price, 20).pk)
    assert (calls["n"], done.status, done.codes.count()) == (2, "done", 20)


def test_other_database_errors_are_not_retried(price, monkeypatch):
    from django.db import OperationalError

    def broken(batch, wanted, randbytes):
        raise OperationalError("server closed the connection")

    monkeypatch.setattr(services, "_generate_chunk_once", broken)
    with pytest.raises(OperationalError):
        services.code_batch_generate(batch_id=_new_batch(price, 5).pk)


def test_an_active_code_cannot_be_made_scheduled_by_hand(price):
    """Only a batch's release time schedules codes; by hand nothing would release one."""
    code = _code(price)
    with pytest.raises(ValidationError) as excinfo:
        services.code_update(
            actor=None,
            code=code,
            price=price,
            max_uses=1,
            valid_from=None,
            valid_until=None,
            status="scheduled",
        )
    assert "nothing would release it" in str(excinfo.value.error_dict["status"])
    code.refresh_from_db()
    assert code.status == "active"
