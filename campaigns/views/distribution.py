"""Messages tab: templates with a live preview and a test send, Send Codes, each send's
per-recipient status with Resend failed; and the public unsubscribe page."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.safestring import mark_safe
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from campaigns import selectors, services, templating
from campaigns.forms import MessageTemplateForm, SendCodesForm, TestSendForm
from campaigns.models import Channel, Distribution, Message, MessageTemplate
from contracts.models import Contract, Participant
from core.access import staff_permission_required
from core.errors import DomainError
from core.forms import add_service_errors
from core.pagination import paginate

PAGE_SIZE = 50
# Ids passed to Send Codes in its address: more than this many is not a selection.
MAX_SELECTED = 10_000
TEST_PHONE_SESSION_KEY = "campaigns_test_phone"


def _contract(pk: int) -> Contract:
    return get_object_or_404(Contract.objects.select_related("organisation"), pk=pk)


def _template(pk: int) -> MessageTemplate:
    return get_object_or_404(
        MessageTemplate.objects.select_related("contract__organisation"), pk=pk
    )


def _page(contract: Contract, **context) -> dict:
    return {"contract": contract, "organisation": contract.organisation, "tab": "messages"} | (
        context
    )


# --- templates -------------------------------------------------------------------------


@staff_permission_required("contracts.view_contract", "campaigns.view_messagetemplate")
def template_list(request: HttpRequest, pk: int) -> HttpResponse:
    contract = _contract(pk)
    return render(
        request,
        "campaigns/template_list.html",
        _page(contract, templates=selectors.contract_templates(contract=contract)),
    )


def _preview(contract: Contract, *, channel: str, subject: str, body: str) -> dict:
    """What the preview panel shows for these texts, filled with real or sample values."""
    values, whose = selectors.preview_values(contract=contract)
    preview = {"channel": channel, "whose": whose, "errors": [], "warnings": []}
    try:
        compiled = templating.compile_template(channel=channel, subject=subject, body=body)
    except ValidationError as exc:
        preview["errors"] = [m for ms in exc.message_dict.values() for m in ms]
        return preview
    rendered = compiled.render(values)
    preview["subject"] = rendered.subject
    preview["body"] = mark_safe(templating.preview_html(compiled, values))  # escaped there
    preview["length"] = len(rendered.text)
    preview["warnings"] = templating.warnings(channel=channel, body=body, values=values)
    return preview


def _template_page(
    request: HttpRequest,
    contract: Contract,
    form: MessageTemplateForm,
    *,
    template: MessageTemplate | None,
    previewing: bool,
) -> HttpResponse:
    if form.is_bound:
        texts = {f: form.data.get(f, "") for f in ("channel", "subject", "body")}
        if texts["channel"] not in Channel.values:
            texts["channel"] = Channel.EMAIL
    elif template is not None:
        texts = {"channel": template.channel, "subject": template.subject, "body": template.body}
    else:
        texts = {"channel": Channel.EMAIL, "subject": "", "body": ""}
    test_form = TestSendForm(initial={"to": request.session.get(TEST_PHONE_SESSION_KEY, "")})
    return render(
        request,
        "campaigns/template_form.html",
        _page(
            contract,
            form=form,
            template=template,
            previewing=previewing,
            preview=_preview(contract, **texts) if texts["body"] else None,
            placeholders=templating.PLACEHOLDERS.items(),
            test_form=test_form,
            cancel_url=reverse("campaigns:distribution_list", args=[contract.pk]),
        ),
    )


@staff_permission_required("contracts.view_contract", "campaigns.add_messagetemplate")
def template_create(request: HttpRequest, pk: int) -> HttpResponse:
    """New Template: name, email or SMS, subject and message; Preview, then Save."""
    contract = _contract(pk)
    form = MessageTemplateForm(request.POST or None)
    previewing = request.POST.get("preview") == "1"
    if request.method == "POST" and not previewing and form.is_valid():
        try:
            template = services.template_create(
                actor=request.user, contract=contract, **form.cleaned_data
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Template “{template.name}” saved.")
            return redirect("campaigns:template_edit", pk=template.pk)
    return _template_page(request, contract, form, template=None, previewing=previewing)


@staff_permission_required("campaigns.change_messagetemplate")
def template_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit a template beside its preview (Preview redraws it without saving)."""
    template = _template(pk)
    initial = {f: getattr(template, f) for f in ("name", "channel", "subject", "body")}
    form = MessageTemplateForm(request.POST or None, initial=initial)
    previewing = request.POST.get("preview") == "1"
    if request.method == "POST" and not previewing and form.is_valid():
        try:
            services.template_update(actor=request.user, template=template, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Template “{template.name}” saved.")
            return redirect("campaigns:template_edit", pk=template.pk)
    return _template_page(
        request, template.contract, form, template=template, previewing=previewing
    )


@staff_permission_required("campaigns.view_messagetemplate")
def template_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """The preview panel as JSON: of the saved template (GET) or of typed texts (POST),
    which the editor's script sends as staff type."""
    template = _template(pk)
    source = request.POST if request.method == "POST" else {}
    channel = source.get("channel", template.channel)
    preview = _preview(
        template.contract,
        channel=channel if channel in Channel.values else Channel.EMAIL,
        subject=source.get("subject", template.subject),
        body=source.get("body", template.body),
    )
    return JsonResponse(
        {
            "html": render_to_string("campaigns/_preview.html", {"preview": preview}),
            "errors": preview["errors"],
            "warnings": preview["warnings"],
        }
    )


@require_POST
@staff_permission_required("campaigns.change_messagetemplate")
def template_test_send(request: HttpRequest, pk: int) -> HttpResponse:
    """Send test to me: the saved template, to the staff member's own email (or number)."""
    template = _template(pk)
    form = TestSendForm(request.POST)
    form.is_valid()  # both fields are optional; the service checks the number
    data = form.cleaned_data
    try:
        to = services.template_test_send(
            actor=request.user,
            template=template,
            to=data.get("to", ""),
            real_data=data.get("real_data", False),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        if template.channel == Channel.SMS:
            request.session[TEST_PHONE_SESSION_KEY] = to
        messages.success(request, f"Test of “{template.name}” sent to {to}.")
    return redirect("campaigns:template_edit", pk=template.pk)


# --- Send Codes ------------------------------------------------------------------------


def _ids(data: QueryDict, name: str) -> list[int]:
    ids = []
    for value in data.getlist(name)[:MAX_SELECTED]:
        try:
            ids.append(int(value))
        except ValueError:
            continue
    return list(dict.fromkeys(ids))


def _reviewed_key(form: SendCodesForm) -> str:
    """What the figures on the page were computed for; Send Codes only sends that."""
    data = form.cleaned_data
    return f"{data['template'].pk}:{data['recipients']}"


@staff_permission_required("contracts.view_contract", "campaigns.add_distribution")
def distribution_create(request: HttpRequest, pk: int) -> HttpResponse:
    """Send Codes: choose the template and recipients, see who gets a message and who is
    skipped and why, then confirm. Selections arrive as `participant` or `code` ids."""
    contract = _contract(pk)
    source = request.POST if request.method == "POST" else request.GET
    participant_ids = _ids(source, "participant")
    code_ids = [] if participant_ids else _ids(source, "code")
    templates = selectors.contract_templates(contract=contract)
    bound = request.method == "POST" or "template" in request.GET
    form = SendCodesForm(
        source if bound else None,
        contract=contract,
        participant_ids=participant_ids,
        code_ids=code_ids,
        initial={"participant": participant_ids, "code": code_ids},
    )
    plan = reviewed = template = None
    first = templates.first()
    if first is not None and bound and form.is_valid():
        template, recipient_ids = form.cleaned_data["template"], form.recipient_ids()
        reviewed = _reviewed_key(form)
    elif first is not None and not bound:  # the figures of what the form shows at first
        template, recipient_ids = first, _initial_recipients(form)
        reviewed = f"{first.pk}:{form['recipients'].value()}"
    if template is not None:
        plan = selectors.distribution_plan(
            contract=contract, channel=template.channel, **recipient_ids
        )
        if request.method == "POST" and request.POST.get("confirm") == "1":
            if request.POST.get("reviewed") != reviewed:
                messages.warning(
                    request,
                    "The choice changed since these figures were shown: check them and click "
                    "Send Codes again.",
                )
            else:
                return _create(request, contract, form)
    return render(
        request,
        "campaigns/distribution_create.html",
        _page(
            contract,
            form=form,
            plan=plan,
            reviewed=reviewed,
            has_templates=first is not None,
            time_zone=timezone.get_current_timezone_name(),
        ),
    )


def _initial_recipients(form: SendCodesForm) -> dict:
    if form["recipients"].value() != SendCodesForm.SELECTED:
        return {}
    participants = form.initial.get("participant")
    return {"participant_ids": participants} if participants else {"code_ids": form.initial["code"]}


def _create(request: HttpRequest, contract: Contract, form: SendCodesForm) -> HttpResponse:
    data = form.cleaned_data
    try:
        distribution = services.distribution_create(
            actor=request.user,
            contract=contract,
            template=data["template"],
            send_at=data["send_at"],
            **form.recipient_ids(),
        )
    except (ValidationError, DomainError) as exc:
        add_service_errors(form, exc)
        return render(
            request,
            "campaigns/distribution_create.html",
            _page(
                contract,
                form=form,
                plan=None,
                reviewed=None,
                has_templates=True,
                time_zone=timezone.get_current_timezone_name(),
            ),
        )
    queued = distribution.total - distribution.skipped
    what = f"{queued:,} message{'s' * (queued != 1)}"
    skipped = f" {distribution.skipped:,} skipped." if distribution.skipped else ""
    if distribution.send_at:
        when = date_format(timezone.localtime(distribution.send_at), "j M Y H:i")
        messages.success(request, f"{what} scheduled for {when}.{skipped}")
    else:
        messages.success(request, f"Sending {what}.{skipped}")
    return redirect("campaigns:distribution_detail", pk=distribution.pk)


# --- sends and their messages ----------------------------------------------------------


@staff_permission_required("contracts.view_contract", "campaigns.view_distribution")
def distribution_list(request: HttpRequest, pk: int) -> HttpResponse:
    """The Messages tab: the contract's sends with their figures, its schedules (sends at a
    time, batch releases, reminders) and its templates."""
    contract = _contract(pk)
    context = paginate(request, selectors.contract_distributions(contract=contract), PAGE_SIZE)
    rows = list(context["page"].object_list)
    counts = selectors.message_counts(distribution_ids=[d.pk for d in rows])
    sends = [selectors.Progress(distribution=d, counts=counts[d.pk]) for d in rows]
    return render(
        request,
        "campaigns/distribution_list.html",
        _page(
            contract,
            **context,
            sends=sends,
            templates=selectors.contract_templates(contract=contract),
            schedules=selectors.contract_schedules(contract=contract),
            time_zone=timezone.get_current_timezone_name(),
            now=timezone.now(),
        ),
    )


def _distribution(pk: int) -> Distribution:
    return get_object_or_404(
        Distribution.objects.select_related("contract__organisation", "template", "created_by"),
        pk=pk,
    )


@staff_permission_required("campaigns.view_distribution")
def distribution_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One send: its figures (a progress bar while sending) and each recipient's status.
    With ?progress=1 the figures alone, as JSON, for the progress bar."""
    distribution = _distribution(pk)
    progress = selectors.distribution_progress(distribution=distribution)
    if request.GET.get("progress"):
        return JsonResponse(progress.as_json())
    status = request.GET.get("status", "")
    status = status if status in Message.Status.values else ""
    context = paginate(
        request,
        selectors.distribution_messages(distribution=distribution, status=status),
        PAGE_SIZE,
    )
    return render(
        request,
        "campaigns/distribution_detail.html",
        _page(
            distribution.contract,
            **context,
            distribution=distribution,
            progress=progress,
            status=status,
            statuses=Message.Status.choices,
            without_code_reason=selectors.NO_CODE,
        ),
    )


@require_POST
@staff_permission_required("campaigns.change_distribution")
def distribution_resend(request: HttpRequest, pk: int) -> HttpResponse:
    """Resend failed: the send's failed messages go back in the queue (sent ones never)."""
    distribution = _distribution(pk)
    try:
        again = services.distribution_resend(actor=request.user, distribution=distribution)
    except DomainError as exc:
        messages.info(request, exc.message)
    else:
        messages.success(request, f"Sending {again:,} failed message{'s' * (again != 1)} again.")
    return redirect("campaigns:distribution_detail", pk=distribution.pk)


# --- public ----------------------------------------------------------------------------


@csrf_exempt  # the signed link is the credential; mail programs POST without a form (RFC 8058)
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """The link in every email: a button unsubscribes (a GET never does: mail scanners open
    links). A mail program's one-click POST (`List-Unsubscribe=One-Click`) works the same."""
    if request.method == "POST":
        participant = services.participant_unsubscribe(token=token)
        if participant is None:
            return _link_invalid(request)
        return render(request, "campaigns/unsubscribed.html", {"participant": participant})
    participant_id = services.unsubscribe_reader(token)
    participant = (
        Participant.objects.select_related("contract").filter(pk=participant_id).first()
        if participant_id is not None
        else None
    )
    if participant is None:
        return _link_invalid(request)
    if participant.opted_out_at:
        return render(request, "campaigns/unsubscribed.html", {"participant": participant})
    return render(request, "campaigns/unsubscribe.html", {"participant": participant})


def _link_invalid(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "campaigns/unsubscribe_invalid.html",
        {"message": "This unsubscribe link is not valid. Use the link from your email."},
        status=400,
    )
