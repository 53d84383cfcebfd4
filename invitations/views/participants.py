"""Manage Participants: the list, one participant's pages, Generate Code, and the CSV round-trip."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_POST

from contracts import selectors as contract_selectors
from contracts import services as contract_services
from contracts.models import Contract, Participant
from core.access import staff_permission_required
from core.csvio import csv_response, iter_csv
from core.errors import DomainError
from core.forms import add_service_errors
from core.pagination import paginate
from invitations import selectors, services
from invitations.forms import GenerateParticipantCodeForm, ParticipantForm, ParticipantUploadForm
from invitations.models import ParticipantImport
from invitations.resources import COLUMNS, HEADERS

PAGE_SIZE = 50


def _contract(pk: int) -> Contract:
    return get_object_or_404(Contract.objects.select_related("organisation"), pk=pk)


def _participant(pk: int) -> Participant:
    return get_object_or_404(Participant.objects.select_related("contract__organisation"), pk=pk)


def _page(contract: Contract, **context) -> dict:
    return {"contract": contract, "organisation": contract.organisation, "tab": "participants"} | (
        context
    )


@staff_permission_required("contracts.view_contract", "contracts.view_participant")
def participant_list(request: HttpRequest, pk: int) -> HttpResponse:
    contract = _contract(pk)
    search = request.GET.get("q", "").strip()
    context = paginate(
        request, selectors.participant_search(contract=contract, search=search), PAGE_SIZE
    )
    return render(
        request,
        "invitations/participant_list.html",
        _page(
            contract,
            **context,
            search=search,
            latest_import=selectors.latest_import(contract=contract),
        ),
    )


def _participant_form_page(request, contract, form, title, submit, cancel_url, **extra):
    return render(
        request,
        "contracts/form.html",
        _page(contract, form=form, title=title, submit=submit, cancel_url=cancel_url, **extra),
    )


@staff_permission_required("contracts.add_participant")
def participant_create(request: HttpRequest, pk: int) -> HttpResponse:
    contract = _contract(pk)
    form = ParticipantForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            participant = contract_services.participant_create(
                actor=request.user, contract=contract, **form.cleaned_data
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"{participant.full_name} added to {contract.name}.")
            return redirect("invitations:participant_detail", pk=participant.pk)
    return _participant_form_page(
        request,
        contract,
        form,
        "Add Participant",
        "Add Participant",
        reverse("invitations:participant_list", args=[contract.pk]),
    )


@staff_permission_required("contracts.view_participant")
def participant_detail(request: HttpRequest, pk: int) -> HttpResponse:
    participant = _participant(pk)
    return render(
        request,
        "invitations/participant_detail.html",
        _page(
            participant.contract,
            participant=participant,
            codes=selectors.participant_codes(participant=participant),
        ),
    )


@staff_permission_required("contracts.change_participant")
def participant_edit(request: HttpRequest, pk: int) -> HttpResponse:
    participant = _participant(pk)
    initial = {f: getattr(participant, f) for f in contract_services.PARTICIPANT_FIELDS}
    form = ParticipantForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            contract_services.participant_update(
                actor=request.user, participant=participant, **form.cleaned_data
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"{participant.full_name} saved.")
            return redirect("invitations:participant_detail", pk=participant.pk)
    return _participant_form_page(
        request,
        participant.contract,
        form,
        f"Edit {participant.full_name}",
        "Save",
        reverse("invitations:participant_detail", args=[participant.pk]),
    )


@staff_permission_required("contracts.delete_participant")
def participant_delete(request: HttpRequest, pk: int) -> HttpResponse:
    participant = _participant(pk)
    contract = participant.contract
    if request.method == "POST":
        try:
            contract_services.participant_delete(actor=request.user, participant=participant)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect("invitations:participant_detail", pk=participant.pk)
        messages.success(request, f"{participant.full_name} deleted.")
        return redirect("invitations:participant_list", pk=contract.pk)
    return render(
        request,
        "contracts/confirm_delete.html",
        _page(
            contract,
            object=participant,
            kind="participant",
            refusal=contract_selectors.participant_deletion_refusal(participant=participant),
            cancel_url=reverse("invitations:participant_detail", args=[participant.pk]),
        ),
    )


@staff_permission_required("contracts.view_participant", "invitations.add_invitationcode")
def participant_code_generate(request: HttpRequest, pk: int) -> HttpResponse:
    """Generate Code: select a code width and a product price → Generate."""
    participant = _participant(pk)
    contract = participant.contract
    form = GenerateParticipantCodeForm(request.POST or None, contract=contract)
    held = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            code = services.participant_code_generate(
                actor=request.user,
                participant=participant,
                price=data["price"],
                width=data["width"],
                replacing=data["replace"],
            )
        except services.CodeAlreadyHeld as exc:
            held = exc.codes
        except (ValidationError, DomainError) as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request,
                f"Code {code.code} ({code.price.price_code}) issued to {participant.full_name}.",
            )
            return redirect("invitations:participant_detail", pk=participant.pk)
    elif request.method == "GET":
        held = list(selectors.participant_unused_codes(participant=participant))
    return render(
        request,
        "invitations/participant_generate.html",
        _page(
            contract,
            participant=participant,
            form=form,
            held=held,
            replacing=",".join(str(code.pk) for code in held or []),
        ),
    )


@staff_permission_required("contracts.view_participant", "invitations.export_invitationcode")
def participant_export(request: HttpRequest, pk: int) -> HttpResponse:
    """Download CSV: the participants with their Price Code and current Invitation Code."""
    contract = _contract(pk)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return csv_response(
        f"participants-{contract.code}-{stamp}.csv",
        HEADERS,
        selectors.participant_export_rows(contract=contract),
        trusted_columns=selectors.PARTICIPANT_EXPORT_TRUSTED,
    )


@staff_permission_required("contracts.view_participant")
def participant_csv_template(request: HttpRequest, pk: int) -> HttpResponse:
    """An empty CSV with the expected headers."""
    contract = _contract(pk)
    importable = [c.header for c in COLUMNS if c.importable]
    response = HttpResponse("".join(iter_csv(importable, [])), content_type="text/csv")
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"participants-{contract.code}-template.csv"
    )
    return response


# An import adds participants and issues codes: the upload asks for all three permissions.
IMPORT_PERMISSIONS = (
    "invitations.add_participantimport",
    "contracts.add_participant",
    "invitations.add_invitationcode",
)


@staff_permission_required(*IMPORT_PERMISSIONS)
def participant_upload(request: HttpRequest, pk: int) -> HttpResponse:
    """Upload CSV: instructions, the template, Choose File → Upload."""
    contract = _contract(pk)
    data = [request.POST, request.FILES] if request.method == "POST" else []
    form = ParticipantUploadForm(*data, contract=contract)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if data["update_existing"] and not request.user.has_perm("contracts.change_participant"):
            form.add_error("update_existing", "You may add participants but not change them.")
            return render(
                request,
                "invitations/participant_upload.html",
                _page(contract, form=form, **_upload_help(contract)),
            )
        try:
            upload = services.participant_import_upload(
                actor=request.user,
                contract=contract,
                file=data["file"],
                width=data["width"],
                update_existing=data["update_existing"],
            )
        except (ValidationError, DomainError) as exc:
            add_service_errors(form, exc)
        else:
            return redirect("invitations:participant_import", pk=upload.pk)
    return render(
        request,
        "invitations/participant_upload.html",
        _page(contract, form=form, **_upload_help(contract)),
    )


def _upload_help(contract: Contract) -> dict:
    return {
        "prices": contract.prices.select_related("product").order_by("price_code"),
        "columns": [c for c in COLUMNS if c.importable],
        "max_mb": settings.PARTICIPANT_IMPORT_MAX_BYTES // 1_000_000,
        "max_rows": settings.PARTICIPANT_IMPORT_MAX_ROWS,
    }


def _import(pk: int) -> ParticipantImport:
    return get_object_or_404(
        ParticipantImport.objects.select_related("contract__organisation", "created_by"), pk=pk
    )


@staff_permission_required("invitations.view_participantimport", "contracts.view_participant")
def participant_import(request: HttpRequest, pk: int) -> HttpResponse:
    """CSV Import Validation while an upload awaits Complete Import; the result afterwards."""
    upload = _import(pk)
    contract = upload.contract
    context = _page(
        contract,
        upload=upload,
        form=ParticipantUploadForm(
            initial={
                "width": None if upload.width == contract.default_code_width else upload.width,
                "update_existing": upload.update_existing,
            },
            contract=contract,
        ),
        **_upload_help(contract),
    )
    if upload.status == ParticipantImport.Status.DONE:
        context |= paginate(
            request, selectors.participant_import_codes(participant_import=upload), PAGE_SIZE
        )
    return render(request, "invitations/participant_import.html", context)


@require_POST
@staff_permission_required(*IMPORT_PERMISSIONS)
def participant_import_complete(request: HttpRequest, pk: int) -> HttpResponse:
    upload = _import(pk)
    try:
        upload = services.participant_import_complete(actor=request.user, participant_import=upload)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        # When it is done, the page itself says what was imported.
        if upload.status == ParticipantImport.Status.VALID:
            messages.warning(
                request,
                "The contract changed since the file was checked, so the import would now do "
                "something else: nothing was imported. Review the new figures below and click "
                "Complete Import again.",
            )
        elif upload.status == ParticipantImport.Status.INVALID:
            messages.error(
                request,
                "The contract changed since the upload and the file no longer passes the "
                "checks: nothing was imported. See the issues below.",
            )
        elif upload.status == ParticipantImport.Status.FAILED:
            messages.error(request, upload.error)
    return redirect("invitations:participant_import", pk=upload.pk)


@staff_permission_required("invitations.view_participantimport")
def participant_import_progress(request: HttpRequest, pk: int) -> HttpResponse:
    upload = get_object_or_404(ParticipantImport, pk=pk)
    return JsonResponse(
        {
            "status": upload.status,
            "percent": upload.progress,
            "text": f"{upload.get_status_display()} – {upload.progress}%",
        }
    )
