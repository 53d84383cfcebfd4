"""Staff pages for pass plans: list, create, edit, activate (with progress), passes, PDF."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.access import staff_permission_required
from core.errors import DomainError
from core.forms import add_service_errors
from core.pagination import paginate
from passes import selectors, services
from passes.forms import IssuePassForm, PassPlanForm
from passes.models import PassBatch, PassPlan

PAGE_SIZE = 50


@staff_permission_required("passes.view_passplan")
def plan_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()
    context = paginate(request, selectors.plan_list(search=search), PAGE_SIZE)
    return render(request, "passes/plan_list.html", {**context, "search": search})


def _form_page(request, form, title, submit, cancel_url):
    return render(
        request,
        "passes/plan_form.html",
        {"form": form, "title": title, "submit": submit, "cancel_url": cancel_url},
    )


@staff_permission_required("passes.add_passplan")
def plan_create(request: HttpRequest) -> HttpResponse:
    form = PassPlanForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            plan = services.pass_plan_create(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Pass plan {plan.name} created as a draft.")
            return redirect("pass_plans:plan_detail", pk=plan.pk)
    return _form_page(
        request, form, "New Pass Plan", "Create Plan", reverse("pass_plans:plan_list")
    )


@staff_permission_required("passes.change_passplan")
def plan_edit(request: HttpRequest, pk: int) -> HttpResponse:
    plan = get_object_or_404(PassPlan, pk=pk)
    initial = {f: getattr(plan, f) for f in services.PLAN_FIELDS}
    for name in ("target_products", "target_segments"):
        initial[name] = ", ".join(initial[name])
    form = PassPlanForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.pass_plan_update(actor=request.user, plan=plan, **form.cleaned_data)
        except (ValidationError, DomainError) as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Pass plan saved.")
            return redirect("pass_plans:plan_detail", pk=plan.pk)
    return _form_page(
        request,
        form,
        f"Edit {plan.name}",
        "Save",
        reverse("pass_plans:plan_detail", args=[plan.pk]),
    )


@staff_permission_required("passes.view_passplan", "passes.view_pass")
def plan_detail(request: HttpRequest, pk: int) -> HttpResponse:
    plan = get_object_or_404(PassPlan, pk=pk)
    search = request.GET.get("q", "").strip()
    context = paginate(request, selectors.plan_passes(plan=plan, search=search), PAGE_SIZE)
    return render(
        request,
        "passes/plan_detail.html",
        {
            **context,
            "plan": plan,
            "search": search,
            "batch": plan.batches.first(),
            "issue_form": IssuePassForm(),
        },
    )


@require_POST
@staff_permission_required("passes.change_passplan")
def plan_activate(request: HttpRequest, pk: int) -> HttpResponse:
    plan = get_object_or_404(PassPlan, pk=pk)
    try:
        services.pass_plan_activate(actor=request.user, plan=plan)
    except (DomainError, ValidationError) as exc:
        messages.error(request, getattr(exc, "message", None) or "; ".join(exc.messages))
    else:
        messages.success(request, f"{plan.name} is active.")
    return redirect("pass_plans:plan_detail", pk=plan.pk)


@require_POST
@staff_permission_required("passes.change_passplan")
def plan_close(request: HttpRequest, pk: int) -> HttpResponse:
    plan = get_object_or_404(PassPlan, pk=pk)
    try:
        services.pass_plan_close(actor=request.user, plan=plan)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{plan.name} is closed: no new passes are issued.")
    return redirect("pass_plans:plan_detail", pk=plan.pk)


@require_POST
@staff_permission_required("passes.add_pass")
def pass_issue(request: HttpRequest, pk: int) -> HttpResponse:
    """Issue an electronic pass on request; its code and PIN are shown once."""
    plan = get_object_or_404(PassPlan, pk=pk)
    form = IssuePassForm(request.POST)
    if form.is_valid():
        email = form.cleaned_data["email"]
        contact = get_user_model().objects.filter(email__iexact=email).first() if email else None
        if email and contact is None:
            messages.error(request, f"No contact has the email {email}.")
            return redirect("pass_plans:plan_detail", pk=plan.pk)
        try:
            issued, pin = services.pass_issue(
                actor=request.user, plan=plan, contact=contact, value=form.cleaned_data["value"]
            )
        except (DomainError, ValidationError) as exc:
            messages.error(request, getattr(exc, "message", None) or "; ".join(exc.messages))
        else:
            shown = f" with PIN {pin} (shown only now)" if pin else ""
            messages.success(request, f"Pass {issued.code} issued{shown}.")
    return redirect("pass_plans:plan_detail", pk=plan.pk)


@staff_permission_required("passes.view_passbatch")
def batch_progress(request: HttpRequest, pk: int) -> HttpResponse:
    batch = get_object_or_404(PassBatch, pk=pk)
    return JsonResponse(
        {
            "status": batch.status,
            "percent": batch.percent,
            "text": f"{batch.get_status_display()} – {batch.generated:,} of {batch.quantity:,}",
        }
    )


@staff_permission_required("passes.change_passplan")
def batch_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    """The printed passes with their PINs: for the staff who may change plans only."""
    batch = get_object_or_404(PassBatch.objects.select_related("plan"), pk=pk)
    if not batch.pdf:
        raise Http404("This batch has no PDF (yet).")
    return FileResponse(
        batch.pdf.open("rb"),
        as_attachment=True,
        filename=f"passes-{batch.plan.name}-{batch.pk}.pdf".replace(" ", "-"),
        content_type="application/pdf",
    )
