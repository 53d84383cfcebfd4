"""The Analytics pages and their CSV downloads, as staff in the Viewer role see them."""

import csv
import io

import pytest
from django.urls import reverse

from core import roles
from tests.campaigns.analytics_data import make_data
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def data():
    return make_data()


@pytest.fixture
def viewer(client):
    client.force_login(UserFactory(role=roles.VIEWER))
    return client


def read_csv(response) -> list[list[str]]:
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


def test_the_contract_analytics_page_shows_figures_charts_and_tables(viewer, data):
    url = reverse("campaigns:contract_analytics", args=[data.a.pk])
    response = viewer.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'aria-current="page">Analytics</a>' in page
    for text in (
        "Codes generated",
        "60.0%",  # redeemed / generated
        "85.7%",  # redeemed / distributed
        "390.00 EUR",
        "Median <strong>6 h</strong>",
        "P1 – Spa day (80.00 EUR)",
        "Not assigned to a participant",
        "Mailbox unavailable",
    ):
        assert text in page, text
    # Five charts, each an accessible image with a title, and a table after each.
    assert page.count('role="img"') == 6  # per day, times, price, region, group, delivery
    assert page.count("<svg") == 6
    assert page.count("<title>") >= 6
    export = reverse("campaigns:contract_analytics_export", args=[data.a.pk])
    for table in ("summary", "per_day", "redeem_times", "by_price", "by_region", "by_group"):
        assert f'href="{export}?table={table}"' in page
    assert "table=contracts" not in page


def test_a_contract_without_data_has_an_analytics_page_too(viewer, contract):
    response = viewer.get(reverse("campaigns:contract_analytics", args=[contract.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "No messages yet." in page
    assert "No redemption of a code that had been sent" in page


def test_the_date_range_filters_the_page_and_keeps_it_in_the_csv_links(viewer, data):
    url = reverse("campaigns:contract_analytics", args=[data.a.pk])
    page = viewer.get(url, {"since": "2026-03-01", "until": "2026-03-05"}).content.decode()
    assert "1 Mar 2026 to 5 Mar 2026" in page
    assert "since=2026-03-01&amp;until=2026-03-05&amp;table=per_day" in page


def test_a_range_that_ends_before_it_starts_is_refused_and_ignored(viewer, data):
    url = reverse("campaigns:contract_analytics", args=[data.a.pk])
    response = viewer.get(url, {"since": "2026-03-05", "until": "2026-03-01"})
    assert response.status_code == 200
    assert "The end of the range is before its start." in response.content.decode()
    assert response.context["totals"].generated == 10  # all time


def test_the_contract_csv_exports_have_headers_and_rows(viewer, data):
    url = reverse("campaigns:contract_analytics_export", args=[data.a.pk])
    summary = read_csv(viewer.get(url, {"table": "summary"}))
    assert summary[0] == ["Figure", "Value"]
    assert ["Codes generated", "10"] in summary
    assert ["Amount booked (EUR)", "390.00"] in summary
    per_day = read_csv(
        viewer.get(url, {"table": "per_day", "since": "2026-03-01", "until": "2026-03-03"})
    )
    assert per_day == [
        ["Day", "Redemptions"],
        ["2026-03-01", "0"],
        ["2026-03-02", "3"],
        ["2026-03-03", "1"],
    ]
    delivery = read_csv(viewer.get(url, {"table": "delivery"}))
    assert delivery[0] == ["Channel", "Queued", "Sent", "Failed", "Skipped", "Total"]
    assert delivery[-1] == ["All channels", "1", "8", "2", "1", "12"]
    times = read_csv(viewer.get(url, {"table": "redeem_times"}))
    assert times[1] == ["< 1 h", "1"]


def test_csv_cells_that_look_like_formulas_are_defused(viewer, data):
    data.people["p1"].region = '=HYPERLINK("http://evil")'
    data.people["p1"].save()
    url = reverse("campaigns:contract_analytics_export", args=[data.a.pk])
    rows = read_csv(viewer.get(url, {"table": "by_region"}))
    assert rows[0] == ["Region", "Codes", "Redeemed", "Redemption rate (%)", "Amount booked (EUR)"]
    assert ['\'=HYPERLINK("http://evil")', "1", "1", "100.00", "80.00"] in rows


def test_an_unknown_table_is_not_found(viewer, data):
    url = reverse("campaigns:contract_analytics_export", args=[data.a.pk])
    assert viewer.get(url, {"table": "contracts"}).status_code == 404
    assert viewer.get(url).status_code == 404


def test_the_overview_lists_each_contract_with_its_rates(viewer, data):
    response = viewer.get(reverse("campaigns:analytics_overview"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Alpha" in page and "Beta" in page
    assert "390.00 EUR · 20.00 GBP" in page
    assert [r.contract.code for r in response.context["contract_rows"]] == ["ALPHA", "BETA"]
    assert "By product" in page


def test_the_overview_sorts_by_a_query_parameter(viewer, data):
    url = reverse("campaigns:analytics_overview")
    response = viewer.get(url, {"sort": "rate"})
    assert [r.contract.code for r in response.context["contract_rows"]] == ["BETA", "ALPHA"]
    page = response.content.decode()
    # The sorted column's heading reverses the sort; the page says how it is sorted.
    assert 'aria-sort="ascending"' in page
    assert "?sort=-rate" in page
    response = viewer.get(url, {"sort": "-redeemed"})
    assert [r.contract.code for r in response.context["contract_rows"]] == ["ALPHA", "BETA"]


def test_the_overview_filters_by_organisation_status_and_dates(viewer, data):
    url = reverse("campaigns:analytics_overview")
    response = viewer.get(url, {"organisation": data.b.organisation.pk})
    assert [r.contract.code for r in response.context["contract_rows"]] == ["BETA"]
    assert response.context["totals"].generated == 2
    response = viewer.get(url, {"status": "active"})
    assert [r.contract.code for r in response.context["contract_rows"]] == ["ALPHA"]
    response = viewer.get(url, {"since": "2026-03-03", "until": "2026-03-04"})
    assert response.context["totals"].redeemed == 2


def test_the_overview_contract_csv_follows_the_filters_and_sort(viewer, data):
    url = reverse("campaigns:analytics_overview_export")
    rows = read_csv(viewer.get(url, {"table": "contracts", "sort": "-rate"}))
    assert rows[0][:4] == ["Organisation", "Contract", "Contract code", "Status"]
    assert rows[0][-2:] == ["Amount booked (EUR)", "Amount booked (GBP)"]
    assert [r[2] for r in rows[1:]] == ["ALPHA", "BETA"]
    alpha = rows[1]
    assert alpha[4:12] == ["10", "7", "8", "6", "1", "1", "60.00", "85.71"]
    assert alpha[-2:] == ["390.00", "0.00"]
    rows = read_csv(viewer.get(url, {"table": "contracts", "status": "closed"}))
    assert [r[2] for r in rows[1:]] == ["BETA"]
    products = read_csv(viewer.get(url, {"table": "by_product"}))
    assert products[0][0] == "Product"
    assert viewer.get(url, {"table": "by_price"}).status_code == 404


def test_the_user_menu_links_to_analytics(viewer):
    page = viewer.get(reverse("campaigns:analytics_overview")).content.decode()
    assert f'href="{reverse("campaigns:analytics_overview")}">Analytics</a>' in page


def test_staff_without_the_permission_are_refused(client, data):
    client.force_login(UserFactory(role=None))
    assert client.get(reverse("campaigns:analytics_overview")).status_code == 403
    url = reverse("campaigns:contract_analytics", args=[data.a.pk])
    assert client.get(url).status_code == 403


def test_a_big_contracts_page_shows_when_it_was_counted_and_recounts(
    viewer, data, settings, django_capture_on_commit_callbacks
):
    settings.ANALYTICS_ROLLUP_FROM_CODES = 5
    url = reverse("campaigns:contract_analytics", args=[data.a.pk])
    page = viewer.get(url).content.decode()
    assert "Counted at" not in page  # no rollup yet: counted live
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = viewer.post(reverse("campaigns:contract_analytics_recount", args=[data.a.pk]))
    assert len(callbacks) == 1  # the count is queued after the request's transaction
    assert response.status_code == 302
    assert response["Location"] == url
    response = viewer.get(url)
    page = response.content.decode()
    assert "Recounting" in page
    assert "Counted at" in page
    assert response.context["report"].counted_at is not None
    assert response.context["totals"].redeemed == 6
    assert ">Recount</button>" in page


def test_recount_is_a_post(viewer, data):
    url = reverse("campaigns:contract_analytics_recount", args=[data.a.pk])
    assert viewer.get(url).status_code == 405
