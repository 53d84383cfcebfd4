"""Schedules on the Messages tab: cancel a scheduled send, move or bring forward a batch's
release, and keep the contract's reminder rules and waves. Times are read and shown in the
user's time zone (core.timezones)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.views.decorators.http import require_POST

from campaigns import services
from campaigns.forms import BatchReleaseForm, ReminderRuleForm, WaveForm
from campaigns.models import Distribution, ReminderRule, Wave
from contracts.models import Contract
from core.access import staff_permission_required
from core.errors import DomainError
from core.forms import add_service_errors
from core.timezones import site_today
from invitations import services as code_services
from invitations.models import CodeBatch


def _schedules_url(contract_id: int) -> str:
    return reverse("campaigns:distribution_list", args=[contract_id]) + "#schedules"


def _when(at) -> str:
    return date_format(timezone.localtime(at), "j M Y H:i")


@require_POST
@staff_permission_required("campaigns.change_distribution")
def distribution_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    distribution = get_object_or_404(Distribution, pk=pk)
    try:
        services.distribution_cancel(actor=request.user, distribution=distribution)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Scheduled send cancelled: nothing was sent.")
    return redirect(_schedules_url(distribution.contract_id))


@staff_permission_required("contracts.view_contract", "invitations.change_codebatch")
def batch_release_edit(request: HttpRequest, pk: int) -> HttpResponse:
    batch = get_object_or_404(CodeBatch.objects.select_related("contract__organisation"), pk=pk)
    back = _schedules_url(batch.contract_id)
    if batch.release_at is None or batch.released_at is not None:
        messages.info(request, f"Batch {batch.pk} has no release waiting.")
        return redirect(back)
    initial = {"release_at": timezone.localtime(batch.release_at)}
    form = BatchReleaseForm(request.POST or None, initial=initial)
    if request.method == "POST" and "release_now" in request.POST:
        try:
            code_services.code_batch_release_update(
                actor=request.user, batch=batch, release_at=None
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Batch {batch.pk} released: its codes can be booked now.")
        return redirect(back)
    if request.method == "POST" and form.is_valid():
        try:
            batch = code_services.code_batch_release_update(
                actor=request.user, batch=batch, release_at=form.cleaned_data["release_at"]
            )
        except (ValidationError, DomainError) as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request, f"Batch {batch.pk} will be released {_when(batch.release_at)}."
            )
            return redirect(back)
    return render(
        request,
        "campaigns/batch_release_form.html",
        {
            "form": form,
            "batch": batch,
            "title": f"Release of batch {batch.pk}",
            "cancel_url": back,
            "contract": batch.contract,
            "organisation": batch.contract.organisation,
            "tab": "messages",
        },
    )


RULE_INTRO = (
    "Holders of unused codes that were sent to them get this template once, in the morning, "
    "when their code expires within the days given."
)
WAVE_INTRO = (
    "Each morning from the start day, the next participants in the list who hold an unused "
    "code never sent to them get this template."
)


def _form_page(request, contract: Contract, form, *, title: str, intro: str) -> HttpResponse:
    """A reminder rule's or a wave's form, on the shared form page."""
    return render(
        request,
        "contracts/form.html",
        {
            "form": form,
            "title": title,
            "intro": intro,
            "cancel_url": _schedules_url(contract.pk),
            "submit": "Save",
            "contract": contract,
            "organisation": contract.organisation,
        },
    )


def _saved(request, form, save, *, contract_id: int, message: str) -> HttpResponse | None:
    """A valid POST saved through `save(cleaned_data)`: back to Schedules with `message`.
    None to show the form again (unposted, invalid, or with the service's errors on it)."""
    if request.method != "POST" or not form.is_valid():
        return None
    try:
        save(form.cleaned_data)
    except ValidationError as exc:
        add_service_errors(form, exc)
        return None
    messages.success(request, message)
    return redirect(_schedules_url(contract_id))


@staff_permission_required("contracts.view_contract", "campaigns.add_reminderrule")
def reminder_create(request: HttpRequest, pk: int) -> HttpResponse:
    contract = get_object_or_404(Contract.objects.select_related("organisation"), pk=pk)
    form = ReminderRuleForm(request.POST or None, contract=contract, initial={"days_before": 7})

    def save(data: dict) -> None:
        services.reminder_rule_create(
            actor=request.user,
            contract=contract,
            template=data["template"],
            days_before=data["days_before"],
        )

    done = _saved(request, form, save, contract_id=contract.pk, message="Reminder saved.")
    return done or _form_page(request, contract, form, title="New reminder", intro=RULE_INTRO)


def _rule(pk: int) -> ReminderRule:
    return get_object_or_404(
        ReminderRule.objects.select_related("contract__organisation", "template"), pk=pk
    )


@staff_permission_required("campaigns.change_reminderrule")
def reminder_edit(request: HttpRequest, pk: int) -> HttpResponse:
    rule = _rule(pk)
    initial = {
        "template": rule.template_id,
        "days_before": rule.days_before,
        "is_active": rule.is_active,
    }
    form = ReminderRuleForm(request.POST or None, contract=rule.contract, initial=initial)

    def save(data: dict) -> None:
        services.reminder_rule_update(actor=request.user, rule=rule, **data)

    done = _saved(request, form, save, contract_id=rule.contract_id, message="Reminder saved.")
    return done or _form_page(request, rule.contract, form, title="Edit reminder", intro=RULE_INTRO)


@require_POST
@staff_permission_required("campaigns.delete_reminderrule")
def reminder_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = _rule(pk)
    services.reminder_rule_delete(actor=request.user, rule=rule)
    messages.success(request, "Reminder deleted; reminders already sent stay on record.")
    return redirect(_schedules_url(rule.contract_id))


@staff_permission_required("contracts.view_contract", "campaigns.add_wave")
def wave_create(request: HttpRequest, pk: int) -> HttpResponse:
    contract = get_object_or_404(Contract.objects.select_related("organisation"), pk=pk)
    initial = {"per_day": 100, "starts_on": site_today()}
    form = WaveForm(request.POST or None, contract=contract, initial=initial)

    def save(data: dict) -> None:
        fields = {name: value for name, value in data.items() if name != "is_active"}
        services.wave_create(actor=request.user, contract=contract, **fields)

    done = _saved(request, form, save, contract_id=contract.pk, message="Wave saved.")
    return done or _form_page(request, contract, form, title="New wave", intro=WAVE_INTRO)


def _wave(pk: int) -> Wave:
    return get_object_or_404(
        Wave.objects.select_related("contract__organisation", "template"), pk=pk
    )


@staff_permission_required("campaigns.change_wave")
def wave_edit(request: HttpRequest, pk: int) -> HttpResponse:
    wave = _wave(pk)
    initial = {
        "template": wave.template_id,
        "per_day": wave.per_day,
        "starts_on": wave.starts_on,
        "is_active": wave.is_active,
    }
    form = WaveForm(request.POST or None, contract=wave.contract, initial=initial)

    def save(data: dict) -> None:
        services.wave_update(actor=request.user, wave=wave, **data)

    done = _saved(request, form, save, contract_id=wave.contract_id, message="Wave saved.")
    return done or _form_page(request, wave.contract, form, title="Edit wave", intro=WAVE_INTRO)


@require_POST
@staff_permission_required("campaigns.delete_wave")
def wave_delete(request: HttpRequest, pk: int) -> HttpResponse:
    wave = _wave(pk)
    services.wave_delete(actor=request.user, wave=wave)
    messages.success(request, "Wave deleted; codes already sent stay on record.")
    return redirect(_schedules_url(wave.contract_id))
