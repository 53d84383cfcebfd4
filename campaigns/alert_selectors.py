"""Reads of anomaly alerts: the Alerts page's list, the open count in the menu, and where in
the redemption log each alert's attempts are."""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import urlencode

from django.core.cache import cache
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.urls import reverse

from campaigns.models import Alert
from contracts.models import Contract
from core.timezones import start_of_site_day
from invitations.models import RedemptionAttempt

# The menu's badge is read from the shared cache, so a staff page costs no query for it; the
# detection and a dismissal forget it, and it is counted again at most once a minute.
OPEN_COUNT_CACHE_KEY = "campaigns:open-alert-count"
OPEN_COUNT_SECONDS = 60

_SUCCESS = (RedemptionAttempt.Result.BOOKED, RedemptionAttempt.Result.REPLAYED)
_REFUSALS = [value for value in RedemptionAttempt.Result.values if value not in _SUCCESS]


def alert_list(
    *, contract_id: int | None = None, kind: str = "", status: str = ""
) -> QuerySet[Alert]:
    """Alerts for the Alerts page: open ones first, then the most recently seen."""
    alerts = Alert.objects.select_related("contract")
    if contract_id:
        alerts = alerts.filter(contract_id=contract_id)
    if kind in Alert.Kind.values:
        alerts = alerts.filter(kind=kind)
    if status in Alert.Status.values:
        alerts = alerts.filter(status=status)
    return alerts.order_by(
        Case(When(status=Alert.Status.OPEN, then=Value(0)), default=1, output_field=IntegerField()),
        "-last_seen",
        "-pk",
    )


def alert_contracts() -> QuerySet[Contract]:
    """The contracts that have alerts, for the page's filter."""
    return Contract.objects.filter(pk__in=Alert.objects.values("contract")).only("pk", "name")


def alert_open_count() -> int:
    """How many alerts are open, counted at most once a minute (see OPEN_COUNT_CACHE_KEY)."""
    count = cache.get(OPEN_COUNT_CACHE_KEY)
    if count is None:
        count = Alert.objects.filter(status=Alert.Status.OPEN).count()
        cache.set(OPEN_COUNT_CACHE_KEY, count, OPEN_COUNT_SECONDS)
    return count


def alert_log_url(alert: Alert) -> str:
    """The redemption log filtered to the attempts the alert counted.

    The contract's log when every one of them is the contract's; otherwise (attempts with
    unknown codes belong to no contract, and an address may book on several) the admin's
    full log, filtered the same way.
    """
    details = alert.details or {}
    since = details.get("since") or alert.day.isoformat()
    until = alert.day.isoformat()
    refused = alert.kind == Alert.Kind.FAILED_BURST
    search = details.get("address") or details.get("email") or ""
    if alert.contract_id and details.get("whole_contract"):
        params = {"result": "refused" if refused else "booked", "since": since, "until": until}
        if search:
            params["q"] = search
        log = reverse("invitations:redemption_log", args=[alert.contract_id])
        return f"{log}?{urlencode(params)}"
    # The alert's days are the site's: the admin gets the exact instants they begin and end.
    params = {
        "created_at__gte": start_of_site_day(date.fromisoformat(since)).isoformat(),
        "created_at__lt": start_of_site_day(alert.day + timedelta(days=1)).isoformat(),
    }
    if "address" in details:
        params["address"] = details["address"]
    elif "email" in details:
        params["email__iexact"] = details["email"]
    if refused:
        params["result__in"] = ",".join(_REFUSALS)
    else:
        params["result__exact"] = RedemptionAttempt.Result.BOOKED
    return f"{reverse('admin:invitations_redemptionattempt_changelist')}?{urlencode(params)}"
