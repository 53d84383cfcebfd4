"""Analytics pages: one contract's (its Analytics tab) and all contracts' (the user menu).

The figures come from campaigns.analytics, the charts from campaigns.charts; each table
on a page downloads as CSV through the matching export view with the same filters.
"""

from __future__ import annotations

from datetime import date

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from campaigns import analytics, analytics_csv, charts, tasks
from contracts.models import Contract, Organisation
from core.access import staff_permission_required
from core.csvio import csv_response
from core.forms import DateInput

PERMISSIONS = ("contracts.view_contract", "campaigns.view_analytics")
# Breakdown rows shown on the page and in its chart; the CSV has all of them.
BREAKDOWN_ROWS = 15


class RangeForm(forms.Form):
    since = forms.DateField(label="From", required=False, widget=DateInput())
    until = forms.DateField(label="To", required=False, widget=DateInput())

    def clean(self) -> dict:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and until < since:
            raise forms.ValidationError("The end of the range is before its start.")
        return data


class OverviewForm(RangeForm):
    organisation = forms.ModelChoiceField(
        queryset=Organisation.objects.order_by("name"),
        required=False,
        empty_label="All organisations",
    )
    status = forms.ChoiceField(
        label="Contract status",
        required=False,
        choices=[("", "Any status"), *Contract.Status.choices],
    )
    field_order = ["organisation", "status", "since", "until"]


def _scope(form: forms.Form, **kwargs: object) -> analytics.Scope:
    """The scope the filters name; filters that do not validate are left out."""
    data = form.cleaned_data if form.is_valid() else {}
    return analytics.Scope(
        since=data.get("since"),
        until=data.get("until"),
        organisation=data.get("organisation"),
        contract_status=data.get("status") or "",
        **kwargs,
    )


def _contract(pk: int) -> Contract:
    return get_object_or_404(Contract.objects.select_related("organisation"), pk=pk)


@staff_permission_required(*PERMISSIONS)
def contract_analytics(request: HttpRequest, pk: int) -> HttpResponse:
    contract = _contract(pk)
    form = RangeForm(request.GET)
    report = analytics.analytics_report(scope=_scope(form, contract=contract))
    return render(
        request,
        "campaigns/analytics_contract.html",
        {
            "contract": contract,
            "organisation": contract.organisation,
            "tab": "analytics",
            "form": form,
            "export_url": reverse("campaigns:contract_analytics_export", args=[contract.pk]),
            "recount_url": reverse("campaigns:contract_analytics_recount", args=[contract.pk]),
            **_page(report),
        },
    )


@require_POST
@staff_permission_required(*PERMISSIONS)
def contract_analytics_recount(request: HttpRequest, pk: int) -> HttpResponse:
    """Recount: count a big contract's analytics again now (in the background)."""
    contract = _contract(pk)
    transaction.on_commit(lambda: tasks.count_contract_analytics.delay(contract.pk))
    messages.success(
        request, "Recounting: the figures below are replaced as soon as the count is done."
    )
    return redirect("campaigns:contract_analytics", pk=contract.pk)


@staff_permission_required(*PERMISSIONS)
def overview(request: HttpRequest) -> HttpResponse:
    form = OverviewForm(request.GET)
    scope = _scope(form)
    source = analytics.analytics_source(scope=scope)
    sort = analytics.contract_sort(request.GET.get("sort"))
    return render(
        request,
        "campaigns/analytics_overview.html",
        {
            "form": form,
            "sort": sort,
            "contract_rows": analytics.analytics_contracts(scope=scope, sort=sort, source=source),
            "sort_headers": _sort_headers(sort),
            "show_contracts": True,
            "export_url": reverse("campaigns:analytics_overview_export"),
            **_page(analytics.analytics_report(scope=scope, source=source)),
        },
    )


@staff_permission_required(*PERMISSIONS)
def contract_analytics_export(request: HttpRequest, pk: int) -> HttpResponse:
    contract = _contract(pk)
    scope = _scope(RangeForm(request.GET), contract=contract)
    return _export(request, scope, contract.code)


@staff_permission_required(*PERMISSIONS)
def overview_export(request: HttpRequest) -> HttpResponse:
    return _export(request, _scope(OverviewForm(request.GET)), "all-contracts")


def _export(request: HttpRequest, scope: analytics.Scope, label: str) -> HttpResponse:
    """Download CSV of one table of the page (?table=<name>), with the page's filters."""
    name = request.GET.get("table", "")
    sort = analytics.contract_sort(request.GET.get("sort"))
    try:
        table = analytics_csv.analytics_table(scope=scope, name=name, sort=sort)
    except KeyError:
        raise Http404("No such table.") from None
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return csv_response(f"analytics-{label}-{name}-{stamp}.csv", table.header, table.rows)


# --- what the templates show -------------------------------------------------------------


# The contract table's columns: (sort key, heading, numeric).
CONTRACT_COLUMNS = [
    # The first column holds the contract, its organisation and status, sortable by each.
    ("contract", "Contract", False),
    ("organisation", "Organisation", False),
    ("status", "Status", False),
    ("generated", "Generated", True),
    ("distributed", "Distributed", True),
    ("redeemed", "Redeemed", True),
    ("expired", "Expired", True),
    ("revoked", "Revoked", True),
    ("rate", "Rate", True),
    ("rate_distributed", "Rate of distributed", True),
    ("amount", "Amount booked", True),
]


def _sort_headers(sort: str) -> list[dict]:
    """Each column heading's link: the reverse of the current sort on the sorted column,
    else largest first (names A to Z); and its aria-sort state."""
    headers = []
    for key, label, numeric in CONTRACT_COLUMNS:
        if sort.lstrip("-") == key:
            link = key if sort.startswith("-") else f"-{key}"
            aria = "descending" if sort.startswith("-") else "ascending"
        else:
            link, aria = (f"-{key}" if numeric else key), None
        headers.append({"key": key, "label": label, "numeric": numeric, "link": link, "aria": aria})
    return headers


def _page(report: analytics.Report) -> dict:
    """The report and its charts, ready for the template."""
    scope = report.scope
    first = "price" if scope.is_contract else "product"
    breakdowns = [
        (by, title, report.breakdowns[by])
        for by, title in ((first, first.title()), ("region", "Region"), ("group", "Group"))
    ]
    since, until = scope.day_range()
    return {
        "report": report,
        "totals": report.totals,
        "times": report.redeem_times,
        "delivery": report.delivery,
        "day_range": (since, until),
        "ranged": bool(scope.since or scope.until),
        "breakdowns": [
            {
                "name": f"by_{by}",
                "title": title,
                "rows": rows[:BREAKDOWN_ROWS],
                "more": max(len(rows) - BREAKDOWN_ROWS, 0),
                "chart": _breakdown_chart(by, title, rows[:BREAKDOWN_ROWS]),
            }
            for by, title, rows in breakdowns
        ],
        # Formatted here: the template's date filter costs a millisecond a row.
        "per_day_rows": [(f"{day:%a %-d %b %Y}", f"{n:,}") for day, n in report.per_day],
        "per_day_chart": _per_day_chart(report.per_day),
        "times_chart": _times_chart(report.redeem_times),
        "delivery_chart": _delivery_chart(report.delivery),
    }


def _per_day_chart(per_day: list[tuple[date, int]]) -> SafeString:
    total = sum(n for _, n in per_day)
    busiest = max(per_day, key=lambda d: d[1], default=None)
    summary = f"{total:,} redemptions over {len(per_day)} days"
    if busiest and busiest[1]:
        summary += f"; the most, {busiest[1]:,}, on {busiest[0]:%-d %b %Y}"
    return charts.bar_chart(
        [(f"{day:%-d %b}", n) for day, n in per_day],
        chart_id="chart-per-day",
        title="Redemptions per day",
        x_label="Day",
        y_label="Redemptions",
        summary=summary,
        label_every=max(1, round(len(per_day) / 9)),
        describe=lambda label, value: f"{label}: {charts.fmt_number(value)} redemptions",
    )


def _times_chart(times: analytics.RedeemTimes) -> SafeString:
    parts = ", ".join(f"{label}: {n:,}" for label, n in times.buckets)
    return charts.histogram(
        times.buckets,
        chart_id="chart-redeem-times",
        title="Time from sending to redeeming",
        x_label="Time from the code's first sent message to the booking",
        y_label="Redemptions",
        summary=f"{times.count:,} redemptions after a sent message. {parts}",
    )


def _breakdown_chart(by: str, title: str, rows: list[analytics.BreakdownRow]) -> SafeString:
    # Most redemptions first; codes held by no one are never redeemed as such (a booking
    # always has a participant), so their row stays in the table only.
    rows = sorted((r for r in rows if r.key is not None), key=lambda r: (-r.redeemed, r.label))
    parts = "; ".join(f"{r.label}: {r.redeemed:,}" for r in rows)
    return charts.hbar_chart(
        [(r.label, r.redeemed) for r in rows],
        chart_id=f"chart-by-{by}",
        title=f"Redemptions by {title.lower()}",
        x_label="Redemptions",
        summary=parts,
    )


def _delivery_chart(delivery: analytics.Delivery) -> SafeString:
    rows = [(label, counts) for _, label, counts, _ in delivery.channel_rows()]
    names = [label for _, label in delivery.statuses]
    parts = "; ".join(
        f"{label}: " + ", ".join(f"{n:,} {s.lower()}" for s, n in zip(names, counts, strict=True))
        for label, counts in rows
    )
    return charts.stacked_bar_chart(
        rows,
        series=names,
        chart_id="chart-delivery",
        title="Delivery outcomes by channel",
        x_label="Messages",
        summary=parts,
    )
