"""Invitation Codes pages: list, Generate Codes, Download CSV, and the per-code actions."""

from __future__ import annotations

import json

import segno
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from contracts.models import Contract
from core import codes as codelib
from core.access import staff_permission_required
from core.csvio import csv_response
from core.errors import DomainError
from core.forms import add_service_errors
from core.pagination import paginate
from core.timezones import zone_header
from invitations import selectors, services
from invitations.forms import CodeEditForm, GenerateCodesForm
from invitations.models import CodeBatch, InvitationCode

PAGE_SIZE = 50


def _contract(pk: int) -> Contract:
    return get_object_or_404(Contract.objects.select_related("organisation"), pk=pk)


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _list_filters(request: HttpRequest) -> dict:
    status = request.GET.get("status", "")
    return {
        "search": request.GET.get("q", "").strip(),
        "status": status if status in selectors.STATUS_FILTERS else "",
        "price_id": _int_or_none(request.GET.get("price")),
        "batch_id": _int_or_none(request.GET.get("batch")),
    }


@staff_permission_required("contracts.view_contract", "invitations.view_invitationcode")
def code_list(request: HttpRequest, pk: int) -> HttpResponse:
    contract = _contract(pk)
    filters = _list_filters(request)
    queryset = selectors.code_list(contract=contract, **filters)
    context = paginate(request, selectors.code_page_rows(queryset), PAGE_SIZE)
    batch = None
    if filters["batch_id"]:
        batch = CodeBatch.objects.filter(pk=filters["batch_id"], contract=contract).first()
    mistyped = (
        filters["search"]
        and not context["page"].object_list
        and selectors.search_looks_mistyped(
            filters["search"], min_length=len(contract.invitation_prefix) + codelib.MIN_WIDTH
        )
    )
    return render(
        request,
        "invitations/code_list.html",
        {
            "mistyped": mistyped,
            "contract": contract,
            "organisation": contract.organisation,
            **context,
            "filters": filters,
            "status_filters": selectors.STATUS_FILTERS,
            "prices": contract.prices.select_related("product").order_by("price_code"),
            "batch": batch,
            "tab": "codes",
        },
    )


@staff_permission_required("contracts.view_contract", "invitations.add_invitationcode")
def code_generate(request: HttpRequest, pk: int) -> HttpResponse:
    contract = _contract(pk)
    form = GenerateCodesForm(request.POST or None, contract=contract)
    if request.method == "POST" and form.is_valid():
        try:
            batch = services.code_batch_create(
                actor=request.user, contract=contract, **form.cleaned_data
            )
        except (ValidationError, DomainError) as exc:
            add_service_errors(form, exc)
        else:
            if batch.status == CodeBatch.Status.DONE:
                messages.success(request, f"Generated {batch.generated:,} codes.")
            else:
                messages.info(request, f"Generating {batch.quantity:,} codes in the background.")
            url = reverse("invitations:code_list", kwargs={"pk": contract.pk})
            return redirect(f"{url}?batch={batch.pk}")
    existing = {
        width: selectors.existing_code_count(prefix=contract.invitation_prefix, width=width)
        for width in range(codelib.MIN_WIDTH, codelib.MAX_WIDTH + 1)
    }
    odds = None
    if form.is_bound and form.cleaned_data.get("quantity") and form.cleaned_data.get("width"):
        odds = selectors.guess_odds(
            contract=contract,
            width=form.cleaned_data["width"],
            quantity=form.cleaned_data["quantity"],
        )
    width = form["width"].value()
    try:
        width = int(width)
    except (TypeError, ValueError):
        width = contract.default_code_width
    return render(
        request,
        "invitations/code_generate.html",
        {
            "sample": contract.invitation_prefix + "X" * max(width, codelib.MIN_WIDTH),
            "contract": contract,
            "organisation": contract.organisation,
            "form": form,
            "odds": odds,
            "odds_data": json.dumps(
                {
                    "existing": existing,
                    "minOdds": codelib.MIN_GUESS_ODDS,
                    "base": codelib.BASE,
                }
            ),
            "tab": "codes",
        },
    )


@staff_permission_required("contracts.view_contract", "invitations.export_invitationcode")
def code_export(request: HttpRequest, pk: int) -> HttpResponse:
    contract = _contract(pk)
    filters = _list_filters(request)
    # With no status chosen the list hides archived codes; the download has them all.
    filters["status"] = filters["status"] or "all"
    queryset = selectors.code_list(contract=contract, **filters)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return csv_response(
        f"invitation-codes-{contract.code}-{stamp}.csv",
        [*selectors.EXPORT_HEADER[:-1], zone_header(selectors.EXPORT_HEADER[-1])],
        selectors.code_export_rows(queryset),
        trusted_columns=selectors.EXPORT_TRUSTED_COLUMNS,
    )


@staff_permission_required("invitations.view_codebatch")
def batch_progress(request: HttpRequest, pk: int) -> HttpResponse:
    return JsonResponse(selectors.batch_progress(batch_id=get_object_or_404(CodeBatch, pk=pk).pk))


def _code(pk: int) -> InvitationCode:
    return get_object_or_404(
        InvitationCode.objects.select_related(
            "contract__organisation", "price__product", "participant", "batch"
        ),
        pk=pk,
    )


@staff_permission_required("invitations.view_invitationcode")
def code_detail(request: HttpRequest, pk: int) -> HttpResponse:
    code = _code(pk)
    history = code.history.select_related("history_user").order_by("-history_date")[:20]
    link = selectors.booking_link(code=code)
    return render(
        request,
        "invitations/code_detail.html",
        {
            "code": code,
            "booking_link": link,
            "qr_svg": segno.make(link, error="m").svg_inline(scale=4, border=2, omitsize=True),
            "bookings": code.bookings.select_related("participant").order_by("-id")[:20],
            "contract": code.contract,
            "organisation": code.contract.organisation,
            "history": history,
            "tab": "codes",
        },
    )


@staff_permission_required("invitations.change_invitationcode")
def code_edit(request: HttpRequest, pk: int) -> HttpResponse:
    code = _code(pk)
    form = CodeEditForm(request.POST or None, code=code)
    if request.method == "POST" and form.is_valid():
        try:
            services.code_update(actor=request.user, code=code, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Code {code.code} saved.")
            return redirect("invitations:code_detail", pk=code.pk)
    return render(
        request,
        "contracts/form.html",
        {
            "form": form,
            "title": f"Edit code {code.code}",
            "cancel_url": reverse("invitations:code_detail", args=[code.pk]),
            "submit": "Save",
            "contract": code.contract,
            "organisation": code.contract.organisation,
        },
    )


@require_POST
@staff_permission_required("invitations.change_invitationcode")
def code_archive(request: HttpRequest, pk: int) -> HttpResponse:
    code = _code(pk)
    archive = request.POST.get("archive", "1") == "1"
    services.code_archive(actor=request.user, code=code, archived=archive)
    messages.success(
        request,
        f"Code {code.code} archived: it is hidden from the list and kept for the record."
        if archive
        else f"Code {code.code} restored to the list.",
    )
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = reverse("invitations:code_detail", args=[code.pk])
    return redirect(next_url)


@staff_permission_required("invitations.delete_invitationcode")
def code_delete(request: HttpRequest, pk: int) -> HttpResponse:
    code = _code(pk)
    list_url = reverse("invitations:code_list", kwargs={"pk": code.contract_id})
    if request.method == "POST":
        try:
            services.code_delete(actor=request.user, code=code)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect("invitations:code_detail", pk=code.pk)
        messages.success(request, f"Code {code.code} deleted.")
        return redirect(list_url)
    return render(
        request,
        "contracts/confirm_delete.html",
        {
            "object": code,
            "kind": "invitation code",
            "cancel_url": reverse("invitations:code_detail", args=[code.pk]),
            "contract": code.contract,
            "organisation": code.contract.organisation,
            "refusal": selectors.code_deletion_refusal(code=code),
        },
    )
