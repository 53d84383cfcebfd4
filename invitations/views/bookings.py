"""Staff pages for what participants booked: shared codes, booking links, bookings, the log."""

from __future__ import annotations

from datetime import date

import segno
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone

from contracts.models import Contract
from core.access import staff_permission_required
from core.csvio import csv_response
from core.errors import DomainError
from core.forms import add_service_errors
from core.pagination import paginate
from core.timezones import zone_header
from invitations import selectors, services
from invitations.forms import SharedCodeForm, VoidBookingForm
from invitations.models import Booking, InvitationCode

PAGE_SIZE = 50


def _contract(pk: int) -> Contract:
    return get_object_or_404(Contract.objects.select_related("organisation"), pk=pk)


@staff_permission_required("contracts.view_contract", "invitations.add_invitationcode")
def shared_code_create(request: HttpRequest, pk: int) -> HttpResponse:
    """Add Shared Code: one code chosen by staff for an event or a whole group."""
    contract = _contract(pk)
    form = SharedCodeForm(request.POST or None, contract=contract)
    if request.method == "POST" and form.is_valid():
        try:
            code = services.shared_code_create(
                actor=request.user, contract=contract, **form.cleaned_data
            )
        except (ValidationError, DomainError) as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request, f"Shared code {code.display} added. Its booking link is below."
            )
            return redirect("invitations:code_detail", pk=code.pk)
    return render(
        request,
        "contracts/form.html",
        {
            "form": form,
            "title": "Add Shared Code",
            "intro": "A code you choose, for an event or a whole group: everyone who has it can "
            "book, up to its use limit. Participants type it in any case, with or without spaces.",
            "cancel_url": reverse("invitations:code_list", args=[contract.pk]),
            "submit": "Add Shared Code",
            "contract": contract,
            "organisation": contract.organisation,
            "tab": "codes",
        },
    )


QR_FORMATS = {"svg": "image/svg+xml", "png": "image/png"}


@staff_permission_required("invitations.view_invitationcode")
def code_qr(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    """The QR code of a code's booking link, to download as SVG or PNG."""
    if kind not in QR_FORMATS:
        raise Http404("Choose svg or png.")
    code = get_object_or_404(InvitationCode.objects.select_related("contract"), pk=pk)
    qr = segno.make(selectors.booking_link(code=code), error="m")
    response = HttpResponse(content_type=QR_FORMATS[kind])
    qr.save(response, kind=kind, scale=10, border=4)
    response["Content-Disposition"] = f'attachment; filename="booking-link-{code.display}.{kind}"'
    return response


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@staff_permission_required("contracts.view_contract", "invitations.view_booking")
def booking_list(request: HttpRequest, pk: int) -> HttpResponse:
    contract = _contract(pk)
    filters = {"search": request.GET.get("q", ""), "status": request.GET.get("status", "")}
    queryset = selectors.booking_list(contract=contract, **filters)
    return render(
        request,
        "invitations/booking_list.html",
        {
            "contract": contract,
            "organisation": contract.organisation,
            "filters": filters,
            "statuses": Booking.Status.choices,
            "quota": selectors.contract_quota_lines(contract=contract),
            "tab": "bookings",
            **paginate(request, queryset, PAGE_SIZE),
        },
    )


@staff_permission_required("invitations.void_booking")
def booking_void(request: HttpRequest, pk: int) -> HttpResponse:
    """Void a booking with a reason (Support): the use goes back to a still valid code."""
    booking = get_object_or_404(
        Booking.objects.select_related(
            "contract__organisation", "participant", "code", "price__product"
        ),
        pk=pk,
    )
    list_url = reverse("invitations:booking_list", args=[booking.contract_id])
    if booking.status == Booking.Status.VOIDED:
        messages.info(request, f"Booking {booking.reference} is already voided.")
        return redirect(list_url)
    form = VoidBookingForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            void = services.booking_void(
                actor=request.user, booking=booking, reason=form.cleaned_data["reason"]
            )
        except (ValidationError, DomainError) as exc:
            add_service_errors(form, exc)
        else:
            freed = (
                f"The code {booking.code.display} can be used again."
                if void.use_freed
                else f"The code {booking.code.display} is no longer valid, so its use stays taken."
            )
            messages.success(request, f"Booking {booking.reference} voided. {freed}")
            return redirect(list_url)
    booked = timezone.localtime(booking.created_at)
    return render(
        request,
        "contracts/form.html",
        {
            "form": form,
            "title": f"Void booking {booking.reference}",
            "intro": f"{booking.participant.full_name} <{booking.participant.email}>: "
            f"{booking.price.product.name}, {booking.amount} {booking.currency}, code "
            f"{booking.code.display}, booked {booked:%d %b %Y %H:%M}. The booking is kept, "
            "marked void, with your reason; while the code is still valid its use is given "
            "back, so it can be booked with again. The participant is not emailed.",
            "cancel_url": list_url,
            "submit": "Void booking",
            "danger": True,
            "contract": booking.contract,
            "organisation": booking.contract.organisation,
            "tab": "bookings",
        },
    )


def _log_filters(request: HttpRequest) -> dict:
    return {
        "result": request.GET.get("result", ""),
        "channel": request.GET.get("channel", ""),
        "search": request.GET.get("q", ""),
        "since": _date(request.GET.get("since")),
        "until": _date(request.GET.get("until")),
    }


@staff_permission_required("contracts.view_contract", "invitations.view_redemptionattempt")
def redemption_log(request: HttpRequest, pk: int) -> HttpResponse:
    contract = _contract(pk)
    filters = _log_filters(request)
    queryset = selectors.redemption_log(contract=contract, **filters)
    return render(
        request,
        "invitations/redemption_log.html",
        {
            "contract": contract,
            "organisation": contract.organisation,
            "filters": filters,
            "results": selectors.LOG_RESULTS,
            "channels": Booking.Channel.choices,
            "tab": "log",
            **paginate(request, queryset, PAGE_SIZE),
        },
    )


@staff_permission_required("contracts.view_contract", "invitations.view_redemptionattempt")
def redemption_log_export(request: HttpRequest, pk: int) -> HttpResponse:
    contract = _contract(pk)
    queryset = selectors.redemption_log(contract=contract, **_log_filters(request))
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return csv_response(
        f"redemption-log-{contract.code}-{stamp}.csv",
        [zone_header(selectors.LOG_HEADER[0]), *selectors.LOG_HEADER[1:]],
        selectors.redemption_log_rows(queryset),
    )
