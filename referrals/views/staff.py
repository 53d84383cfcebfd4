"""Staff pages of referral programs: set a program up, follow its referrers, review, reward."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from contracts.models import Contract, ContractPrice
from core.access import staff_permission_required
from core.errors import DomainError
from core.forms import add_service_errors
from core.models import WebhookDelivery
from core.pagination import paginate
from passes.models import PassPlan
from referrals import emails, fraud, links, selectors, services
from referrals.forms import (
    EndpointForm,
    ProgramForm,
    RewardNoteForm,
    TemplatesForm,
    TierForm,
)
from referrals.models import Referral, ReferralProgram, Referrer, Reward, RewardTier

PAGE_SIZE = 50
RECENT_DELIVERIES = 20
# The Referrals tab's filter: every referral, or those of one review state.
REVIEW_FILTERS = [("", "All"), *Referral.Review.choices]


def _program(pk: int) -> ReferralProgram:
    return get_object_or_404(ReferralProgram.objects.select_related("contract"), pk=pk)


def _page(program: ReferralProgram, tab: str, **context) -> dict:
    return {"program": program, "tab": tab, **context}


def _form_page(request, program, form, *, title, submit, cancel_url, tab="overview", **extra):
    return render(
        request,
        "referrals/form.html",
        _page(
            program,
            tab,
            form=form,
            title=title,
            submit=submit,
            cancel_url=cancel_url,
            **extra,
        ),
    )


def _refusal(exc: DomainError | ValidationError) -> str:
    return exc.message if isinstance(exc, DomainError) else " ".join(exc.messages)


# --- Programs ------------------------------------------------------------------------------


@staff_permission_required("referrals.view_referralprogram")
def program_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()
    # The referrer count's GROUP BY drops the model's default ordering: pages need one.
    programs = selectors.program_list(search=search).order_by("name", "pk")
    context = paginate(request, programs, PAGE_SIZE)
    return render(request, "referrals/program_list.html", {**context, "search": search})


def _program_form(data, instance: ReferralProgram | None = None) -> ProgramForm:
    form = ProgramForm(data, instance=instance)
    form.fields["contract"].queryset = Contract.objects.select_related("organisation")
    return form


@staff_permission_required("referrals.add_referralprogram")
def program_create(request: HttpRequest) -> HttpResponse:
    form = _program_form(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            program = services.program_create(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request,
                f"Referral program {program.name} created; its signup page is "
                f"/refer/{program.slug}/. Add reward tiers below.",
            )
            return redirect("referrals:program_detail", pk=program.pk)
    return render(
        request,
        "referrals/form.html",
        {
            "form": form,
            "title": "New Referral Program",
            "submit": "Create Program",
            "cancel_url": reverse("referrals:program_list"),
        },
    )


@staff_permission_required("referrals.change_referralprogram")
def program_edit(request: HttpRequest, pk: int) -> HttpResponse:
    program = _program(pk)
    # The form validates its own copy, so the page's heading keeps the saved name.
    form = _program_form(request.POST if request.method == "POST" else None, instance=_program(pk))
    if request.method == "POST" and form.is_valid():
        try:
            services.program_update(actor=request.user, program=program, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"{program.name} saved.")
            return redirect("referrals:program_detail", pk=program.pk)
    return _form_page(
        request,
        program,
        form,
        title="Edit Program",
        submit="Save",
        cancel_url=reverse("referrals:program_detail", args=[program.pk]),
    )


def embed_snippet(program: ReferralProgram) -> str:
    """HTML a partner pastes into their page to show the program's signup form.

    A referral link leads to the partner's page with ?ref=<code>; the script hands that
    code on to the frame, because the referral cookie is a third-party cookie inside a
    frame and browsers block those.
    """
    src = links.site(reverse("referrals_public:signup", args=[program.slug]))
    frame_id = f"voucherdesk-{program.slug}"
    return (
        f'<iframe id="{frame_id}"\n'
        f'  src="{src}"\n'
        f'  title="Join {_attr(program.name)}" width="100%" height="640"\n'
        '  style="border:0;max-width:480px" loading="lazy"></iframe>\n'
        "<script>\n"
        "(function () {\n"
        '  var ref = new URLSearchParams(window.location.search).get("ref");\n'
        f'  var frame = document.getElementById("{frame_id}");\n'
        '  if (ref && frame) frame.src += "?ref=" + encodeURIComponent(ref);\n'
        "})();\n"
        "</script>"
    )


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _admin_url(name: str, pk: int) -> str | None:
    try:
        return reverse(name, args=[pk])
    except NoReverseMatch:  # the model is not in the admin
        return None


@staff_permission_required("referrals.view_referralprogram", "referrals.view_rewardtier")
def program_detail(request: HttpRequest, pk: int) -> HttpResponse:
    program = _program(pk)
    tiers = program.tiers.select_related("price__product", "pass_plan")
    endpoints = list(program.webhook_endpoints.all())
    deliveries = []
    if endpoints and request.user.has_perm("core.view_webhookdelivery"):
        # An endpoint may serve several programs: their events name the program's slug.
        deliveries = list(
            WebhookDelivery.objects.filter(endpoint__in=endpoints, payload__program=program.slug)
            .select_related("endpoint")
            .only(
                "event",
                "event_id",
                "status",
                "attempts",
                "created_at",
                "delivered_at",
                "next_attempt_at",
                "endpoint__url",
            )[:RECENT_DELIVERIES]
        )
        for delivery in deliveries:
            delivery.admin_url = _admin_url("admin:core_webhookdelivery_change", delivery.pk)
    return render(
        request,
        "referrals/program_detail.html",
        _page(
            program,
            "overview",
            counts=selectors.program_counts(program=program),
            signup_url=links.site(reverse("referrals_public:signup", args=[program.slug])),
            snippet=embed_snippet(program),
            tiers=tiers,
            endpoints=endpoints,
            deliveries=deliveries,
        ),
    )


@staff_permission_required("referrals.view_referralprogram")
def program_emails(request: HttpRequest, pk: int) -> HttpResponse:
    """The three emails with a preview; Preview needs no right to change, Save does."""
    program = _program(pk)
    previewing = request.POST.get("preview") == "1"
    saving = request.method == "POST" and not previewing
    if saving and not request.user.has_perm("referrals.change_referralprogram"):
        raise PermissionDenied
    form = TemplatesForm(request.POST if request.method == "POST" else None, instance=_program(pk))
    for kind in emails.KINDS:
        subject, body = emails.DEFAULTS[kind]
        form.fields[f"{kind}_subject"].widget.attrs["placeholder"] = subject
        form.fields[f"{kind}_body"].widget.attrs["placeholder"] = body
    shown = program
    if request.method == "POST" and form.is_valid():
        texts = form.cleaned_data
        if previewing:
            try:
                emails.check_templates(texts)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                shown = form.instance  # the typed texts, not saved
        else:
            try:
                services.program_update(actor=request.user, program=program, **texts)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, f"The emails of {program.name} are saved.")
                return redirect("referrals:program_emails", pk=program.pk)
    previews = [
        (
            kind,
            form[f"{kind}_subject"],
            form[f"{kind}_body"],
            _preview(shown, kind),
        )
        for kind in emails.KINDS
    ]
    return render(
        request,
        "referrals/program_emails.html",
        _page(
            program,
            "emails",
            form=form,
            previews=previews,
            previewing=previewing and shown is not program,
            placeholders=emails.PLACEHOLDERS.items(),
        ),
    )


def _preview(program: ReferralProgram, kind: str) -> tuple[str, str]:
    try:
        return emails.render(program, kind, emails.SAMPLE)
    except (KeyError, ValueError, IndexError):  # saved before the placeholders were checked
        return "(cannot be shown)", "This template has a placeholder that is not known."


# --- Reward tiers and webhook endpoints ------------------------------------------------------


@staff_permission_required("referrals.view_referralprogram", "referrals.add_rewardtier")
def tier_create(request: HttpRequest, pk: int) -> HttpResponse:
    program = _program(pk)
    form = TierForm(request.POST if request.method == "POST" else None)
    prices = ContractPrice.objects.select_related("product", "contract")
    if program.contract_id:
        prices = prices.filter(contract_id=program.contract_id)
    form.fields["price"].queryset = prices
    form.fields["price"].help_text = (
        f"For an invitation code: a price of {program.contract.name}."
        if program.contract_id
        else "For an invitation code: the contract price it is for."
    )
    form.fields["pass_plan"].queryset = PassPlan.objects.filter(format=PassPlan.Format.ELECTRONIC)
    form.fields["pass_plan"].help_text = "For a pass: an electronic plan (passes sent by email)."
    if request.method == "POST" and form.is_valid():
        try:
            tier = services.tier_create(actor=request.user, program=program, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request, f"Tier {tier.name} added: it fires at {tier.threshold} referrals."
            )
            return redirect(reverse("referrals:program_detail", args=[program.pk]) + "#tiers")
    return _form_page(
        request,
        program,
        form,
        title="Add tier",
        submit="Add tier",
        cancel_url=reverse("referrals:program_detail", args=[program.pk]),
        intro="A tier gives a reward once a referrer's successful referrals reach its "
        "threshold. A reward delivered by hand is recorded by staff; the others are issued "
        "at once.",
    )


@staff_permission_required("referrals.view_referralprogram", "referrals.delete_rewardtier")
def tier_delete(request: HttpRequest, pk: int) -> HttpResponse:
    tier = get_object_or_404(RewardTier.objects.select_related("program__contract"), pk=pk)
    program = tier.program
    back = reverse("referrals:program_detail", args=[program.pk]) + "#tiers"
    if request.method == "POST":
        try:
            services.tier_delete(actor=request.user, tier=tier)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Tier {tier.name} deleted.")
        return redirect(back)
    return render(
        request,
        "referrals/confirm.html",
        _page(
            program,
            "overview",
            title=f"Delete tier {tier.name}?",
            intro=f"{tier.name} fires at {tier.threshold} referrals. Nobody who reaches it "
            "after this gets its reward. A tier somebody has earned stays on record.",
            submit="Yes, delete",
            danger=True,
            cancel_url=back,
        ),
    )


@staff_permission_required("referrals.view_referralprogram", "referrals.change_referralprogram")
def endpoint_add(request: HttpRequest, pk: int) -> HttpResponse:
    program = _program(pk)
    form = EndpointForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint = services.endpoint_add(
                actor=request.user,
                program=program,
                url=form.cleaned_data["url"],
                events=form.cleaned_data["events"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request,
                f"Webhook endpoint {endpoint.url} added. Give its signing secret (Reveal, "
                "below) to the receiver so it can check each request.",
            )
            return redirect(reverse("referrals:program_detail", args=[program.pk]) + "#webhooks")
    return _form_page(
        request,
        program,
        form,
        title="Add endpoint",
        submit="Add endpoint",
        cancel_url=reverse("referrals:program_detail", args=[program.pk]),
        intro="Each event is POSTed as JSON, signed with HMAC-SHA256 in the "
        "Voucherdesk-Signature header, and retried with growing delays until it is accepted.",
    )


@require_POST
@staff_permission_required("referrals.view_referralprogram", "referrals.change_referralprogram")
def endpoint_remove(request: HttpRequest, pk: int) -> HttpResponse:
    program = _program(pk)
    back = reverse("referrals:program_detail", args=[program.pk]) + "#webhooks"
    endpoint_id = request.POST.get("endpoint", "")
    endpoint = (
        program.webhook_endpoints.filter(pk=int(endpoint_id)).first()
        if endpoint_id.isdigit()
        else None
    )
    if endpoint is None:
        messages.error(request, "That endpoint is not one of this program's.")
        return redirect(back)
    services.endpoint_remove(actor=request.user, program=program, endpoint=endpoint)
    messages.success(request, f"Webhook endpoint {endpoint.url} removed: it gets no more events.")
    return redirect(back)


# --- Referrers, referrals, rewards -----------------------------------------------------------


@staff_permission_required("referrals.view_referralprogram", "referrals.view_referrer")
def referrer_list(request: HttpRequest, pk: int) -> HttpResponse:
    program = _program(pk)
    search = request.GET.get("q", "").strip()
    context = paginate(request, selectors.referrer_list(program=program, search=search), PAGE_SIZE)
    return render(
        request,
        "referrals/referrer_list.html",
        _page(program, "referrers", **context, search=search),
    )


@require_POST
@staff_permission_required("referrals.change_referrer")
def referrer_status_link_renew(request: HttpRequest, pk: int) -> HttpResponse:
    referrer = get_object_or_404(Referrer, pk=pk)
    services.referrer_status_link_renew(actor=request.user, referrer=referrer)
    messages.success(
        request,
        f"{referrer.name} has a new status page link, emailed to {referrer.email}; "
        "the old link no longer opens.",
    )
    back = reverse("referrals:referrer_list", args=[referrer.program_id])
    if request.POST.get("q"):
        back += "?" + urlencode({"q": request.POST["q"]})
    return redirect(back)


@staff_permission_required("referrals.view_referralprogram", "referrals.view_referral")
def referral_list(request: HttpRequest, pk: int) -> HttpResponse:
    program = _program(pk)
    review = request.GET.get("review", "")
    if review not in Referral.Review.values:
        review = ""
    search = request.GET.get("q", "").strip()
    context = paginate(
        request,
        selectors.referral_list(program=program, review=review, search=search).select_related(
            "reviewed_by"
        ),
        PAGE_SIZE,
    )
    page = context["page"]
    page.object_list = list(page.object_list)
    for referral in page.object_list:
        referral.flag_labels = [fraud.LABELS.get(flag, flag) for flag in referral.flags]
    return render(
        request,
        "referrals/referral_list.html",
        _page(
            program,
            "referrals",
            **context,
            review=review,
            search=search,
            filters=REVIEW_FILTERS,
        ),
    )


@require_POST
@staff_permission_required("referrals.change_referral")
def referral_review(request: HttpRequest, pk: int) -> HttpResponse:
    referral = get_object_or_404(Referral.objects.select_related("referrer"), pk=pk)
    back = reverse("referrals:referral_list", args=[referral.program_id])
    if request.POST.get("review") in Referral.Review.values:
        back += "?review=" + request.POST["review"]
    verdict = request.POST.get("verdict")
    if verdict not in ("approve", "reject"):
        messages.error(request, "Choose Approve or Reject.")
        return redirect(back)
    try:
        services.referral_review(
            actor=request.user, referral=referral, approve=verdict == "approve"
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        if verdict == "approve":
            messages.success(
                request,
                f"Referral of {referral.email} approved: it counts for {referral.referrer.name} "
                "once it succeeds.",
            )
        else:
            messages.success(request, f"Referral of {referral.email} rejected: it never counts.")
    return redirect(back)


@staff_permission_required("referrals.view_referralprogram", "referrals.view_reward")
def reward_list(request: HttpRequest, pk: int) -> HttpResponse:
    program = _program(pk)
    state = request.GET.get("state", "")
    if state not in Reward.State.values:
        state = ""
    context = paginate(request, selectors.reward_list(program=program, state=state), PAGE_SIZE)
    return render(
        request,
        "referrals/reward_list.html",
        _page(
            program,
            "rewards",
            **context,
            state=state,
            filters=[("", "All"), *Reward.State.choices],
        ),
    )


def _reward(pk: int) -> Reward:
    return get_object_or_404(
        Reward.objects.select_related("program__contract", "tier", "referrer"), pk=pk
    )


def _reward_action(request, reward: Reward, *, verb: str, service, title, intro, submit, danger):
    program = reward.program
    back = reverse("referrals:reward_list", args=[program.pk])
    form = RewardNoteForm(
        request.POST if request.method == "POST" else None, initial={"note": reward.note}
    )
    if request.method == "POST" and form.is_valid():
        try:
            done = service(actor=request.user, reward=reward, note=form.cleaned_data["note"])
        except (DomainError, ValidationError) as exc:
            messages.error(request, f"{reward.tier.name} for {reward.email}: {_refusal(exc)}")
        else:
            detail = f": {done.delivery}" if verb == "delivered" and done.delivery else "."
            messages.success(request, f"{reward.tier.name} for {reward.email} {verb}{detail}")
        return redirect(back)
    return render(
        request,
        "referrals/confirm.html",
        _page(
            program,
            "rewards",
            form=form,
            title=title,
            intro=intro,
            submit=submit,
            danger=danger,
            cancel_url=back,
        ),
    )


@staff_permission_required("referrals.view_referralprogram", "referrals.change_reward")
def reward_deliver(request: HttpRequest, pk: int) -> HttpResponse:
    reward = _reward(pk)
    tier = reward.tier
    gives = {
        RewardTier.Kind.MANUAL: "Record that you handed it over yourself.",
        RewardTier.Kind.CODE: "An invitation code is issued now.",
        RewardTier.Kind.PASS: "A pass is issued now.",
        RewardTier.Kind.WALLET: f"{tier.credit_amount} {tier.credit_currency} is credited now.",
    }[tier.kind]
    return _reward_action(
        request,
        reward,
        verb="delivered",
        service=services.reward_deliver,
        title=f"Deliver {tier.name} to {reward.email}?",
        intro=f"{gives} {reward.email} gets an email saying what they received.",
        submit="Deliver",
        danger=False,
    )


@staff_permission_required("referrals.view_referralprogram", "referrals.change_reward")
def reward_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    reward = _reward(pk)
    return _reward_action(
        request,
        reward,
        verb="revoked",
        service=services.reward_revoke,
        title=f"Revoke {reward.tier.name} of {reward.email}?",
        intro="The reward is kept on record, marked revoked, with your note. A reward code "
        "not used yet stops working; a pass or wallet credit given stays as it is. "
        "Nobody is emailed.",
        submit="Revoke",
        danger=True,
    )
