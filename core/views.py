"""Pages every staff member has, whatever their role: their own preferences."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from core import services
from core.access import staff_permission_required
from core.forms import TimeZoneForm, add_service_errors
from core.timezones import SESSION_KEY, site_zone, user_zone


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return ""


@staff_permission_required()
def time_zone(request: HttpRequest) -> HttpResponse:
    form = TimeZoneForm(request.POST or None, initial={"time_zone": user_zone(request)})
    if request.method == "POST" and form.is_valid():
        try:
            preference = services.set_time_zone(
                actor=request.user, user=request.user, time_zone=form.cleaned_data["time_zone"]
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            request.session[SESSION_KEY] = preference.time_zone
            zone = preference.time_zone or f"{site_zone().key}, the site's time zone"
            messages.success(request, f"Times are now shown in {zone}.")
            return redirect(_next_url(request) or "core:time_zone")
    return render(
        request,
        "core/time_zone.html",
        {
            "form": form,
            "next": _next_url(request),
            "site_zone": site_zone().key,
            "now": timezone.now(),
        },
    )
