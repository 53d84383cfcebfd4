"""The analytics selectors on a small data set with answers worked out by hand
(tests/campaigns/analytics_data.py). They run on SQLite and on PostgreSQL alike: the
figures, the median and the buckets must be the same on both."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns import analytics, analytics_csv
from campaigns.analytics import Scope
from invitations.models import Booking
from tests.campaigns.analytics_data import T0, TODAY, make_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def data():
    return make_data()


def rows_of(breakdown):
    return [(r.label, r.codes, r.redeemed, r.rate, str(r.amount)) for r in breakdown]


def test_it_counts_a_contracts_codes_messages_and_redemptions(data):
    totals = analytics.analytics_totals(scope=Scope(contract=data.a))
    assert totals.generated == 10
    assert totals.distributed == 7  # c1–c6 and c10 had a message sent
    assert totals.messages_sent == 8
    assert totals.redeemed == 6  # the voided booking is not a redemption
    assert totals.expired == 1  # c8: c7 is past its date too, but was used
    assert totals.revoked == 1
    assert totals.amount.by_currency == {"EUR": Decimal("390.00")}
    assert totals.rate_generated == pytest.approx(0.6)
    assert totals.rate_distributed == pytest.approx(6 / 7)


def test_rates_are_none_when_nothing_was_generated_or_sent(contract):
    totals = analytics.analytics_totals(scope=Scope(contract=contract))
    assert (totals.generated, totals.redeemed) == (0, 0)
    assert totals.rate_generated is None
    assert totals.rate_distributed is None


def test_the_median_and_histogram_of_time_from_sending_to_redeeming(data):
    times = analytics.analytics_redeem_times(scope=Scope(contract=data.a))
    # b1 30 min, b2 1 h, b3 6 h after the code's first send (the sms), b4 2 d, b5 10 d;
    # b6 was booked before its code was sent, b7 is voided.
    assert times.count == 5
    assert times.median_minutes == 6 * 60
    assert times.median == timedelta(hours=6)
    assert times.buckets == [
        ("< 1 h", 1),
        ("1–6 h", 1),  # exactly one hour goes to the next bucket
        ("6–24 h", 1),
        ("1–3 d", 1),
        ("3–7 d", 0),
        ("> 7 d", 1),
    ]


def test_an_even_count_has_the_mean_of_the_two_middle_times_as_its_median(data):
    scope = Scope(contract=data.a, until=(T0 + timedelta(days=5)).date())
    times = analytics.analytics_redeem_times(scope=scope)
    assert times.count == 4
    assert times.median_minutes == (60 + 6 * 60) / 2


def test_no_sent_code_redeemed_means_no_median(contract):
    times = analytics.analytics_redeem_times(scope=Scope(contract=contract))
    assert times.count == 0
    assert times.median is None
    assert [n for _, n in times.buckets] == [0] * 6


def test_redemptions_per_day_include_the_days_without_any(data):
    scope = Scope(contract=data.a, since=date(2026, 3, 1), until=date(2026, 3, 5))
    assert analytics.analytics_per_day(scope=scope) == [
        (date(2026, 3, 1), 0),
        (date(2026, 3, 2), 3),
        (date(2026, 3, 3), 1),
        (date(2026, 3, 4), 1),
        (date(2026, 3, 5), 0),
    ]


def test_redemptions_per_day_default_to_the_last_ninety_days(data):
    per_day = analytics.analytics_per_day(scope=Scope(contract=data.a), today=TODAY)
    assert len(per_day) == 90
    assert per_day[0][0] == TODAY - timedelta(days=89)
    assert per_day[-1] == (TODAY, 0)
    assert sum(n for _, n in per_day) == 6
    assert dict(per_day)[date(2026, 3, 12)] == 1


def test_days_are_the_sites_whatever_zone_the_reader_has_chosen(data, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    late = T0.replace(hour=23, minute=30)  # 00:30 the next day in Berlin
    Booking.objects.filter(reference="REF0001").update(created_at=late)
    scope = Scope(contract=data.a, since=date(2026, 3, 2), until=date(2026, 3, 3))
    per_day = analytics.analytics_per_day(scope=scope)
    assert per_day == [(date(2026, 3, 2), 2), (date(2026, 3, 3), 2)]
    with timezone.override("America/New_York"):  # a reader's own zone changes nothing
        assert analytics.analytics_per_day(scope=scope) == per_day


def test_the_breakdown_by_price(data):
    rows = analytics.analytics_breakdown(scope=Scope(contract=data.a), by="price")
    assert rows_of(rows) == [
        ("P1 – Spa day (80.00 EUR)", 6, 3, 0.5, "240.00 EUR"),
        ("P2 – Dinner (50.00 EUR)", 4, 3, 0.75, "150.00 EUR"),
    ]
    assert [(r.expired, r.revoked) for r in rows] == [(1, 0), (0, 1)]


def test_the_breakdown_by_region_counts_codes_by_holder_and_bookings_by_booker(data):
    rows = analytics.analytics_breakdown(scope=Scope(contract=data.a), by="region")
    assert rows_of(rows) == [
        ("South", 3, 3, 1.0, "180.00 EUR"),
        ("Not assigned to a participant", 3, 0, 0.0, "0.00"),
        ("North", 2, 2, 1.0, "160.00 EUR"),
        ("No region", 2, 1, 0.5, "50.00 EUR"),
    ]


def test_the_breakdown_by_group(data):
    rows = analytics.analytics_breakdown(scope=Scope(contract=data.a), by="group")
    assert rows_of(rows) == [
        ("Guests", 3, 3, 1.0, "180.00 EUR"),
        ("Not assigned to a participant", 3, 0, 0.0, "0.00"),
        ("Staff", 2, 2, 1.0, "160.00 EUR"),
        ("No group", 2, 1, 0.5, "50.00 EUR"),
    ]


def test_delivery_outcomes_by_channel_and_status_and_the_top_reasons(data):
    delivery = analytics.analytics_delivery(scope=Scope(contract=data.a))
    assert delivery.channel_rows() == [
        ("email", "Email", [0, 6, 2, 0], 8),
        ("sms", "SMS", [1, 2, 0, 1], 4),
    ]
    assert delivery.status_totals() == [1, 8, 2, 1]
    assert delivery.total == 12
    assert delivery.reasons == [
        ("Failed", "Mailbox unavailable", 2),
        ("Skipped", "No phone number", 1),
    ]


def test_across_contracts_amounts_stay_in_their_currency(data):
    scope = Scope()
    totals = analytics.analytics_totals(scope=scope)
    assert (totals.generated, totals.redeemed, totals.distributed) == (12, 7, 7)
    assert totals.amount.by_currency == {"EUR": Decimal("390.00"), "GBP": Decimal("20.00")}
    assert str(totals.amount) == "390.00 EUR · 20.00 GBP"
    products = analytics.analytics_breakdown(scope=scope, by="product")
    assert [(r.label, r.codes, r.redeemed) for r in products] == [
        ("Spa day", 6, 3),
        ("Dinner", 4, 3),
        ("Cinema", 2, 1),
    ]


def test_across_contracts_filtered_by_organisation_or_status(data):
    north = analytics.analytics_totals(scope=Scope(organisation=data.a.organisation))
    assert (north.generated, north.redeemed) == (10, 6)
    closed = analytics.analytics_totals(scope=Scope(contract_status="closed"))
    assert (closed.generated, closed.redeemed, closed.distributed) == (2, 1, 0)
    assert closed.amount.by_currency == {"GBP": Decimal("20.00")}


def test_a_date_range_counts_codes_messages_and_bookings_of_those_days(data):
    # Codes were made on 1 March, messages queued on 2 March at 08:00.
    second = Scope(since=date(2026, 3, 2), until=date(2026, 3, 2))
    totals = analytics.analytics_totals(scope=second)
    assert (totals.generated, totals.messages_sent, totals.distributed) == (0, 8, 7)
    assert totals.redeemed == 4  # b1, b2, b3 and contract B's booking
    assert analytics.analytics_delivery(scope=second).total == 12
    later = Scope(since=date(2026, 3, 3), until=date(2026, 3, 4))
    totals = analytics.analytics_totals(scope=later)
    assert (totals.generated, totals.messages_sent, totals.redeemed) == (0, 0, 2)  # b6, b4
    assert analytics.analytics_delivery(scope=later).total == 0


def test_the_contract_table_sorts_by_a_column_either_way(data):
    by_name = analytics.analytics_contracts(scope=Scope())
    assert [r.contract.code for r in by_name] == ["ALPHA", "BETA"]
    alpha, beta = by_name
    assert (alpha.generated, alpha.distributed, alpha.messages_sent, alpha.redeemed) == (
        10,
        7,
        8,
        6,
    )
    assert (alpha.expired, alpha.revoked, str(alpha.amount)) == (1, 1, "390.00 EUR")
    assert (beta.generated, beta.redeemed, beta.rate_generated) == (2, 1, 0.5)
    assert beta.rate_distributed is None
    by_rate = analytics.analytics_contracts(scope=Scope(), sort="rate")
    assert [r.contract.code for r in by_rate] == ["BETA", "ALPHA"]
    by_rate_desc = analytics.analytics_contracts(scope=Scope(), sort="-rate")
    assert [r.contract.code for r in by_rate_desc] == ["ALPHA", "BETA"]
    # A contract without a rate of distributed codes comes last both ways.
    for sort in ("rate_distributed", "-rate_distributed"):
        rows = analytics.analytics_contracts(scope=Scope(), sort=sort)
        assert rows[-1].contract.code == "BETA"


def test_an_unknown_sort_falls_back_to_the_contract_name():
    assert analytics.contract_sort("password") == "contract"
    assert analytics.contract_sort("-redeemed") == "-redeemed"


def test_the_report_gathers_everything_for_one_contract(data):
    report = analytics.analytics_report(scope=Scope(contract=data.a), today=TODAY)
    assert set(report.breakdowns) == {"price", "region", "group"}
    assert report.totals.redeemed == sum(n for _, n in report.per_day)
    assert report.redeem_times.count == 5


def test_each_table_has_a_header_and_rows_for_csv(data):
    scope = Scope(contract=data.a)
    summary = analytics_csv.analytics_table(scope=scope, name="summary")
    assert summary.header == ["Figure", "Value"]
    figures = dict(summary.rows)
    assert figures["Codes generated"] == 10
    assert figures["Redemption rate of codes generated (%)"] == Decimal("60.00")
    assert figures["Amount booked (EUR)"] == Decimal("390.00")
    assert figures["Median time from sending to redeeming (hours)"] == Decimal("6.00")
    by_price = analytics_csv.analytics_table(scope=scope, name="by_price")
    assert by_price.header == [
        "Price",
        "Codes",
        "Redeemed",
        "Redemption rate (%)",
        "Amount booked (EUR)",
    ]
    assert by_price.rows[0] == ["P1 – Spa day (80.00 EUR)", 6, 3, Decimal("50.00"), Decimal("240")]
    with pytest.raises(KeyError):
        analytics_csv.analytics_table(scope=scope, name="contracts")  # only across contracts
