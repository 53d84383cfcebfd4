"""The analytics rollup: counted with the live selectors, read back it gives the same
figures; big contracts' pages read it; the job recounts what changed."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from campaigns import analytics
from campaigns.analytics import Live, Rollups, Scope
from campaigns.models import AnalyticsFigure, AnalyticsRollup, Distribution
from campaigns.services.analytics import (
    analytics_rollup_refresh,
    analytics_rollups_due,
    analytics_rollups_refresh,
)
from invitations.models import Booking
from tests.campaigns.analytics_data import T0, TODAY, make_data
from tests.factories import ContractFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def data():
    return make_data()


def report_figures(report: analytics.Report) -> dict:
    """Everything a report shows, as plain values."""
    return {
        "totals": (
            report.totals.generated,
            report.totals.distributed,
            report.totals.messages_sent,
            report.totals.redeemed,
            report.totals.expired,
            report.totals.revoked,
            dict(report.totals.amount.by_currency),
        ),
        "times": (
            report.redeem_times.count,
            report.redeem_times.median_minutes,
            report.redeem_times.buckets,
        ),
        "per_day": report.per_day,
        # Expired and revoked codes are kept per price only (the page shows no more).
        "breakdowns": {
            by: [
                (r.label, r.codes, r.redeemed, str(r.amount))
                + ((r.expired, r.revoked) if by in ("price", "product") else ())
                for r in rows
            ]
            for by, rows in report.breakdowns.items()
        },
        "delivery": (report.delivery.channel_rows(), report.delivery.reasons),
    }


def live_report(scope: Scope) -> analytics.Report:
    source = Live(scope)
    first = "price" if scope.is_contract else "product"
    breakdowns = {
        by: analytics.analytics_breakdown(scope=scope, by=by, source=source)
        for by in (first, "region", "group")
    }
    return analytics.Report(
        scope=scope,
        totals=analytics.analytics_totals(scope=scope, by_price=breakdowns[first], source=source),
        redeem_times=analytics.analytics_redeem_times(scope=scope, source=source),
        per_day=analytics.analytics_per_day(scope=scope, today=TODAY, source=source),
        breakdowns=breakdowns,
        delivery=analytics.analytics_delivery(scope=scope, source=source),
    )


@pytest.fixture
def from_rollups(settings):
    """Every contract with a rollup is read from it, however small."""
    settings.ANALYTICS_ROLLUP_FROM_CODES = 0


def test_a_contracts_rollup_gives_the_figures_counted_live(data, from_rollups):
    rollup = analytics_rollup_refresh(contract=data.a)
    assert rollup.codes == 10
    scope = Scope(contract=data.a)
    assert isinstance(analytics.analytics_source(scope=scope), Rollups)
    from_rollup = analytics.analytics_report(scope=scope, today=TODAY)
    assert from_rollup.counted_at == rollup.counted_at
    assert report_figures(from_rollup) == report_figures(live_report(scope))
    assert from_rollup.redeem_times.median_minutes == 6 * 60


def test_across_contracts_the_rollups_give_the_figures_counted_live(data, from_rollups):
    analytics_rollup_refresh(contract=data.a)
    scope = Scope()
    assert isinstance(analytics.analytics_source(scope=scope), Live)  # B has no rollup yet
    analytics_rollup_refresh(contract=data.b)
    ContractFactory()  # no codes: nothing to count, no rollup needed
    assert isinstance(analytics.analytics_source(scope=scope), Rollups)
    report = analytics.analytics_report(scope=scope, today=TODAY)
    assert report_figures(report) == report_figures(live_report(scope))
    for sort in ("contract", "-rate", "amount"):
        rows = analytics.analytics_contracts(
            scope=scope, sort=sort, source=analytics.analytics_source(scope=scope)
        )
        live = analytics.analytics_contracts(scope=scope, sort=sort)
        assert [vars(r) for r in rows] == [vars(r) for r in live]


def test_an_even_count_has_the_same_median_from_the_rollup(data, from_rollups):
    Booking.objects.filter(reference="REF0005").update(status="voided")  # the 10-day one
    analytics_rollup_refresh(contract=data.a)
    times = analytics.analytics_report(scope=Scope(contract=data.a)).redeem_times
    assert times.count == 4
    assert times.median_minutes == (60 + 6 * 60) / 2


def test_a_date_range_is_always_counted_live(data, from_rollups):
    analytics_rollup_refresh(contract=data.a)
    scope = Scope(contract=data.a, since=date(2026, 3, 2))
    assert isinstance(analytics.analytics_source(scope=scope), Live)


def test_small_contracts_are_counted_live_despite_a_rollup(data, settings):
    settings.ANALYTICS_ROLLUP_FROM_CODES = 11
    analytics_rollup_refresh(contract=data.a)  # 10 codes
    assert isinstance(analytics.analytics_source(scope=Scope(contract=data.a)), Live)
    settings.ANALYTICS_ROLLUP_FROM_CODES = 10
    assert isinstance(analytics.analytics_source(scope=Scope(contract=data.a)), Rollups)


def test_a_recount_replaces_the_figures(data, from_rollups):
    rollup = analytics_rollup_refresh(contract=data.a)
    figures = AnalyticsFigure.objects.filter(rollup=rollup).count()
    Booking.objects.filter(reference="REF0001").update(status="voided")
    again = analytics_rollup_refresh(contract=data.a)
    assert again.pk == rollup.pk
    assert again.counted_at > rollup.counted_at
    assert AnalyticsFigure.objects.filter(rollup=rollup).count() <= figures
    totals = analytics.analytics_report(scope=Scope(contract=data.a)).totals
    assert totals.redeemed == 5


def test_the_job_counts_contracts_with_codes_and_no_rollup(data):
    empty = ContractFactory()
    assert set(analytics_rollups_due()) == {data.a.pk, data.b.pk}
    assert analytics_rollups_refresh() == 2
    assert not AnalyticsRollup.objects.filter(contract=empty).exists()
    assert analytics_rollups_due() == []


def test_the_job_recounts_a_contract_whose_bookings_changed(data):
    analytics_rollups_refresh()
    Booking.objects.filter(reference="REF0002").update(
        status="voided", updated_at=timezone.now() + timedelta(seconds=1)
    )
    assert analytics_rollups_due() == [data.a.pk]


def test_the_job_recounts_a_contract_while_its_codes_are_sent(data):
    analytics_rollups_refresh()
    Distribution.objects.filter(contract=data.a).update(status=Distribution.Status.SENDING)
    assert analytics_rollups_due() == [data.a.pk]


def test_the_job_recounts_every_contract_after_midnight(data):
    analytics_rollups_refresh()
    yesterday = timezone.now() - timedelta(days=1)
    AnalyticsRollup.objects.filter(contract=data.b).update(counted_at=yesterday)
    assert analytics_rollups_due() == [data.b.pk]


def test_redemption_days_before_the_chart_are_kept_in_the_rollup(data, from_rollups):
    analytics_rollup_refresh(contract=data.a)
    days = AnalyticsFigure.objects.filter(figure="day").values_list("key", "count")
    assert dict(days) == {"2026-03-02": 3, "2026-03-03": 1, "2026-03-04": 1, "2026-03-12": 1}
    assert T0.date().isoformat() == "2026-03-02"
