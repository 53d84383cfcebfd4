import pytest
from django.db import connection

from core import pagination
from invitations import services
from invitations.models import InvitationCode
from tests.factories import ContractPriceFactory


@pytest.mark.django_db
def test_small_lists_get_an_exact_count(price):
    services.code_batch_create(
        actor=None, contract=price.contract, price=price, quantity=120, width=8
    )
    paginator = pagination.EstimatedCountPaginator(InvitationCode.objects.all(), 50)
    assert (paginator.count, paginator.num_pages, paginator.is_estimate) == (120, 3, False)


@pytest.mark.postgres
@pytest.mark.django_db
def test_big_lists_on_postgresql_use_the_planner_estimate(monkeypatch):
    price = ContractPriceFactory()
    services.code_batch_create(
        actor=None, contract=price.contract, price=price, quantity=3_000, width=8
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE invitations_invitationcode")
    monkeypatch.setattr(pagination, "ESTIMATE_ABOVE", 1_000)
    queryset = InvitationCode.objects.filter(contract=price.contract)
    assert 2_000 < pagination.planner_estimate(queryset) < 4_000
    paginator = pagination.EstimatedCountPaginator(queryset, 50)
    assert paginator.is_estimate is False
    assert 2_000 < paginator.count < 4_000
    assert paginator.is_estimate is True


@pytest.mark.postgres
@pytest.mark.django_db
def test_an_estimate_that_overshoots_lands_on_a_real_page(monkeypatch):
    price = ContractPriceFactory()
    services.code_batch_create(
        actor=None, contract=price.contract, price=price, quantity=60, width=8
    )
    monkeypatch.setattr(pagination, "planner_estimate", lambda qs: 100_000)
    paginator = pagination.EstimatedCountPaginator(InvitationCode.objects.all(), 50)
    page = paginator.get_page(1_500)
    assert (page.number, len(page.object_list)) == (2, 10)  # the last real page
    assert paginator.count == 60
    assert not page.has_next()


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_short_page_under_an_estimate_offers_no_next_page(monkeypatch):
    price = ContractPriceFactory()
    services.code_batch_create(
        actor=None, contract=price.contract, price=price, quantity=60, width=8
    )
    monkeypatch.setattr(pagination, "planner_estimate", lambda qs: 100_000)
    paginator = pagination.EstimatedCountPaginator(InvitationCode.objects.all(), 50)
    assert paginator.get_page(1).has_next()
    second = paginator.get_page(2)
    assert (len(second.object_list), second.has_next()) == (10, False)
