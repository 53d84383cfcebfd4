"""The Alerts page: anomalies found in the redemption log, to look at and dismiss."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from campaigns import alert_selectors, services
from campaigns.models import Alert
from core.access import staff_permission_required
from core.pagination import paginate

PAGE_SIZE = 25


def _filters(request: HttpRequest) -> dict:
    contract = request.GET.get("contract", "")
    kind = request.GET.get("kind", "")
    status = request.GET.get("status", "")
    return {
        "contract_id": int(contract) if contract.isdigit() else None,
        "kind": kind if kind in Alert.Kind.values else "",
        "status": status if status in Alert.Status.values else "",
    }


@staff_permission_required("campaigns.view_alert")
def alert_list(request: HttpRequest) -> HttpResponse:
    filters = _filters(request)
    context = paginate(request, alert_selectors.alert_list(**filters), PAGE_SIZE)
    for alert in context["page"].object_list:
        alert.log_url = alert_selectors.alert_log_url(alert)
    return render(
        request,
        "campaigns/alert_list.html",
        {
            **context,
            "filters": filters,
            "contracts": alert_selectors.alert_contracts(),
            "kinds": Alert.Kind.choices,
            "statuses": Alert.Status.choices,
        },
    )


@require_POST
@staff_permission_required("campaigns.view_alert", "campaigns.change_alert")
def alert_dismiss(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(Alert, pk=pk)
    services.alert_dismiss(actor=request.user, alert=alert)
    messages.success(request, "Alert dismissed. It opens again if it grows.")
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = reverse("campaigns:alert_list")
    return redirect(next_url)
