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


@pytest.mark.postgres
@pytest.mark.django_db
def test_an_estimate_that_undershoots_still_reaches_every_row(monkeypatch):
    price = ContractPriceFactory()
    services.code_batch_create(
        actor=None, contract=price.contract, price=price, quantity=180, width=8
    )
    monkeypatch.setattr(pagination, "planner_estimate", lambda qs: 50_000)
    monkeypatch.setattr(pagination, "ESTIMATE_ABOVE", 10)
    queryset = InvitationCode.objects.order_by("id")
    paginator = pagination.EstimatedCountPaginator(queryset, 50)
    paginator.__dict__["count"] = 100  # the planner thought 100: two pages
    paginator.is_estimate = True
    second = paginator.get_page(2)
    assert second.has_next()  # full, and one more row exists
    third = paginator.get_page(3)
    assert (third.number, len(third.object_list), third.has_next()) == (3, 50, True)
    fourth = paginator.get_page(4)
    assert (len(fourth.object_list), fourth.has_next()) == (30, False)
    seen = [c.pk for n in (1, 2, 3, 4) for c in paginator.get_page(n).object_list]
    assert seen == list(queryset.values_list("pk", flat=True))
