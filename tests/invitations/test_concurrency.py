"""Real concurrent transactions on PostgreSQL: no mocks, no shared connection."""

import random
import threading

import pytest
from django.core.exceptions import ValidationError

from core import codes
from invitations.models import CodeBatch, InvitationCode
from invitations.services import generation as services
from tests.factories import ContractPriceFactory
from tests.threads import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _run_together(*functions):
    outcomes = run_together(functions)
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert not errors, errors
    return outcomes


def test_two_batches_drawing_the_same_codes_at_once_both_get_their_exact_quantity():
    price = ContractPriceFactory()
    batches = [
        CodeBatch.objects.create(contract=price.contract, price=price, quantity=300, width=8)
        for _ in range(2)
    ]

    def generate(batch, fresh_seed):
        # Both first draw the very same 300 codes; whoever commits second finds them
        # taken by the unique index and draws again.
        rngs = [random.Random(0), random.Random(fresh_seed)]

        def randbytes(n):
            return (rngs.pop(0) if len(rngs) > 1 else rngs[0]).randbytes(n)

        return lambda: services.code_batch_generate(batch_id=batch.pk, randbytes=randbytes)

    done = _run_together(generate(batches[0], 1), generate(batches[1], 2))
    assert [b.generated for b in done] == [300, 300]
    for batch in batches:
        assert InvitationCode.objects.filter(batch=batch).count() == 300
    assert InvitationCode.objects.values("code").distinct().count() == 600


def test_two_staff_members_generating_for_one_contract_at_the_same_moment():
    price = ContractPriceFactory()

    def generate(quantity):
        return lambda: services.code_batch_create(
            actor=None, contract=price.contract, price=price, quantity=quantity, width=7
        )

    first, second = _run_together(generate(2_000), generate(3_000))
    assert (first.generated, second.generated) == (2_000, 3_000)
    codes = InvitationCode.objects.filter(contract=price.contract)
    assert codes.count() == 5_000
    assert codes.values("code").distinct().count() == 5_000


def test_a_large_batch_is_inserted_over_parallel_connections(monkeypatch, settings):
    monkeypatch.setattr(services, "CHUNK_SIZE", 100)
    settings.GENERATION_CONNECTIONS = 2
    seen_threads = set()
    insert = services._insert_codes

    def recording_insert(batch, candidates):
        seen_threads.add(threading.get_ident())
        return insert(batch, candidates)

    monkeypatch.setattr(services, "_insert_codes", recording_insert)
    price = ContractPriceFactory()
    batch = services.code_batch_create(
        actor=None, contract=price.contract, price=price, quantity=1_050, width=8
    )
    assert (batch.status, batch.generated) == ("done", 1_050)
    assert InvitationCode.objects.filter(batch=batch).values("code").distinct().count() == 1_050
    assert len(seen_threads) == 2
    assert threading.get_ident() not in seen_threads


def test_a_parallel_batch_that_fails_keeps_its_committed_chunks_and_resumes(monkeypatch, settings):
    monkeypatch.setattr(services, "CHUNK_SIZE", 100)
    settings.GENERATION_CONNECTIONS = 2
    insert = services._insert_codes
    calls = {"n": 0}
    lock = threading.Lock()

    def failing_once(batch, candidates):
        with lock:
            calls["n"] += 1
            fail = calls["n"] == 3
        if fail:
            raise OSError("connection lost")
        return insert(batch, candidates)

    monkeypatch.setattr(services, "_insert_codes", failing_once)
    price = ContractPriceFactory()
    batch = CodeBatch.objects.create(contract=price.contract, price=price, quantity=500, width=8)
    with pytest.raises(OSError):
        services.code_batch_generate(batch_id=batch.pk)
    batch.refresh_from_db()
    assert batch.status == "failed"
    assert batch.generated == 400  # four of five chunks committed, the failed one wrote nothing
    assert InvitationCode.objects.filter(batch=batch).count() == 400
    done = services.code_batch_generate(batch_id=batch.pk)
    assert (done.status, done.generated, done.codes.count()) == ("done", 500, 500)


def test_two_contracts_sharing_a_prefix_cannot_both_squeeze_under_the_odds_limit():
    # Width 6 holds 3,355 codes at 1 in 10,000; each batch alone fits, both together do not.
    first, second = ContractPriceFactory(), ContractPriceFactory()

    def generate(price):
        return lambda: services.code_batch_create(
            actor=None, contract=price.contract, price=price, quantity=2_000, width=6
        )

    results = run_together([generate(first), generate(second)])  # a refusal is an outcome
    refused = [r for r in results if isinstance(r, ValidationError)]
    done = [r for r in results if isinstance(r, CodeBatch)]
    assert (len(refused), len(done)) == (1, 1)
    assert "at least 7" in str(refused[0])
    assert InvitationCode.objects.count() == 2_000


def test_parallel_chunks_drawing_the_same_codes_do_not_deadlock(monkeypatch, settings):
    # Both connections draw from one small pool, so each inserts many codes the other
    # has just inserted: without a common insertion order they deadlock.
    pool = [codes.make_code("", f"{i:07d}") for i in range(3_000)]
    local = threading.local()

    def draw_from_pool(prefix, width, count, **kwargs):
        if not hasattr(local, "rnd"):
            local.rnd = random.Random(threading.get_ident())
        return local.rnd.sample(pool, count)

    monkeypatch.setattr(codes, "draw_codes", draw_from_pool)
    monkeypatch.setattr(services, "CHUNK_SIZE", 1_000)
    monkeypatch.setattr(services, "DEADLOCK_RETRIES", 1)  # a deadlock fails the test
    settings.GENERATION_CONNECTIONS = 2
    price = ContractPriceFactory()
    batch = CodeBatch.objects.create(contract=price.contract, price=price, quantity=2_000, width=8)
    done = services.code_batch_generate(batch_id=batch.pk)
    assert (done.status, done.generated) == ("done", 2_000)
    assert InvitationCode.objects.values("code").distinct().count() == 2_000
